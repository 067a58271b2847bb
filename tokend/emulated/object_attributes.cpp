#include "tokend/emulated/object_attributes.h"

#include <p11-kit/pkcs11.h>

#include <algorithm>
#include <cstdio>
#include <set>

#include "tokend/emulated/token_crypto.h"

namespace vtoken::agent {
namespace {

enum class Kind { kBool, kUlong, kDate, kBytes };

std::string HexType(unsigned long type) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%lx", type);
  return buf;
}

bool IsVendor(unsigned long type) { return (type & CKA_VENDOR_DEFINED) != 0; }

std::optional<Kind> KindOf(unsigned long type) {
  switch (type) {
    case CKA_TOKEN: case CKA_PRIVATE: case CKA_MODIFIABLE: case CKA_COPYABLE: case CKA_DESTROYABLE:
    case CKA_TRUSTED: case CKA_DERIVE: case CKA_LOCAL: case CKA_ENCRYPT: case CKA_VERIFY:
    case CKA_VERIFY_RECOVER: case CKA_WRAP: case CKA_SENSITIVE: case CKA_DECRYPT: case CKA_SIGN:
    case CKA_SIGN_RECOVER: case CKA_UNWRAP: case CKA_EXTRACTABLE: case CKA_ALWAYS_SENSITIVE:
    case CKA_NEVER_EXTRACTABLE: case CKA_WRAP_WITH_TRUSTED: case CKA_ALWAYS_AUTHENTICATE:
      return Kind::kBool;
    case CKA_CLASS: case CKA_KEY_TYPE: case CKA_CERTIFICATE_TYPE: case CKA_CERTIFICATE_CATEGORY:
    case CKA_JAVA_MIDP_SECURITY_DOMAIN: case CKA_MODULUS_BITS: case CKA_KEY_GEN_MECHANISM:
    case CKA_NAME_HASH_ALGORITHM:
      return Kind::kUlong;
    case CKA_START_DATE: case CKA_END_DATE:
      return Kind::kDate;
    case CKA_LABEL: case CKA_APPLICATION: case CKA_OBJECT_ID: case CKA_VALUE: case CKA_SUBJECT:
    case CKA_ISSUER: case CKA_SERIAL_NUMBER: case CKA_ID: case CKA_URL: case CKA_HASH_OF_SUBJECT_PUBLIC_KEY:
    case CKA_HASH_OF_ISSUER_PUBLIC_KEY: case CKA_CHECK_VALUE: case CKA_PUBLIC_KEY_INFO: case CKA_MODULUS:
    case CKA_PUBLIC_EXPONENT: case CKA_PRIVATE_EXPONENT: case CKA_PRIME_1: case CKA_PRIME_2:
    case CKA_EXPONENT_1: case CKA_EXPONENT_2: case CKA_COEFFICIENT: case CKA_EC_PARAMS: case CKA_EC_POINT:
      return Kind::kBytes;
    default:
      return std::nullopt;
  }
}

// Attributes that only the token sets.
bool IsReadOnlyAtCreation(unsigned long type) {
  return type == CKA_LOCAL || type == CKA_KEY_GEN_MECHANISM || type == CKA_ALWAYS_SENSITIVE ||
         type == CKA_NEVER_EXTRACTABLE;
}

const wire::Bytes kEmpty;

AttrMap StorageDefaults(unsigned long cls) {
  return {{CKA_CLASS, UlongBytes(cls)},      {CKA_TOKEN, BoolBytes(false)},
          {CKA_PRIVATE, BoolBytes(cls == CKO_PRIVATE_KEY)}, {CKA_MODIFIABLE, BoolBytes(true)},
          {CKA_LABEL, kEmpty},               {CKA_COPYABLE, BoolBytes(true)},
          {CKA_DESTROYABLE, BoolBytes(true)}};
}

AttrMap DataDefaults() {
  AttrMap a = StorageDefaults(CKO_DATA);
  a[CKA_APPLICATION] = kEmpty;
  a[CKA_OBJECT_ID] = kEmpty;
  a[CKA_VALUE] = kEmpty;
  return a;
}

AttrMap CertificateDefaults() {
  AttrMap a = StorageDefaults(CKO_CERTIFICATE);
  a[CKA_CERTIFICATE_TYPE] = UlongBytes(CKC_X_509);
  a[CKA_TRUSTED] = BoolBytes(false);
  a[CKA_CERTIFICATE_CATEGORY] = UlongBytes(0);  // unspecified
  a[CKA_JAVA_MIDP_SECURITY_DOMAIN] = UlongBytes(0);
  for (auto t : {CKA_CHECK_VALUE, CKA_START_DATE, CKA_END_DATE, CKA_PUBLIC_KEY_INFO, CKA_SUBJECT, CKA_ID, CKA_ISSUER,
                 CKA_SERIAL_NUMBER, CKA_VALUE, CKA_URL, CKA_HASH_OF_SUBJECT_PUBLIC_KEY, CKA_HASH_OF_ISSUER_PUBLIC_KEY})
    a[t] = kEmpty;
  return a;
}

// Usage defaults follow what the key type can do: an EC key neither
// encrypts nor wraps.
AttrMap KeyDefaults(unsigned long cls, unsigned long key_type) {
  const bool rsa = key_type == CKK_RSA;
  AttrMap a = StorageDefaults(cls);
  a[CKA_KEY_TYPE] = UlongBytes(key_type);
  for (auto t : {CKA_ID, CKA_START_DATE, CKA_END_DATE, CKA_SUBJECT, CKA_PUBLIC_KEY_INFO}) a[t] = kEmpty;
  a[CKA_DERIVE] = BoolBytes(false);
  a[CKA_LOCAL] = BoolBytes(false);
  a[CKA_KEY_GEN_MECHANISM] = UlongBytes(CK_UNAVAILABLE_INFORMATION);
  if (cls == CKO_PUBLIC_KEY) {
    a[CKA_ENCRYPT] = BoolBytes(rsa);
    a[CKA_VERIFY] = BoolBytes(true);
    a[CKA_VERIFY_RECOVER] = BoolBytes(rsa);
    a[CKA_WRAP] = BoolBytes(rsa);
    a[CKA_TRUSTED] = BoolBytes(false);
  } else {
    a[CKA_SENSITIVE] = BoolBytes(true);
    a[CKA_DECRYPT] = BoolBytes(rsa);
    a[CKA_SIGN] = BoolBytes(true);
    a[CKA_SIGN_RECOVER] = BoolBytes(rsa);
    a[CKA_UNWRAP] = BoolBytes(rsa);
    a[CKA_EXTRACTABLE] = BoolBytes(false);
    a[CKA_ALWAYS_SENSITIVE] = BoolBytes(false);
    a[CKA_NEVER_EXTRACTABLE] = BoolBytes(false);
    a[CKA_WRAP_WITH_TRUSTED] = BoolBytes(false);
    a[CKA_ALWAYS_AUTHENTICATE] = BoolBytes(false);
  }
  if (rsa) {
    for (auto t : {CKA_MODULUS, CKA_PUBLIC_EXPONENT}) a[t] = kEmpty;
    a[CKA_MODULUS_BITS] = UlongBytes(0);
  } else {
    for (auto t : {CKA_EC_PARAMS, CKA_EC_POINT}) a[t] = kEmpty;
  }
  return a;
}

// The template over the defaults. `inputs` may appear in the template but
// are consumed (key components), not stored.
Result<void> Overlay(AttrMap& object, const AttrMap& tmpl, const std::vector<unsigned long>& inputs) {
  for (const auto& [type, value] : tmpl) {
    if (IsReadOnlyAtCreation(type)) return Fail(CKR_ATTRIBUTE_READ_ONLY, "attribute is set by the token only");
    if (std::ranges::find(inputs, type) != inputs.end()) continue;
    if (!object.contains(type) && !IsVendor(type))
      return Fail(CKR_ATTRIBUTE_TYPE_INVALID, "attribute " + HexType(type) + " is not valid for this object class");
    object[type] = value;
  }
  return {};
}

// Key attributes derived from the key material replace the template's
// (which may encode them differently); CKA_ID is only a default.
Result<void> MergeKeyAttributes(AttrMap& object, const AttrMap& tmpl, AttrMap derived) {
  if (auto bits = GetUlong(tmpl, CKA_MODULUS_BITS); bits && derived.contains(CKA_MODULUS_BITS) &&
                                                   *bits != *GetUlong(derived, CKA_MODULUS_BITS))
    return Fail(CKR_TEMPLATE_INCONSISTENT, "CKA_MODULUS_BITS does not match CKA_MODULUS");
  if (tmpl.contains(CKA_ID)) derived.erase(CKA_ID);
  for (auto& [type, value] : derived)
    if (object.contains(type)) object[type] = std::move(value);
  return {};
}

Result<void> CheckPrivateKeyFlags(const AttrMap& object) {
  if (!*GetBool(object, CKA_SENSITIVE))
    return Fail(CKR_ATTRIBUTE_VALUE_INVALID, "private keys on this token are always sensitive");
  return {};
}

Result<unsigned long> KeyTypeFromTemplate(const AttrMap& tmpl) {
  auto kt = GetUlong(tmpl, CKA_KEY_TYPE);
  if (!kt) return Fail(CKR_TEMPLATE_INCOMPLETE, "template lacks CKA_KEY_TYPE");
  if (*kt != CKK_RSA && *kt != CKK_EC) return Fail(CKR_ATTRIBUTE_VALUE_INVALID, "only RSA and EC keys are supported");
  return *kt;
}

Result<NewObject> BuildData(const AttrMap& tmpl) {
  NewObject o;
  o.attrs = DataDefaults();
  VT_CHECK(Overlay(o.attrs, tmpl, {}));
  return o;
}

Result<NewObject> BuildCertificate(const AttrMap& tmpl) {
  auto type = GetUlong(tmpl, CKA_CERTIFICATE_TYPE);
  if (!type) return Fail(CKR_TEMPLATE_INCOMPLETE, "template lacks CKA_CERTIFICATE_TYPE");
  if (*type != CKC_X_509) return Fail(CKR_ATTRIBUTE_VALUE_INVALID, "only X.509 certificates are supported");
  const wire::Bytes* value = GetValue(tmpl, CKA_VALUE);
  if (!value || value->empty()) return Fail(CKR_TEMPLATE_INCOMPLETE, "template lacks CKA_VALUE");
  if (GetBool(tmpl, CKA_TRUSTED).value_or(false))
    return Fail(CKR_ATTRIBUTE_READ_ONLY, "only the security officer may mark a certificate trusted");
  if (auto cat = GetUlong(tmpl, CKA_CERTIFICATE_CATEGORY); cat && *cat > 3)
    return Fail(CKR_ATTRIBUTE_VALUE_INVALID, "CKA_CERTIFICATE_CATEGORY must be 0..3");
  auto fields = VT_TRY(ParseCertificate(*value));
  NewObject o;
  o.attrs = CertificateDefaults();
  VT_CHECK(Overlay(o.attrs, tmpl, {}));
  auto derive = [&](unsigned long t, wire::Bytes v) {
    if (o.attrs[t].empty()) o.attrs[t] = std::move(v);
  };
  derive(CKA_SUBJECT, fields.subject);
  derive(CKA_ISSUER, fields.issuer);
  derive(CKA_SERIAL_NUMBER, fields.serial_number);
  auto sha = Sha1(*value);
  o.attrs[CKA_CHECK_VALUE] = wire::Bytes(sha.begin(), sha.begin() + 3);
  if (fields.public_key) {
    if (auto pub = PublicKeyAttributes(fields.public_key.get())) {
      o.attrs[CKA_PUBLIC_KEY_INFO] = (*pub)[CKA_PUBLIC_KEY_INFO];
      if (!tmpl.contains(CKA_ID)) o.attrs[CKA_ID] = (*pub)[CKA_ID];
    }
  }
  return o;
}

Result<NewObject> BuildKey(unsigned long cls, const AttrMap& tmpl) {
  const unsigned long key_type = VT_TRY(KeyTypeFromTemplate(tmpl));
  NewObject o;
  o.attrs = KeyDefaults(cls, key_type);
  ossl::PKey key;
  if (cls == CKO_PUBLIC_KEY) {
    VT_CHECK(Overlay(o.attrs, tmpl, {}));
    key = VT_TRY(PublicKeyFromAttributes(key_type, tmpl));
  } else {
    o.sensitive = SensitiveTypes(key_type);
    VT_CHECK(Overlay(o.attrs, tmpl, o.sensitive));
    VT_CHECK(CheckPrivateKeyFlags(o.attrs));
    key = VT_TRY(PrivateKeyFromAttributes(key_type, tmpl));
  }
  VT_CHECK(MergeKeyAttributes(o.attrs, tmpl, VT_TRY(PublicKeyAttributes(key.get()))));
  if (cls == CKO_PRIVATE_KEY) o.private_key = std::move(key);
  return o;
}

}  // namespace

Result<AttrMap> ParseTemplate(const wire::Attributes& attrs) {
  AttrMap out;
  for (const auto& [type, value] : attrs) {
    auto kind = KindOf(type);
    if (!kind && !IsVendor(type))
      return Fail(CKR_ATTRIBUTE_TYPE_INVALID, "unknown attribute type " + HexType(type));
    wire::Bytes v = value;
    if (kind == Kind::kBool) {
      if (v.size() != 1) return Fail(CKR_ATTRIBUTE_VALUE_INVALID, "CK_BBOOL attribute must be 1 byte");
      v[0] = v[0] ? 1 : 0;
    } else if (kind == Kind::kUlong && v.size() != sizeof(unsigned long)) {
      return Fail(CKR_ATTRIBUTE_VALUE_INVALID, "CK_ULONG attribute must be sizeof(CK_ULONG) bytes");
    } else if (kind == Kind::kDate && !v.empty() && v.size() != 8) {
      return Fail(CKR_ATTRIBUTE_VALUE_INVALID, "CK_DATE attribute must be empty or 8 bytes");
    }
    auto [it, inserted] = out.emplace(type, v);
    if (!inserted && it->second != v) return Fail(CKR_TEMPLATE_INCONSISTENT, "attribute given twice with different values");
  }
  return out;
}

std::vector<unsigned long> SensitiveTypes(unsigned long key_type) {
  if (key_type == CKK_RSA)
    return {CKA_PRIVATE_EXPONENT, CKA_PRIME_1, CKA_PRIME_2, CKA_EXPONENT_1, CKA_EXPONENT_2, CKA_COEFFICIENT};
  return {CKA_VALUE};
}

Result<NewObject> BuildObject(const AttrMap& tmpl) {
  auto cls = GetUlong(tmpl, CKA_CLASS);
  if (!cls) return Fail(CKR_TEMPLATE_INCOMPLETE, "template lacks CKA_CLASS");
  switch (*cls) {
    case CKO_DATA: return BuildData(tmpl);
    case CKO_CERTIFICATE: return BuildCertificate(tmpl);
    case CKO_PUBLIC_KEY:
    case CKO_PRIVATE_KEY: return BuildKey(*cls, tmpl);
    default: return Fail(CKR_ATTRIBUTE_VALUE_INVALID, "unsupported object class");
  }
}

Result<NewObject> BuildGeneratedKey(unsigned long cls, const AttrMap& tmpl, EVP_PKEY* key, unsigned long mechanism) {
  const unsigned long key_type = VT_TRY(KeyTypeOf(key));
  if (auto c = GetUlong(tmpl, CKA_CLASS); c && *c != cls)
    return Fail(CKR_TEMPLATE_INCONSISTENT, "CKA_CLASS does not match the generated object");
  if (auto kt = GetUlong(tmpl, CKA_KEY_TYPE); kt && *kt != key_type)
    return Fail(CKR_TEMPLATE_INCONSISTENT, "CKA_KEY_TYPE does not match the mechanism");
  NewObject o;
  o.attrs = KeyDefaults(cls, key_type);
  VT_CHECK(Overlay(o.attrs, tmpl, {}));
  VT_CHECK(MergeKeyAttributes(o.attrs, tmpl, VT_TRY(PublicKeyAttributes(key))));
  o.attrs[CKA_LOCAL] = BoolBytes(true);
  o.attrs[CKA_KEY_GEN_MECHANISM] = UlongBytes(mechanism);
  if (cls == CKO_PRIVATE_KEY) {
    VT_CHECK(CheckPrivateKeyFlags(o.attrs));
    o.attrs[CKA_ALWAYS_SENSITIVE] = BoolBytes(true);
    o.attrs[CKA_NEVER_EXTRACTABLE] = BoolBytes(!*GetBool(o.attrs, CKA_EXTRACTABLE));
    o.sensitive = SensitiveTypes(key_type);
  }
  return o;
}

Result<AttrMap> ApplyAttributeChanges(const AttrMap& current, const AttrMap& changes,
                                      const std::vector<unsigned long>& sensitive) {
  if (!GetBool(current, CKA_MODIFIABLE).value_or(true))
    return Fail(CKR_ACTION_PROHIBITED, "object is not modifiable");
  const unsigned long cls = GetUlong(current, CKA_CLASS).value_or(CKO_DATA);
  const bool key = cls == CKO_PUBLIC_KEY || cls == CKO_PRIVATE_KEY;
  static const std::set<unsigned long> kKeyChangeable = {
      CKA_ID, CKA_START_DATE, CKA_END_DATE, CKA_SUBJECT, CKA_DERIVE, CKA_ENCRYPT, CKA_VERIFY, CKA_VERIFY_RECOVER,
      CKA_WRAP, CKA_DECRYPT, CKA_SIGN, CKA_SIGN_RECOVER, CKA_UNWRAP, CKA_ALWAYS_AUTHENTICATE};
  AttrMap out = current;
  for (const auto& [type, value] : changes) {
    if (std::ranges::find(sensitive, type) != sensitive.end())
      return Fail(CKR_ATTRIBUTE_READ_ONLY, "sensitive attributes cannot be changed");
    if (!current.contains(type) && !IsVendor(type))
      return Fail(CKR_ATTRIBUTE_TYPE_INVALID, "attribute " + HexType(type) + " is not valid for this object");
    bool ok = IsVendor(type) || type == CKA_LABEL;
    if (cls == CKO_DATA) ok = ok || type == CKA_APPLICATION || type == CKA_OBJECT_ID || type == CKA_VALUE;
    if (cls == CKO_CERTIFICATE) ok = ok || type == CKA_ID || type == CKA_START_DATE || type == CKA_END_DATE;
    if (key) ok = ok || kKeyChangeable.contains(type);
    // One-way switches (PKCS#11 v2.40 table 4, footnote 11).
    const bool on = !value.empty() && value[0] != 0;
    if (type == CKA_COPYABLE) ok = !on;
    if (cls == CKO_PRIVATE_KEY && type == CKA_SENSITIVE) ok = on;
    if (cls == CKO_PRIVATE_KEY && type == CKA_EXTRACTABLE) ok = !on;
    if (cls == CKO_PRIVATE_KEY && type == CKA_WRAP_WITH_TRUSTED) ok = on;
    if (!ok) return Fail(CKR_ATTRIBUTE_READ_ONLY, "attribute " + HexType(type) + " cannot be changed");
    out[type] = value;
  }
  return out;
}

wire::Attributes ToWire(const AttrMap& attrs) { return wire::Attributes(attrs.begin(), attrs.end()); }

}  // namespace vtoken::agent
