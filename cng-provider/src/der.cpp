#include "cng-provider/src/der.h"

#include <windows.h>
#include <bcrypt.h>
#include <p11-kit/pkcs11.h>

#include <array>
#include <cstring>

namespace vtoken::ksp {
namespace {

const HashAlg kHashAlgs[] = {
    {BCRYPT_SHA256_ALGORITHM, 32, CKM_SHA256, CKG_MGF1_SHA256, der::Hash::kSha256},
    {BCRYPT_SHA384_ALGORITHM, 48, CKM_SHA384, CKG_MGF1_SHA384, der::Hash::kSha384},
    {BCRYPT_SHA512_ALGORITHM, 64, CKM_SHA512, CKG_MGF1_SHA512, der::Hash::kSha512},
    {BCRYPT_SHA1_ALGORITHM, 20, CKM_SHA_1, CKG_MGF1_SHA1, der::Hash::kSha1},
    {BCRYPT_MD5_ALGORITHM, 16, 0, 0, der::Hash::kMd5},
};

constexpr std::array<std::uint8_t, 10> kP256Oid{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
constexpr std::array<std::uint8_t, 7> kP384Oid{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
constexpr std::array<std::uint8_t, 7> kP521Oid{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23};

const Curve kP256{"P-256", BCRYPT_ECDSA_P256_ALGORITHM, L"nistP256", 256, 32, BCRYPT_ECDSA_PUBLIC_P256_MAGIC};
const Curve kP384{"P-384", BCRYPT_ECDSA_P384_ALGORITHM, L"nistP384", 384, 48, BCRYPT_ECDSA_PUBLIC_P384_MAGIC};
const Curve kP521{"P-521", BCRYPT_ECDSA_P521_ALGORITHM, L"nistP521", 521, 66, BCRYPT_ECDSA_PUBLIC_P521_MAGIC};

bool Equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

const HashAlg* FindHashAlg(std::wstring_view cng_name) {
  for (const auto& alg : kHashAlgs)
    if (cng_name == alg.cng_name) return &alg;
  return nullptr;
}

ByteVec DigestInfo(const HashAlg& alg, std::span<const std::uint8_t> hash) { return der::DigestInfo(alg.der, hash); }

const Curve* CurveFromParams(std::span<const std::uint8_t> p) {
  if (Equal(p, kP256Oid)) return &kP256;
  if (Equal(p, kP384Oid)) return &kP384;
  if (Equal(p, kP521Oid)) return &kP521;
  return nullptr;
}

std::optional<std::pair<ByteVec, ByteVec>> EcPointXY(const Curve& curve, std::span<const std::uint8_t> point) {
  const std::size_t raw = 1 + 2 * curve.field_bytes;
  if (point.size() != raw || point[0] != 0x04) {
    // DER OCTET STRING: 04, length (short or 0x81 nn), content.
    if (point.size() < 2 || point[0] != 0x04) return std::nullopt;
    std::size_t header = 2, length = point[1];
    if (point[1] == 0x81 && point.size() >= 3) {
      header = 3;
      length = point[2];
    } else if (point[1] & 0x80) {
      return std::nullopt;
    }
    if (header + length != point.size()) return std::nullopt;
    point = point.subspan(header);
    if (point.size() != raw || point[0] != 0x04) return std::nullopt;
  }
  ByteVec x(point.begin() + 1, point.begin() + 1 + curve.field_bytes);
  ByteVec y(point.begin() + 1 + curve.field_bytes, point.end());
  return std::pair{std::move(x), std::move(y)};
}

std::optional<unsigned long long> AttrUlong(std::span<const std::uint8_t> v) {
  if (v.size() == 1) return v[0];
  if (v.size() != 4 && v.size() != 8) return std::nullopt;
  unsigned long long out = 0;
  for (std::size_t i = v.size(); i-- > 0;) out = out << 8 | v[i];  // little-endian hosts (x86, ARM)
  return out;
}

ByteVec StripLeadingZeros(std::span<const std::uint8_t> v) {
  std::size_t i = 0;
  while (i + 1 < v.size() && v[i] == 0) ++i;
  return ByteVec(v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
}

unsigned BitLength(std::span<const std::uint8_t> v) {
  std::size_t i = 0;
  while (i < v.size() && v[i] == 0) ++i;
  if (i == v.size()) return 0;
  unsigned bits = static_cast<unsigned>((v.size() - i) * 8);
  for (std::uint8_t top = v[i]; !(top & 0x80); top <<= 1) --bits;
  return bits;
}

}  // namespace vtoken::ksp
