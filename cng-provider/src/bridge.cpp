// The ABI edge: the KSP function table. Each entry is one line into Ksp (or a
// handle check and NTE_NOT_SUPPORTED), behind a barrier that turns every
// exception into a status. The only file that knows SECURITY_STATUS.
#include <new>
#include <string>

#include "cng-provider/src/ksp_abi.h"
#include "cng-provider/src/log.h"
#include "cng-provider/src/provider.h"

namespace vtoken::ksp {
namespace {

SECURITY_STATUS ToSecurityStatus(Status s) {
  switch (s) {
    case Status::kBadFlags: return NTE_BAD_FLAGS;
    case Status::kInvalidHandle: return NTE_INVALID_HANDLE;
    case Status::kInvalidParameter: return NTE_INVALID_PARAMETER;
    case Status::kBufferTooSmall: return NTE_BUFFER_TOO_SMALL;
    case Status::kBadKeyset: return NTE_BAD_KEYSET;
    case Status::kNotFound: return NTE_NOT_FOUND;
    case Status::kNoMoreItems: return NTE_NO_MORE_ITEMS;
    case Status::kSilentContext: return NTE_SILENT_CONTEXT;
    case Status::kDeviceNotReady: return NTE_DEVICE_NOT_READY;
    case Status::kNotSupported: return NTE_NOT_SUPPORTED;
    case Status::kBadType: return NTE_BAD_TYPE;
    case Status::kNoMemory: return NTE_NO_MEMORY;
    case Status::kWrongPin: return SCARD_W_WRONG_CHV;
    case Status::kPinBlocked: return SCARD_W_CHV_BLOCKED;
    case Status::kUserCancelled: return NTE_USER_CANCELLED;
    case Status::kPermission: return NTE_PERM;
    case Status::kInternal: return NTE_INTERNAL_ERROR;
  }
  return NTE_INTERNAL_ERROR;
}

template <class F>
SECURITY_STATUS Guard(const char* function, F&& body) noexcept {
  try {
    KspResult<void> r = body();
    if (r) return ERROR_SUCCESS;
    const Status s = r.error().status;
    if (s != Status::kNoMoreItems && s != Status::kBufferTooSmall) Log(std::string(function) + ": " + Describe(r.error()));
    return ToSecurityStatus(s);
  } catch (const std::bad_alloc&) {
    return NTE_NO_MEMORY;
  } catch (const std::exception& e) {
    try { Log(std::string(function) + ": internal error: " + e.what()); } catch (...) {}
    return NTE_INTERNAL_ERROR;
  } catch (...) {
    return NTE_INTERNAL_ERROR;
  }
}

KspResult<void> NotSupported(const char* what) { return KspFail(Status::kNotSupported, what); }

KspResult<void> ProviderThen(NCRYPT_PROV_HANDLE hp, const char* what) {
  VT_TRY(Ksp::Instance().Provider(hp));
  return NotSupported(what);
}

KspResult<void> KeyThen(NCRYPT_PROV_HANDLE hp, NCRYPT_KEY_HANDLE hk, const char* what) {
  VT_TRY(Ksp::Instance().Key(hp, hk));
  return NotSupported(what);
}

Ksp& K() { return Ksp::Instance(); }

SECURITY_STATUS WINAPI OpenProvider(NCRYPT_PROV_HANDLE* ph, LPCWSTR name, DWORD flags) {
  return Guard("OpenProvider", [&] { return K().OpenProvider(ph, name, flags); });
}
SECURITY_STATUS WINAPI OpenKey(NCRYPT_PROV_HANDLE hp, NCRYPT_KEY_HANDLE* phk, LPCWSTR name, DWORD spec, DWORD flags) {
  return Guard("OpenKey", [&] { return K().OpenKey(hp, phk, name, spec, flags); });
}
SECURITY_STATUS WINAPI CreatePersistedKey(NCRYPT_PROV_HANDLE hp, NCRYPT_KEY_HANDLE*, LPCWSTR, LPCWSTR, DWORD, DWORD) {
  return Guard("CreatePersistedKey", [&] { return ProviderThen(hp, "keys are created on the token with vtoken or pkcs11-tool"); });
}
SECURITY_STATUS WINAPI GetProviderProperty(NCRYPT_PROV_HANDLE hp, LPCWSTR p, PBYTE out, DWORD cb, DWORD* pcb, DWORD flags) {
  return Guard("GetProviderProperty", [&] { return K().GetProviderProperty(hp, p, out, cb, pcb, flags); });
}
SECURITY_STATUS WINAPI GetKeyProperty(NCRYPT_PROV_HANDLE hp, NCRYPT_KEY_HANDLE hk, LPCWSTR p, PBYTE out, DWORD cb, DWORD* pcb, DWORD flags) {
  return Guard("GetKeyProperty", [&] { return K().GetKeyProperty(hp, hk, p, out, cb, pcb, flags); });
}
SECURITY_STATUS WINAPI SetProviderProperty(NCRYPT_PROV_HANDLE hp, LPCWSTR p, PBYTE in, DWORD cb, DWORD flags) {
  return Guard("SetProviderProperty", [&] { return K().SetProviderProperty(hp, p, in, cb, flags); });
}
SECURITY_STATUS WINAPI SetKeyProperty(NCRYPT_PROV_HANDLE hp, NCRYPT_KEY_HANDLE hk, LPCWSTR p, PBYTE in, DWORD cb, DWORD flags) {
  return Guard("SetKeyProperty", [&] { return K().SetKeyProperty(hp, hk, p, in, cb, flags); });
}
SECURITY_STATUS WINAPI FinalizeKey(NCRYPT_PROV_HANDLE hp, NCRYPT_KEY_HANDLE hk, DWORD) {
  return Guard("FinalizeKey", [&] { return KeyThen(hp, hk, "token keys are final already"); });
}
SECURITY_STATUS WINAPI DeleteKey(NCRYPT_PROV_HANDLE hp, NCRYPT_KEY_HANDLE hk, DWORD) {
  return Guard("DeleteKey", [&] { return KeyThen(hp, hk, "keys are deleted on the token with vtoken or pkcs11-tool"); });
}
SECURITY_STATUS WINAPI FreeProvider(NCRYPT_PROV_HANDLE hp) {
  return Guard("FreeProvider", [&] { return K().FreeProvider(hp); });
}
SECURITY_STATUS WINAPI FreeKey(NCRYPT_PROV_HANDLE hp, NCRYPT_KEY_HANDLE hk) {
  return Guard("FreeKey", [&] { return K().FreeKey(hp, hk); });
}
SECURITY_STATUS WINAPI FreeBuffer(PVOID p) {
  return Guard("FreeBuffer", [&] { return K().FreeBuffer(p); });
}
SECURITY_STATUS WINAPI Encrypt(NCRYPT_PROV_HANDLE hp, NCRYPT_KEY_HANDLE hk, PBYTE, DWORD, VOID*, PBYTE, DWORD, DWORD*, DWORD) {
  return Guard("Encrypt", [&] { return KeyThen(hp, hk, "token keys only sign"); });
}
SECURITY_STATUS WINAPI Decrypt(NCRYPT_PROV_HANDLE hp, NCRYPT_KEY_HANDLE hk, PBYTE, DWORD, VOID*, PBYTE, DWORD, DWORD*, DWORD) {
  return Guard("Decrypt", [&] { return KeyThen(hp, hk, "decryption is not offered through CNG yet"); });
}
SECURITY_STATUS WINAPI IsAlgSupported(NCRYPT_PROV_HANDLE hp, LPCWSTR alg, DWORD flags) {
  return Guard("IsAlgSupported", [&] { return K().IsAlgSupported(hp, alg, flags); });
}
SECURITY_STATUS WINAPI EnumAlgorithms(NCRYPT_PROV_HANDLE hp, DWORD ops, DWORD* count, NCryptAlgorithmName** list, DWORD flags) {
  return Guard("EnumAlgorithms", [&] { return K().EnumAlgorithms(hp, ops, count, list, flags); });
}
SECURITY_STATUS WINAPI EnumKeys(NCRYPT_PROV_HANDLE hp, LPCWSTR scope, NCryptKeyName** name, PVOID* state, DWORD flags) {
  return Guard("EnumKeys", [&] { return K().EnumKeys(hp, scope, name, state, flags); });
}
SECURITY_STATUS WINAPI ImportKey(NCRYPT_PROV_HANDLE hp, NCRYPT_KEY_HANDLE, LPCWSTR, NCryptBufferDesc*, NCRYPT_KEY_HANDLE*, PBYTE, DWORD, DWORD) {
  return Guard("ImportKey", [&] { return ProviderThen(hp, "keys are imported on the token with pkcs11-tool"); });
}
SECURITY_STATUS WINAPI ExportKey(NCRYPT_PROV_HANDLE hp, NCRYPT_KEY_HANDLE hk, NCRYPT_KEY_HANDLE hx, LPCWSTR type,
                                 NCryptBufferDesc* params, PBYTE out, DWORD cb, DWORD* pcb, DWORD flags) {
  return Guard("ExportKey", [&] { return K().ExportKey(hp, hk, hx, type, params, out, cb, pcb, flags); });
}
SECURITY_STATUS WINAPI SignHash(NCRYPT_PROV_HANDLE hp, NCRYPT_KEY_HANDLE hk, VOID* padding, PBYTE hash, DWORD cb_hash,
                                PBYTE sig, DWORD cb_sig, DWORD* pcb, DWORD flags) {
  return Guard("SignHash", [&] { return K().SignHash(hp, hk, padding, hash, cb_hash, sig, cb_sig, pcb, flags); });
}
SECURITY_STATUS WINAPI VerifySignature(NCRYPT_PROV_HANDLE hp, NCRYPT_KEY_HANDLE hk, VOID*, PBYTE, DWORD, PBYTE, DWORD, DWORD) {
  return Guard("VerifySignature", [&] { return KeyThen(hp, hk, "verify with the public key (BCrypt) instead"); });
}
SECURITY_STATUS WINAPI PromptUser(NCRYPT_PROV_HANDLE hp, NCRYPT_KEY_HANDLE hk, LPCWSTR, DWORD) {
  return Guard("PromptUser", [&] { return KeyThen(hp, hk, "the agent prompts when a PIN is needed"); });
}
SECURITY_STATUS WINAPI NotifyChangeKey(NCRYPT_PROV_HANDLE hp, HANDLE*, DWORD) {
  return Guard("NotifyChangeKey", [&] { return ProviderThen(hp, "key change notification is not offered"); });
}
SECURITY_STATUS WINAPI SecretAgreement(NCRYPT_PROV_HANDLE hp, NCRYPT_KEY_HANDLE hk, NCRYPT_KEY_HANDLE, NCRYPT_SECRET_HANDLE*, DWORD) {
  return Guard("SecretAgreement", [&] { return KeyThen(hp, hk, "token keys only sign"); });
}
SECURITY_STATUS WINAPI DeriveKey(NCRYPT_PROV_HANDLE hp, NCRYPT_SECRET_HANDLE, LPCWSTR, NCryptBufferDesc*, PBYTE, DWORD, DWORD*, ULONG) {
  return Guard("DeriveKey", [&] { return ProviderThen(hp, "token keys only sign"); });
}
SECURITY_STATUS WINAPI FreeSecret(NCRYPT_PROV_HANDLE hp, NCRYPT_SECRET_HANDLE) {
  return Guard("FreeSecret", [&] { return ProviderThen(hp, "no secrets are ever handed out"); });
}
SECURITY_STATUS WINAPI KeyDerivation(NCRYPT_PROV_HANDLE hp, NCRYPT_KEY_HANDLE hk, NCryptBufferDesc*, PUCHAR, DWORD, DWORD*, ULONG) {
  return Guard("KeyDerivation", [&] { return KeyThen(hp, hk, "token keys only sign"); });
}
SECURITY_STATUS WINAPI CreateClaim(NCRYPT_PROV_HANDLE hp, NCRYPT_KEY_HANDLE hk, NCRYPT_KEY_HANDLE, DWORD, NCryptBufferDesc*, PBYTE, DWORD, DWORD*, DWORD) {
  return Guard("CreateClaim", [&] { return KeyThen(hp, hk, "key attestation claims are not offered"); });
}
SECURITY_STATUS WINAPI VerifyClaim(NCRYPT_PROV_HANDLE hp, NCRYPT_KEY_HANDLE hk, NCRYPT_KEY_HANDLE, DWORD, NCryptBufferDesc*, PBYTE, DWORD, NCryptBufferDesc*, DWORD) {
  return Guard("VerifyClaim", [&] { return KeyThen(hp, hk, "key attestation claims are not offered"); });
}

NCRYPT_KEY_STORAGE_FUNCTION_TABLE kFunctionTable = {
    VTOKEN_KSP_INTERFACE_VERSION,
    OpenProvider, OpenKey, CreatePersistedKey, GetProviderProperty, GetKeyProperty, SetProviderProperty,
    SetKeyProperty, FinalizeKey, DeleteKey, FreeProvider, FreeKey, FreeBuffer, Encrypt, Decrypt,
    IsAlgSupported, EnumAlgorithms, EnumKeys, ImportKey, ExportKey, SignHash, VerifySignature, PromptUser,
    NotifyChangeKey, SecretAgreement, DeriveKey, FreeSecret, KeyDerivation, CreateClaim, VerifyClaim,
};

}  // namespace
}  // namespace vtoken::ksp

extern "C" NTSTATUS WINAPI GetKeyStorageInterface(LPCWSTR, NCRYPT_KEY_STORAGE_FUNCTION_TABLE** ppFunctionTable, DWORD) {
  if (!ppFunctionTable) return static_cast<NTSTATUS>(0xC000000DL);  // STATUS_INVALID_PARAMETER
  *ppFunctionTable = &vtoken::ksp::kFunctionTable;
  return 0;  // STATUS_SUCCESS
}
