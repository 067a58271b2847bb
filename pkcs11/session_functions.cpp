// Sessions and login: C_OpenSession … C_SetPIN, plus the random functions.
// Session-state rules are checked here, before anything goes to the agent.
#include <openssl/rand.h>

#include <climits>

#include "pkcs11/api.h"
#include "pkcs11/buffer.h"
#include "pkcs11/provider.h"

namespace vtoken::pkcs11 {
namespace {

bool IsDeviceGone(const Error& e) { return e.rv == CKR_DEVICE_ERROR || e.rv == CKR_DEVICE_REMOVED; }

// Destroys a closed session's session objects and, when it was the slot's
// last session, ends the application's login there.
void AfterClose(Provider& p, Session& s) {
  std::vector<std::uint64_t> own;
  {
    std::lock_guard lock(s.mutex);
    own.swap(s.own_objects);
    s.op = std::monostate{};
  }
  for (std::uint64_t oid : own) {
    (void)p.CallForSession({{"op", "destroy_object"}, {"slot_id", s.slot}, {"oid", oid}});
    p.objects.Erase(s.slot, oid);
  }
  if (p.sessions.Count(s.slot) == 0 && p.logins.Get(s.slot)) {
    (void)p.CallForSession({{"op", "logout"}, {"slot_id", s.slot}});
    p.DropLogin(s.slot);
  }
}

Result<std::optional<Secret>> PinArgument(const CK_UTF8CHAR* pin, CK_ULONG len, const SlotEntry& token) {
  if (pin == nullptr && len != 0) return Fail(CKR_ARGUMENTS_BAD, "PIN is NULL but its length is not 0");
  if (pin == nullptr) {
    if (!(token.token_info.flags & CKF_PROTECTED_AUTHENTICATION_PATH))
      return Fail(CKR_ARGUMENTS_BAD, "PIN is NULL and the token has no protected authentication path");
    return std::optional<Secret>{};
  }
  if (len > 4096) return Fail(CKR_PIN_LEN_RANGE, "PIN too long");
  return std::optional<Secret>(Secret(pin, len));
}

wire::Json PinJson(const std::optional<Secret>& pin) { return pin ? wire::Binary(*pin) : wire::Json(nullptr); }

}  // namespace

Result<void> OpenSession(CK_SLOT_ID slotID, CK_FLAGS flags, CK_VOID_PTR pApplication, CK_NOTIFY Notify,
                         CK_SESSION_HANDLE_PTR phSession) {
  auto p = VT_TRY(CurrentProvider());
  if (phSession == nullptr) return Fail(CKR_ARGUMENTS_BAD, "phSession is NULL");
  if (!(flags & CKF_SERIAL_SESSION)) return Fail(CKR_SESSION_PARALLEL_NOT_SUPPORTED, "CKF_SERIAL_SESSION is required");
  VT_CHECK(p->Sync());
  SlotEntry token = VT_TRY(p->slots.Token(slotID));
  if (!(token.token_info.flags & CKF_TOKEN_INITIALIZED))
    return Fail(CKR_TOKEN_NOT_RECOGNIZED, "the token is not initialized (C_InitToken first)");
  auto user = p->logins.Get(slotID);
  if (!(flags & CKF_RW_SESSION) && user && *user == CKU_SO)
    return Fail(CKR_SESSION_READ_WRITE_SO_EXISTS, "the SO is logged in; only R/W sessions may be opened");
  *phSession = p->sessions.Open(slotID, flags & (CKF_RW_SESSION | CKF_SERIAL_SESSION));
  return {};
}

Result<void> CloseSession(CK_SESSION_HANDLE hSession) {
  auto [p, s] = VT_TRY(EnterSession(hSession));
  if (!p->sessions.Close(hSession)) return Fail(CKR_SESSION_HANDLE_INVALID, "session already closed");
  AfterClose(*p, *s);
  return {};
}

Result<void> CloseAllSessions(CK_SLOT_ID slotID) {
  auto p = VT_TRY(CurrentProvider());
  (void)p->Sync();
  VT_TRY(p->slots.Get(slotID));
  for (auto& s : p->sessions.CloseAll(slotID)) AfterClose(*p, *s);
  if (p->logins.Get(slotID)) {  // no sessions were open, but a login lingered
    (void)p->CallForSession({{"op", "logout"}, {"slot_id", slotID}});
    p->DropLogin(slotID);
  }
  return {};
}

Result<void> GetSessionInfo(CK_SESSION_HANDLE hSession, CK_SESSION_INFO_PTR pInfo) {
  auto [p, s] = VT_TRY(EnterSession(hSession));
  if (pInfo == nullptr) return Fail(CKR_ARGUMENTS_BAD, "pInfo is NULL");
  pInfo->slotID = s->slot;
  pInfo->state = SessionState(*s, p->logins.Get(s->slot));
  pInfo->flags = s->flags;
  pInfo->ulDeviceError = 0;
  return {};
}

Result<void> Login(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen) {
  auto [p, s] = VT_TRY(EnterSession(hSession));
  if (userType != CKU_SO && userType != CKU_USER && userType != CKU_CONTEXT_SPECIFIC)
    return Fail(CKR_USER_TYPE_INVALID, "unknown user type");
  SlotEntry token = VT_TRY(p->slots.Token(s->slot));
  auto pin = VT_TRY(PinArgument(pPin, ulPinLen, token));
  const auto current = p->logins.Get(s->slot);

  if (userType == CKU_CONTEXT_SPECIFIC) {
    if (!current || *current != CKU_USER) return Fail(CKR_USER_NOT_LOGGED_IN, "context login needs a user login");
    std::lock_guard lock(s->mutex);
    bool* flag = nullptr;
    if (auto* sign = std::get_if<SignOperation>(&s->op)) flag = &sign->context_logged_in;
    if (auto* dec = std::get_if<DecryptOperation>(&s->op)) flag = &dec->context_logged_in;
    if (flag == nullptr) return Fail(CKR_OPERATION_NOT_INITIALIZED, "no signing or decryption operation to authorize");
    VT_TRY(p->CallForSession({{"op", "login"}, {"slot_id", s->slot}, {"user_type", 2u}, {"pin", PinJson(pin)}}));
    *flag = true;
    return {};
  }

  if (current && *current == userType) return Fail(CKR_USER_ALREADY_LOGGED_IN, "already logged in");
  if (current) return Fail(CKR_USER_ANOTHER_ALREADY_LOGGED_IN, "another user is logged in");
  if (userType == CKU_SO && p->sessions.AnyReadOnly(s->slot))
    return Fail(CKR_SESSION_READ_ONLY_EXISTS, "close read-only sessions before the SO logs in");
  if (userType == CKU_USER && !(token.token_info.flags & CKF_USER_PIN_INITIALIZED))
    return Fail(CKR_USER_PIN_NOT_INITIALIZED, "the user PIN is not initialized");
  auto done = p->CallForSession(
      {{"op", "login"}, {"slot_id", s->slot}, {"user_type", static_cast<std::uint64_t>(userType)}, {"pin", PinJson(pin)}});
  if (!done) {
    (void)p->RefreshSlots();  // retry counters changed the token flags
    return std::unexpected(done.error());
  }
  p->logins.Set(s->slot, userType);
  p->objects.Invalidate(s->slot);
  return {};
}

Result<void> Logout(CK_SESSION_HANDLE hSession) {
  auto [p, s] = VT_TRY(EnterSession(hSession));
  if (!p->logins.Get(s->slot)) return Fail(CKR_USER_NOT_LOGGED_IN, "nobody is logged in");
  auto done = p->CallForSession({{"op", "logout"}, {"slot_id", s->slot}});
  p->DropLogin(s->slot);
  if (!done && !IsDeviceGone(done.error())) return std::unexpected(done.error());
  return {};
}

Result<void> InitPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen) {
  auto [p, s] = VT_TRY(EnterSession(hSession));
  SlotEntry token = VT_TRY(p->slots.Token(s->slot));
  auto pin = VT_TRY(PinArgument(pPin, ulPinLen, token));
  const auto user = p->logins.Get(s->slot);
  if (!user || *user != CKU_SO) return Fail(CKR_USER_NOT_LOGGED_IN, "C_InitPIN needs an SO session");
  if (!s->rw()) return Fail(CKR_SESSION_READ_ONLY, "C_InitPIN needs a R/W session");
  VT_TRY(p->CallForSession({{"op", "init_pin"}, {"slot_id", s->slot}, {"pin", PinJson(pin)}}));
  return p->RefreshSlots();
}

Result<void> SetPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pOldPin, CK_ULONG ulOldLen, CK_UTF8CHAR_PTR pNewPin,
                    CK_ULONG ulNewLen) {
  auto [p, s] = VT_TRY(EnterSession(hSession));
  SlotEntry token = VT_TRY(p->slots.Token(s->slot));
  auto old_pin = VT_TRY(PinArgument(pOldPin, ulOldLen, token));
  auto new_pin = VT_TRY(PinArgument(pNewPin, ulNewLen, token));
  if (!s->rw()) return Fail(CKR_SESSION_READ_ONLY, "C_SetPIN needs a R/W session");
  auto done = p->CallForSession(
      {{"op", "set_pin"}, {"slot_id", s->slot}, {"old_pin", PinJson(old_pin)}, {"new_pin", PinJson(new_pin)}});
  (void)p->RefreshSlots();  // PIN counters or CKF_USER_PIN_TO_BE_CHANGED changed
  if (!done) return std::unexpected(done.error());
  return {};
}

Result<void> SeedRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSeed, CK_ULONG ulSeedLen) {
  VT_TRY(EnterSession(hSession));
  if (pSeed == nullptr && ulSeedLen != 0) return Fail(CKR_ARGUMENTS_BAD, "pSeed is NULL");
  return Fail(CKR_RANDOM_SEED_NOT_SUPPORTED, "the generator is OpenSSL's and takes no seed");
}

Result<void> GenerateRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR RandomData, CK_ULONG ulRandomLen) {
  VT_TRY(EnterSession(hSession));
  if (RandomData == nullptr && ulRandomLen != 0) return Fail(CKR_ARGUMENTS_BAD, "RandomData is NULL");
  CK_ULONG done = 0;
  while (done < ulRandomLen) {
    const int chunk = static_cast<int>(std::min<CK_ULONG>(ulRandomLen - done, INT_MAX / 2));
    if (RAND_bytes(RandomData + done, chunk) != 1) return Fail(CKR_FUNCTION_FAILED, "RAND_bytes failed");
    done += static_cast<CK_ULONG>(chunk);
  }
  return {};
}

}  // namespace vtoken::pkcs11
