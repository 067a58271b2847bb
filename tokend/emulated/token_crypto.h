#pragma once
// Symmetric crypto of the emulated token: random bytes, the PIN/PUK key
// derivation (scrypt or PBKDF2-SHA256) and AES-256-GCM sealing. A sealed blob
// is nonce (12) || ciphertext || tag (16); the AAD binds it to its purpose
// (which wrapping, which object) so blobs cannot be swapped in the database.
#include <cstdint>
#include <span>
#include <string>

#include "common/error.h"
#include "common/secure.h"
#include "common/wire.h"

namespace vtoken::agent {

struct TokenPolicy;

constexpr std::size_t kTokenKeyBytes = 32;
constexpr std::uint64_t kDefaultScryptLog2N = 14;  // N = 16384, r = 8, p = 1: 16 MiB, ~20-50 ms
constexpr std::uint64_t kDefaultPbkdf2Iterations = 100000;

// How a PIN- or PUK-derived key was made; stored beside the wrapped key so
// the cost can change for new wrappings without breaking old ones.
struct KdfParams {
  std::string kdf;      // "scrypt" or "pbkdf2"
  wire::Bytes salt;     // 16 random bytes
  std::uint64_t cost = 0;  // scrypt: log2(N); pbkdf2: iterations
};

Result<wire::Bytes> RandomBytes(std::size_t n);
Result<SecureBytes> RandomSecret(std::size_t n);
Result<std::string> RandomHex(std::size_t digits);

// Fresh parameters (new salt) for the policy's KDF and cost.
Result<KdfParams> NewKdfParams(const TokenPolicy& policy);
// A 32-byte key from a PIN or PUK. Wipe-on-free.
Result<SecureBytes> DeriveKey(const Secret& secret, const KdfParams& params);

// AES-256-GCM with a random nonce.
Result<wire::Bytes> SealGcm(std::span<const std::uint8_t> key, std::span<const std::uint8_t> plaintext,
                            std::string_view aad);
// Fails with CKR_ENCRYPTED_DATA_INVALID when the tag does not verify (wrong
// key or tampered blob).
Result<SecureBytes> OpenGcm(std::span<const std::uint8_t> key, std::span<const std::uint8_t> sealed,
                            std::string_view aad);

wire::Bytes Sha1(std::span<const std::uint8_t> data);

}  // namespace vtoken::agent
