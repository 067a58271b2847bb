#pragma once
// The reference emulator of a physical USB token: one SQLite database per
// token holding its PIN/PUK state, counters and objects, with private key
// material encrypted at rest (AES-256-GCM) under a random token key that is
// wrapped twice: under a PIN-derived key and under a PUK-derived key (scrypt
// or PBKDF2), so the PUK can reset the PIN without losing keys.
//
// This class knows nothing of connections or sockets: the agent's dispatcher
// (tokend/dispatcher.*) decides who is logged in and calls in here. Every
// state change is one SQLite transaction. Every PIN/PUK check decrements and
// commits its counter before comparing and restores it after a match
// (tearing-safe, as smart cards do).
//
// Thread safety: every public member takes the token's own mutex.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/secure.h"
#include "common/wire.h"

namespace vtoken::agent {

struct TokenPolicy {
  int pin_retries = 3;
  int puk_retries = 10;
  std::size_t pin_min = 4;   // bytes
  std::size_t pin_max = 16;  // bytes
  bool pin_digits_only = false;
  std::string kdf = "scrypt";  // "scrypt" or "pbkdf2"
  // Work factor of the KDF; 0 takes the default (scrypt: log2(N) = 14 with
  // r = 8, p = 1; pbkdf2: 100000 iterations of HMAC-SHA256). Only tests
  // should lower it.
  std::uint64_t kdf_cost = 0;
};

struct TokenInfo {
  std::string name;    // CLI name, unique per agent (file name of the database)
  std::string label;   // CKA_LABEL of the token, <= 32 bytes, no NUL or ':'
  std::string serial;  // 16 hex digits, unique
  std::uint64_t slot_id = 0;
  unsigned long flags = 0;  // CK_FLAGS without CKF_TOKEN_PRESENT (a slot flag)
  std::size_t min_pin = 0, max_pin = 0;
  int pin_tries_left = 0, puk_tries_left = 0;
};

// An object as the module sees it: every attribute with its value, except
// the sensitive ones, which are listed by type only.
struct ObjectView {
  std::uint64_t oid = 0;
  wire::Attributes attrs;
  std::vector<unsigned long> sensitive;
  bool is_private = false;  // CKA_PRIVATE
  bool is_token = true;     // CKA_TOKEN (false: session object, kept in memory)
};

// Mechanism parameters for sign/decrypt, already decoded from the wire.
struct MechanismParams {
  unsigned long hash = 0;         // PSS/OAEP: CKM_SHA256, ...
  unsigned long mgf = 0;          // PSS/OAEP: CKG_MGF1_SHA256, ...
  unsigned long salt_len = 0;     // PSS
  wire::Bytes oaep_label;         // OAEP source data
};

class EmulatedToken {
 public:
  // A new token in `db`. With `pin`, the token is ready for use (as after
  // `vtoken token create`, CKF_USER_PIN_TO_BE_CHANGED set); without it, only
  // the PUK is set (as after C_InitToken) and C_InitPIN must follow.
  static Result<std::unique_ptr<EmulatedToken>> Create(const std::filesystem::path& db, std::uint64_t slot_id,
                                                       const std::string& name, const std::string& label,
                                                       const Secret& puk, const std::optional<Secret>& pin,
                                                       const TokenPolicy& policy);
  static Result<std::unique_ptr<EmulatedToken>> Open(const std::filesystem::path& db);
  ~EmulatedToken();

  TokenInfo Info() const;

  // --- PIN and PUK. Errors: CKR_PIN_INCORRECT, CKR_PIN_LOCKED,
  // CKR_USER_PIN_NOT_INITIALIZED, CKR_PIN_LEN_RANGE, CKR_PIN_INVALID.
  // A successful user or SO check unlocks the token key in memory until Lock().
  Result<void> LoginUser(const Secret& pin);
  Result<void> LoginSo(const Secret& puk);
  // Forgets the token key and decrypted keys (called when no one is logged in).
  void Lock();
  bool IsPinLocked() const;
  // SO (already checked with LoginSo) sets a new user PIN; resets its counter.
  Result<void> InitPin(const Secret& new_pin);
  // User changes own PIN; clears CKF_USER_PIN_TO_BE_CHANGED.
  Result<void> ChangePin(const Secret& old_pin, const Secret& new_pin);
  Result<void> ChangePuk(const Secret& old_puk, const Secret& new_puk);
  // Checks the PUK (counted) and sets a new user PIN; resets the PIN counter.
  Result<void> Unblock(const Secret& puk, const Secret& new_pin);
  // C_InitToken on an initialized token: checks the PUK, destroys every
  // object, clears the user PIN, sets the label.
  Result<void> Reinitialize(const Secret& puk, const std::string& label);

  // --- Objects. `user` = a user is logged in on the calling connection
  // (private objects are visible and may be created). Session objects are
  // owned by `owner` (a connection id) and dropped by DropSessionObjects.
  std::vector<ObjectView> Objects(bool user, std::uint64_t owner) const;
  Result<ObjectView> CreateObject(const wire::Attributes& attrs, bool user, std::uint64_t owner);
  Result<void> DestroyObject(std::uint64_t oid, bool user, std::uint64_t owner);
  Result<ObjectView> SetAttributes(std::uint64_t oid, const wire::Attributes& attrs, bool user,
                                   std::uint64_t owner);
  void DropSessionObjects(std::uint64_t owner);
  // CKM_RSA_PKCS_KEY_PAIR_GEN (CKA_MODULUS_BITS 2048/3072/4096) or
  // CKM_EC_KEY_PAIR_GEN (CKA_EC_PARAMS P-256/P-384). Needs a user login.
  Result<std::pair<ObjectView, ObjectView>> GenerateKeyPair(unsigned long mechanism,
                                                            const wire::Attributes& public_attrs,
                                                            const wire::Attributes& private_attrs,
                                                            std::uint64_t owner);
  // Raw mechanisms only (CKM_RSA_PKCS, CKM_RSA_PKCS_PSS, CKM_ECDSA); the module
  // hashes for the CKM_SHA*_ ones. Needs a user login (checked by the caller)
  // and CKA_SIGN on the key.
  Result<wire::Bytes> Sign(std::uint64_t oid, unsigned long mechanism, const MechanismParams& params,
                           const wire::Bytes& data, std::uint64_t owner);
  // CKM_RSA_PKCS, CKM_RSA_PKCS_OAEP; needs CKA_DECRYPT.
  Result<SecureBytes> Decrypt(std::uint64_t oid, unsigned long mechanism, const MechanismParams& params,
                              const wire::Bytes& data, std::uint64_t owner);
  // Monotonic counter of object changes (the slot snapshot's generation).
  std::uint64_t generation() const;

 private:
  EmulatedToken();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vtoken::agent
