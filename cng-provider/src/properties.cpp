// Provider and key properties (NCryptGetProperty / NCryptSetProperty).
// Properties are answered from the key's snapshot: no agent round trip.
#include <cstring>
#include <string_view>

#include "cng-provider/src/log.h"
#include "cng-provider/src/provider.h"
#include "cng-provider/src/wide.h"

namespace vtoken::ksp {
namespace {

// Not in mingw-w64's ncrypt.h.
constexpr wchar_t kEccCurveNameProperty[] = L"ECCCurveName";  // NCRYPT_ECC_CURVE_NAME_PROPERTY
constexpr DWORD kImplType = NCRYPT_IMPL_HARDWARE_FLAG | NCRYPT_IMPL_REMOVABLE_FLAG;  // a (virtual) token, like a smart card
constexpr DWORD kVersion = 0x00010000;  // 1.0
constexpr DWORD kMaxNameLength = 512;
// Security-descriptor parts (OWNER_, GROUP_, DACL_, SACL_SECURITY_INFORMATION) may accompany a get.
constexpr DWORD kGetFlags = NCRYPT_PERSIST_ONLY_FLAG | NCRYPT_SILENT_FLAG | 0x0000000F;
constexpr DWORD kSetFlags = NCRYPT_PERSIST_FLAG | NCRYPT_PERSIST_ONLY_FLAG | NCRYPT_SILENT_FLAG;

std::vector<std::uint8_t> Dword(DWORD v) {
  std::vector<std::uint8_t> out(sizeof v);
  std::memcpy(out.data(), &v, sizeof v);
  return out;
}

template <class T>
std::vector<std::uint8_t> Pod(const T& v) {
  std::vector<std::uint8_t> out(sizeof v);
  std::memcpy(out.data(), &v, sizeof v);
  return out;
}

KspResult<void> CheckGet(LPCWSTR property, DWORD flags) {
  if (!property) return KspFail(Status::kInvalidParameter, "pszProperty is NULL");
  if (flags & ~kGetFlags) return KspFail(Status::kBadFlags, "unsupported flags for a property read");
  return {};
}

KspResult<void> CheckSet(LPCWSTR property, PBYTE in, DWORD cb_in, DWORD flags) {
  if (!property) return KspFail(Status::kInvalidParameter, "pszProperty is NULL");
  if (!in && cb_in) return KspFail(Status::kInvalidParameter, "pbInput is NULL");
  if (flags & ~kSetFlags) return KspFail(Status::kBadFlags, "unsupported flags for a property write");
  return {};
}

// An empty PIN clears it; the value never leaves the provider again.
void StorePin(std::mutex& mu, std::optional<Secret>& slot, PBYTE in, DWORD cb_in) {
  Secret pin = in ? PinFromProperty(in, cb_in) : Secret();
  std::lock_guard lock(mu);
  if (pin.empty()) slot.reset();
  else slot = std::move(pin);
}

}  // namespace

KspResult<void> Ksp::GetProviderProperty(NCRYPT_PROV_HANDLE hp, LPCWSTR property, PBYTE out, DWORD cb_out, DWORD* pcb, DWORD flags) {
  VT_TRY(Provider(hp));
  VT_CHECK(CheckGet(property, flags));
  const std::wstring_view name(property);
  if (name == NCRYPT_NAME_PROPERTY) return CopyOut(WideBytes(kProviderName), out, cb_out, pcb);
  if (name == NCRYPT_IMPL_TYPE_PROPERTY) return CopyOut(Dword(kImplType), out, cb_out, pcb);
  if (name == NCRYPT_VERSION_PROPERTY) return CopyOut(Dword(kVersion), out, cb_out, pcb);
  if (name == NCRYPT_MAX_NAME_LENGTH_PROPERTY) return CopyOut(Dword(kMaxNameLength), out, cb_out, pcb);
  return KspFail(Status::kNotSupported, "provider property '" + Narrow(name) + "' is not supported");
}

KspResult<void> Ksp::SetProviderProperty(NCRYPT_PROV_HANDLE hp, LPCWSTR property, PBYTE in, DWORD cb_in, DWORD flags) {
  auto provider = VT_TRY(Provider(hp));
  VT_CHECK(CheckSet(property, in, cb_in, flags));
  const std::wstring_view name(property);
  if (name == NCRYPT_PIN_PROPERTY) {
    StorePin(provider->mu, provider->pin, in, cb_in);
    return {};
  }
  if (name == NCRYPT_WINDOW_HANDLE_PROPERTY || name == NCRYPT_USE_CONTEXT_PROPERTY) return {};  // for prompts; the agent owns them
  return KspFail(Status::kNotSupported, "provider property '" + Narrow(name) + "' cannot be set");
}

KspResult<void> Ksp::GetKeyProperty(NCRYPT_PROV_HANDLE hp, NCRYPT_KEY_HANDLE hk, LPCWSTR property, PBYTE out, DWORD cb_out,
                                    DWORD* pcb, DWORD flags) {
  auto key = VT_TRY(Key(hp, hk));
  VT_CHECK(CheckGet(property, flags));
  const KeyInfo& k = key->info;
  const bool rsa = k.kind == KeyKind::kRsa;
  const std::wstring_view name(property);
  if (name == NCRYPT_NAME_PROPERTY || name == NCRYPT_UNIQUE_NAME_PROPERTY) return CopyOut(WideBytes(Widen(k.name)), out, cb_out, pcb);
  if (name == NCRYPT_ALGORITHM_GROUP_PROPERTY)
    return CopyOut(WideBytes(rsa ? NCRYPT_RSA_ALGORITHM_GROUP : NCRYPT_ECDSA_ALGORITHM_GROUP), out, cb_out, pcb);
  if (name == NCRYPT_ALGORITHM_PROPERTY) return CopyOut(WideBytes(rsa ? NCRYPT_RSA_ALGORITHM : k.curve->cng_alg), out, cb_out, pcb);
  if (name == NCRYPT_LENGTH_PROPERTY) return CopyOut(Dword(k.bits), out, cb_out, pcb);
  if (name == NCRYPT_LENGTHS_PROPERTY) return CopyOut(Pod(NCRYPT_SUPPORTED_LENGTHS{k.bits, k.bits, 0, k.bits}), out, cb_out, pcb);
  if (name == NCRYPT_BLOCK_LENGTH_PROPERTY) return CopyOut(Dword(static_cast<DWORD>(k.SignatureBytes())), out, cb_out, pcb);
  if (name == kEccCurveNameProperty) {
    if (rsa) return KspFail(Status::kNotSupported, "an RSA key has no curve");
    return CopyOut(WideBytes(k.curve->cng_curve), out, cb_out, pcb);
  }
  if (name == NCRYPT_CERTIFICATE_PROPERTY) {
    if (k.certificate.empty()) return KspFail(Status::kNotFound, "token " + k.serial + " holds no certificate for " + k.name);
    return CopyOut(k.certificate, out, cb_out, pcb);
  }
  if (name == NCRYPT_EXPORT_POLICY_PROPERTY) return CopyOut(Dword(0), out, cb_out, pcb);  // the private key never leaves the token
  if (name == NCRYPT_KEY_USAGE_PROPERTY) return CopyOut(Dword(NCRYPT_ALLOW_SIGNING_FLAG), out, cb_out, pcb);
  if (name == NCRYPT_KEY_TYPE_PROPERTY) return CopyOut(Dword(0), out, cb_out, pcb);  // a user key, not NCRYPT_MACHINE_KEY_FLAG
  if (name == NCRYPT_IMPL_TYPE_PROPERTY) return CopyOut(Dword(kImplType), out, cb_out, pcb);
  if (name == NCRYPT_PROVIDER_HANDLE_PROPERTY) return CopyOut(Pod(NCRYPT_PROV_HANDLE{hp}), out, cb_out, pcb);
  if (name == NCRYPT_PIN_PROPERTY) return KspFail(Status::kNotSupported, "a PIN can be set, never read");
  return KspFail(Status::kNotSupported, "key property '" + Narrow(name) + "' is not supported");
}

KspResult<void> Ksp::SetKeyProperty(NCRYPT_PROV_HANDLE hp, NCRYPT_KEY_HANDLE hk, LPCWSTR property, PBYTE in, DWORD cb_in,
                                    DWORD flags) {
  auto key = VT_TRY(Key(hp, hk));
  VT_CHECK(CheckSet(property, in, cb_in, flags));
  const std::wstring_view name(property);
  if (name == NCRYPT_PIN_PROPERTY) {
    StorePin(key->mu, key->pin, in, cb_in);
    return {};
  }
  if (name == NCRYPT_WINDOW_HANDLE_PROPERTY || name == NCRYPT_USE_CONTEXT_PROPERTY) return {};
  return KspFail(Status::kNotSupported, "key property '" + Narrow(name) + "' cannot be set on a token key");
}

}  // namespace vtoken::ksp
