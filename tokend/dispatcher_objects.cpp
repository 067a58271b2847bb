// Objects and private-key operations: objects, create_object, destroy_object,
// set_attributes, generate_key_pair, sign, decrypt.
#include <p11-kit/pkcs11.h>

#include <algorithm>

#include "tokend/dispatcher.h"

namespace vtoken::agent {
namespace {

bool AlwaysAuthenticate(const ObjectView& o) {
  return std::any_of(o.attrs.begin(), o.attrs.end(), [](const wire::Attribute& a) {
    return a.first == CKA_ALWAYS_AUTHENTICATE && !a.second.empty() && a.second[0] != 0;
  });
}

}  // namespace

Result<MechanismParams> ParamsArg(const Json& req) {
  MechanismParams p;
  const Json* params = wire::Find(req, "params");
  if (!params) return p;
  if (!params->is_object()) return Fail(CKR_MECHANISM_PARAM_INVALID, "field 'params' must be a map");
  if (wire::Find(*params, "hash")) p.hash = VT_TRY(wire::GetUint(*params, "hash"));
  if (wire::Find(*params, "mgf")) p.mgf = VT_TRY(wire::GetUint(*params, "mgf"));
  if (wire::Find(*params, "salt_len")) p.salt_len = VT_TRY(wire::GetUint(*params, "salt_len"));
  if (wire::Find(*params, "source_data")) p.oaep_label = VT_TRY(wire::GetBytes(*params, "source_data", 4096));
  return p;
}

Result<bool> NoPromptArg(const Json& req) {
  if (!wire::Find(req, "no_prompt")) return false;
  return wire::GetBool(req, "no_prompt");
}

Json ObjectJson(const ObjectView& o) {
  return Json{{"oid", o.oid}, {"attrs", wire::EncodeAttributes(o.attrs)}, {"sensitive", o.sensitive}};
}

Result<Json> Dispatcher::ListObjects(ConnectionState& c, const Json& req) {
  const auto slot_id = VT_TRY(wire::GetUint(req, "slot_id"));
  SlotEntry slot = VT_TRY(registry_.Present(slot_id));
  Json list = Json::array();
  if (slot.cloud)
    for (const auto& o : slot.cloud->Objects(LoginOf(c, slot_id) == Login::kUser)) list.push_back(ObjectJson(o));
  if (slot.token)
    for (const auto& o : slot.token->Objects(LoginOf(c, slot_id) == Login::kUser, c.id)) list.push_back(ObjectJson(o));
  return Json{{"objects", std::move(list)}};
}

Result<Json> Dispatcher::CreateObject(ConnectionState& c, const Json& req) {
  const auto slot_id = VT_TRY(wire::GetUint(req, "slot_id"));
  const auto attrs = VT_TRY(wire::DecodeAttributes(req, "attrs"));
  SlotEntry slot = VT_TRY(TokenFor(slot_id));
  auto object = VT_TRY(slot.token->CreateObject(attrs, LoginOf(c, slot_id) == Login::kUser, c.id));
  ForgetKeyFlags(c, slot_id);
  PublishObjects(slot);
  return Json{{"object", ObjectJson(object)}};
}

Result<Json> Dispatcher::DestroyObject(ConnectionState& c, const Json& req) {
  const auto slot_id = VT_TRY(wire::GetUint(req, "slot_id"));
  const auto oid = VT_TRY(wire::GetUint(req, "oid"));
  SlotEntry slot = VT_TRY(TokenFor(slot_id));
  VT_CHECK(slot.token->DestroyObject(oid, LoginOf(c, slot_id) == Login::kUser, c.id));
  ForgetKeyFlags(c, slot_id);
  PublishObjects(slot);
  return Json::object();
}

Result<Json> Dispatcher::SetAttributes(ConnectionState& c, const Json& req) {
  const auto slot_id = VT_TRY(wire::GetUint(req, "slot_id"));
  const auto oid = VT_TRY(wire::GetUint(req, "oid"));
  const auto attrs = VT_TRY(wire::DecodeAttributes(req, "attrs"));
  SlotEntry slot = VT_TRY(TokenFor(slot_id));
  auto object = VT_TRY(slot.token->SetAttributes(oid, attrs, LoginOf(c, slot_id) == Login::kUser, c.id));
  ForgetKeyFlags(c, slot_id);
  PublishObjects(slot);
  return Json{{"object", ObjectJson(object)}};
}

Result<Json> Dispatcher::GenerateKeyPair(ConnectionState& c, const Json& req) {
  const auto slot_id = VT_TRY(wire::GetUint(req, "slot_id"));
  const auto mechanism = VT_TRY(wire::GetUint(req, "mechanism"));
  const auto public_attrs = VT_TRY(wire::DecodeAttributes(req, "public_attrs"));
  const auto private_attrs = VT_TRY(wire::DecodeAttributes(req, "private_attrs"));
  SlotEntry slot = VT_TRY(TokenFor(slot_id));
  if (LoginOf(c, slot_id) != Login::kUser)
    return Fail(CKR_USER_NOT_LOGGED_IN, "generating a key on token '" + slot.name + "' needs a user login");
  auto [pub, priv] = VT_TRY(slot.token->GenerateKeyPair(mechanism, public_attrs, private_attrs, c.id));
  ForgetKeyFlags(c, slot_id);
  PublishObjects(slot);
  return Json{{"public", ObjectJson(pub)}, {"private", ObjectJson(priv)}};
}

void Dispatcher::ForgetKeyFlags(ConnectionState& c, std::uint64_t slot_id) {
  std::lock_guard lock(mu_);
  c.always_auth.erase(slot_id);
}

// Which keys need a context-specific login, cached per connection until the
// token's generation moves (or this connection changes its session objects).
Result<bool> Dispatcher::RequiresContextLogin(ConnectionState& c, const SlotEntry& slot, std::uint64_t oid) {
  const std::uint64_t generation = slot.token->generation();
  {
    std::lock_guard lock(mu_);
    auto it = c.always_auth.find(slot.slot_id);
    if (it != c.always_auth.end() && it->second.first == generation) return it->second.second.contains(oid);
  }
  std::set<std::uint64_t> oids;
  for (const auto& o : slot.token->Objects(true, c.id))
    if (AlwaysAuthenticate(o)) oids.insert(o.oid);
  const bool needed = oids.contains(oid);
  std::lock_guard lock(mu_);
  c.always_auth[slot.slot_id] = {generation, std::move(oids)};
  return needed;
}

Result<Json> Dispatcher::SignOrDecrypt(ConnectionState& c, const Json& req, bool sign) {
  const auto slot_id = VT_TRY(wire::GetUint(req, "slot_id"));
  const auto oid = VT_TRY(wire::GetUint(req, "oid"));
  const auto mechanism = VT_TRY(wire::GetUint(req, "mechanism"));
  auto data = VT_TRY(wire::GetBytes(req, "data"));
  const MechanismParams params = VT_TRY(ParamsArg(req));
  const bool no_prompt = VT_TRY(NoPromptArg(req));  // the emulated token never prompts at sign
  if (SlotEntry cloud = VT_TRY(registry_.Present(slot_id)); cloud.is_cloud) {
    if (!sign) return Fail(CKR_KEY_FUNCTION_NOT_PERMITTED, "cloud keys only sign");
    return CloudSign(c, cloud, oid, mechanism, params, std::move(data), no_prompt);
  }
  SlotEntry slot = VT_TRY(TokenFor(slot_id));
  const char* what = sign ? "signing" : "decrypting";
  if (LoginOf(c, slot_id) != Login::kUser)
    return Fail(CKR_USER_NOT_LOGGED_IN, std::string(what) + " with token '" + slot.name + "' needs a user login");
  if (VT_TRY(RequiresContextLogin(c, slot, oid))) {
    std::lock_guard lock(mu_);
    auto it = c.logins.find(slot_id);
    if (it == c.logins.end() || !it->second.context_auth)
      return Fail(CKR_USER_NOT_LOGGED_IN,
                  "this key of token '" + slot.name + "' needs the PIN again before each use (context-specific login)");
    it->second.context_auth = false;
  }
  if (sign) {
    auto signature = VT_TRY(slot.token->Sign(oid, mechanism, params, data, c.id));
    return Json{{"signature", wire::Binary(signature)}};
  }
  auto plaintext = VT_TRY(slot.token->Decrypt(oid, mechanism, params, data, c.id));
  return Json{{"plaintext", wire::Binary(std::span<const std::uint8_t>(plaintext.data(), plaintext.size()))}};
}

}  // namespace vtoken::agent
