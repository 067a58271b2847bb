#pragma once
// PKCS#11 object templates: checking the encoding of each attribute, the
// attributes every object class has with their PKCS#11 v2.40 defaults, what
// is derived (from a certificate's DER, from key material), what may be
// changed later. Pure functions: nothing here touches storage or the token.
#include <vector>

#include "common/error.h"
#include "common/ossl.h"
#include "common/wire.h"
#include "tokend/emulated/key_material.h"

namespace vtoken::agent {

// A complete object ready to be stored.
struct NewObject {
  AttrMap attrs;                        // every attribute, sensitive ones excluded
  std::vector<unsigned long> sensitive; // types that exist but are withheld
  ossl::PKey private_key;               // CKO_PRIVATE_KEY only
};

// Checks each attribute's encoding: CK_BBOOL exactly 1 byte, CK_ULONG exactly
// sizeof(CK_ULONG), CK_DATE 0 or 8 bytes (CKR_ATTRIBUTE_VALUE_INVALID);
// unknown standard types give CKR_ATTRIBUTE_TYPE_INVALID (vendor-defined
// ones are kept as they are); a type given twice with different values gives
// CKR_TEMPLATE_INCONSISTENT. Booleans are normalized to 0/1.
Result<AttrMap> ParseTemplate(const wire::Attributes& attrs);

// C_CreateObject: CKO_DATA, CKO_CERTIFICATE (X.509), CKO_PUBLIC_KEY and
// CKO_PRIVATE_KEY (RSA, EC; imported from components).
Result<NewObject> BuildObject(const AttrMap& tmpl);

// One half of a generated key pair (`cls` CKO_PUBLIC_KEY or CKO_PRIVATE_KEY):
// the template's attributes over the defaults, the key's public attributes,
// CKA_LOCAL = TRUE and CKA_KEY_GEN_MECHANISM = `mechanism`.
Result<NewObject> BuildGeneratedKey(unsigned long cls, const AttrMap& tmpl, EVP_PKEY* key, unsigned long mechanism);

// The sensitive attribute types of a private key of this type.
std::vector<unsigned long> SensitiveTypes(unsigned long key_type);

// C_SetAttributeValue: the object's attributes after the change, or
// CKR_ACTION_PROHIBITED (CKA_MODIFIABLE FALSE), CKR_ATTRIBUTE_READ_ONLY,
// CKR_ATTRIBUTE_TYPE_INVALID, CKR_ATTRIBUTE_VALUE_INVALID.
Result<AttrMap> ApplyAttributeChanges(const AttrMap& current, const AttrMap& changes,
                                      const std::vector<unsigned long>& sensitive);

wire::Attributes ToWire(const AttrMap& attrs);

}  // namespace vtoken::agent
