#include "cng-provider/src/key_catalog.h"

#include <p11-kit/pkcs11.h>

#include <map>

#include "common/encoding.h"

namespace vtoken::ksp {
namespace {

constexpr unsigned long long kCkfTokenInitialized = CKF_TOKEN_INITIALIZED;

// One object's attributes, by type; malformed entries are skipped.
std::map<unsigned long, ByteVec> Attrs(const Json& object) {
  std::map<unsigned long, ByteVec> out;
  auto decoded = wire::DecodeAttributes(object, "attrs");
  if (!decoded) return out;
  for (auto& [type, value] : *decoded) out[type] = std::move(value);
  return out;
}

std::optional<unsigned long long> Ulong(const std::map<unsigned long, ByteVec>& a, unsigned long type) {
  auto it = a.find(type);
  if (it == a.end()) return std::nullopt;
  return AttrUlong(it->second);
}

const ByteVec* Value(const std::map<unsigned long, ByteVec>& a, unsigned long type) {
  auto it = a.find(type);
  return it == a.end() ? nullptr : &it->second;
}

std::string Text(const std::map<unsigned long, ByteVec>& a, unsigned long type) {
  const ByteVec* v = Value(a, type);
  return v ? std::string(v->begin(), v->end()) : std::string();
}

// Fills the key material from a public key object (or an RSA private key's public half).
bool FillKey(KeyInfo& key, const std::map<unsigned long, ByteVec>& a) {
  const auto type = Ulong(a, CKA_KEY_TYPE);
  if (type == CKK_RSA) {
    const ByteVec* n = Value(a, CKA_MODULUS);
    const ByteVec* e = Value(a, CKA_PUBLIC_EXPONENT);
    if (!n || !e || n->empty() || e->empty()) return false;
    key.kind = KeyKind::kRsa;
    key.modulus = StripLeadingZeros(*n);
    key.exponent = StripLeadingZeros(*e);
    key.bits = BitLength(key.modulus);
    return key.bits >= 512;
  }
  if (type == CKK_EC) {
    const ByteVec* params = Value(a, CKA_EC_PARAMS);
    const ByteVec* point = Value(a, CKA_EC_POINT);
    if (!params || !point) return false;
    key.curve = CurveFromParams(*params);
    if (!key.curve) return false;
    auto xy = EcPointXY(*key.curve, *point);
    if (!xy) return false;
    key.kind = KeyKind::kEc;
    key.bits = key.curve->bits;
    key.ec_x = std::move(xy->first);
    key.ec_y = std::move(xy->second);
    return true;
  }
  return false;
}

KspResult<Json> Objects(AgentConnection& agent, std::uint64_t slot_id) {
  auto reply = VT_TRY(agent.Call(Json{{"op", "objects"}, {"slot_id", slot_id}}));
  const Json* list = wire::Find(reply, "objects");
  if (!list || !list->is_array()) return KspFail(Status::kInternal, "the agent's objects reply has no list");
  return *list;
}

}  // namespace

std::vector<TokenView> TokensFromSlots(const Json& reply) {
  std::vector<TokenView> out;
  const Json* slots = wire::Find(reply, "slots");
  if (!slots || !slots->is_array()) return out;
  for (const auto& slot : *slots) {
    if (!slot.is_object()) continue;
    const Json* present = wire::Find(slot, "present");
    const Json* token = wire::Find(slot, "token");
    auto slot_id = wire::GetUint(slot, "slot_id");
    if (!present || !present->is_boolean() || !present->get<bool>() || !token || !token->is_object() || !slot_id) continue;
    auto flags = wire::GetUint(*token, "flags");
    if (!flags || !(*flags & kCkfTokenInitialized)) continue;
    TokenView t;
    t.slot_id = *slot_id;
    t.serial = wire::GetString(*token, "serial", 64).value_or("");
    t.label = wire::GetString(*token, "label", 64).value_or("");
    t.kind = wire::GetString(slot, "kind", 32).value_or("");
    while (!t.serial.empty() && t.serial.back() == ' ') t.serial.pop_back();
    while (!t.label.empty() && t.label.back() == ' ') t.label.pop_back();
    if (t.serial.empty()) continue;
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<KeyInfo> KeysFromObjects(const TokenView& token, const Json& objects) {
  std::vector<KeyInfo> keys;
  std::map<ByteVec, ByteVec> certificates;  // CKA_ID -> DER
  std::vector<std::map<unsigned long, ByteVec>> publics, privates;
  for (const auto& o : objects) {
    if (!o.is_object()) continue;
    auto a = Attrs(o);
    const auto cls = Ulong(a, CKA_CLASS);
    const ByteVec* id = Value(a, CKA_ID);
    if (!cls || !id || id->empty()) continue;
    if (*cls == CKO_CERTIFICATE && Ulong(a, CKA_CERTIFICATE_TYPE).value_or(CKC_X_509) == CKC_X_509) {
      if (const ByteVec* der = Value(a, CKA_VALUE); der && !der->empty()) certificates.emplace(*id, *der);
    } else if (*cls == CKO_PUBLIC_KEY) {
      publics.push_back(std::move(a));
    } else if (*cls == CKO_PRIVATE_KEY) {
      privates.push_back(std::move(a));
    }
  }
  auto add = [&](const std::map<unsigned long, ByteVec>& a) {
    const ByteVec& id = *Value(a, CKA_ID);
    for (const auto& k : keys)
      if (k.id == id) return;  // one key per CKA_ID
    KeyInfo key;
    if (!FillKey(key, a)) return;
    key.id = id;
    key.slot_id = token.slot_id;
    key.serial = token.serial;
    key.token_label = token.label;
    key.cloud = token.kind == "cloud";
    key.label = Text(a, CKA_LABEL);
    key.name = "vtoken:" + token.serial + ":" + HexEncode(id);
    if (auto it = certificates.find(id); it != certificates.end()) key.certificate = it->second;
    keys.push_back(std::move(key));
  };
  for (const auto& a : publics) add(a);
  for (const auto& a : privates) add(a);  // RSA keys without a public object (logged-in views)
  return keys;
}

KspResult<std::vector<KeyInfo>> ListKeys(AgentConnection& agent) {
  const Json slots = VT_TRY(agent.Call(Json{{"op", "slots"}}));
  std::vector<KeyInfo> keys;
  for (const auto& token : TokensFromSlots(slots)) {
    auto objects = Objects(agent, token.slot_id);
    if (!objects) continue;  // unplugged in between
    for (auto& k : KeysFromObjects(token, *objects)) keys.push_back(std::move(k));
  }
  return keys;
}

KspResult<KeyInfo> FindKey(AgentConnection& agent, std::string_view name) {
  constexpr std::string_view kPrefix = "vtoken:";
  if (!name.starts_with(kPrefix) || name.size() > 512)
    return KspFail(Status::kBadKeyset, "'" + std::string(name) + "' is not a vtoken key name");
  const std::string_view rest = name.substr(kPrefix.size());
  const auto colon = rest.rfind(':');
  if (colon == std::string_view::npos) return KspFail(Status::kBadKeyset, "'" + std::string(name) + "' is not a vtoken key name");
  const std::string serial(rest.substr(0, colon));
  const Json slots = VT_TRY(agent.Call(Json{{"op", "slots"}}));
  for (const auto& token : TokensFromSlots(slots)) {
    if (token.serial != serial) continue;
    const Json objects = VT_TRY(Objects(agent, token.slot_id));
    for (auto& k : KeysFromObjects(token, objects))
      if (k.name == name) return std::move(k);
  }
  return KspFail(Status::kBadKeyset, "no key named '" + std::string(name) + "' on any present token");
}

KspResult<std::uint64_t> FindPrivateKey(AgentConnection& agent, const KeyInfo& key, bool* always_authenticate) {
  const Json objects = VT_TRY(Objects(agent, key.slot_id));
  for (const auto& o : objects) {
    if (!o.is_object()) continue;
    auto a = Attrs(o);
    const ByteVec* id = Value(a, CKA_ID);
    if (Ulong(a, CKA_CLASS) != CKO_PRIVATE_KEY || !id || *id != key.id) continue;
    auto oid = wire::GetUint(o, "oid");
    if (!oid) continue;
    if (always_authenticate) *always_authenticate = Ulong(a, CKA_ALWAYS_AUTHENTICATE).value_or(0) != 0;
    return *oid;
  }
  return KspFail(Status::kBadKeyset, "token " + key.serial + " shows no private key for " + key.name + " after login");
}

}  // namespace vtoken::ksp
