// PIN and PUK operations of EmulatedToken. Every check is counted on disk
// before the comparison (see CheckSecret), so a crash never refunds a try.
#include <p11-kit/pkcs11.h>

#include "tokend/emulated/emulated_token.h"
#include "tokend/emulated/pin_policy.h"
#include "tokend/emulated/token_crypto.h"
#include "tokend/emulated/token_impl.h"

namespace vtoken::agent {

Result<SecureBytes> EmulatedToken::Impl::CheckSecret(const std::string& role, const Secret& secret) {
  const bool is_pin = role == kPinRole;
  if (counters.puk_tries <= 0) return Fail(CKR_PIN_LOCKED, "token is blocked: the PUK is locked");
  if (is_pin && !meta.pin_initialized) return Fail(CKR_USER_PIN_NOT_INITIALIZED, "the user PIN is not initialized");
  int& tries = is_pin ? counters.pin_tries : counters.puk_tries;
  const int max = is_pin ? meta.policy.pin_retries : meta.policy.puk_retries;
  const char* what = is_pin ? "PIN" : "PUK";
  if (tries <= 0) return Fail(CKR_PIN_LOCKED, std::string(what) + " is locked");
  auto wrapped = VT_TRY(store->LoadWrapped(role));
  if (!wrapped) return Fail(CKR_DEVICE_ERROR, std::string("token database lacks the ") + what + "-wrapped key");

  // 1. Spend the try, durably (synchronous=FULL commit), before comparing.
  --tries;
  if (auto r = SaveCounters(); !r) {
    ++tries;
    return std::unexpected(r.error());
  }
  // 2. The comparison is the unwrap: only the right secret opens the GCM tag.
  const SecureBytes kek = VT_TRY(DeriveKey(secret, wrapped->kdf));
  auto key = OpenGcm(kek, wrapped->sealed, WrapAad(role));
  if (!key) {
    if (key.error().rv != CKR_ENCRYPTED_DATA_INVALID) return std::unexpected(key.error());
    return Fail(CKR_PIN_INCORRECT,
                std::string("wrong ") + what + " (" + std::to_string(tries) + (tries == 1 ? " try" : " tries") + " left)");
  }
  if (key->size() != kTokenKeyBytes) return Fail(CKR_DEVICE_ERROR, "unwrapped token key has a wrong length");
  // 3. A match gives the tries back.
  tries = max;
  VT_CHECK(SaveCounters());
  return std::move(*key);
}

Result<void> EmulatedToken::LoginUser(const Secret& pin) {
  std::lock_guard lock(impl_->mu);
  impl_->token_key = VT_TRY(impl_->CheckSecret(kPinRole, pin));
  return {};
}

Result<void> EmulatedToken::LoginSo(const Secret& puk) {
  std::lock_guard lock(impl_->mu);
  impl_->token_key = VT_TRY(impl_->CheckSecret(kPukRole, puk));
  return {};
}

Result<void> EmulatedToken::InitPin(const Secret& new_pin) {
  std::lock_guard lock(impl_->mu);
  Impl& t = *impl_;
  if (t.counters.puk_tries <= 0) return Fail(CKR_PIN_LOCKED, "token is blocked: the PUK is locked");
  if (!t.token_key) return Fail(CKR_USER_NOT_LOGGED_IN, "C_InitPIN needs the security officer logged in");
  VT_CHECK(CheckPinPolicy(t.meta.policy, new_pin));
  return t.SetUserPin(*t.token_key, new_pin);
}

Result<void> EmulatedToken::ChangePin(const Secret& old_pin, const Secret& new_pin) {
  std::lock_guard lock(impl_->mu);
  Impl& t = *impl_;
  // A new PIN that breaks the policy costs no try.
  if (t.counters.puk_tries > 0 && t.meta.pin_initialized && t.counters.pin_tries > 0)
    VT_CHECK(CheckPinPolicy(t.meta.policy, new_pin));
  const SecureBytes key = VT_TRY(t.CheckSecret(kPinRole, old_pin));
  const WrappedKey wrap = VT_TRY(t.Wrap(key, kPinRole, new_pin));
  TokenMeta meta = t.meta;
  meta.pin_to_be_changed = false;
  auto txn = VT_TRY(Transaction::Begin(*t.store));
  VT_CHECK(t.store->SaveWrapped(kPinRole, wrap));
  VT_CHECK(t.store->SaveMeta(meta));
  VT_CHECK(txn.Commit());
  t.meta = meta;
  return {};
}

Result<void> EmulatedToken::ChangePuk(const Secret& old_puk, const Secret& new_puk) {
  std::lock_guard lock(impl_->mu);
  Impl& t = *impl_;
  if (t.counters.puk_tries > 0) VT_CHECK(CheckPinPolicy(t.meta.policy, new_puk));
  const SecureBytes key = VT_TRY(t.CheckSecret(kPukRole, old_puk));
  const WrappedKey wrap = VT_TRY(t.Wrap(key, kPukRole, new_puk));
  auto txn = VT_TRY(Transaction::Begin(*t.store));
  VT_CHECK(t.store->SaveWrapped(kPukRole, wrap));
  return txn.Commit();
}

Result<void> EmulatedToken::Unblock(const Secret& puk, const Secret& new_pin) {
  std::lock_guard lock(impl_->mu);
  Impl& t = *impl_;
  if (t.counters.puk_tries > 0) VT_CHECK(CheckPinPolicy(t.meta.policy, new_pin));
  const SecureBytes key = VT_TRY(t.CheckSecret(kPukRole, puk));
  return t.SetUserPin(key, new_pin);  // the holder of the PUK chose this PIN
}

Result<void> EmulatedToken::Reinitialize(const Secret& puk, const std::string& label) {
  std::lock_guard lock(impl_->mu);
  Impl& t = *impl_;
  VT_CHECK(CheckTokenLabel(label));
  (void)VT_TRY(t.CheckSecret(kPukRole, puk));
  // A new token key: whatever was sealed under the old one is gone for good.
  const SecureBytes key = VT_TRY(RandomSecret(kTokenKeyBytes));
  const WrappedKey wrap = VT_TRY(t.Wrap(key, kPukRole, puk));
  TokenMeta meta = t.meta;
  meta.label = label;
  meta.pin_initialized = false;
  meta.pin_to_be_changed = false;
  TokenCounters counters = t.counters;
  counters.pin_tries = meta.policy.pin_retries;
  auto txn = VT_TRY(Transaction::Begin(*t.store));
  VT_CHECK(t.store->DeleteAllObjects());
  VT_CHECK(t.store->DeleteWrapped(kPinRole));
  VT_CHECK(t.store->SaveWrapped(kPukRole, wrap));
  VT_CHECK(t.store->SaveMeta(meta));
  VT_CHECK(t.store->SaveCounters(counters));
  VT_CHECK(txn.Commit());
  t.meta = meta;
  t.counters = counters;
  t.objects.clear();
  t.ForgetKeys();
  ++t.generation;
  return {};
}

}  // namespace vtoken::agent
