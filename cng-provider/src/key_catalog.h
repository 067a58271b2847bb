#pragma once
// The keys the provider offers, built from the agent's slot snapshot and
// object lists. A key is a public key object (always visible, no login
// needed) with its CKA_ID; the certificate with the same CKA_ID rides along.
// Its NCrypt name is "vtoken:<token serial>:<CKA_ID in hex>": unique, and
// stable for the key's life on the token. The private key's object id is
// found only at signing time, after login (private objects are invisible
// before).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cng-provider/src/agent_connection.h"
#include "cng-provider/src/der.h"
#include "cng-provider/src/status.h"

namespace vtoken::ksp {

enum class KeyKind { kRsa, kEc };

struct KeyInfo {
  std::string name;  // vtoken:<serial>:<idhex>
  std::uint64_t slot_id = 0;
  std::string serial, token_label, label;
  bool cloud = false;  // each signature needs its own code
  ByteVec id;
  KeyKind kind = KeyKind::kRsa;
  unsigned bits = 0;
  ByteVec modulus, exponent;  // RSA, big-endian, no leading zeros
  const Curve* curve = nullptr;
  ByteVec ec_x, ec_y;        // EC
  ByteVec certificate;       // DER; empty when the token has none for this key

  std::size_t SignatureBytes() const {
    return kind == KeyKind::kRsa ? (bits + 7) / 8 : 2 * curve->field_bytes;
  }
};

// One token as the slot snapshot shows it.
struct TokenView {
  std::uint64_t slot_id = 0;
  std::string serial, label, kind;
};

// Pure: the keys of one token from its `objects` list.
std::vector<KeyInfo> KeysFromObjects(const TokenView& token, const Json& objects);
// Pure: present, initialized tokens from a `slots` reply.
std::vector<TokenView> TokensFromSlots(const Json& slots_reply);

KspResult<std::vector<KeyInfo>> ListKeys(AgentConnection& agent);
KspResult<KeyInfo> FindKey(AgentConnection& agent, std::string_view name);
// The private key object's oid for `key` (call after login).
KspResult<std::uint64_t> FindPrivateKey(AgentConnection& agent, const KeyInfo& key, bool* always_authenticate);

}  // namespace vtoken::ksp
