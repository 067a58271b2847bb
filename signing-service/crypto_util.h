#pragma once
// Small OpenSSL helpers the service needs everywhere: randomness, encodings,
// hashes, the password KDF and authenticated encryption of data at rest.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/encoding.h"
#include "common/secure.h"

namespace vtoken::service {

using Bytes = std::vector<std::uint8_t>;

Bytes RandomBytes(std::size_t n);
// 256 random bits, base64url without padding: access/refresh tokens, SADs, codes.
std::string RandomToken();

// Strict base64, base64url and hex: common/encoding.h.
using vtoken::Base64Decode;
using vtoken::Base64Encode;
using vtoken::Base64UrlEncode;
using vtoken::HexDecode;
using vtoken::HexEncode;

Bytes Sha256(std::string_view data);
bool ConstantTimeEqual(std::string_view a, std::string_view b);

// Password hashing with scrypt (memory-hard). The encoded form carries its
// parameters and salt: "scrypt$N$r$p$<salt b64>$<hash b64>".
struct ScryptParams {
  std::uint64_t n = 1u << 15;  // 32 MiB with r = 8
  std::uint32_t r = 8;
  std::uint32_t p = 1;
};
std::string HashPassword(std::string_view password, ScryptParams params = {});
bool VerifyPassword(std::string_view password, const std::string& encoded);

// AES-256-GCM: returns nonce(12) || ciphertext || tag(16).
Bytes SealAesGcm(const SecureBytes& key, const std::uint8_t* plain, std::size_t n,
                 std::string_view aad);
std::optional<SecureBytes> OpenAesGcm(const SecureBytes& key, const Bytes& sealed,
                                      std::string_view aad);

}  // namespace vtoken::service
