#pragma once
// Per slot, the objects this connection may see, as last fetched with
// `objects`. C_FindObjects and C_GetAttributeValue answer from here. A slot's
// list is fetched again, before the next object query, after a login change
// or an `objects` event with a newer generation. Object handles map to
// (slot, oid) and stay the same across refetches while the object lives.
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "pkcs11/object.h"

namespace vtoken::pkcs11 {

class ObjectCache {
 public:
  using Fetch = std::function<Result<wire::Json>(CK_SLOT_ID)>;  // the `objects` reply
  using Entry = std::pair<CK_OBJECT_HANDLE, std::shared_ptr<const Object>>;

  explicit ObjectCache(Fetch fetch) : fetch_(std::move(fetch)) {}

  Result<std::vector<Entry>> List(CK_SLOT_ID slot);
  // The object behind a handle, which must live on `slot`; `invalid_rv` is
  // CKR_OBJECT_HANDLE_INVALID or CKR_KEY_HANDLE_INVALID.
  Result<std::shared_ptr<const Object>> Get(CK_SLOT_ID slot, CK_OBJECT_HANDLE handle, CK_RV invalid_rv);
  // Adds or replaces an object the agent just returned (create, generate, set).
  CK_OBJECT_HANDLE Put(std::shared_ptr<const Object> object);
  void Erase(CK_SLOT_ID slot, std::uint64_t oid);

  void Invalidate(CK_SLOT_ID slot);
  void NoteGeneration(CK_SLOT_ID slot, std::uint64_t generation);
  void Drop(CK_SLOT_ID slot);  // token gone: its handles die
  // Every slot's list must be fetched again; handles of objects that are
  // still there afterwards stay valid (the agent's oids are stable).
  void InvalidateAll();
  void DropAll();

 private:
  struct SlotObjects {
    std::uint64_t wanted = 1;   // bumped when the list must be fetched again
    std::uint64_t fetched = 0;  // the `wanted` value the current list answers
    std::uint64_t generation = 0;
    std::map<std::uint64_t, std::shared_ptr<const Object>> objects;  // by oid
  };
  using Key = std::pair<CK_SLOT_ID, std::uint64_t>;

  Result<void> Refresh(CK_SLOT_ID slot);
  CK_OBJECT_HANDLE HandleFor(const Key& key);  // mutex_ held exclusively
  void ForgetHandle(const Key& key);           // mutex_ held exclusively

  Fetch fetch_;
  std::mutex fetch_mutex_;
  mutable std::shared_mutex mutex_;
  std::map<CK_SLOT_ID, SlotObjects> slots_;
  std::map<Key, CK_OBJECT_HANDLE> handle_of_;
  std::unordered_map<CK_OBJECT_HANDLE, Key> key_of_;
  CK_OBJECT_HANDLE next_handle_ = 1;
};

}  // namespace vtoken::pkcs11
