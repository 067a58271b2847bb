// Token management for the vtoken CLI (token_create, token_delete,
// token_plug/unplug, token_change_pin, token_unblock, token_list) and status.
#include <openssl/rand.h>
#include <p11-kit/pkcs11.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "tokend/dispatcher.h"
#include "tokend/log.h"

namespace vtoken::agent {
namespace {

Result<Secret> RequiredSecretArg(const Json& req, const char* key) {
  auto s = VT_TRY(SecretArg(req, key));
  if (!s) return Fail(CKR_ARGUMENTS_BAD, std::string("field '") + key + "' is required");
  return std::move(*s);
}

Result<Secret> RandomDigits(std::size_t n) {
  Secret out;
  std::string digits(n, '0');
  for (std::size_t i = 0; i < n;) {
    unsigned char b = 0;
    if (RAND_bytes(&b, 1) != 1) return Fail(CKR_FUNCTION_FAILED, "the random generator failed");
    if (b >= 250) continue;  // keeps the digits uniform
    digits[i++] = static_cast<char>('0' + b % 10);
  }
  out = Secret(digits);
  WipeMemory(digits.data(), digits.size());
  return out;
}

}  // namespace

Result<std::optional<Secret>> SecretArg(const Json& req, const char* key) {
  const Json* v = wire::Find(req, key);
  if (v && v->is_string()) {
    const auto& s = v->get_ref<const std::string&>();
    if (s.size() > 4096) return Fail(CKR_ARGUMENTS_BAD, std::string("field '") + key + "' is too long");
    return std::optional<Secret>(Secret(s));
  }
  return wire::GetOptionalSecret(req, key);
}

Result<Json> Dispatcher::TokenCreate(const Json& req) {
  const std::string name = VT_TRY(wire::GetString(req, "name", 64));
  std::string label = wire::Find(req, "label") ? VT_TRY(wire::GetString(req, "label", 64)) : name;
  if (label.size() > 32) return Fail(CKR_ARGUMENTS_BAD, "the token label is longer than 32 bytes");
  if (!IsValidTokenName(name))
    return Fail(CKR_ARGUMENTS_BAD, "'" + name + "' is not a valid token name (use letters, digits, '.', '_', '-')");
  const TokenPolicy& policy = registry_.policy();
  auto pin = VT_TRY(SecretArg(req, "pin"));
  auto puk = VT_TRY(SecretArg(req, "puk"));
  if (!pin) pin = VT_TRY(RandomDigits(std::clamp<std::size_t>(6, policy.pin_min, policy.pin_max)));
  if (!puk) puk = VT_TRY(RandomDigits(std::clamp<std::size_t>(8, policy.pin_min, policy.pin_max)));
  SlotEntry slot = VT_TRY(registry_.CreateToken(name, label, *puk, *pin));
  LogInfo("token '" + name + "' created in slot " + std::to_string(slot.slot_id));
  PublishSlots();
  Json reply{{"slot_id", slot.slot_id}, {"pin", wire::SecretText(*pin)}, {"puk", wire::SecretText(*puk)}};
  return reply;
}

Result<Json> Dispatcher::TokenDelete(const Json& req) {
  const std::string name = VT_TRY(wire::GetString(req, "name", 64));
  SlotEntry gone = VT_TRY(registry_.DeleteToken(name));
  DropSlot(gone.slot_id, gone.token);
  LogInfo("token '" + name + "' (slot " + std::to_string(gone.slot_id) + ") deleted");
  PublishSlots();
  return Json::object();
}

Result<Json> Dispatcher::TokenPlug(const Json& req, bool plug) {
  const std::string name = VT_TRY(wire::GetString(req, "name", 64));
  const bool changed = VT_TRY(registry_.SetPlugged(name, plug));
  if (changed) {
    SlotEntry slot = VT_TRY(registry_.ByName(name));
    if (!plug) DropSlot(slot.slot_id, slot.token);
    LogInfo("token '" + name + "' " + (plug ? "plugged in" : "unplugged"));
    PublishSlots();
  }
  return Json{{"changed", changed}};
}

// token_change_pin and token_unblock: a new PIN, proven by the old PIN or by
// the PUK, set under the slot's login lock.
Result<Json> Dispatcher::TokenSetPin(const Json& req, bool with_puk) {
  const std::string name = VT_TRY(wire::GetString(req, "name", 64));
  const Secret proof = VT_TRY(RequiredSecretArg(req, with_puk ? "puk" : "old_pin"));
  const Secret new_pin = VT_TRY(RequiredSecretArg(req, "new_pin"));
  SlotEntry slot = VT_TRY(registry_.ByName(name));
  if (!slot.plugged) return Fail(CKR_TOKEN_NOT_PRESENT, "token '" + name + "' is unplugged (vtoken token plug " + name + ")");
  Result<void> r;
  {
    auto auth = AuthMutex(slot.slot_id);
    std::lock_guard auth_lock(*auth);
    r = with_puk ? slot.token->Unblock(proof, new_pin) : slot.token->ChangePin(proof, new_pin);
  }
  PublishSlots();
  if (!r) return std::unexpected(PinError(r.error(), slot, with_puk));
  LogInfo("PIN of token '" + name + (with_puk ? "' reset with the PUK" : "' changed"));
  return Json::object();
}

Result<Json> Dispatcher::TokenList() {
  Json tokens = Json::array();
  for (const auto& slot : registry_.Tokens()) {
    const TokenInfo info = slot.token->Info();
    std::size_t keys = 0;
    for (const auto& o : slot.token->Objects(true, 0)) {
      auto cls = std::find_if(o.attrs.begin(), o.attrs.end(), [](auto& a) { return a.first == CKA_CLASS; });
      CK_OBJECT_CLASS value = ~0UL;
      if (cls != o.attrs.end() && cls->second.size() == sizeof value) std::memcpy(&value, cls->second.data(), sizeof value);
      if (o.is_token && value == CKO_PRIVATE_KEY) ++keys;
    }
    tokens.push_back(Json{{"name", slot.name},
                          {"slot_id", slot.slot_id},
                          {"label", info.label},
                          {"serial", info.serial},
                          {"plugged", slot.plugged},
                          {"flags", info.flags},
                          {"pin_tries_left", info.pin_tries_left},
                          {"puk_tries_left", info.puk_tries_left},
                          {"key_count", keys}});
  }
  return Json{{"tokens", std::move(tokens)}};
}

Result<Json> Dispatcher::Status() {
  const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_);
  return Json{{"agent", options_.agent_name},
              {"pid", static_cast<std::uint64_t>(getpid())},
              {"uptime_s", static_cast<std::uint64_t>(uptime.count())},
              {"connections", connection_count()},
              {"slots", registry_.Snapshot()}};
}

}  // namespace vtoken::agent
