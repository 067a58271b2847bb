// Provider and key handles, key enumeration, buffers, algorithms.
#include "cng-provider/src/provider.h"

#include <cstring>
#include <new>

#include "cng-provider/src/log.h"
#include "cng-provider/src/wide.h"

namespace vtoken::ksp {

// Keys offered as signature keys; CAPI-era callers expect a legacy spec.
constexpr DWORD kLegacyKeySpec = AT_SIGNATURE;

struct Ksp::EnumState {
  std::vector<std::pair<std::wstring, std::wstring>> keys;  // name, algorithm
  std::size_t next = 0;
};

Ksp& Ksp::Instance() {
  static Ksp* ksp = new Ksp();  // never destroyed: callers may race DLL unload
  return *ksp;
}

KspResult<void> CopyOut(std::span<const std::uint8_t> value, PBYTE out, DWORD cb_out, DWORD* pcb_result) {
  if (!pcb_result) return KspFail(Status::kInvalidParameter, "pcbResult is NULL");
  if (value.size() > 0xffffffffu) return KspFail(Status::kInternal, "value too large");
  *pcb_result = static_cast<DWORD>(value.size());
  if (!out) return {};
  if (cb_out < value.size())
    return KspFail(Status::kBufferTooSmall, std::to_string(value.size()) + " bytes needed, " + std::to_string(cb_out) + " given");
  if (!value.empty()) std::memcpy(out, value.data(), value.size());
  return {};
}

KspResult<std::shared_ptr<ProviderState>> Ksp::Provider(NCRYPT_PROV_HANDLE hp) {
  auto p = providers_.Get(hp);
  if (!p) return KspFail(Status::kInvalidHandle, "not a live vtoken provider handle");
  return p;
}

KspResult<std::shared_ptr<KeyState>> Ksp::Key(NCRYPT_PROV_HANDLE hp, NCRYPT_KEY_HANDLE hk) {
  VT_TRY(Provider(hp));
  auto k = keys_.Get(hk);
  if (!k) return KspFail(Status::kInvalidHandle, "not a live vtoken key handle");
  if (k->provider != hp) return KspFail(Status::kInvalidHandle, "the key handle belongs to another provider handle");
  return k;
}

KspResult<void> Ksp::OpenProvider(NCRYPT_PROV_HANDLE* ph_provider, LPCWSTR /*name: the router's alias*/, DWORD flags) {
  if (!ph_provider) return KspFail(Status::kInvalidParameter, "phProvider is NULL");
  if (flags & ~DWORD{NCRYPT_SILENT_FLAG}) return KspFail(Status::kBadFlags, "OpenProvider takes only NCRYPT_SILENT_FLAG");
  auto state = std::make_shared<ProviderState>();
  state->silent = (flags & NCRYPT_SILENT_FLAG) != 0;
  *ph_provider = providers_.Add(std::move(state));
  return {};
}

KspResult<void> Ksp::FreeProvider(NCRYPT_PROV_HANDLE h) {
  if (!providers_.Remove(h)) return KspFail(Status::kInvalidHandle, "not a live vtoken provider handle");
  return {};
}

KspResult<void> Ksp::OpenKey(NCRYPT_PROV_HANDLE hp, NCRYPT_KEY_HANDLE* ph_key, LPCWSTR name, DWORD legacy_spec, DWORD flags) {
  auto provider = VT_TRY(Provider(hp));
  if (!ph_key || !name) return KspFail(Status::kInvalidParameter, "phKey or pszKeyName is NULL");
  if (flags & ~DWORD{NCRYPT_MACHINE_KEY_FLAG | NCRYPT_SILENT_FLAG})
    return KspFail(Status::kBadFlags, "OpenKey takes only NCRYPT_MACHINE_KEY_FLAG and NCRYPT_SILENT_FLAG");
  if (legacy_spec != 0 && legacy_spec != AT_KEYEXCHANGE && legacy_spec != AT_SIGNATURE)
    return KspFail(Status::kInvalidParameter, "dwLegacyKeySpec must be 0, AT_KEYEXCHANGE or AT_SIGNATURE");
  if (flags & NCRYPT_MACHINE_KEY_FLAG)
    return KspFail(Status::kBadKeyset, "vtoken keys belong to the user; there are no machine keys");
  KeyInfo info = VT_TRY(FindKey(Agent(), Narrow(name)));
  auto key = std::make_shared<KeyState>();
  key->provider = hp;
  key->provider_state = provider;
  key->info = std::move(info);
  key->silent = (flags & NCRYPT_SILENT_FLAG) != 0;
  *ph_key = keys_.Add(std::move(key));
  return {};
}

KspResult<void> Ksp::FreeKey(NCRYPT_PROV_HANDLE hp, NCRYPT_KEY_HANDLE hk) {
  VT_TRY(Key(hp, hk));
  keys_.Remove(hk);
  return {};
}

void* Ksp::AllocateBuffer(std::size_t bytes) {
  auto block = std::make_unique<std::uint8_t[]>(bytes);
  void* p = block.get();
  std::lock_guard lock(buffers_mu_);
  buffers_.emplace(p, std::move(block));
  return p;
}

KspResult<void> Ksp::FreeBuffer(PVOID p) {
  if (!p) return KspFail(Status::kInvalidParameter, "FreeBuffer(NULL)");
  std::lock_guard lock(buffers_mu_);
  if (buffers_.erase(p) || enum_states_.erase(p)) return {};
  return KspFail(Status::kInvalidParameter, "FreeBuffer of memory this provider did not hand out");
}

KspResult<void> Ksp::EnumKeys(NCRYPT_PROV_HANDLE hp, LPCWSTR scope, NCryptKeyName** pp_key_name, PVOID* pp_enum_state, DWORD flags) {
  VT_TRY(Provider(hp));
  if (!pp_key_name || !pp_enum_state) return KspFail(Status::kInvalidParameter, "ppKeyName or ppEnumState is NULL");
  if (flags & ~DWORD{NCRYPT_MACHINE_KEY_FLAG | NCRYPT_SILENT_FLAG})
    return KspFail(Status::kBadFlags, "EnumKeys takes only NCRYPT_MACHINE_KEY_FLAG and NCRYPT_SILENT_FLAG");
  if (scope && *scope) return KspFail(Status::kNotSupported, "vtoken keys have no scopes");
  EnumState* state = nullptr;
  if (*pp_enum_state) {
    std::lock_guard lock(buffers_mu_);
    auto it = enum_states_.find(*pp_enum_state);
    if (it == enum_states_.end()) return KspFail(Status::kInvalidParameter, "ppEnumState is not an enumeration of this provider");
    state = it->second.get();
  } else {
    auto fresh = std::make_unique<EnumState>();
    if (!(flags & NCRYPT_MACHINE_KEY_FLAG)) {
      auto keys = ListKeys(Agent());
      if (!keys) {
        Log("EnumKeys: no keys listed: " + Describe(keys.error()));  // no agent = no keys, not an error
      } else {
        for (const auto& k : *keys)
          fresh->keys.emplace_back(Widen(k.name), k.kind == KeyKind::kRsa ? std::wstring(NCRYPT_RSA_ALGORITHM) : std::wstring(k.curve->cng_alg));
      }
    }
    state = fresh.get();
    std::lock_guard lock(buffers_mu_);
    enum_states_.emplace(state, std::move(fresh));
    *pp_enum_state = state;
  }
  if (state->next >= state->keys.size()) return KspFail(Status::kNoMoreItems, "");
  const auto& [name, alg] = state->keys[state->next++];
  const std::size_t name_bytes = (name.size() + 1) * sizeof(wchar_t), alg_bytes = (alg.size() + 1) * sizeof(wchar_t);
  auto* block = static_cast<std::uint8_t*>(AllocateBuffer(sizeof(NCryptKeyName) + name_bytes + alg_bytes));
  auto* out = reinterpret_cast<NCryptKeyName*>(block);
  out->pszName = reinterpret_cast<LPWSTR>(block + sizeof(NCryptKeyName));
  out->pszAlgid = reinterpret_cast<LPWSTR>(block + sizeof(NCryptKeyName) + name_bytes);
  std::memcpy(out->pszName, name.c_str(), name_bytes);
  std::memcpy(out->pszAlgid, alg.c_str(), alg_bytes);
  out->dwLegacyKeySpec = kLegacyKeySpec;
  out->dwFlags = 0;
  *pp_key_name = out;
  return {};
}

namespace {
constexpr const wchar_t* kAlgorithms[] = {NCRYPT_RSA_ALGORITHM, NCRYPT_ECDSA_P256_ALGORITHM, NCRYPT_ECDSA_P384_ALGORITHM,
                                          NCRYPT_ECDSA_P521_ALGORITHM};
}

KspResult<void> Ksp::IsAlgSupported(NCRYPT_PROV_HANDLE hp, LPCWSTR alg, DWORD flags) {
  VT_TRY(Provider(hp));
  if (!alg) return KspFail(Status::kInvalidParameter, "pszAlgId is NULL");
  if (flags & ~DWORD{NCRYPT_SILENT_FLAG}) return KspFail(Status::kBadFlags, "IsAlgSupported takes only NCRYPT_SILENT_FLAG");
  for (const wchar_t* a : kAlgorithms)
    if (std::wstring_view(alg) == a) return {};
  if (std::wstring_view(alg) == L"ECDSA") return {};  // NCRYPT_ECDSA_ALGORITHM (Windows 10)
  return KspFail(Status::kNotSupported, "vtoken keys are RSA and ECDSA (P-256, P-384, P-521)");
}

KspResult<void> Ksp::EnumAlgorithms(NCRYPT_PROV_HANDLE hp, DWORD operations, DWORD* count, NCryptAlgorithmName** list, DWORD flags) {
  VT_TRY(Provider(hp));
  if (!count || !list) return KspFail(Status::kInvalidParameter, "pdwAlgCount or ppAlgList is NULL");
  if (flags & ~DWORD{NCRYPT_SILENT_FLAG}) return KspFail(Status::kBadFlags, "EnumAlgorithms takes only NCRYPT_SILENT_FLAG");
  constexpr DWORD kKnown = NCRYPT_CIPHER_OPERATION | NCRYPT_HASH_OPERATION | NCRYPT_ASYMMETRIC_ENCRYPTION_OPERATION |
                           NCRYPT_SECRET_AGREEMENT_OPERATION | NCRYPT_SIGNATURE_OPERATION | NCRYPT_RNG_OPERATION;
  if (operations & ~kKnown) return KspFail(Status::kInvalidParameter, "unknown algorithm operation class");
  if (operations != 0 && !(operations & NCRYPT_SIGNATURE_OPERATION))
    return KspFail(Status::kNotSupported, "vtoken keys only sign");
  constexpr std::size_t n = std::size(kAlgorithms);
  std::size_t strings = 0;
  for (const wchar_t* a : kAlgorithms) strings += (std::wcslen(a) + 1) * sizeof(wchar_t);
  auto* block = static_cast<std::uint8_t*>(AllocateBuffer(n * sizeof(NCryptAlgorithmName) + strings));
  auto* names = reinterpret_cast<NCryptAlgorithmName*>(block);
  auto* text = block + n * sizeof(NCryptAlgorithmName);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t bytes = (std::wcslen(kAlgorithms[i]) + 1) * sizeof(wchar_t);
    std::memcpy(text, kAlgorithms[i], bytes);
    names[i].pszName = reinterpret_cast<LPWSTR>(text);
    names[i].dwClass = NCRYPT_SIGNATURE_INTERFACE;
    names[i].dwAlgOperations = NCRYPT_SIGNATURE_OPERATION;
    names[i].dwFlags = 0;
    text += bytes;
  }
  *count = static_cast<DWORD>(n);
  *list = names;
  return {};
}

}  // namespace vtoken::ksp
