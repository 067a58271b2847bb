// EmulatedToken: creation, opening, Info() and the shared helpers of Impl.
// PIN/PUK operations are in token_pins.cpp, objects in token_objects.cpp,
// key operations in key_ops.cpp.
#include "tokend/emulated/emulated_token.h"

#include <fcntl.h>
#include <p11-kit/pkcs11.h>
#include <unistd.h>

#include "tokend/emulated/object_attributes.h"
#include "tokend/emulated/pin_policy.h"
#include "tokend/emulated/token_crypto.h"
#include "tokend/emulated/token_impl.h"

namespace vtoken::agent {
namespace {

// Oids are reserved on disk in blocks, so session objects (which are never
// stored) still never reuse an oid after a restart, without a write each.
constexpr std::uint64_t kOidBlock = 64;

void SyncDirectory(const std::filesystem::path& file) {
  int fd = ::open(file.parent_path().empty() ? "." : file.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

std::shared_ptr<EVP_PKEY> ShareKey(ossl::PKey key) { return std::shared_ptr<EVP_PKEY>(key.release(), EVP_PKEY_free); }

EmulatedToken::EmulatedToken() : impl_(std::make_unique<Impl>()) {}
EmulatedToken::~EmulatedToken() = default;

Result<std::unique_ptr<EmulatedToken>> EmulatedToken::Create(const std::filesystem::path& db, std::uint64_t slot_id,
                                                             const std::string& name, const std::string& label,
                                                             const Secret& puk, const std::optional<Secret>& pin,
                                                             const TokenPolicy& policy) {
  VT_CHECK(CheckPolicy(policy));
  VT_CHECK(CheckTokenName(name));
  VT_CHECK(CheckTokenLabel(label));
  VT_CHECK(CheckPinPolicy(policy, puk));
  if (pin) VT_CHECK(CheckPinPolicy(policy, *pin));

  std::unique_ptr<EmulatedToken> token(new EmulatedToken());
  Impl& t = *token->impl_;
  t.path = db;
  t.meta.name = name;
  t.meta.label = label;
  t.meta.serial = VT_TRY(RandomHex(16));
  t.meta.slot_id = slot_id;
  t.meta.policy = policy;
  t.meta.pin_initialized = pin.has_value();
  t.meta.pin_to_be_changed = pin.has_value();
  t.counters = TokenCounters{policy.pin_retries, policy.puk_retries, t.next_oid};
  const SecureBytes token_key = VT_TRY(RandomSecret(kTokenKeyBytes));
  const WrappedKey puk_wrap = VT_TRY(t.Wrap(token_key, kPukRole, puk));
  std::optional<WrappedKey> pin_wrap;
  if (pin) pin_wrap = VT_TRY(t.Wrap(token_key, kPinRole, *pin));

  t.store = VT_TRY(Store::Create(db));
  auto fill = [&]() -> Result<void> {
    auto txn = VT_TRY(Transaction::Begin(*t.store));
    VT_CHECK(t.store->SaveMeta(t.meta));
    VT_CHECK(t.store->SaveCounters(t.counters));
    VT_CHECK(t.store->SaveWrapped(kPukRole, puk_wrap));
    if (pin_wrap) VT_CHECK(t.store->SaveWrapped(kPinRole, *pin_wrap));
    return txn.Commit();
  };
  if (auto r = fill(); !r) {
    t.store.reset();
    std::error_code ec;
    std::filesystem::remove(db, ec);
    return std::unexpected(r.error());
  }
  SyncDirectory(db);
  return token;
}

Result<std::unique_ptr<EmulatedToken>> EmulatedToken::Open(const std::filesystem::path& db) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(db, ec)) return Fail(CKR_ARGUMENTS_BAD, "no token database at " + db.string());
  std::unique_ptr<EmulatedToken> token(new EmulatedToken());
  Impl& t = *token->impl_;
  t.path = db;
  t.store = VT_TRY(Store::Open(db));
  t.meta = VT_TRY(t.store->LoadMeta());
  t.counters = VT_TRY(t.store->LoadCounters());
  if (!VT_TRY(t.store->LoadWrapped(kPukRole))) return Fail(CKR_DEVICE_ERROR, "token database lacks the PUK-wrapped key");
  t.next_oid = t.counters.oid_reserved;
  for (auto& stored : VT_TRY(t.store->LoadObjects())) {
    Object o;
    o.oid = stored.oid;
    for (auto& [type, value] : VT_TRY(DecodeAttrBlob(stored.attrs))) o.attrs[type] = std::move(value);
    o.is_token = true;
    o.is_private = GetBool(o.attrs, CKA_PRIVATE).value_or(true);
    if (GetUlong(o.attrs, CKA_CLASS) == CKO_PRIVATE_KEY)
      o.sensitive = SensitiveTypes(GetUlong(o.attrs, CKA_KEY_TYPE).value_or(CKK_RSA));
    o.sealed_key = std::move(stored.sealed_key);
    if (o.oid >= t.next_oid) t.next_oid = o.oid + 1;
    t.objects.emplace(o.oid, std::move(o));
  }
  return token;
}

TokenInfo EmulatedToken::Info() const {
  std::lock_guard lock(impl_->mu);
  const Impl& t = *impl_;
  TokenInfo info;
  info.name = t.meta.name;
  info.label = t.meta.label;
  info.serial = t.meta.serial;
  info.slot_id = t.meta.slot_id;
  info.min_pin = t.meta.policy.pin_min;
  info.max_pin = t.meta.policy.pin_max;
  info.pin_tries_left = t.counters.pin_tries;
  info.puk_tries_left = t.counters.puk_tries;
  unsigned long f = CKF_RNG | CKF_LOGIN_REQUIRED | CKF_TOKEN_INITIALIZED;
  // COUNT_LOW: a wrong value since the last success (PKCS#11 v2.40), which
  // is exactly "tries left below the maximum": success restores the maximum.
  auto counter_flags = [](int left, int max, unsigned long low, unsigned long final_try, unsigned long locked) {
    unsigned long out = 0;
    if (left < max) out |= low;
    if (left == 1) out |= final_try;
    if (left <= 0) out |= locked;
    return out;
  };
  if (t.meta.pin_initialized) {
    f |= CKF_USER_PIN_INITIALIZED;
    if (t.meta.pin_to_be_changed) f |= CKF_USER_PIN_TO_BE_CHANGED;
    f |= counter_flags(t.counters.pin_tries, t.meta.policy.pin_retries, CKF_USER_PIN_COUNT_LOW,
                       CKF_USER_PIN_FINAL_TRY, CKF_USER_PIN_LOCKED);
  }
  f |= counter_flags(t.counters.puk_tries, t.meta.policy.puk_retries, CKF_SO_PIN_COUNT_LOW, CKF_SO_PIN_FINAL_TRY,
                     CKF_SO_PIN_LOCKED);
  // A blocked token (PUK locked) refuses the user PIN too.
  if (t.counters.puk_tries <= 0) f |= CKF_USER_PIN_LOCKED;
  info.flags = f;
  return info;
}

void EmulatedToken::Lock() {
  std::lock_guard lock(impl_->mu);
  impl_->ForgetKeys();
}

bool EmulatedToken::IsPinLocked() const {
  std::lock_guard lock(impl_->mu);
  return impl_->counters.pin_tries <= 0 || impl_->counters.puk_tries <= 0;
}

std::uint64_t EmulatedToken::generation() const {
  std::lock_guard lock(impl_->mu);
  return impl_->generation;
}

// --- Impl helpers ---

std::string EmulatedToken::Impl::WrapAad(const std::string& role) const {
  return "vtoken token key v1|" + role + "|" + meta.serial;
}

std::string EmulatedToken::Impl::ObjectAad(std::uint64_t oid) const {
  return "vtoken private key v1|" + meta.serial + "|" + std::to_string(oid);
}

Result<void> EmulatedToken::Impl::SaveCounters() {
  auto txn = VT_TRY(Transaction::Begin(*store));
  VT_CHECK(store->SaveCounters(counters));
  return txn.Commit();
}

Result<WrappedKey> EmulatedToken::Impl::Wrap(const SecureBytes& key, const std::string& role,
                                             const Secret& secret) const {
  WrappedKey w;
  w.kdf = VT_TRY(NewKdfParams(meta.policy));
  const SecureBytes kek = VT_TRY(DeriveKey(secret, w.kdf));
  w.sealed = VT_TRY(SealGcm(kek, key, WrapAad(role)));
  return w;
}

Result<void> EmulatedToken::Impl::SetUserPin(const SecureBytes& token_key, const Secret& new_pin) {
  const WrappedKey wrap = VT_TRY(Wrap(token_key, kPinRole, new_pin));
  TokenMeta new_meta = meta;
  new_meta.pin_initialized = true;
  new_meta.pin_to_be_changed = false;
  TokenCounters new_counters = counters;
  new_counters.pin_tries = new_meta.policy.pin_retries;
  auto txn = VT_TRY(Transaction::Begin(*store));
  VT_CHECK(store->SaveWrapped(kPinRole, wrap));
  VT_CHECK(store->SaveMeta(new_meta));
  VT_CHECK(store->SaveCounters(new_counters));
  VT_CHECK(txn.Commit());
  meta = new_meta;
  counters = new_counters;
  return {};
}

Result<std::uint64_t> EmulatedToken::Impl::AllocateOid() {
  if (next_oid >= counters.oid_reserved) {
    const std::uint64_t old = counters.oid_reserved;
    counters.oid_reserved = next_oid + kOidBlock;
    if (auto r = SaveCounters(); !r) {
      counters.oid_reserved = old;
      return std::unexpected(r.error());
    }
  }
  return next_oid++;
}

void EmulatedToken::Impl::ForgetKeys() {
  token_key.reset();  // SecureBytes: wiped on free
  key_cache.clear();  // EVP_PKEY_free clears private bignums
}

Object* EmulatedToken::Impl::FindVisible(std::uint64_t oid, bool user, std::uint64_t owner) {
  auto it = objects.find(oid);
  if (it == objects.end()) return nullptr;
  Object& o = it->second;
  if (!o.is_token && o.owner != owner) return nullptr;
  if (o.is_private && !user) return nullptr;
  return &o;
}

ObjectView EmulatedToken::Impl::View(const Object& o) const {
  ObjectView v;
  v.oid = o.oid;
  v.attrs = ToWire(o.attrs);
  v.sensitive = o.sensitive;
  v.is_private = o.is_private;
  v.is_token = o.is_token;
  return v;
}

}  // namespace vtoken::agent
