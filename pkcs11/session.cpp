#include "pkcs11/session.h"

namespace vtoken::pkcs11 {

CK_SESSION_HANDLE SessionTable::Open(CK_SLOT_ID slot, CK_FLAGS flags) {
  return sessions_.Add(std::make_shared<Session>(slot, flags));
}

Result<std::shared_ptr<Session>> SessionTable::Get(CK_SESSION_HANDLE handle) {
  if (auto s = sessions_.Get(handle)) return s;
  std::lock_guard lock(removed_mutex_);
  if (removed_.erase(handle) != 0) return Fail(CKR_DEVICE_REMOVED, "the token of this session was removed");
  return Fail(CKR_SESSION_HANDLE_INVALID, "no such session");
}

std::shared_ptr<Session> SessionTable::Close(CK_SESSION_HANDLE handle) { return sessions_.Remove(handle); }

std::vector<std::shared_ptr<Session>> SessionTable::CloseAll(CK_SLOT_ID slot) {
  std::vector<std::shared_ptr<Session>> out;
  for (auto& [h, s] : sessions_.RemoveIf([&](const Session& s) { return s.slot == slot; })) out.push_back(s);
  return out;
}

void SessionTable::Kill(CK_SLOT_ID slot) {
  auto dead = sessions_.RemoveIf([&](const Session& s) { return s.slot == slot; });
  std::lock_guard lock(removed_mutex_);
  for (auto& [h, s] : dead) removed_.insert(h);
}

void SessionTable::KillAll() {
  auto dead = sessions_.RemoveIf([](const Session&) { return true; });
  std::lock_guard lock(removed_mutex_);
  for (auto& [h, s] : dead) removed_.insert(h);
}

CK_ULONG SessionTable::Count(CK_SLOT_ID slot) const {
  return sessions_.Count([&](const Session& s) { return s.slot == slot; });
}

CK_ULONG SessionTable::CountRw(CK_SLOT_ID slot) const {
  return sessions_.Count([&](const Session& s) { return s.slot == slot && s.rw(); });
}

bool SessionTable::AnyReadOnly(CK_SLOT_ID slot) const {
  return sessions_.Count([&](const Session& s) { return s.slot == slot && !s.rw(); }) != 0;
}

std::optional<CK_USER_TYPE> LoginTable::Get(CK_SLOT_ID slot) const {
  std::lock_guard lock(mutex_);
  auto it = users_.find(slot);
  if (it == users_.end()) return std::nullopt;
  return it->second;
}

void LoginTable::Set(CK_SLOT_ID slot, CK_USER_TYPE user) {
  std::lock_guard lock(mutex_);
  users_[slot] = user;
}

bool LoginTable::Clear(CK_SLOT_ID slot) {
  std::lock_guard lock(mutex_);
  return users_.erase(slot) != 0;
}

void LoginTable::ClearAll() {
  std::lock_guard lock(mutex_);
  users_.clear();
}

CK_STATE SessionState(const Session& s, std::optional<CK_USER_TYPE> user) {
  if (user && *user == CKU_SO) return CKS_RW_SO_FUNCTIONS;
  if (user && *user == CKU_USER) return s.rw() ? CKS_RW_USER_FUNCTIONS : CKS_RO_USER_FUNCTIONS;
  return s.rw() ? CKS_RW_PUBLIC_SESSION : CKS_RO_PUBLIC_SESSION;
}

}  // namespace vtoken::pkcs11
