#pragma once
// Local cryptography with OpenSSL: hashing, DigestInfo encoding, public keys
// rebuilt from cached attributes, and signature verification. No private key
// ever reaches the module.
#include <p11-kit/pkcs11.h>

#include <optional>
#include <span>

#include "common/error.h"
#include "common/ossl.h"
#include "common/wire.h"
#include "pkcs11/object.h"

namespace vtoken::pkcs11 {

// CKM_SHA_1 … CKM_SHA512 -> EVP_MD (nullptr for anything else).
const EVP_MD* DigestFor(CK_MECHANISM_TYPE hash);
CK_ULONG DigestLength(CK_MECHANISM_TYPE hash);
// The MGF1 that goes with a hash (CKG_MGF1_SHA256 for CKM_SHA256), 0 if none.
CK_RSA_PKCS_MGF_TYPE MgfFor(CK_MECHANISM_TYPE hash);
CK_MECHANISM_TYPE HashOfMgf(CK_RSA_PKCS_MGF_TYPE mgf);

Result<ossl::MdCtx> NewDigest(CK_MECHANISM_TYPE hash);
Result<wire::Bytes> FinishDigest(EVP_MD_CTX* ctx);
// DER DigestInfo for PKCS#1 v1.5 signatures.
wire::Bytes DigestInfo(CK_MECHANISM_TYPE hash, std::span<const std::uint8_t> digest);

// Key metadata from cached attributes, never from a round trip.
struct KeyShape {
  CK_KEY_TYPE type = CKK_VENDOR_DEFINED;
  CK_ULONG bits = 0;              // modulus bits or curve field size
  CK_ULONG signature_length = 0;  // k for RSA, 2·n for ECDSA
};
Result<KeyShape> ShapeOf(const Object& key);

// The public key of a public or private key object: CKA_PUBLIC_KEY_INFO, else
// CKA_MODULUS/CKA_PUBLIC_EXPONENT, else CKA_EC_PARAMS/CKA_EC_POINT.
Result<ossl::PKey> PublicKeyOf(const Object& key);

struct PssParams {
  CK_MECHANISM_TYPE hash;
  CK_RSA_PKCS_MGF_TYPE mgf;
  CK_ULONG salt_len;
};

// Verifies a raw-mechanism signature over `tbs` (DigestInfo for CKM_RSA_PKCS,
// the hash for PSS and ECDSA). CKR_SIGNATURE_INVALID / CKR_SIGNATURE_LEN_RANGE.
Result<void> VerifyRaw(EVP_PKEY* key, CK_MECHANISM_TYPE raw, const std::optional<PssParams>& pss,
                       std::span<const std::uint8_t> tbs, std::span<const std::uint8_t> signature,
                       CK_ULONG signature_length);

}  // namespace vtoken::pkcs11
