#pragma once
// Private state of EmulatedToken, shared by its implementation files
// (emulated_token.cpp: lifecycle and Info; token_pins.cpp: PIN/PUK;
// token_objects.cpp: objects; key_ops.cpp: keygen, sign, decrypt).
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "tokend/emulated/emulated_token.h"
#include "tokend/emulated/key_material.h"
#include "tokend/emulated/token_store.h"

namespace vtoken::agent {

constexpr const char* kPinRole = "pin";
constexpr const char* kPukRole = "puk";

using SharedKey = std::shared_ptr<EVP_PKEY>;

struct Object {
  std::uint64_t oid = 0;
  AttrMap attrs;
  std::vector<unsigned long> sensitive;
  bool is_token = true;
  bool is_private = false;
  std::uint64_t owner = 0;  // session objects only
  wire::Bytes sealed_key;   // token private keys: AES-GCM(token key, PKCS#8)
  SharedKey session_key;    // session private keys: kept in memory only
};

struct EmulatedToken::Impl {
  mutable std::mutex mu;
  std::filesystem::path path;
  std::unique_ptr<Store> store;
  TokenMeta meta;
  TokenCounters counters;
  std::map<std::uint64_t, Object> objects;  // token and session objects
  std::optional<SecureBytes> token_key;     // present while unlocked
  std::map<std::uint64_t, SharedKey> key_cache;
  std::uint64_t next_oid = 1;
  std::uint64_t generation = 1;

  // All of these expect `mu` held.
  std::string WrapAad(const std::string& role) const;
  std::string ObjectAad(std::uint64_t oid) const;
  Result<void> SaveCounters();
  // Checks a PIN (kPinRole) or PUK (kPukRole): the counter is decremented and
  // committed first, restored after a match. Returns the unwrapped token key.
  Result<SecureBytes> CheckSecret(const std::string& role, const Secret& secret);
  // Wraps the token key under `secret` with fresh KDF parameters.
  Result<WrappedKey> Wrap(const SecureBytes& token_key, const std::string& role, const Secret& secret) const;
  // A new user PIN chosen by the security officer (C_InitPIN) or the holder
  // of the PUK: the token key wrapped under it, the PIN initialized and not
  // to be changed, its tries back to full, all in one transaction.
  Result<void> SetUserPin(const SecureBytes& token_key, const Secret& new_pin);
  // A new oid, never handed out before (reserved in blocks on disk).
  Result<std::uint64_t> AllocateOid();
  Object* FindVisible(std::uint64_t oid, bool user, std::uint64_t owner);
  ObjectView View(const Object& o) const;
  Result<SharedKey> PrivateKey(const Object& o);
  // A private key the caller may use for `usage` (CKA_SIGN, CKA_DECRYPT),
  // with its CKK_* type.
  Result<std::pair<SharedKey, unsigned long>> UsableKey(std::uint64_t oid, unsigned long usage, std::uint64_t owner);
  // Gives each new object an oid, seals private keys of token objects,
  // stores token objects in one transaction and indexes them all.
  Result<std::vector<ObjectView>> Insert(std::vector<std::pair<Object, SharedKey>> items);
  void ForgetKeys();
};

std::shared_ptr<EVP_PKEY> ShareKey(ossl::PKey key);

}  // namespace vtoken::agent
