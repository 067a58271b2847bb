#pragma once
// The PKCS#11 v2.40 surface, defined once. Each row is
//   X(Name, KIND, (parameters), (arguments))
// in CK_FUNCTION_LIST order. KIND is IMPL (bridge.cpp forwards C_Name to
// vtoken::pkcs11::Name, declared in api.h), UNSUP (CKR_FUNCTION_NOT_SUPPORTED
// once initialized) or NOTPAR (CKR_FUNCTION_NOT_PARALLEL, the legacy parallel
// functions). bridge.cpp turns the list into the C shims and the
// CK_FUNCTION_LIST; exports.map keeps only C_GetFunctionList visible.
#include <p11-kit/pkcs11.h>

#define VTOKEN_PKCS11_FUNCTIONS(X)                                                                     \
  X(Initialize, IMPL, (CK_VOID_PTR pInitArgs), (pInitArgs))                                           \
  X(Finalize, IMPL, (CK_VOID_PTR pReserved), (pReserved))                                             \
  X(GetInfo, IMPL, (CK_INFO_PTR pInfo), (pInfo))                                                      \
  X(GetFunctionList, IMPL, (CK_FUNCTION_LIST_PTR_PTR ppFunctionList), (ppFunctionList))               \
  X(GetSlotList, IMPL, (CK_BBOOL tokenPresent, CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount),      \
    (tokenPresent, pSlotList, pulCount))                                                              \
  X(GetSlotInfo, IMPL, (CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo), (slotID, pInfo))                  \
  X(GetTokenInfo, IMPL, (CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo), (slotID, pInfo))                \
  X(GetMechanismList, IMPL,                                                                           \
    (CK_SLOT_ID slotID, CK_MECHANISM_TYPE_PTR pMechanismList, CK_ULONG_PTR pulCount),                 \
    (slotID, pMechanismList, pulCount))                                                               \
  X(GetMechanismInfo, IMPL, (CK_SLOT_ID slotID, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR pInfo), \
    (slotID, type, pInfo))                                                                            \
  X(InitToken, IMPL, (CK_SLOT_ID slotID, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen, CK_UTF8CHAR_PTR pLabel), \
    (slotID, pPin, ulPinLen, pLabel))                                                                 \
  X(InitPIN, IMPL, (CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen),             \
    (hSession, pPin, ulPinLen))                                                                       \
  X(SetPIN, IMPL,                                                                                     \
    (CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pOldPin, CK_ULONG ulOldLen, CK_UTF8CHAR_PTR pNewPin, \
     CK_ULONG ulNewLen),                                                                              \
    (hSession, pOldPin, ulOldLen, pNewPin, ulNewLen))                                                 \
  X(OpenSession, IMPL,                                                                                \
    (CK_SLOT_ID slotID, CK_FLAGS flags, CK_VOID_PTR pApplication, CK_NOTIFY Notify,                   \
     CK_SESSION_HANDLE_PTR phSession),                                                                \
    (slotID, flags, pApplication, Notify, phSession))                                                 \
  X(CloseSession, IMPL, (CK_SESSION_HANDLE hSession), (hSession))                                     \
  X(CloseAllSessions, IMPL, (CK_SLOT_ID slotID), (slotID))                                            \
  X(GetSessionInfo, IMPL, (CK_SESSION_HANDLE hSession, CK_SESSION_INFO_PTR pInfo), (hSession, pInfo)) \
  X(GetOperationState, UNSUP,                                                                         \
    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState, CK_ULONG_PTR pulOperationStateLen),     \
    (hSession, pOperationState, pulOperationStateLen))                                                \
  X(SetOperationState, UNSUP,                                                                         \
    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState, CK_ULONG ulOperationStateLen,           \
     CK_OBJECT_HANDLE hEncryptionKey, CK_OBJECT_HANDLE hAuthenticationKey),                           \
    (hSession, pOperationState, ulOperationStateLen, hEncryptionKey, hAuthenticationKey))             \
  X(Login, IMPL,                                                                                      \
    (CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen),     \
    (hSession, userType, pPin, ulPinLen))                                                             \
  X(Logout, IMPL, (CK_SESSION_HANDLE hSession), (hSession))                                           \
  X(CreateObject, IMPL,                                                                               \
    (CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,                        \
     CK_OBJECT_HANDLE_PTR phObject),                                                                  \
    (hSession, pTemplate, ulCount, phObject))                                                         \
  X(CopyObject, UNSUP,                                                                                \
    (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE_PTR pTemplate,                \
     CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phNewObject),                                             \
    (hSession, hObject, pTemplate, ulCount, phNewObject))                                             \
  X(DestroyObject, IMPL, (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject), (hSession, hObject)) \
  X(GetObjectSize, IMPL, (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ULONG_PTR pulSize), \
    (hSession, hObject, pulSize))                                                                     \
  X(GetAttributeValue, IMPL,                                                                          \
    (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount), \
    (hSession, hObject, pTemplate, ulCount))                                                          \
  X(SetAttributeValue, IMPL,                                                                          \
    (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount), \
    (hSession, hObject, pTemplate, ulCount))                                                          \
  X(FindObjectsInit, IMPL, (CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount), \
    (hSession, pTemplate, ulCount))                                                                   \
  X(FindObjects, IMPL,                                                                                \
    (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE_PTR phObject, CK_ULONG ulMaxObjectCount,            \
     CK_ULONG_PTR pulObjectCount),                                                                    \
    (hSession, phObject, ulMaxObjectCount, pulObjectCount))                                           \
  X(FindObjectsFinal, IMPL, (CK_SESSION_HANDLE hSession), (hSession))                                 \
  X(EncryptInit, UNSUP, (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey), \
    (hSession, pMechanism, hKey))                                                                     \
  X(Encrypt, UNSUP,                                                                                   \
    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pEncryptedData,   \
     CK_ULONG_PTR pulEncryptedDataLen),                                                               \
    (hSession, pData, ulDataLen, pEncryptedData, pulEncryptedDataLen))                                \
  X(EncryptUpdate, UNSUP,                                                                             \
    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen, CK_BYTE_PTR pEncryptedPart,   \
     CK_ULONG_PTR pulEncryptedPartLen),                                                               \
    (hSession, pPart, ulPartLen, pEncryptedPart, pulEncryptedPartLen))                                \
  X(EncryptFinal, UNSUP,                                                                              \
    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pLastEncryptedPart, CK_ULONG_PTR pulLastEncryptedPartLen), \
    (hSession, pLastEncryptedPart, pulLastEncryptedPartLen))                                          \
  X(DecryptInit, IMPL, (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey), \
    (hSession, pMechanism, hKey))                                                                     \
  X(Decrypt, IMPL,                                                                                    \
    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedData, CK_ULONG ulEncryptedDataLen,             \
     CK_BYTE_PTR pData, CK_ULONG_PTR pulDataLen),                                                     \
    (hSession, pEncryptedData, ulEncryptedDataLen, pData, pulDataLen))                                \
  X(DecryptUpdate, IMPL,                                                                              \
    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart, CK_ULONG ulEncryptedPartLen,             \
     CK_BYTE_PTR pPart, CK_ULONG_PTR pulPartLen),                                                     \
    (hSession, pEncryptedPart, ulEncryptedPartLen, pPart, pulPartLen))                                \
  X(DecryptFinal, IMPL,                                                                               \
    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pLastPart, CK_ULONG_PTR pulLastPartLen),                 \
    (hSession, pLastPart, pulLastPartLen))                                                            \
  X(DigestInit, IMPL, (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism), (hSession, pMechanism)) \
  X(Digest, IMPL,                                                                                     \
    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pDigest,          \
     CK_ULONG_PTR pulDigestLen),                                                                      \
    (hSession, pData, ulDataLen, pDigest, pulDigestLen))                                              \
  X(DigestUpdate, IMPL, (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen),          \
    (hSession, pPart, ulPartLen))                                                                     \
  X(DigestKey, UNSUP, (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hKey), (hSession, hKey))          \
  X(DigestFinal, IMPL, (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pDigest, CK_ULONG_PTR pulDigestLen),  \
    (hSession, pDigest, pulDigestLen))                                                                \
  X(SignInit, IMPL, (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey), \
    (hSession, pMechanism, hKey))                                                                     \
  X(Sign, IMPL,                                                                                       \
    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,       \
     CK_ULONG_PTR pulSignatureLen),                                                                   \
    (hSession, pData, ulDataLen, pSignature, pulSignatureLen))                                        \
  X(SignUpdate, IMPL, (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen),            \
    (hSession, pPart, ulPartLen))                                                                     \
  X(SignFinal, IMPL, (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen), \
    (hSession, pSignature, pulSignatureLen))                                                          \
  X(SignRecoverInit, UNSUP,                                                                           \
    (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey),                 \
    (hSession, pMechanism, hKey))                                                                     \
  X(SignRecover, UNSUP,                                                                               \
    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,       \
     CK_ULONG_PTR pulSignatureLen),                                                                   \
    (hSession, pData, ulDataLen, pSignature, pulSignatureLen))                                        \
  X(VerifyInit, IMPL, (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey), \
    (hSession, pMechanism, hKey))                                                                     \
  X(Verify, IMPL,                                                                                     \
    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,       \
     CK_ULONG ulSignatureLen),                                                                        \
    (hSession, pData, ulDataLen, pSignature, ulSignatureLen))                                         \
  X(VerifyUpdate, IMPL, (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen),          \
    (hSession, pPart, ulPartLen))                                                                     \
  X(VerifyFinal, IMPL, (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen), \
    (hSession, pSignature, ulSignatureLen))                                                           \
  X(VerifyRecoverInit, UNSUP,                                                                         \
    (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey),                 \
    (hSession, pMechanism, hKey))                                                                     \
  X(VerifyRecover, UNSUP,                                                                             \
    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen, CK_BYTE_PTR pData,  \
     CK_ULONG_PTR pulDataLen),                                                                        \
    (hSession, pSignature, ulSignatureLen, pData, pulDataLen))                                        \
  X(DigestEncryptUpdate, UNSUP,                                                                       \
    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen, CK_BYTE_PTR pEncryptedPart,   \
     CK_ULONG_PTR pulEncryptedPartLen),                                                               \
    (hSession, pPart, ulPartLen, pEncryptedPart, pulEncryptedPartLen))                                \
  X(DecryptDigestUpdate, UNSUP,                                                                       \
    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart, CK_ULONG ulEncryptedPartLen,             \
     CK_BYTE_PTR pPart, CK_ULONG_PTR pulPartLen),                                                     \
    (hSession, pEncryptedPart, ulEncryptedPartLen, pPart, pulPartLen))                                \
  X(SignEncryptUpdate, UNSUP,                                                                         \
    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen, CK_BYTE_PTR pEncryptedPart,   \
     CK_ULONG_PTR pulEncryptedPartLen),                                                               \
    (hSession, pPart, ulPartLen, pEncryptedPart, pulEncryptedPartLen))                                \
  X(DecryptVerifyUpdate, UNSUP,                                                                       \
    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart, CK_ULONG ulEncryptedPartLen,             \
     CK_BYTE_PTR pPart, CK_ULONG_PTR pulPartLen),                                                     \
    (hSession, pEncryptedPart, ulEncryptedPartLen, pPart, pulPartLen))                                \
  X(GenerateKey, UNSUP,                                                                               \
    (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_ATTRIBUTE_PTR pTemplate,             \
     CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phKey),                                                   \
    (hSession, pMechanism, pTemplate, ulCount, phKey))                                                \
  X(GenerateKeyPair, IMPL,                                                                            \
    (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_ATTRIBUTE_PTR pPublicKeyTemplate,    \
     CK_ULONG ulPublicKeyAttributeCount, CK_ATTRIBUTE_PTR pPrivateKeyTemplate,                        \
     CK_ULONG ulPrivateKeyAttributeCount, CK_OBJECT_HANDLE_PTR phPublicKey,                           \
     CK_OBJECT_HANDLE_PTR phPrivateKey),                                                              \
    (hSession, pMechanism, pPublicKeyTemplate, ulPublicKeyAttributeCount, pPrivateKeyTemplate,        \
     ulPrivateKeyAttributeCount, phPublicKey, phPrivateKey))                                          \
  X(WrapKey, UNSUP,                                                                                   \
    (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hWrappingKey,          \
     CK_OBJECT_HANDLE hKey, CK_BYTE_PTR pWrappedKey, CK_ULONG_PTR pulWrappedKeyLen),                  \
    (hSession, pMechanism, hWrappingKey, hKey, pWrappedKey, pulWrappedKeyLen))                        \
  X(UnwrapKey, UNSUP,                                                                                 \
    (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hUnwrappingKey,        \
     CK_BYTE_PTR pWrappedKey, CK_ULONG ulWrappedKeyLen, CK_ATTRIBUTE_PTR pTemplate,                   \
     CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey),                                          \
    (hSession, pMechanism, hUnwrappingKey, pWrappedKey, ulWrappedKeyLen, pTemplate, ulAttributeCount, \
     phKey))                                                                                          \
  X(DeriveKey, UNSUP,                                                                                 \
    (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hBaseKey,              \
     CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey),              \
    (hSession, pMechanism, hBaseKey, pTemplate, ulAttributeCount, phKey))                             \
  X(SeedRandom, IMPL, (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSeed, CK_ULONG ulSeedLen),            \
    (hSession, pSeed, ulSeedLen))                                                                     \
  X(GenerateRandom, IMPL, (CK_SESSION_HANDLE hSession, CK_BYTE_PTR RandomData, CK_ULONG ulRandomLen), \
    (hSession, RandomData, ulRandomLen))                                                              \
  X(GetFunctionStatus, NOTPAR, (CK_SESSION_HANDLE hSession), (hSession))                              \
  X(CancelFunction, NOTPAR, (CK_SESSION_HANDLE hSession), (hSession))                                 \
  X(WaitForSlotEvent, IMPL, (CK_FLAGS flags, CK_SLOT_ID_PTR pSlot, CK_VOID_PTR pReserved),            \
    (flags, pSlot, pReserved))
