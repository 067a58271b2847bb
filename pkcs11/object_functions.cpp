// Objects: finding and reading answer from the object cache; creating,
// changing and destroying go to the agent, after the session-state checks.
#include "pkcs11/api.h"
#include "pkcs11/buffer.h"
#include "pkcs11/provider.h"

namespace vtoken::pkcs11 {
namespace {

Result<CK_OBJECT_HANDLE> Adopt(Provider& p, Session& s, const wire::Json& j) {
  auto object = VT_TRY(ParseObject(s.slot, j));
  if (!object->IsToken()) {
    std::lock_guard lock(s.mutex);
    s.own_objects.push_back(object->oid);
  }
  return p.objects.Put(std::move(object));
}

const wire::Json& Field(const wire::Json& reply, const char* key) {
  static const wire::Json kNull;
  const wire::Json* v = wire::Find(reply, key);
  return v ? *v : kNull;
}

}  // namespace

Result<void> FindObjectsInit(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount) {
  auto [p, s] = VT_TRY(EnterSession(hSession));
  const wire::Attributes tmpl = VT_TRY(CopyTemplate(pTemplate, ulCount));
  {
    std::lock_guard lock(s->mutex);
    if (!std::holds_alternative<std::monostate>(s->op)) return Fail(CKR_OPERATION_ACTIVE, "another operation is active");
  }
  FindOperation find;
  for (const auto& [handle, object] : VT_TRY(p->objects.List(s->slot)))
    if (Matches(*object, tmpl)) find.handles.push_back(handle);
  std::lock_guard lock(s->mutex);
  if (!std::holds_alternative<std::monostate>(s->op)) return Fail(CKR_OPERATION_ACTIVE, "another operation is active");
  s->op = std::move(find);
  return {};
}

Result<void> FindObjects(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE_PTR phObject, CK_ULONG ulMaxObjectCount,
                         CK_ULONG_PTR pulObjectCount) {
  auto [p, s] = VT_TRY(EnterSession(hSession));
  if (pulObjectCount == nullptr || (phObject == nullptr && ulMaxObjectCount != 0))
    return Fail(CKR_ARGUMENTS_BAD, "phObject or pulObjectCount is NULL");
  std::lock_guard lock(s->mutex);
  auto* find = std::get_if<FindOperation>(&s->op);
  if (find == nullptr) return Fail(CKR_OPERATION_NOT_INITIALIZED, "C_FindObjectsInit first");
  CK_ULONG n = 0;
  while (n < ulMaxObjectCount && find->next < find->handles.size()) phObject[n++] = find->handles[find->next++];
  *pulObjectCount = n;
  return {};
}

Result<void> FindObjectsFinal(CK_SESSION_HANDLE hSession) {
  auto [p, s] = VT_TRY(EnterSession(hSession));
  std::lock_guard lock(s->mutex);
  if (!std::holds_alternative<FindOperation>(s->op)) return Fail(CKR_OPERATION_NOT_INITIALIZED, "no find operation");
  s->op = std::monostate{};
  return {};
}

Result<void> GetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE_PTR pTemplate,
                               CK_ULONG ulCount) {
  auto [p, s] = VT_TRY(EnterSession(hSession));
  if (pTemplate == nullptr && ulCount != 0) return Fail(CKR_ARGUMENTS_BAD, "pTemplate is NULL");
  auto object = VT_TRY(p->objects.Get(s->slot, hObject, CKR_OBJECT_HANDLE_INVALID));
  return ReadAttributes(*object, pTemplate, ulCount);
}

Result<void> GetObjectSize(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ULONG_PTR pulSize) {
  auto [p, s] = VT_TRY(EnterSession(hSession));
  if (pulSize == nullptr) return Fail(CKR_ARGUMENTS_BAD, "pulSize is NULL");
  auto object = VT_TRY(p->objects.Get(s->slot, hObject, CKR_OBJECT_HANDLE_INVALID));
  *pulSize = ObjectSize(*object);
  return {};
}

Result<void> SetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE_PTR pTemplate,
                               CK_ULONG ulCount) {
  auto [p, s] = VT_TRY(EnterSession(hSession));
  const wire::Attributes attrs = VT_TRY(CopyTemplate(pTemplate, ulCount));
  auto object = VT_TRY(p->objects.Get(s->slot, hObject, CKR_OBJECT_HANDLE_INVALID));
  if (object->IsToken() && !s->rw()) return Fail(CKR_SESSION_READ_ONLY, "token objects change only in R/W sessions");
  if (BoolIn(attrs, CKA_TOKEN).value_or(object->IsToken()) != object->IsToken() ||
      BoolIn(attrs, CKA_PRIVATE).value_or(object->IsPrivate()) != object->IsPrivate() ||
      (FindIn(attrs, CKA_CLASS) && object->Ulong(CKA_CLASS) && *FindIn(attrs, CKA_CLASS) != *object->Find(CKA_CLASS)))
    return Fail(CKR_ATTRIBUTE_READ_ONLY, "CKA_CLASS, CKA_TOKEN and CKA_PRIVATE cannot change");
  auto reply = VT_TRY(p->CallForSession(
      {{"op", "set_attributes"}, {"slot_id", s->slot}, {"oid", object->oid}, {"attrs", wire::EncodeAttributes(attrs)}}));
  if (const wire::Json* j = wire::Find(reply, "object")) {
    p->objects.Put(VT_TRY(ParseObject(s->slot, *j)));
  } else {
    p->objects.Invalidate(s->slot);
  }
  return {};
}

Result<void> CreateObject(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,
                          CK_OBJECT_HANDLE_PTR phObject) {
  auto [p, s] = VT_TRY(EnterSession(hSession));
  if (phObject == nullptr) return Fail(CKR_ARGUMENTS_BAD, "phObject is NULL");
  const wire::Attributes attrs = VT_TRY(CopyTemplate(pTemplate, ulCount));
  if (!FindIn(attrs, CKA_CLASS)) return Fail(CKR_TEMPLATE_INCOMPLETE, "CKA_CLASS is required");
  if (BoolIn(attrs, CKA_TOKEN).value_or(false) && !s->rw())
    return Fail(CKR_SESSION_READ_ONLY, "token objects are created only in R/W sessions");
  if (BoolIn(attrs, CKA_PRIVATE).value_or(false) && !p->logins.UserLoggedIn(s->slot))
    return Fail(CKR_USER_NOT_LOGGED_IN, "private objects need a user login");
  auto reply = VT_TRY(
      p->CallForSession({{"op", "create_object"}, {"slot_id", s->slot}, {"attrs", wire::EncodeAttributes(attrs)}}));
  *phObject = VT_TRY(Adopt(*p, *s, Field(reply, "object")));
  return {};
}

Result<void> DestroyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject) {
  auto [p, s] = VT_TRY(EnterSession(hSession));
  auto object = VT_TRY(p->objects.Get(s->slot, hObject, CKR_OBJECT_HANDLE_INVALID));
  if (object->IsToken() && !s->rw()) return Fail(CKR_SESSION_READ_ONLY, "token objects are destroyed only in R/W sessions");
  VT_TRY(p->CallForSession({{"op", "destroy_object"}, {"slot_id", s->slot}, {"oid", object->oid}}));
  p->objects.Erase(s->slot, object->oid);
  return {};
}

Result<void> GenerateKeyPair(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                             CK_ATTRIBUTE_PTR pPublicKeyTemplate, CK_ULONG ulPublicKeyAttributeCount,
                             CK_ATTRIBUTE_PTR pPrivateKeyTemplate, CK_ULONG ulPrivateKeyAttributeCount,
                             CK_OBJECT_HANDLE_PTR phPublicKey, CK_OBJECT_HANDLE_PTR phPrivateKey) {
  auto [p, s] = VT_TRY(EnterSession(hSession));
  if (pMechanism == nullptr || phPublicKey == nullptr || phPrivateKey == nullptr)
    return Fail(CKR_ARGUMENTS_BAD, "pMechanism, phPublicKey or phPrivateKey is NULL");
  if (pMechanism->mechanism != CKM_RSA_PKCS_KEY_PAIR_GEN && pMechanism->mechanism != CKM_EC_KEY_PAIR_GEN)
    return Fail(CKR_MECHANISM_INVALID, "only RSA and EC key pairs are generated");
  if (pMechanism->ulParameterLen != 0) return Fail(CKR_MECHANISM_PARAM_INVALID, "key pair generation takes no parameter");
  const wire::Attributes pub = VT_TRY(CopyTemplate(pPublicKeyTemplate, ulPublicKeyAttributeCount));
  const wire::Attributes priv = VT_TRY(CopyTemplate(pPrivateKeyTemplate, ulPrivateKeyAttributeCount));
  if ((BoolIn(pub, CKA_TOKEN).value_or(false) || BoolIn(priv, CKA_TOKEN).value_or(false)) && !s->rw())
    return Fail(CKR_SESSION_READ_ONLY, "token keys are generated only in R/W sessions");
  if (!p->logins.UserLoggedIn(s->slot)) return Fail(CKR_USER_NOT_LOGGED_IN, "key generation needs a user login");
  auto reply = VT_TRY(p->CallForSession({{"op", "generate_key_pair"},
                                         {"slot_id", s->slot},
                                         {"mechanism", pMechanism->mechanism},
                                         {"public_attrs", wire::EncodeAttributes(pub)},
                                         {"private_attrs", wire::EncodeAttributes(priv)}}));
  const CK_OBJECT_HANDLE public_handle = VT_TRY(Adopt(*p, *s, Field(reply, "public")));
  const CK_OBJECT_HANDLE private_handle = VT_TRY(Adopt(*p, *s, Field(reply, "private")));
  *phPublicKey = public_handle;
  *phPrivateKey = private_handle;
  return {};
}

}  // namespace vtoken::pkcs11
