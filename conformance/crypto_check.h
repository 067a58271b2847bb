// OpenSSL on the checking side: public keys rebuilt from token attributes,
// signatures verified, data encrypted for decrypt scenarios, a certificate
// generated for object scenarios. Results become "valid"/"invalid" strings.
#pragma once

#include <openssl/evp.h>

#include <memory>
#include <string>
#include <string_view>

#include "conformance/harness.h"

namespace vtoken::conformance {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

// Public key of a token object (RSA: CKA_MODULUS/CKA_PUBLIC_EXPONENT; EC:
// CKA_EC_PARAMS/CKA_EC_POINT). Null if the attributes are missing or bad.
Pkey PublicKeyOf(Context& ctx, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key);

Bytes Digest(std::string_view md, const Bytes& data);
// DER DigestInfo prefix + hash, the input of CKM_RSA_PKCS signing.
Bytes DigestInfo(std::string_view md, const Bytes& hash);

// "valid" or "invalid": the signature checked by OpenSSL.
std::string VerifyRsaPkcs1Raw(EVP_PKEY* key, const Bytes& input, const Bytes& sig);
std::string VerifyRsaPkcs1(EVP_PKEY* key, std::string_view md, const Bytes& msg, const Bytes& sig);
std::string VerifyRsaPss(EVP_PKEY* key, std::string_view md, const Bytes& hash, const Bytes& sig, int salt_len);
std::string VerifyEcdsaRaw(EVP_PKEY* key, const Bytes& hash, const Bytes& raw_sig);

// RSA encryption with the token's public key: padding "pkcs1" or "oaep".
Bytes RsaEncrypt(EVP_PKEY* key, std::string_view padding, std::string_view oaep_md, const Bytes& plain);

// A self-signed certificate (fresh P-256 key). The parts are returned DER.
struct Certificate {
  Bytes der, subject, issuer, serial;
};
Certificate MakeCertificate(std::string_view common_name);

}  // namespace vtoken::conformance
