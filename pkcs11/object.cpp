#include "pkcs11/object.h"

#include <cstring>

namespace vtoken::pkcs11 {

const wire::Bytes* Object::Find(CK_ATTRIBUTE_TYPE type) const {
  auto it = attrs.find(type);
  return it == attrs.end() ? nullptr : &it->second;
}

std::optional<CK_ULONG> Object::Ulong(CK_ATTRIBUTE_TYPE type) const {
  const wire::Bytes* v = Find(type);
  if (v == nullptr || v->size() != sizeof(CK_ULONG)) return std::nullopt;
  CK_ULONG out;
  std::memcpy(&out, v->data(), sizeof(out));
  return out;
}

bool Object::Bool(CK_ATTRIBUTE_TYPE type, bool fallback) const {
  const wire::Bytes* v = Find(type);
  if (v == nullptr || v->size() != sizeof(CK_BBOOL)) return fallback;
  return (*v)[0] != CK_FALSE;
}

Result<std::shared_ptr<const Object>> ParseObject(CK_SLOT_ID slot, const wire::Json& j) {
  if (!j.is_object()) return Fail(CKR_DEVICE_ERROR, "agent sent an object that is not a map");
  auto object = std::make_shared<Object>();
  object->slot = slot;
  object->oid = VT_TRY(wire::GetUint(j, "oid"));
  for (auto& [type, value] : VT_TRY(wire::DecodeAttributes(j, "attrs"))) object->attrs[type] = std::move(value);
  if (const wire::Json* s = wire::Find(j, "sensitive")) {
    if (!s->is_array()) return Fail(CKR_DEVICE_ERROR, "agent sent a malformed sensitive list");
    for (const auto& t : *s) {
      if (!t.is_number_unsigned()) return Fail(CKR_DEVICE_ERROR, "agent sent a malformed sensitive list");
      object->sensitive.insert(t.get<CK_ATTRIBUTE_TYPE>());
      object->attrs.erase(t.get<CK_ATTRIBUTE_TYPE>());  // a withheld value is never served
    }
  }
  return std::shared_ptr<const Object>(std::move(object));
}

Result<wire::Attributes> CopyTemplate(const CK_ATTRIBUTE* tmpl, CK_ULONG count) {
  if (tmpl == nullptr && count != 0) return Fail(CKR_ARGUMENTS_BAD, "template is NULL");
  if (count > 1024) return Fail(CKR_ARGUMENTS_BAD, "template has too many attributes");
  wire::Attributes out;
  out.reserve(count);
  for (CK_ULONG i = 0; i < count; ++i) {
    const CK_ATTRIBUTE& a = tmpl[i];
    if (a.pValue == nullptr && a.ulValueLen != 0) return Fail(CKR_ARGUMENTS_BAD, "attribute value is NULL");
    if (a.ulValueLen > wire::kMaxBinaryBytes) return Fail(CKR_ATTRIBUTE_VALUE_INVALID, "attribute value too long");
    const auto* p = static_cast<const std::uint8_t*>(a.pValue);
    out.emplace_back(a.type, p ? wire::Bytes(p, p + a.ulValueLen) : wire::Bytes{});
  }
  return out;
}

const wire::Bytes* FindIn(const wire::Attributes& attrs, CK_ATTRIBUTE_TYPE type) {
  for (const auto& [t, v] : attrs)
    if (t == type) return &v;
  return nullptr;
}

std::optional<bool> BoolIn(const wire::Attributes& attrs, CK_ATTRIBUTE_TYPE type) {
  const wire::Bytes* v = FindIn(attrs, type);
  if (v == nullptr || v->size() != sizeof(CK_BBOOL)) return std::nullopt;
  return (*v)[0] != CK_FALSE;
}

bool Matches(const Object& object, const wire::Attributes& tmpl) {
  for (const auto& [type, value] : tmpl) {
    const wire::Bytes* have = object.Find(type);
    if (have == nullptr || *have != value) return false;
  }
  return true;
}

Result<void> ReadAttributes(const Object& object, CK_ATTRIBUTE* tmpl, CK_ULONG count) {
  if (tmpl == nullptr && count != 0) return Fail(CKR_ARGUMENTS_BAD, "template is NULL");
  bool sensitive = false, invalid = false, too_small = false;
  for (CK_ULONG i = 0; i < count; ++i) {
    CK_ATTRIBUTE& a = tmpl[i];
    if (object.sensitive.contains(a.type)) {
      a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
      sensitive = true;
      continue;
    }
    const wire::Bytes* v = object.Find(a.type);
    if (v == nullptr) {
      a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
      invalid = true;
      continue;
    }
    if (a.pValue == nullptr) {
      a.ulValueLen = v->size();
    } else if (a.ulValueLen >= v->size()) {
      if (!v->empty()) std::memcpy(a.pValue, v->data(), v->size());
      a.ulValueLen = v->size();
    } else {
      a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
      too_small = true;
    }
  }
  if (sensitive) return Fail(CKR_ATTRIBUTE_SENSITIVE, "attribute value is sensitive");
  if (invalid) return Fail(CKR_ATTRIBUTE_TYPE_INVALID, "object has no such attribute");
  if (too_small) return Fail(CKR_BUFFER_TOO_SMALL, "attribute buffer too small");
  return {};
}

CK_ULONG ObjectSize(const Object& object) {
  CK_ULONG n = 0;
  for (const auto& [type, value] : object.attrs) n += sizeof(CK_ATTRIBUTE_TYPE) + value.size();
  return n;
}

}  // namespace vtoken::pkcs11
