#include "crypto_util.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <charconv>
#include <stdexcept>

#include "common/ossl.h"

namespace vtoken::service {
namespace {

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    auto pos = s.find(sep, start);
    out.push_back(s.substr(start, pos == std::string_view::npos ? pos : pos - start));
    if (pos == std::string_view::npos) return out;
    start = pos + 1;
  }
}

template <class T>
std::optional<T> ParseNumber(std::string_view s) {
  T v{};
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<Bytes> Scrypt(std::string_view password, const Bytes& salt, const ScryptParams& prm,
                            std::size_t out_len) {
  using Kdf = std::unique_ptr<EVP_KDF, ossl::Deleter<EVP_KDF, EVP_KDF_free>>;
  using KdfCtx = std::unique_ptr<EVP_KDF_CTX, ossl::Deleter<EVP_KDF_CTX, EVP_KDF_CTX_free>>;
  Kdf kdf(EVP_KDF_fetch(nullptr, "SCRYPT", nullptr));
  if (!kdf) return std::nullopt;
  KdfCtx ctx(EVP_KDF_CTX_new(kdf.get()));
  if (!ctx) return std::nullopt;
  std::uint64_t n = prm.n;
  std::uint32_t r = prm.r, p = prm.p;
  std::uint64_t maxmem = 1ull << 30;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, const_cast<char*>(password.data()),
                                        password.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<std::uint8_t*>(salt.data()),
                                        salt.size()),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
      OSSL_PARAM_construct_end()};
  Bytes out(out_len);
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) return std::nullopt;
  return out;
}

}  // namespace

Bytes RandomBytes(std::size_t n) {
  Bytes b(n);
  if (n && RAND_bytes(b.data(), static_cast<int>(n)) != 1) throw std::runtime_error("RAND_bytes failed");
  return b;
}

std::string RandomToken() {
  auto b = RandomBytes(32);
  return Base64UrlEncode(b);
}

Bytes Sha256(std::string_view data) {
  Bytes out(32);
  unsigned len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr);
  return out;
}

bool ConstantTimeEqual(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string HashPassword(std::string_view password, ScryptParams prm) {
  Bytes salt = RandomBytes(16);
  auto dk = Scrypt(password, salt, prm, 32);
  if (!dk) throw std::runtime_error("scrypt failed");
  return "scrypt$" + std::to_string(prm.n) + "$" + std::to_string(prm.r) + "$" +
         std::to_string(prm.p) + "$" + Base64Encode(salt) + "$" + Base64Encode(*dk);
}

bool VerifyPassword(std::string_view password, const std::string& encoded) {
  auto parts = Split(encoded, '$');
  if (parts.size() != 6 || parts[0] != "scrypt") return false;
  auto n = ParseNumber<std::uint64_t>(parts[1]);
  auto r = ParseNumber<std::uint32_t>(parts[2]);
  auto p = ParseNumber<std::uint32_t>(parts[3]);
  auto salt = Base64Decode(parts[4]);
  auto want = Base64Decode(parts[5]);
  if (!n || !r || !p || !salt || !want || want->empty()) return false;
  // Refuse absurd parameters from a tampered row rather than allocate gigabytes.
  if (*n > (1u << 20) || *r > 32 || *p > 16) return false;
  auto got = Scrypt(password, *salt, ScryptParams{*n, *r, *p}, want->size());
  if (!got) return false;
  return CRYPTO_memcmp(got->data(), want->data(), want->size()) == 0;
}

Bytes SealAesGcm(const SecureBytes& key, const std::uint8_t* plain, std::size_t n,
                 std::string_view aad) {
  Bytes nonce = RandomBytes(12);
  ossl::CipherCtx ctx(EVP_CIPHER_CTX_new());
  Bytes out(nonce);
  out.resize(12 + n + 16);
  int len = 0;
  if (!ctx || key.size() != 32 ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), nonce.data()) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const std::uint8_t*>(aad.data()),
                        static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), out.data() + 12, &len, plain, static_cast<int>(n)) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), out.data() + 12 + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, 16, out.data() + 12 + n) != 1)
    throw std::runtime_error("AES-GCM encryption failed");
  return out;
}

std::optional<SecureBytes> OpenAesGcm(const SecureBytes& key, const Bytes& sealed,
                                      std::string_view aad) {
  if (sealed.size() < 28 || key.size() != 32) return std::nullopt;
  std::size_t n = sealed.size() - 28;
  SecureBytes plain(n);
  ossl::CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (!ctx ||
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), sealed.data()) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const std::uint8_t*>(aad.data()),
                        static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), plain.data(), &len, sealed.data() + 12, static_cast<int>(n)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, 16,
                          const_cast<std::uint8_t*>(sealed.data() + 12 + n)) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), plain.data() + len, &len) != 1)
    return std::nullopt;
  return plain;
}

}  // namespace vtoken::service
