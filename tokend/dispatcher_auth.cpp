// Login state and PIN management: init_token, login, logout, init_pin, set_pin.
#include <p11-kit/pkcs11.h>

#include "common/ckr_names.h"
#include "tokend/dispatcher.h"
#include "tokend/log.h"

namespace vtoken::agent {
namespace {

Result<Secret> RequiredSecret(const Json& req, const char* key) {
  auto s = VT_TRY(wire::GetOptionalSecret(req, key));
  if (!s) return Fail(CKR_ARGUMENTS_BAD, std::string("field '") + key + "' is required: this token has no protected authentication path");
  return std::move(*s);
}

// PKCS#11 labels arrive blank-padded to 32 bytes.
Result<std::string> LabelArg(const Json& req) {
  std::string label = VT_TRY(wire::GetString(req, "label", 64));
  while (!label.empty() && (label.back() == ' ' || label.back() == '\0')) label.pop_back();
  if (label.size() > 32) return Fail(CKR_ARGUMENTS_BAD, "the token label is longer than 32 bytes");
  return label;
}

}  // namespace

Result<Json> Dispatcher::InitToken(ConnectionState& c, const Json& req) {
  const auto slot_id = VT_TRY(wire::GetUint(req, "slot_id"));
  const Secret so_pin = VT_TRY(RequiredSecret(req, "so_pin"));
  const std::string label = VT_TRY(LabelArg(req));
  SlotEntry slot = VT_TRY(registry_.Present(slot_id));
  if (slot.is_cloud) return Fail(CKR_TOKEN_WRITE_PROTECTED, "the cloud token '" + slot.name + "' cannot be initialized");
  if (slot.is_free()) {
    SlotEntry created = VT_TRY(registry_.InitFreeSlot(slot_id, label, so_pin));
    LogInfo("token '" + created.name + "' initialized in slot " + std::to_string(created.slot_id));
    PublishSlots();
    return Json::object();
  }
  {
    auto auth = AuthMutex(slot_id);
    std::lock_guard auth_lock(*auth);
    {
      std::lock_guard lock(mu_);
      if (AnyoneLoggedInLocked(slot_id))
        return Fail(CKR_SESSION_EXISTS, "token '" + slot.name + "' is in use: log out everywhere before initializing it");
    }
    auto r = slot.token->Reinitialize(so_pin, label);
    if (!r) {
      PublishSlots();
      return std::unexpected(PinError(r.error(), slot, true));
    }
  }
  DropSlot(slot_id, slot.token);  // session objects of every connection are gone with the old token
  LogInfo("token '" + slot.name + "' reinitialized");
  PublishSlots();
  PublishObjects(slot);
  return Json::object();
}

Result<Json> Dispatcher::DoLogin(ConnectionState& c, const Json& req) {
  const auto slot_id = VT_TRY(wire::GetUint(req, "slot_id"));
  const auto user_type = VT_TRY(wire::GetUint(req, "user_type"));
  if (user_type > CKU_CONTEXT_SPECIFIC) return Fail(CKR_USER_TYPE_INVALID, "user_type must be 0 (SO), 1 (user) or 2 (context-specific)");
  auto pin = VT_TRY(wire::GetOptionalSecret(req, "pin"));
  const bool no_prompt = VT_TRY(NoPromptArg(req));  // a cloud login never prompts: the code is asked for at sign
  if (SlotEntry cloud = VT_TRY(registry_.Present(slot_id)); cloud.is_cloud)
    return CloudUserLogin(c, cloud, user_type, std::move(pin));
  SlotEntry slot = VT_TRY(TokenFor(slot_id));
  const bool so = user_type == CKU_SO;

  auto auth = AuthMutex(slot_id);
  std::lock_guard auth_lock(*auth);
  const Login current = LoginOf(c, slot_id);
  if (user_type == CKU_CONTEXT_SPECIFIC) {
    if (current != Login::kUser)
      return Fail(CKR_USER_NOT_LOGGED_IN, "a context-specific login needs a user login on token '" + slot.name + "' first");
  } else if (current == (so ? Login::kSo : Login::kUser)) {
    return Fail(CKR_USER_ALREADY_LOGGED_IN, std::string("already logged in as ") + (so ? "SO" : "user") + " on token '" + slot.name + "'");
  } else if (current != Login::kNone) {
    return Fail(CKR_USER_ANOTHER_ALREADY_LOGGED_IN,
                std::string("already logged in as ") + (so ? "user" : "SO") + " on token '" + slot.name + "': log out first");
  }
  if (!pin && no_prompt) return Fail(kCkrPromptRequired, "a PIN is needed for token '" + slot.name + "' and the caller asked for no prompt");
  if (!pin) return Fail(CKR_ARGUMENTS_BAD, "a PIN is needed: token '" + slot.name + "' has no protected authentication path");

  auto checked = so ? slot.token->LoginSo(*pin) : slot.token->LoginUser(*pin);
  PublishSlots();  // the counters moved
  if (!checked) {
    LogInfo("login as " + std::string(so ? "SO" : user_type == CKU_USER ? "user" : "context-specific") + " on token '" +
            slot.name + "' failed: " + std::string(CkrName(checked.error().rv)));
    return std::unexpected(PinError(checked.error(), slot, so));
  }
  std::lock_guard lock(mu_);
  // Unplugged (or deleted) while the PIN was being checked: the login is void.
  auto still = registry_.Present(slot_id);
  if (!still || still->token != slot.token) {
    if (!AnyoneLoggedInLocked(slot_id)) slot.token->Lock();
    return Fail(CKR_TOKEN_NOT_PRESENT, "token '" + slot.name + "' was removed during login");
  }
  SlotLogin& state = c.logins[slot_id];
  if (user_type == CKU_CONTEXT_SPECIFIC) state.context_auth = true;
  else state.who = so ? Login::kSo : Login::kUser;
  return Json::object();
}

Result<Json> Dispatcher::DoLogout(ConnectionState& c, const Json& req) {
  const auto slot_id = VT_TRY(wire::GetUint(req, "slot_id"));
  if (SlotEntry cloud = VT_TRY(registry_.Present(slot_id)); cloud.is_cloud) {
    std::lock_guard lock(mu_);
    if (c.logins.erase(slot_id) == 0) return Fail(CKR_USER_NOT_LOGGED_IN, "not logged in on cloud token '" + cloud.name + "'");
    return Json::object();
  }
  SlotEntry slot = VT_TRY(TokenFor(slot_id));
  {
    std::lock_guard lock(mu_);
    auto it = c.logins.find(slot_id);
    if (it == c.logins.end() || it->second.who == Login::kNone)
      return Fail(CKR_USER_NOT_LOGGED_IN, "not logged in on token '" + slot.name + "'");
    c.logins.erase(it);
  }
  LockIfUnused(slot_id, *slot.token);
  return Json::object();
}

Result<Json> Dispatcher::InitPin(ConnectionState& c, const Json& req) {
  const auto slot_id = VT_TRY(wire::GetUint(req, "slot_id"));
  const Secret pin = VT_TRY(RequiredSecret(req, "pin"));
  SlotEntry slot = VT_TRY(TokenFor(slot_id));
  auto auth = AuthMutex(slot_id);
  std::lock_guard auth_lock(*auth);
  if (LoginOf(c, slot_id) != Login::kSo)
    return Fail(CKR_USER_NOT_LOGGED_IN, "setting the user PIN of token '" + slot.name + "' needs an SO login (with the PUK)");
  auto r = slot.token->InitPin(pin);
  PublishSlots();
  if (!r) return std::unexpected(r.error());
  LogInfo("user PIN of token '" + slot.name + "' set by the SO");
  return Json::object();
}

Result<Json> Dispatcher::SetPin(ConnectionState& c, const Json& req) {
  const auto slot_id = VT_TRY(wire::GetUint(req, "slot_id"));
  const Secret old_pin = VT_TRY(RequiredSecret(req, "old_pin"));
  const Secret new_pin = VT_TRY(RequiredSecret(req, "new_pin"));
  SlotEntry slot = VT_TRY(TokenFor(slot_id));
  auto auth = AuthMutex(slot_id);
  std::lock_guard auth_lock(*auth);
  const Login current = LoginOf(c, slot_id);
  Result<void> r;
  bool puk = false;
  if (current == Login::kSo) {
    puk = true;
    r = slot.token->ChangePuk(old_pin, new_pin);
  } else if (current == Login::kUser || !slot.token->IsPinLocked()) {
    r = slot.token->ChangePin(old_pin, new_pin);
  } else {
    puk = true;  // PIN locked, not logged in: old_pin is the PUK (pkcs11-tool --unlock-pin)
    r = slot.token->Unblock(old_pin, new_pin);
  }
  PublishSlots();
  if (!r) return std::unexpected(PinError(r.error(), slot, puk));
  LogInfo(std::string(current == Login::kSo ? "PUK" : "PIN") + " of token '" + slot.name + "' changed");
  return Json::object();
}

}  // namespace vtoken::agent
