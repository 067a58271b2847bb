// Objects of EmulatedToken: listing, creating, destroying, changing; token
// objects are stored in the database, session objects (CKA_TOKEN=FALSE) live
// in memory under their owner's id. Both take oids from the same counter.
#include <p11-kit/pkcs11.h>

#include "tokend/emulated/emulated_token.h"
#include "tokend/emulated/object_attributes.h"
#include "tokend/emulated/token_crypto.h"
#include "tokend/emulated/token_impl.h"

namespace vtoken::agent {

Result<std::vector<ObjectView>> EmulatedToken::Impl::Insert(std::vector<std::pair<Object, SharedKey>> items) {
  for (auto& [o, key] : items) {
    if (o.is_token && key && !token_key)
      return Fail(CKR_USER_NOT_LOGGED_IN, "storing a private key needs the user logged in");
  }
  for (auto& [o, key] : items) {
    o.oid = VT_TRY(AllocateOid());
    if (!key) continue;
    if (o.is_token) {
      const SecureBytes der = VT_TRY(PrivateKeyToPkcs8(key.get()));
      o.sealed_key = VT_TRY(SealGcm(*token_key, der, ObjectAad(o.oid)));
    } else {
      o.session_key = key;
    }
  }
  bool any_token = false;
  for (auto& [o, key] : items) any_token = any_token || o.is_token;
  if (any_token) {
    auto txn = VT_TRY(Transaction::Begin(*store));
    for (auto& [o, key] : items)
      if (o.is_token) VT_CHECK(store->PutObject(StoredObject{o.oid, EncodeAttrBlob(ToWire(o.attrs)), o.sealed_key}));
    VT_CHECK(txn.Commit());
  }
  std::vector<ObjectView> views;
  for (auto& [o, key] : items) {
    if (o.is_token && key) key_cache[o.oid] = key;
    views.push_back(View(o));
    const std::uint64_t oid = o.oid;
    objects.emplace(oid, std::move(o));
  }
  ++generation;
  return views;
}

Result<SharedKey> EmulatedToken::Impl::PrivateKey(const Object& o) {
  if (!token_key) return Fail(CKR_USER_NOT_LOGGED_IN, "the token is locked: log in first");
  if (o.session_key) return o.session_key;
  if (auto it = key_cache.find(o.oid); it != key_cache.end()) return it->second;
  if (o.sealed_key.empty()) return Fail(CKR_GENERAL_ERROR, "private key object without key material");
  auto der = OpenGcm(*token_key, o.sealed_key, ObjectAad(o.oid));
  if (!der) return Fail(CKR_DEVICE_ERROR, "stored private key fails its integrity check");
  SharedKey key = ShareKey(VT_TRY(PrivateKeyFromPkcs8(*der)));
  key_cache[o.oid] = key;
  return key;
}

std::vector<ObjectView> EmulatedToken::Objects(bool user, std::uint64_t owner) const {
  std::lock_guard lock(impl_->mu);
  std::vector<ObjectView> out;
  for (const auto& [oid, o] : impl_->objects) {
    if (!o.is_token && o.owner != owner) continue;
    if (o.is_private && !user) continue;
    out.push_back(impl_->View(o));
  }
  return out;
}

Result<ObjectView> EmulatedToken::CreateObject(const wire::Attributes& attrs, bool user, std::uint64_t owner) {
  const AttrMap tmpl = VT_TRY(ParseTemplate(attrs));
  NewObject built = VT_TRY(BuildObject(tmpl));
  Object o;
  o.attrs = std::move(built.attrs);
  o.sensitive = std::move(built.sensitive);
  o.is_token = *GetBool(o.attrs, CKA_TOKEN);
  o.is_private = *GetBool(o.attrs, CKA_PRIVATE);
  o.owner = o.is_token ? 0 : owner;
  if (o.is_private && !user) return Fail(CKR_USER_NOT_LOGGED_IN, "creating a private object needs the user logged in");
  SharedKey key = built.private_key ? ShareKey(std::move(built.private_key)) : nullptr;
  std::lock_guard lock(impl_->mu);
  std::vector<std::pair<Object, SharedKey>> items;
  items.emplace_back(std::move(o), std::move(key));
  auto views = VT_TRY(impl_->Insert(std::move(items)));
  return std::move(views.front());
}

Result<void> EmulatedToken::DestroyObject(std::uint64_t oid, bool user, std::uint64_t owner) {
  std::lock_guard lock(impl_->mu);
  Impl& t = *impl_;
  Object* o = t.FindVisible(oid, user, owner);
  if (!o) return Fail(CKR_OBJECT_HANDLE_INVALID, "no such object");
  if (!GetBool(o->attrs, CKA_DESTROYABLE).value_or(true))
    return Fail(CKR_ACTION_PROHIBITED, "object is not destroyable");
  if (o->is_token) {
    auto txn = VT_TRY(Transaction::Begin(*t.store));
    VT_CHECK(t.store->DeleteObject(oid));
    VT_CHECK(txn.Commit());
  }
  t.key_cache.erase(oid);
  t.objects.erase(oid);
  ++t.generation;
  return {};
}

Result<ObjectView> EmulatedToken::SetAttributes(std::uint64_t oid, const wire::Attributes& attrs, bool user,
                                                std::uint64_t owner) {
  const AttrMap changes = VT_TRY(ParseTemplate(attrs));
  std::lock_guard lock(impl_->mu);
  Impl& t = *impl_;
  Object* o = t.FindVisible(oid, user, owner);
  if (!o) return Fail(CKR_OBJECT_HANDLE_INVALID, "no such object");
  AttrMap updated = VT_TRY(ApplyAttributeChanges(o->attrs, changes, o->sensitive));
  if (o->is_token) {
    auto txn = VT_TRY(Transaction::Begin(*t.store));
    VT_CHECK(t.store->PutObject(StoredObject{oid, EncodeAttrBlob(ToWire(updated)), o->sealed_key}));
    VT_CHECK(txn.Commit());
  }
  o->attrs = std::move(updated);
  ++t.generation;
  return t.View(*o);
}

void EmulatedToken::DropSessionObjects(std::uint64_t owner) {
  std::lock_guard lock(impl_->mu);
  const auto dropped = std::erase_if(impl_->objects, [&](const auto& kv) {
    return !kv.second.is_token && kv.second.owner == owner;
  });
  if (dropped) ++impl_->generation;
}

}  // namespace vtoken::agent
