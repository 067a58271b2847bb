#pragma once
// Asymmetric key material of the emulated token: generating RSA/EC keys,
// building keys from PKCS#11 components, the public attributes of a key
// (CKA_MODULUS, CKA_EC_POINT, CKA_PUBLIC_KEY_INFO, ...), PKCS#8 for storage,
// and the fields of an X.509 certificate.
#include <map>
#include <memory>
#include <span>
#include <string>

#include "common/error.h"
#include "common/ossl.h"
#include "common/secure.h"
#include "common/wire.h"

namespace vtoken::agent {

using AttrMap = std::map<unsigned long, wire::Bytes>;

wire::Bytes UlongBytes(unsigned long v);
wire::Bytes BoolBytes(bool v);
// Values already validated by ParseTemplate; nullopt when absent.
std::optional<unsigned long> GetUlong(const AttrMap& attrs, unsigned long type);
std::optional<bool> GetBool(const AttrMap& attrs, unsigned long type);
const wire::Bytes* GetValue(const AttrMap& attrs, unsigned long type);

// CKK_RSA or CKK_EC; CKR_KEY_TYPE_INCONSISTENT for anything else.
Result<unsigned long> KeyTypeOf(EVP_PKEY* key);
// The OpenSSL group name for CKA_EC_PARAMS (a named-curve OID, or a
// PrintableString curve name as some tools send). CKR_ATTRIBUTE_VALUE_INVALID
// for malformed DER and for curves OpenSSL does not know (a v2.40 code: the
// module may serve v2.40 applications).
Result<std::string> CurveFromEcParams(const wire::Bytes& params);

// RSA: CKA_MODULUS, CKA_MODULUS_BITS, CKA_PUBLIC_EXPONENT; EC: CKA_EC_PARAMS,
// CKA_EC_POINT (DER OCTET STRING); both: CKA_PUBLIC_KEY_INFO, and CKA_ID
// (the default: SHA-1 of the modulus or of the raw EC point, as NSS does).
Result<AttrMap> PublicKeyAttributes(EVP_PKEY* key);

// Keys from CKA_* components (CKR_TEMPLATE_INCOMPLETE when one is missing,
// CKR_ATTRIBUTE_VALUE_INVALID when they do not make a key).
Result<ossl::PKey> PublicKeyFromAttributes(unsigned long key_type, const AttrMap& attrs);
Result<ossl::PKey> PrivateKeyFromAttributes(unsigned long key_type, const AttrMap& attrs);

Result<ossl::PKey> GenerateRsaKey(unsigned long bits, const wire::Bytes* public_exponent);
Result<ossl::PKey> GenerateEcKey(const std::string& curve);

Result<SecureBytes> PrivateKeyToPkcs8(EVP_PKEY* key);
Result<ossl::PKey> PrivateKeyFromPkcs8(std::span<const std::uint8_t> der);

// Byte-exact fields of an X.509 certificate, and its public key.
struct CertificateFields {
  wire::Bytes subject, issuer, serial_number;
  ossl::PKey public_key;
};
Result<CertificateFields> ParseCertificate(const wire::Bytes& der);

}  // namespace vtoken::agent
