#pragma once
// The last slot snapshot from the agent, kept as ready-made CK_SLOT_INFO and
// CK_TOKEN_INFO structs so C_GetSlotList/C_GetSlotInfo/C_GetTokenInfo answer
// from memory under a read lock (browsers poll them every second). Presence
// changes between snapshots queue slot events for C_WaitForSlotEvent.
#include <p11-kit/pkcs11.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/wire.h"

namespace vtoken::pkcs11 {

struct SlotEntry {
  CK_SLOT_ID id = 0;
  std::string kind;  // "emulated", "free", "cloud"
  bool present = false;
  std::uint64_t generation = 0;
  std::string serial;  // identifies the token in the slot
  CK_SLOT_INFO slot_info{};
  CK_TOKEN_INFO token_info{};  // session counts are filled in by the caller
};

struct SnapshotChange {
  std::vector<CK_SLOT_ID> gone;  // token removed or replaced: sessions, logins, objects die
  std::vector<std::pair<CK_SLOT_ID, std::uint64_t>> generations;  // present slots
  std::vector<CK_SLOT_ID> events;  // presence flipped: for C_WaitForSlotEvent, see Publish
};

// One `slots` array entry into a SlotEntry (blank-padded fields).
Result<SlotEntry> ParseSlot(const wire::Json& j);

class SlotCache {
 public:
  // Replaces the snapshot with the `slots` field of a reply or event.
  // Does not raise slot events: the caller first kills what the change
  // ended, then calls Publish, so a woken waiter sees the new state whole.
  Result<SnapshotChange> Apply(const wire::Json& message);
  void Publish(const std::vector<CK_SLOT_ID>& events);
  bool has_snapshot() const;

  std::vector<CK_SLOT_ID> List(bool token_present) const;
  // CKR_SLOT_ID_INVALID for an unknown slot.
  Result<void> SlotInfo(CK_SLOT_ID id, CK_SLOT_INFO* out) const;
  Result<SlotEntry> Get(CK_SLOT_ID id) const;
  // Present token in slot `id`, else CKR_SLOT_ID_INVALID / CKR_TOKEN_NOT_PRESENT.
  Result<SlotEntry> Token(CK_SLOT_ID id) const;

  // Slot events: the oldest unreported one, or nullopt.
  std::optional<CK_SLOT_ID> TakeEvent();
  // Waits until an event is queued, Wake() is called or `timeout` passes.
  void WaitForEvent(std::chrono::milliseconds timeout);
  void Wake();

 private:
  mutable std::shared_mutex mutex_;
  bool has_snapshot_ = false;
  std::vector<SlotEntry> slots_;  // sorted by id

  std::mutex event_mutex_;
  std::condition_variable event_cv_;
  std::deque<CK_SLOT_ID> events_;
  std::uint64_t wakes_ = 0;
};

}  // namespace vtoken::pkcs11
