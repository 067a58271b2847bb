#pragma once
// Shared helpers of the emulated token tests: a temporary directory, a
// cheap KDF policy, attribute builders and OpenSSL-side verification.
#include <p11-kit/pkcs11.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "common/ossl.h"
#include "tokend/emulated/emulated_token.h"

namespace vtoken::agent::test {

using wire::Attributes;
using wire::Bytes;

// A fresh directory, removed at scope exit.
struct TempDir {
  TempDir();
  ~TempDir();
  std::filesystem::path path;
  std::filesystem::path db(const std::string& name = "token.db") const { return path / name; }
};

TokenPolicy CheapPolicy();  // scrypt with N = 2: tests only

// The CKR_* of a result: CKR_OK or its error's.
template <class T>
unsigned long Rv(const Result<T>& r) {
  return r ? CKR_OK : r.error().rv;
}

constexpr const char* kPin = "1234";
constexpr const char* kPuk = "87654321";

// A token created with kPin and kPuk under CheapPolicy().
std::unique_ptr<EmulatedToken> NewToken(const TempDir& dir, const TokenPolicy& policy = CheapPolicy(),
                                        bool with_pin = true);

Bytes Ulong(unsigned long v);
Bytes Bool(bool v);
Bytes Str(const std::string& s);
const Bytes* Find(const ObjectView& o, unsigned long type);
std::optional<unsigned long> FindUlong(const ObjectView& o, unsigned long type);
std::optional<bool> FindBool(const ObjectView& o, unsigned long type);
bool IsSensitive(const ObjectView& o, unsigned long type);

Bytes EcParams(const char* curve);  // named-curve OID DER, e.g. "prime256v1"

// Key pair templates as pkcs11-tool sends them.
Attributes RsaPublicTemplate(unsigned long bits, bool token = true);
Attributes EcPublicTemplate(const char* curve, bool token = true);
Attributes PrivateTemplate(bool token = true);

// The public key of an object from its CKA_PUBLIC_KEY_INFO.
ossl::PKey PublicKeyOf(const ObjectView& o);

// A self-signed certificate for `key`, with a UTF8String CN and a serial of
// `serial` (DER).
Bytes MakeCertificate(EVP_PKEY* key, const std::string& cn, long serial);
// Byte-exact TLVs of a certificate's tbsCertificate, found by walking the DER.
struct TbsFields {
  Bytes serial, issuer, subject;
};
TbsFields WalkCertificate(const Bytes& der);

bool VerifyRsaPkcs1(EVP_PKEY* pub, const Bytes& data, const Bytes& sig);
bool VerifyRsaPss(EVP_PKEY* pub, const EVP_MD* md, int salt_len, const Bytes& hash, const Bytes& sig);
bool VerifyEcdsaRaw(EVP_PKEY* pub, const Bytes& hash, const Bytes& sig);
Bytes RsaEncrypt(EVP_PKEY* pub, int padding, const Bytes& plain, const EVP_MD* oaep_md = nullptr,
                 const Bytes& label = {});
Bytes Sha256(const Bytes& data);
Bytes Sha384(const Bytes& data);

}  // namespace vtoken::agent::test
