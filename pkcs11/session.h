#pragma once
// PKCS#11 sessions live in the module (the agent does not know them). Login
// state belongs to the application and the slot, shared by all its sessions
// there (LoginTable). A session whose token was removed is dead: its next use
// answers CKR_DEVICE_REMOVED once, later uses CKR_SESSION_HANDLE_INVALID.
#include <p11-kit/pkcs11.h>

#include <map>
#include <mutex>
#include <optional>
#include <unordered_set>

#include "common/error.h"
#include "pkcs11/handle_map.h"
#include "pkcs11/operations.h"

namespace vtoken::pkcs11 {

struct Session {
  Session(CK_SLOT_ID s, CK_FLAGS f) : slot(s), flags(f) {}
  const CK_SLOT_ID slot;
  const CK_FLAGS flags;
  bool rw() const { return (flags & CKF_RW_SESSION) != 0; }

  std::mutex mutex;  // guards op and own_objects
  Operation op;
  std::vector<std::uint64_t> own_objects;  // session objects (CKA_TOKEN=FALSE) it created
};

class SessionTable {
 public:
  CK_SESSION_HANDLE Open(CK_SLOT_ID slot, CK_FLAGS flags);
  Result<std::shared_ptr<Session>> Get(CK_SESSION_HANDLE handle);
  std::shared_ptr<Session> Close(CK_SESSION_HANDLE handle);
  std::vector<std::shared_ptr<Session>> CloseAll(CK_SLOT_ID slot);
  // Token gone: the slot's sessions die (CKR_DEVICE_REMOVED once).
  void Kill(CK_SLOT_ID slot);
  void KillAll();
  CK_ULONG Count(CK_SLOT_ID slot) const;
  CK_ULONG CountRw(CK_SLOT_ID slot) const;
  bool AnyReadOnly(CK_SLOT_ID slot) const;

 private:
  HandleMap<Session> sessions_;
  std::mutex removed_mutex_;
  std::unordered_set<CK_SESSION_HANDLE> removed_;
};

class LoginTable {
 public:
  std::optional<CK_USER_TYPE> Get(CK_SLOT_ID slot) const;
  bool UserLoggedIn(CK_SLOT_ID slot) const { return Get(slot) == CKU_USER; }
  void Set(CK_SLOT_ID slot, CK_USER_TYPE user);
  bool Clear(CK_SLOT_ID slot);  // true if someone was logged in
  void ClearAll();

 private:
  mutable std::mutex mutex_;
  std::map<CK_SLOT_ID, CK_USER_TYPE> users_;
};

// CKS_* for a session given who is logged in on its slot.
CK_STATE SessionState(const Session& s, std::optional<CK_USER_TYPE> user);

}  // namespace vtoken::pkcs11
