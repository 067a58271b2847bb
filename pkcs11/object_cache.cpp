#include "pkcs11/object_cache.h"

namespace vtoken::pkcs11 {

CK_OBJECT_HANDLE ObjectCache::HandleFor(const Key& key) {
  auto it = handle_of_.find(key);
  if (it != handle_of_.end()) return it->second;
  const CK_OBJECT_HANDLE h = next_handle_++;
  handle_of_.emplace(key, h);
  key_of_.emplace(h, key);
  return h;
}

void ObjectCache::ForgetHandle(const Key& key) {
  auto it = handle_of_.find(key);
  if (it == handle_of_.end()) return;
  key_of_.erase(it->second);
  handle_of_.erase(it);
}

Result<void> ObjectCache::Refresh(CK_SLOT_ID slot) {
  {
    std::shared_lock lock(mutex_);
    auto it = slots_.find(slot);
    if (it != slots_.end() && it->second.wanted == it->second.fetched) return {};
  }
  std::lock_guard fetch_lock(fetch_mutex_);  // one fetch at a time; others wait for it
  std::uint64_t wanted;
  {
    std::unique_lock lock(mutex_);
    SlotObjects& s = slots_[slot];
    if (s.wanted == s.fetched) return {};
    wanted = s.wanted;
  }
  wire::Json reply = VT_TRY(fetch_(slot));
  const wire::Json* list = wire::Find(reply, "objects");
  if (list == nullptr || !list->is_array()) return Fail(CKR_DEVICE_ERROR, "agent sent no object list");
  std::map<std::uint64_t, std::shared_ptr<const Object>> fresh;
  for (const auto& j : *list) {
    auto object = VT_TRY(ParseObject(slot, j));
    fresh.emplace(object->oid, std::move(object));
  }
  std::unique_lock lock(mutex_);
  SlotObjects& s = slots_[slot];
  for (const auto& [oid, object] : s.objects)
    if (!fresh.contains(oid)) ForgetHandle({slot, oid});
  for (const auto& [oid, object] : fresh) HandleFor({slot, oid});
  s.objects = std::move(fresh);
  s.fetched = wanted;
  return {};
}

Result<std::vector<ObjectCache::Entry>> ObjectCache::List(CK_SLOT_ID slot) {
  VT_CHECK(Refresh(slot));
  std::shared_lock lock(mutex_);
  std::vector<Entry> out;
  auto it = slots_.find(slot);
  if (it == slots_.end()) return out;
  out.reserve(it->second.objects.size());
  for (const auto& [oid, object] : it->second.objects) {
    auto h = handle_of_.find({slot, oid});
    if (h != handle_of_.end()) out.emplace_back(h->second, object);
  }
  return out;
}

Result<std::shared_ptr<const Object>> ObjectCache::Get(CK_SLOT_ID slot, CK_OBJECT_HANDLE handle, CK_RV invalid_rv) {
  if (handle == CK_INVALID_HANDLE) return Fail(invalid_rv, "handle is CK_INVALID_HANDLE");
  VT_CHECK(Refresh(slot));
  std::shared_lock lock(mutex_);
  auto k = key_of_.find(handle);
  if (k == key_of_.end() || k->second.first != slot) return Fail(invalid_rv, "no such object in this session's token");
  auto s = slots_.find(slot);
  if (s == slots_.end()) return Fail(invalid_rv, "no such object");
  auto o = s->second.objects.find(k->second.second);
  if (o == s->second.objects.end()) return Fail(invalid_rv, "object no longer exists");
  return o->second;
}

CK_OBJECT_HANDLE ObjectCache::Put(std::shared_ptr<const Object> object) {
  std::unique_lock lock(mutex_);
  const Key key{object->slot, object->oid};
  slots_[object->slot].objects[object->oid] = object;
  return HandleFor(key);
}

void ObjectCache::Erase(CK_SLOT_ID slot, std::uint64_t oid) {
  std::unique_lock lock(mutex_);
  auto s = slots_.find(slot);
  if (s != slots_.end()) s->second.objects.erase(oid);
  ForgetHandle({slot, oid});
}

void ObjectCache::Invalidate(CK_SLOT_ID slot) {
  std::unique_lock lock(mutex_);
  slots_[slot].wanted++;
}

void ObjectCache::NoteGeneration(CK_SLOT_ID slot, std::uint64_t generation) {
  std::unique_lock lock(mutex_);
  SlotObjects& s = slots_[slot];
  if (generation != s.generation) {
    s.generation = generation;
    s.wanted++;
  }
}

void ObjectCache::Drop(CK_SLOT_ID slot) {
  std::unique_lock lock(mutex_);
  auto s = slots_.find(slot);
  if (s == slots_.end()) return;
  for (const auto& [oid, object] : s->second.objects) ForgetHandle({slot, oid});
  s->second.objects.clear();
  s->second.wanted++;
}

void ObjectCache::InvalidateAll() {
  std::unique_lock lock(mutex_);
  for (auto& [slot, s] : slots_) s.wanted++;
}

void ObjectCache::DropAll() {
  std::unique_lock lock(mutex_);
  for (auto& [slot, s] : slots_) {
    s.objects.clear();
    s.wanted++;
  }
  handle_of_.clear();
  key_of_.clear();
}

}  // namespace vtoken::pkcs11
