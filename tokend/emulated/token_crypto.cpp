#include "tokend/emulated/token_crypto.h"

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <p11-kit/pkcs11.h>

#include <memory>

#include "common/ossl.h"
#include "tokend/emulated/emulated_token.h"

namespace vtoken::agent {
namespace {

constexpr std::size_t kNonceBytes = 12;
constexpr std::size_t kTagBytes = 16;
constexpr std::size_t kSaltBytes = 16;

using KdfPtr = std::unique_ptr<EVP_KDF, ossl::Deleter<EVP_KDF, EVP_KDF_free>>;
using KdfCtxPtr = std::unique_ptr<EVP_KDF_CTX, ossl::Deleter<EVP_KDF_CTX, EVP_KDF_CTX_free>>;

}  // namespace

Result<wire::Bytes> RandomBytes(std::size_t n) {
  wire::Bytes out(n);
  if (n > 0 && RAND_bytes(out.data(), static_cast<int>(n)) != 1) return Fail(CKR_FUNCTION_FAILED, "RAND_bytes failed");
  return out;
}

Result<SecureBytes> RandomSecret(std::size_t n) {
  SecureBytes out(n);
  if (n > 0 && RAND_priv_bytes(out.data(), static_cast<int>(n)) != 1)
    return Fail(CKR_FUNCTION_FAILED, "RAND_priv_bytes failed");
  return out;
}

Result<std::string> RandomHex(std::size_t digits) {
  auto bytes = VT_TRY(RandomBytes((digits + 1) / 2));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (auto b : bytes) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  out.resize(digits);
  return out;
}

Result<KdfParams> NewKdfParams(const TokenPolicy& policy) {
  KdfParams p;
  p.kdf = policy.kdf;
  p.salt = VT_TRY(RandomBytes(kSaltBytes));
  if (p.kdf == "scrypt") {
    p.cost = policy.kdf_cost ? policy.kdf_cost : kDefaultScryptLog2N;
  } else if (p.kdf == "pbkdf2") {
    p.cost = policy.kdf_cost ? policy.kdf_cost : kDefaultPbkdf2Iterations;
  } else {
    return Fail(CKR_ARGUMENTS_BAD, "unknown KDF '" + p.kdf + "' (scrypt or pbkdf2)");
  }
  return p;
}

Result<SecureBytes> DeriveKey(const Secret& secret, const KdfParams& params) {
  const bool scrypt = params.kdf == "scrypt";
  if (!scrypt && params.kdf != "pbkdf2") return Fail(CKR_GENERAL_ERROR, "unknown KDF in token database");
  if (params.cost == 0 || (scrypt && params.cost > 22) || (!scrypt && params.cost > 100'000'000))
    return Fail(CKR_GENERAL_ERROR, "KDF cost out of range in token database");
  KdfPtr kdf(EVP_KDF_fetch(nullptr, scrypt ? "SCRYPT" : "PBKDF2", nullptr));
  if (!kdf) return Fail(CKR_GENERAL_ERROR, "KDF not available in OpenSSL");
  KdfCtxPtr ctx(EVP_KDF_CTX_new(kdf.get()));
  if (!ctx) return Fail(CKR_HOST_MEMORY, "EVP_KDF_CTX_new failed");
  // An empty password must still be a valid octet string parameter.
  static std::uint8_t empty = 0;
  void* pass = secret.empty() ? &empty : const_cast<std::uint8_t*>(secret.data());
  std::uint64_t n = std::uint64_t{1} << (scrypt ? params.cost : 0);
  std::uint32_t r = 8, p = 1;
  unsigned int iter = static_cast<unsigned int>(params.cost);
  char digest[] = "SHA256";
  OSSL_PARAM ps[6];
  int i = 0;
  ps[i++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, pass, secret.size());
  ps[i++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<std::uint8_t*>(params.salt.data()),
                                              params.salt.size());
  if (scrypt) {
    ps[i++] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n);
    ps[i++] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r);
    ps[i++] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p);
  } else {
    ps[i++] = OSSL_PARAM_construct_uint(OSSL_KDF_PARAM_ITER, &iter);
    ps[i++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
  }
  ps[i] = OSSL_PARAM_construct_end();
  SecureBytes out(kTokenKeyBytes);
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), ps) != 1) return Fail(CKR_GENERAL_ERROR, "key derivation failed");
  return out;
}

Result<wire::Bytes> SealGcm(std::span<const std::uint8_t> key, std::span<const std::uint8_t> plaintext,
                            std::string_view aad) {
  if (key.size() != kTokenKeyBytes) return Fail(CKR_GENERAL_ERROR, "bad AES key length");
  wire::Bytes out = VT_TRY(RandomBytes(kNonceBytes));
  out.resize(kNonceBytes + plaintext.size() + kTagBytes);
  ossl::CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), out.data()) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), out.data() + kNonceBytes, &len, plaintext.data(),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), out.data() + kNonceBytes + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes, out.data() + out.size() - kTagBytes) != 1)
    return Fail(CKR_GENERAL_ERROR, "AES-GCM encryption failed");
  return out;
}

Result<SecureBytes> OpenGcm(std::span<const std::uint8_t> key, std::span<const std::uint8_t> sealed,
                            std::string_view aad) {
  if (key.size() != kTokenKeyBytes) return Fail(CKR_GENERAL_ERROR, "bad AES key length");
  if (sealed.size() < kNonceBytes + kTagBytes) return Fail(CKR_ENCRYPTED_DATA_INVALID, "sealed blob too short");
  const std::size_t ct_len = sealed.size() - kNonceBytes - kTagBytes;
  SecureBytes out(ct_len + 1);  // +1: EVP wants a non-null buffer even for empty plaintext
  ossl::CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0, fin = 0;
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), sealed.data()) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), out.data(), &len, sealed.data() + kNonceBytes, static_cast<int>(ct_len)) != 1)
    return Fail(CKR_GENERAL_ERROR, "AES-GCM decryption failed");
  auto tag = const_cast<std::uint8_t*>(sealed.data() + sealed.size() - kTagBytes);
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, tag) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), out.data() + len, &fin) != 1)
    return Fail(CKR_ENCRYPTED_DATA_INVALID, "AES-GCM tag mismatch");
  out.resize(ct_len);
  return out;
}

wire::Bytes Sha1(std::span<const std::uint8_t> data) {
  wire::Bytes out(SHA_DIGEST_LENGTH);
  SHA1(data.data(), data.size(), out.data());
  return out;
}

}  // namespace vtoken::agent
