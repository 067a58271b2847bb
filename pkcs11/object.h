#pragma once
// An object as the agent describes it: an immutable attribute map (type ->
// bytes in PKCS#11 encoding), plus the types whose values exist but are
// withheld (sensitive). Replaced, never modified, when the agent's view changes.
#include <p11-kit/pkcs11.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "common/error.h"
#include "common/wire.h"

namespace vtoken::pkcs11 {

struct Object {
  CK_SLOT_ID slot = 0;
  std::uint64_t oid = 0;
  std::map<CK_ATTRIBUTE_TYPE, wire::Bytes> attrs;
  std::set<CK_ATTRIBUTE_TYPE> sensitive;

  const wire::Bytes* Find(CK_ATTRIBUTE_TYPE type) const;
  std::optional<CK_ULONG> Ulong(CK_ATTRIBUTE_TYPE type) const;
  bool Bool(CK_ATTRIBUTE_TYPE type, bool fallback) const;
  CK_OBJECT_CLASS Class() const { return Ulong(CKA_CLASS).value_or(CKO_VENDOR_DEFINED); }
  CK_KEY_TYPE KeyType() const { return Ulong(CKA_KEY_TYPE).value_or(CKK_VENDOR_DEFINED); }
  bool IsToken() const { return Bool(CKA_TOKEN, false); }
  bool IsPrivate() const { return Bool(CKA_PRIVATE, Class() == CKO_PRIVATE_KEY); }
};

// {oid, attrs, sensitive} from an agent reply.
Result<std::shared_ptr<const Object>> ParseObject(CK_SLOT_ID slot, const wire::Json& j);

// An application's template, copied and checked (NULL template with a
// non-zero count, NULL value with a non-zero length -> CKR_ARGUMENTS_BAD).
Result<wire::Attributes> CopyTemplate(const CK_ATTRIBUTE* tmpl, CK_ULONG count);
// The value of `type` in a copied template, if present.
const wire::Bytes* FindIn(const wire::Attributes& attrs, CK_ATTRIBUTE_TYPE type);
std::optional<bool> BoolIn(const wire::Attributes& attrs, CK_ATTRIBUTE_TYPE type);

// C_FindObjects matching: every template attribute present with equal bytes.
bool Matches(const Object& object, const wire::Attributes& tmpl);

// C_GetAttributeValue over every entry of the template (PKCS#11 v2.40 §5.7):
// per entry the value, its length, or CK_UNAVAILABLE_INFORMATION; the result
// is CKR_ATTRIBUTE_SENSITIVE, else CKR_ATTRIBUTE_TYPE_INVALID, else
// CKR_BUFFER_TOO_SMALL, else CKR_OK (SoftHSMv2's precedence).
Result<void> ReadAttributes(const Object& object, CK_ATTRIBUTE* tmpl, CK_ULONG count);

// Sum of the attribute sizes (C_GetObjectSize; the spec leaves the measure open).
CK_ULONG ObjectSize(const Object& object);

}  // namespace vtoken::pkcs11
