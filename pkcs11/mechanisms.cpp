#include "pkcs11/mechanisms.h"

#include <algorithm>

namespace vtoken::pkcs11 {
namespace {

constexpr CK_FLAGS kSignVerify = CKF_SIGN | CKF_VERIFY;
constexpr CK_FLAGS kEcFlags = CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS;
constexpr CK_KEY_TYPE kNoKey = CKK_VENDOR_DEFINED;

constexpr MechanismSpec kMechanisms[] = {
    {CKM_RSA_PKCS_KEY_PAIR_GEN, 2048, 4096, CKF_GENERATE_KEY_PAIR, CKK_RSA, 0, 0},
    {CKM_EC_KEY_PAIR_GEN, 256, 384, CKF_GENERATE_KEY_PAIR | kEcFlags, CKK_EC, 0, 0},
    {CKM_RSA_PKCS, 2048, 4096, kSignVerify | CKF_DECRYPT, CKK_RSA, 0, CKM_RSA_PKCS},
    {CKM_SHA1_RSA_PKCS, 2048, 4096, kSignVerify, CKK_RSA, CKM_SHA_1, CKM_RSA_PKCS},
    {CKM_SHA224_RSA_PKCS, 2048, 4096, kSignVerify, CKK_RSA, CKM_SHA224, CKM_RSA_PKCS},
    {CKM_SHA256_RSA_PKCS, 2048, 4096, kSignVerify, CKK_RSA, CKM_SHA256, CKM_RSA_PKCS},
    {CKM_SHA384_RSA_PKCS, 2048, 4096, kSignVerify, CKK_RSA, CKM_SHA384, CKM_RSA_PKCS},
    {CKM_SHA512_RSA_PKCS, 2048, 4096, kSignVerify, CKK_RSA, CKM_SHA512, CKM_RSA_PKCS},
    {CKM_RSA_PKCS_PSS, 2048, 4096, kSignVerify, CKK_RSA, 0, CKM_RSA_PKCS_PSS},
    {CKM_SHA1_RSA_PKCS_PSS, 2048, 4096, kSignVerify, CKK_RSA, CKM_SHA_1, CKM_RSA_PKCS_PSS},
    {CKM_SHA224_RSA_PKCS_PSS, 2048, 4096, kSignVerify, CKK_RSA, CKM_SHA224, CKM_RSA_PKCS_PSS},
    {CKM_SHA256_RSA_PKCS_PSS, 2048, 4096, kSignVerify, CKK_RSA, CKM_SHA256, CKM_RSA_PKCS_PSS},
    {CKM_SHA384_RSA_PKCS_PSS, 2048, 4096, kSignVerify, CKK_RSA, CKM_SHA384, CKM_RSA_PKCS_PSS},
    {CKM_SHA512_RSA_PKCS_PSS, 2048, 4096, kSignVerify, CKK_RSA, CKM_SHA512, CKM_RSA_PKCS_PSS},
    {CKM_RSA_PKCS_OAEP, 2048, 4096, CKF_DECRYPT, CKK_RSA, 0, CKM_RSA_PKCS_OAEP},
    {CKM_ECDSA, 256, 384, kSignVerify | kEcFlags, CKK_EC, 0, CKM_ECDSA},
    {CKM_ECDSA_SHA1, 256, 384, kSignVerify | kEcFlags, CKK_EC, CKM_SHA_1, CKM_ECDSA},
    {CKM_ECDSA_SHA224, 256, 384, kSignVerify | kEcFlags, CKK_EC, CKM_SHA224, CKM_ECDSA},
    {CKM_ECDSA_SHA256, 256, 384, kSignVerify | kEcFlags, CKK_EC, CKM_SHA256, CKM_ECDSA},
    {CKM_ECDSA_SHA384, 256, 384, kSignVerify | kEcFlags, CKK_EC, CKM_SHA384, CKM_ECDSA},
    {CKM_ECDSA_SHA512, 256, 384, kSignVerify | kEcFlags, CKK_EC, CKM_SHA512, CKM_ECDSA},
    {CKM_SHA_1, 0, 0, CKF_DIGEST, kNoKey, CKM_SHA_1, 0},
    {CKM_SHA224, 0, 0, CKF_DIGEST, kNoKey, CKM_SHA224, 0},
    {CKM_SHA256, 0, 0, CKF_DIGEST, kNoKey, CKM_SHA256, 0},
    {CKM_SHA384, 0, 0, CKF_DIGEST, kNoKey, CKM_SHA384, 0},
    {CKM_SHA512, 0, 0, CKF_DIGEST, kNoKey, CKM_SHA512, 0},
};

}  // namespace

std::span<const MechanismSpec> Mechanisms() { return kMechanisms; }

const MechanismSpec* FindMechanism(CK_MECHANISM_TYPE type) {
  auto it = std::find_if(std::begin(kMechanisms), std::end(kMechanisms),
                         [&](const MechanismSpec& m) { return m.type == type; });
  return it == std::end(kMechanisms) ? nullptr : &*it;
}

Result<void> MechanismList(CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count) {
  if (count == nullptr) return Fail(CKR_ARGUMENTS_BAD, "pulCount is NULL");
  const CK_ULONG n = std::size(kMechanisms);
  if (list == nullptr) {
    *count = n;
    return {};
  }
  if (*count < n) {
    *count = n;
    return Fail(CKR_BUFFER_TOO_SMALL, "mechanism list buffer too small");
  }
  for (CK_ULONG i = 0; i < n; ++i) list[i] = kMechanisms[i].type;
  *count = n;
  return {};
}

Result<void> MechanismInfo(CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR info) {
  if (info == nullptr) return Fail(CKR_ARGUMENTS_BAD, "pInfo is NULL");
  const MechanismSpec* m = FindMechanism(type);
  if (m == nullptr) return Fail(CKR_MECHANISM_INVALID, "mechanism not supported");
  info->ulMinKeySize = m->min_key_bits;
  info->ulMaxKeySize = m->max_key_bits;
  info->flags = m->flags;
  return {};
}

}  // namespace vtoken::pkcs11
