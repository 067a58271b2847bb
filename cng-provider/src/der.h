#pragma once
// The little DER and PKCS#11 encoding the provider needs, without OpenSSL:
// DigestInfo prefixes for the CNG hash names, the named curves, EC points.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/der.h"

namespace vtoken::ksp {

using ByteVec = std::vector<std::uint8_t>;

struct HashAlg {
  const wchar_t* cng_name;  // BCRYPT_SHA256_ALGORITHM, ...
  std::size_t length;       // digest bytes
  unsigned long ckm;        // CKM_SHA256 (PSS params), 0 for MD5
  unsigned long mgf;        // CKG_MGF1_SHA256
  der::Hash der;             // for the DigestInfo (common/der.h)
};
// nullptr for a name CNG does not define or we do not sign with.
const HashAlg* FindHashAlg(std::wstring_view cng_name);
ByteVec DigestInfo(const HashAlg& alg, std::span<const std::uint8_t> hash);

struct Curve {
  const char* name;           // "P-256"
  const wchar_t* cng_alg;     // BCRYPT_ECDSA_P256_ALGORITHM
  const wchar_t* cng_curve;   // BCRYPT_ECC_CURVE_NISTP256
  unsigned bits;
  std::size_t field_bytes;    // of one coordinate
  unsigned long public_magic; // BCRYPT_ECDSA_PUBLIC_P256_MAGIC
};
// From CKA_EC_PARAMS (a DER OBJECT IDENTIFIER of a named curve).
const Curve* CurveFromParams(std::span<const std::uint8_t> ec_params);
// From CKA_EC_POINT: a DER OCTET STRING holding 04||X||Y, or 04||X||Y bare.
std::optional<std::pair<ByteVec, ByteVec>> EcPointXY(const Curve& curve, std::span<const std::uint8_t> ec_point);

// A CK_ULONG / CK_BBOOL attribute value as the agent sends it (host order, 4 or 8 bytes).
std::optional<unsigned long long> AttrUlong(std::span<const std::uint8_t> v);
// A big-endian integer without leading zero bytes.
ByteVec StripLeadingZeros(std::span<const std::uint8_t> v);
unsigned BitLength(std::span<const std::uint8_t> big_endian);

}  // namespace vtoken::ksp
