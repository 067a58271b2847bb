#include "pkcs11/slot_cache.h"

#include <algorithm>
#include <map>

#include "pkcs11/buffer.h"

namespace vtoken::pkcs11 {
namespace {

std::string Text(const wire::Json& j, const char* key) {
  auto v = wire::GetString(j, key, 256);
  return v ? *v : std::string();
}

CK_VERSION Version(const wire::Json& j, const char* key) {
  const wire::Json* v = wire::Find(j, key);
  if (v && v->is_array() && v->size() == 2 && (*v)[0].is_number_integer() && (*v)[1].is_number_integer()) {
    const auto major = (*v)[0].get<std::int64_t>(), minor = (*v)[1].get<std::int64_t>();
    if (major >= 0 && major < 256 && minor >= 0 && minor < 256)
      return {static_cast<CK_BYTE>(major), static_cast<CK_BYTE>(minor)};
  }
  return {0, 1};
}

CK_ULONG Ulong(const wire::Json& j, const char* key, CK_ULONG fallback) {
  auto v = wire::GetUint(j, key);
  return v ? static_cast<CK_ULONG>(*v) : fallback;
}

}  // namespace

Result<SlotEntry> ParseSlot(const wire::Json& j) {
  if (!j.is_object()) return Fail(CKR_DEVICE_ERROR, "slot entry is not a map");
  SlotEntry s;
  s.id = VT_TRY(wire::GetUint(j, "slot_id"));
  s.kind = Text(j, "kind");
  auto present = wire::GetBool(j, "present");
  s.present = present && *present;
  s.generation = Ulong(j, "generation", 0);

  std::string description = Text(j, "description");
  if (description.empty()) description = "vtoken slot " + std::to_string(s.id);
  PadString(s.slot_info.slotDescription, description);
  PadString(s.slot_info.manufacturerID, "vtoken");
  s.slot_info.flags = CKF_REMOVABLE_DEVICE | CKF_HW_SLOT | (s.present ? CKF_TOKEN_PRESENT : 0);

  const wire::Json empty = wire::Json::object();
  const wire::Json* t = wire::Find(j, "token");
  const wire::Json& token = (t && t->is_object()) ? *t : empty;
  s.serial = Text(token, "serial");
  s.slot_info.hardwareVersion = Version(token, "hardware");
  s.slot_info.firmwareVersion = Version(token, "firmware");

  CK_TOKEN_INFO& ti = s.token_info;
  PadString(ti.label, Text(token, "label"));
  PadString(ti.manufacturerID, Text(token, "manufacturer").empty() ? "vtoken" : Text(token, "manufacturer"));
  PadString(ti.model, Text(token, "model"));
  PadString(ti.serialNumber, s.serial);
  ti.flags = Ulong(token, "flags", 0);
  ti.ulMaxSessionCount = CK_EFFECTIVELY_INFINITE;
  ti.ulSessionCount = 0;
  ti.ulMaxRwSessionCount = CK_EFFECTIVELY_INFINITE;
  ti.ulRwSessionCount = 0;
  ti.ulMaxPinLen = Ulong(token, "max_pin", 64);
  ti.ulMinPinLen = Ulong(token, "min_pin", 4);
  ti.ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
  ti.ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
  ti.ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
  ti.ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
  ti.hardwareVersion = s.slot_info.hardwareVersion;
  ti.firmwareVersion = s.slot_info.firmwareVersion;
  std::memset(ti.utcTime, ' ', sizeof(ti.utcTime));  // no CKF_CLOCK_ON_TOKEN
  return s;
}

Result<SnapshotChange> SlotCache::Apply(const wire::Json& message) {
  const wire::Json* list = wire::Find(message, "slots");
  if (list == nullptr || !list->is_array() || list->size() > 4096)
    return Fail(CKR_DEVICE_ERROR, "agent sent no slot list");
  std::vector<SlotEntry> fresh;
  fresh.reserve(list->size());
  for (const auto& j : *list) fresh.push_back(VT_TRY(ParseSlot(j)));
  std::sort(fresh.begin(), fresh.end(), [](const SlotEntry& a, const SlotEntry& b) { return a.id < b.id; });

  SnapshotChange change;
  std::vector<CK_SLOT_ID>& events = change.events;
  {
    std::unique_lock lock(mutex_);
    std::map<CK_SLOT_ID, const SlotEntry*> old;
    for (const auto& s : slots_) old[s.id] = &s;
    for (const auto& s : fresh) {
      auto it = old.find(s.id);
      const bool was_present = it != old.end() && it->second->present;
      if (was_present && (!s.present || it->second->serial != s.serial)) change.gone.push_back(s.id);
      if (has_snapshot_ && was_present != s.present) events.push_back(s.id);
      if (s.present) change.generations.emplace_back(s.id, s.generation);
      if (it != old.end()) old.erase(it);
    }
    for (const auto& [id, s] : old)  // slots that vanished from the list
      if (s->present) {
        change.gone.push_back(id);
        events.push_back(id);
      }
    slots_ = std::move(fresh);
    has_snapshot_ = true;
  }
  return change;
}

void SlotCache::Publish(const std::vector<CK_SLOT_ID>& events) {
  if (events.empty()) return;
  std::lock_guard lock(event_mutex_);
  for (CK_SLOT_ID id : events)
    if (std::find(events_.begin(), events_.end(), id) == events_.end()) events_.push_back(id);
  event_cv_.notify_all();
}

bool SlotCache::has_snapshot() const {
  std::shared_lock lock(mutex_);
  return has_snapshot_;
}

std::vector<CK_SLOT_ID> SlotCache::List(bool token_present) const {
  std::shared_lock lock(mutex_);
  std::vector<CK_SLOT_ID> out;
  out.reserve(slots_.size());
  for (const auto& s : slots_)
    if (!token_present || s.present) out.push_back(s.id);
  return out;
}

Result<void> SlotCache::SlotInfo(CK_SLOT_ID id, CK_SLOT_INFO* out) const {
  std::shared_lock lock(mutex_);
  for (const auto& s : slots_)
    if (s.id == id) {
      *out = s.slot_info;
      return {};
    }
  return Fail(CKR_SLOT_ID_INVALID, "no such slot");
}

Result<SlotEntry> SlotCache::Get(CK_SLOT_ID id) const {
  std::shared_lock lock(mutex_);
  for (const auto& s : slots_)
    if (s.id == id) return s;
  return Fail(CKR_SLOT_ID_INVALID, "no such slot");
}

Result<SlotEntry> SlotCache::Token(CK_SLOT_ID id) const {
  SlotEntry s = VT_TRY(Get(id));
  if (!s.present) return Fail(CKR_TOKEN_NOT_PRESENT, "no token in the slot");
  return s;
}

std::optional<CK_SLOT_ID> SlotCache::TakeEvent() {
  std::lock_guard lock(event_mutex_);
  if (events_.empty()) return std::nullopt;
  CK_SLOT_ID id = events_.front();
  events_.pop_front();
  return id;
}

void SlotCache::WaitForEvent(std::chrono::milliseconds timeout) {
  std::unique_lock lock(event_mutex_);
  const std::uint64_t wakes = wakes_;
  event_cv_.wait_for(lock, timeout, [&] { return !events_.empty() || wakes_ != wakes; });
}

void SlotCache::Wake() {
  std::lock_guard lock(event_mutex_);
  ++wakes_;
  event_cv_.notify_all();
}

}  // namespace vtoken::pkcs11
