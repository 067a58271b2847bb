#pragma once
// The provider's model: provider handles, key handles, buffers handed out,
// and the NCrypt operations as C++ functions returning KspResult. bridge.cpp
// calls these; it is the only file that knows SECURITY_STATUS.
//
// Every pointer and handle argument is checked here; handles are looked up in
// registries (handles.h). Parameter order follows the KSP function table.
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>

#include "cng-provider/src/handles.h"
#include "cng-provider/src/key_catalog.h"
#include "cng-provider/src/ksp_abi.h"
#include "common/secure.h"

namespace vtoken::ksp {

struct ProviderState {
  std::mutex mu;
  std::optional<Secret> pin;  // NCRYPT_PIN_PROPERTY set on the provider
  bool silent = false;
};

struct KeyState {
  std::uintptr_t provider = 0;
  std::shared_ptr<ProviderState> provider_state;
  KeyInfo info;
  bool silent = false;  // opened with NCRYPT_SILENT_FLAG
  std::mutex mu;
  std::optional<Secret> pin;  // NCRYPT_PIN_PROPERTY set on the key
  std::optional<std::uint64_t> private_oid;
  bool always_authenticate = false;
};

// The buffer convention, written once: pcbResult required; NULL output =
// size query (success); too small = NTE_BUFFER_TOO_SMALL with the size.
KspResult<void> CopyOut(std::span<const std::uint8_t> value, PBYTE out, DWORD cb_out, DWORD* pcb_result);

class Ksp {
 public:
  static Ksp& Instance();

  KspResult<void> OpenProvider(NCRYPT_PROV_HANDLE* ph_provider, LPCWSTR name, DWORD flags);
  KspResult<void> FreeProvider(NCRYPT_PROV_HANDLE h);
  KspResult<void> OpenKey(NCRYPT_PROV_HANDLE hp, NCRYPT_KEY_HANDLE* ph_key, LPCWSTR name, DWORD legacy_spec, DWORD flags);
  KspResult<void> FreeKey(NCRYPT_PROV_HANDLE hp, NCRYPT_KEY_HANDLE hk);
  KspResult<void> EnumKeys(NCRYPT_PROV_HANDLE hp, LPCWSTR scope, NCryptKeyName** pp_key_name, PVOID* pp_enum_state, DWORD flags);
  KspResult<void> FreeBuffer(PVOID p);
  KspResult<void> IsAlgSupported(NCRYPT_PROV_HANDLE hp, LPCWSTR alg, DWORD flags);
  KspResult<void> EnumAlgorithms(NCRYPT_PROV_HANDLE hp, DWORD operations, DWORD* count, NCryptAlgorithmName** list, DWORD flags);

  // properties.cpp
  KspResult<void> GetProviderProperty(NCRYPT_PROV_HANDLE hp, LPCWSTR property, PBYTE out, DWORD cb_out, DWORD* pcb, DWORD flags);
  KspResult<void> SetProviderProperty(NCRYPT_PROV_HANDLE hp, LPCWSTR property, PBYTE in, DWORD cb_in, DWORD flags);
  KspResult<void> GetKeyProperty(NCRYPT_PROV_HANDLE hp, NCRYPT_KEY_HANDLE hk, LPCWSTR property, PBYTE out, DWORD cb_out, DWORD* pcb, DWORD flags);
  KspResult<void> SetKeyProperty(NCRYPT_PROV_HANDLE hp, NCRYPT_KEY_HANDLE hk, LPCWSTR property, PBYTE in, DWORD cb_in, DWORD flags);

  // sign_export.cpp
  KspResult<void> ExportKey(NCRYPT_PROV_HANDLE hp, NCRYPT_KEY_HANDLE hk, NCRYPT_KEY_HANDLE h_export, LPCWSTR blob_type,
                            NCryptBufferDesc* params, PBYTE out, DWORD cb_out, DWORD* pcb, DWORD flags);
  KspResult<void> SignHash(NCRYPT_PROV_HANDLE hp, NCRYPT_KEY_HANDLE hk, const void* padding, const BYTE* hash, DWORD cb_hash,
                           PBYTE signature, DWORD cb_signature, DWORD* pcb, DWORD flags);

  // For operations the provider does not offer: the handles are still checked first.
  KspResult<std::shared_ptr<ProviderState>> Provider(NCRYPT_PROV_HANDLE hp);
  KspResult<std::shared_ptr<KeyState>> Key(NCRYPT_PROV_HANDLE hp, NCRYPT_KEY_HANDLE hk);

  std::size_t live_providers() const { return providers_.size(); }
  std::size_t live_keys() const { return keys_.size(); }

 private:
  // Memory handed to the caller, freed with FreeBuffer.
  void* AllocateBuffer(std::size_t bytes);
  KspResult<void> EnsureLoggedIn(KeyState& key, bool silent);

  HandleRegistry<ProviderState> providers_{0x7650000010};
  HandleRegistry<KeyState> keys_{0x76b0000010};
  struct EnumState;
  std::mutex buffers_mu_;
  std::map<void*, std::unique_ptr<std::uint8_t[]>> buffers_;
  std::map<void*, std::unique_ptr<EnumState>> enum_states_;
};

}  // namespace vtoken::ksp
