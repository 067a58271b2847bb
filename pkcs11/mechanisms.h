#pragma once
// The mechanisms vtoken offers (C_GetMechanismList/C_GetMechanismInfo) and
// how each maps onto what the agent signs: CKM_SHA*_… are hashed here and
// sent as their raw form (CKM_RSA_PKCS over a DigestInfo, CKM_RSA_PKCS_PSS or
// CKM_ECDSA over the hash). Nothing is advertised that is not implemented.
#include <p11-kit/pkcs11.h>

#include <span>

#include "common/error.h"

namespace vtoken::pkcs11 {

struct MechanismSpec {
  CK_MECHANISM_TYPE type;
  CK_ULONG min_key_bits;
  CK_ULONG max_key_bits;
  CK_FLAGS flags;
  CK_KEY_TYPE key_type;    // CKK_RSA, CKK_EC, or CKK_VENDOR_DEFINED for digests
  CK_MECHANISM_TYPE hash;  // CKM_SHA256 for CKM_SHA256_RSA_PKCS; 0 for raw ones
  CK_MECHANISM_TYPE raw;   // what the agent is asked to do; 0 when local only
};

std::span<const MechanismSpec> Mechanisms();
const MechanismSpec* FindMechanism(CK_MECHANISM_TYPE type);

// Whether a slot's token offers the mechanism (every vtoken token offers all).
Result<void> MechanismList(CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count);
Result<void> MechanismInfo(CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR info);

}  // namespace vtoken::pkcs11
