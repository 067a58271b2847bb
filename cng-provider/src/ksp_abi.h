#pragma once
// The key storage provider interface of CNG, declared from Microsoft's
// documentation ("Key Storage Provider Functions", ncrypt_provider.h in the
// Cryptographic Provider Development Kit): mingw-w64 ships ncrypt.h but not
// ncrypt_provider.h. The layout of NCRYPT_KEY_STORAGE_FUNCTION_TABLE is ABI:
// the router (ncrypt.dll) indexes it, so the order below must never change.
#include <windows.h>
#include <wincrypt.h>
#include <bcrypt.h>
#include <ncrypt.h>

extern "C" {

// Version 3 = every member below is filled (2 added KeyDerivation, 3 the claims).
#define VTOKEN_KSP_INTERFACE_VERSION BCRYPT_MAKE_INTERFACE_VERSION(3, 0)
#define VTOKEN_KSP_INTERFACE_TYPE 0x00010001u  // NCRYPT_KEY_STORAGE_INTERFACE

typedef SECURITY_STATUS(WINAPI* NCryptOpenStorageProviderFn)(NCRYPT_PROV_HANDLE* phProvider, LPCWSTR pszProviderName,
                                                             DWORD dwFlags);
typedef SECURITY_STATUS(WINAPI* NCryptOpenKeyFn)(NCRYPT_PROV_HANDLE hProvider, NCRYPT_KEY_HANDLE* phKey,
                                                 LPCWSTR pszKeyName, DWORD dwLegacyKeySpec, DWORD dwFlags);
typedef SECURITY_STATUS(WINAPI* NCryptCreatePersistedKeyFn)(NCRYPT_PROV_HANDLE hProvider, NCRYPT_KEY_HANDLE* phKey,
                                                            LPCWSTR pszAlgId, LPCWSTR pszKeyName,
                                                            DWORD dwLegacyKeySpec, DWORD dwFlags);
typedef SECURITY_STATUS(WINAPI* NCryptGetProviderPropertyFn)(NCRYPT_PROV_HANDLE hProvider, LPCWSTR pszProperty,
                                                             PBYTE pbOutput, DWORD cbOutput, DWORD* pcbResult,
                                                             DWORD dwFlags);
typedef SECURITY_STATUS(WINAPI* NCryptGetKeyPropertyFn)(NCRYPT_PROV_HANDLE hProvider, NCRYPT_KEY_HANDLE hKey,
                                                        LPCWSTR pszProperty, PBYTE pbOutput, DWORD cbOutput,
                                                        DWORD* pcbResult, DWORD dwFlags);
typedef SECURITY_STATUS(WINAPI* NCryptSetProviderPropertyFn)(NCRYPT_PROV_HANDLE hProvider, LPCWSTR pszProperty,
                                                             PBYTE pbInput, DWORD cbInput, DWORD dwFlags);
typedef SECURITY_STATUS(WINAPI* NCryptSetKeyPropertyFn)(NCRYPT_PROV_HANDLE hProvider, NCRYPT_KEY_HANDLE hKey,
                                                        LPCWSTR pszProperty, PBYTE pbInput, DWORD cbInput,
                                                        DWORD dwFlags);
typedef SECURITY_STATUS(WINAPI* NCryptFinalizeKeyFn)(NCRYPT_PROV_HANDLE hProvider, NCRYPT_KEY_HANDLE hKey,
                                                     DWORD dwFlags);
typedef SECURITY_STATUS(WINAPI* NCryptDeleteKeyFn)(NCRYPT_PROV_HANDLE hProvider, NCRYPT_KEY_HANDLE hKey,
                                                   DWORD dwFlags);
typedef SECURITY_STATUS(WINAPI* NCryptFreeProviderFn)(NCRYPT_PROV_HANDLE hProvider);
typedef SECURITY_STATUS(WINAPI* NCryptFreeKeyFn)(NCRYPT_PROV_HANDLE hProvider, NCRYPT_KEY_HANDLE hKey);
typedef SECURITY_STATUS(WINAPI* NCryptFreeBufferFn)(PVOID pvInput);
typedef SECURITY_STATUS(WINAPI* NCryptEncryptFn)(NCRYPT_PROV_HANDLE hProvider, NCRYPT_KEY_HANDLE hKey, PBYTE pbInput,
                                                 DWORD cbInput, VOID* pPaddingInfo, PBYTE pbOutput,
                                                 DWORD cbOutput, DWORD* pcbResult, DWORD dwFlags);
typedef SECURITY_STATUS(WINAPI* NCryptDecryptFn)(NCRYPT_PROV_HANDLE hProvider, NCRYPT_KEY_HANDLE hKey, PBYTE pbInput,
                                                 DWORD cbInput, VOID* pPaddingInfo, PBYTE pbOutput,
                                                 DWORD cbOutput, DWORD* pcbResult, DWORD dwFlags);
typedef SECURITY_STATUS(WINAPI* NCryptIsAlgSupportedFn)(NCRYPT_PROV_HANDLE hProvider, LPCWSTR pszAlgId,
                                                        DWORD dwFlags);
typedef SECURITY_STATUS(WINAPI* NCryptEnumAlgorithmsFn)(NCRYPT_PROV_HANDLE hProvider, DWORD dwAlgOperations,
                                                        DWORD* pdwAlgCount, NCryptAlgorithmName** ppAlgList,
                                                        DWORD dwFlags);
typedef SECURITY_STATUS(WINAPI* NCryptEnumKeysFn)(NCRYPT_PROV_HANDLE hProvider, LPCWSTR pszScope,
                                                  NCryptKeyName** ppKeyName, PVOID* ppEnumState, DWORD dwFlags);
typedef SECURITY_STATUS(WINAPI* NCryptImportKeyFn)(NCRYPT_PROV_HANDLE hProvider, NCRYPT_KEY_HANDLE hImportKey,
                                                   LPCWSTR pszBlobType, NCryptBufferDesc* pParameterList,
                                                   NCRYPT_KEY_HANDLE* phKey, PBYTE pbData, DWORD cbData,
                                                   DWORD dwFlags);
typedef SECURITY_STATUS(WINAPI* NCryptExportKeyFn)(NCRYPT_PROV_HANDLE hProvider, NCRYPT_KEY_HANDLE hKey,
                                                   NCRYPT_KEY_HANDLE hExportKey, LPCWSTR pszBlobType,
                                                   NCryptBufferDesc* pParameterList, PBYTE pbOutput,
                                                   DWORD cbOutput, DWORD* pcbResult, DWORD dwFlags);
typedef SECURITY_STATUS(WINAPI* NCryptSignHashFn)(NCRYPT_PROV_HANDLE hProvider, NCRYPT_KEY_HANDLE hKey,
                                                  VOID* pPaddingInfo, PBYTE pbHashValue, DWORD cbHashValue,
                                                  PBYTE pbSignature, DWORD cbSignature, DWORD* pcbResult,
                                                  DWORD dwFlags);
typedef SECURITY_STATUS(WINAPI* NCryptVerifySignatureFn)(NCRYPT_PROV_HANDLE hProvider, NCRYPT_KEY_HANDLE hKey,
                                                         VOID* pPaddingInfo, PBYTE pbHashValue, DWORD cbHashValue,
                                                         PBYTE pbSignature, DWORD cbSignature, DWORD dwFlags);
typedef SECURITY_STATUS(WINAPI* NCryptPromptUserFn)(NCRYPT_PROV_HANDLE hProvider, NCRYPT_KEY_HANDLE hKey,
                                                    LPCWSTR pszOperation, DWORD dwFlags);
typedef SECURITY_STATUS(WINAPI* NCryptNotifyChangeKeyFn)(NCRYPT_PROV_HANDLE hProvider, HANDLE* phEvent,
                                                         DWORD dwFlags);
typedef SECURITY_STATUS(WINAPI* NCryptSecretAgreementFn)(NCRYPT_PROV_HANDLE hProvider, NCRYPT_KEY_HANDLE hPrivKey,
                                                         NCRYPT_KEY_HANDLE hPubKey,
                                                         NCRYPT_SECRET_HANDLE* phAgreedSecret, DWORD dwFlags);
typedef SECURITY_STATUS(WINAPI* NCryptDeriveKeyFn)(NCRYPT_PROV_HANDLE hProvider, NCRYPT_SECRET_HANDLE hSharedSecret,
                                                   LPCWSTR pwszKDF, NCryptBufferDesc* pParameterList,
                                                   PBYTE pbDerivedKey, DWORD cbDerivedKey, DWORD* pcbResult,
                                                   ULONG dwFlags);
typedef SECURITY_STATUS(WINAPI* NCryptFreeSecretFn)(NCRYPT_PROV_HANDLE hProvider, NCRYPT_SECRET_HANDLE hSharedSecret);
typedef SECURITY_STATUS(WINAPI* NCryptKeyDerivationFn)(NCRYPT_PROV_HANDLE hProvider, NCRYPT_KEY_HANDLE hKey,
                                                       NCryptBufferDesc* pParameterList, PUCHAR pbDerivedKey,
                                                       DWORD cbDerivedKey, DWORD* pcbResult, ULONG dwFlags);
typedef SECURITY_STATUS(WINAPI* NCryptCreateClaimFn)(NCRYPT_PROV_HANDLE hProvider, NCRYPT_KEY_HANDLE hSubjectKey,
                                                     NCRYPT_KEY_HANDLE hAuthorityKey, DWORD dwClaimType,
                                                     NCryptBufferDesc* pParameterList, PBYTE pbClaimBlob,
                                                     DWORD cbClaimBlob, DWORD* pcbResult, DWORD dwFlags);
typedef SECURITY_STATUS(WINAPI* NCryptVerifyClaimFn)(NCRYPT_PROV_HANDLE hProvider, NCRYPT_KEY_HANDLE hSubjectKey,
                                                     NCRYPT_KEY_HANDLE hAuthorityKey, DWORD dwClaimType,
                                                     NCryptBufferDesc* pParameterList, PBYTE pbClaimBlob,
                                                     DWORD cbClaimBlob, NCryptBufferDesc* pOutput, DWORD dwFlags);

typedef struct _NCRYPT_KEY_STORAGE_FUNCTION_TABLE {
  BCRYPT_INTERFACE_VERSION Version;
  NCryptOpenStorageProviderFn OpenProvider;
  NCryptOpenKeyFn OpenKey;
  NCryptCreatePersistedKeyFn CreatePersistedKey;
  NCryptGetProviderPropertyFn GetProviderProperty;
  NCryptGetKeyPropertyFn GetKeyProperty;
  NCryptSetProviderPropertyFn SetProviderProperty;
  NCryptSetKeyPropertyFn SetKeyProperty;
  NCryptFinalizeKeyFn FinalizeKey;
  NCryptDeleteKeyFn DeleteKey;
  NCryptFreeProviderFn FreeProvider;
  NCryptFreeKeyFn FreeKey;
  NCryptFreeBufferFn FreeBuffer;
  NCryptEncryptFn Encrypt;
  NCryptDecryptFn Decrypt;
  NCryptIsAlgSupportedFn IsAlgSupported;
  NCryptEnumAlgorithmsFn EnumAlgorithms;
  NCryptEnumKeysFn EnumKeys;
  NCryptImportKeyFn ImportKey;
  NCryptExportKeyFn ExportKey;
  NCryptSignHashFn SignHash;
  NCryptVerifySignatureFn VerifySignature;
  NCryptPromptUserFn PromptUser;
  NCryptNotifyChangeKeyFn NotifyChangeKey;
  NCryptSecretAgreementFn SecretAgreement;
  NCryptDeriveKeyFn DeriveKey;
  NCryptFreeSecretFn FreeSecret;
  NCryptKeyDerivationFn KeyDerivation;
  NCryptCreateClaimFn CreateClaim;
  NCryptVerifyClaimFn VerifyClaim;
} NCRYPT_KEY_STORAGE_FUNCTION_TABLE;

// The DLL's one export. Returns an NTSTATUS (0 = STATUS_SUCCESS).
typedef NTSTATUS(WINAPI* GetKeyStorageInterfaceFn)(LPCWSTR pszProviderName,
                                                   NCRYPT_KEY_STORAGE_FUNCTION_TABLE** ppFunctionTable, DWORD dwFlags);
NTSTATUS WINAPI GetKeyStorageInterface(LPCWSTR pszProviderName,
                                                             NCRYPT_KEY_STORAGE_FUNCTION_TABLE** ppFunctionTable,
                                                             DWORD dwFlags);
}

namespace vtoken::ksp {
// The provider's registered name (what certificates' key-provider info names).
inline constexpr wchar_t kProviderName[] = L"vtoken Key Storage Provider";
}  // namespace vtoken::ksp
