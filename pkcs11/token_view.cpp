// Slots and tokens as applications see them: C_GetSlotList, C_GetSlotInfo,
// C_GetTokenInfo and the mechanism queries answer from the cached snapshot;
// C_WaitForSlotEvent reports presence changes; C_InitToken goes to the agent.
#include <chrono>

#include "pkcs11/api.h"
#include "pkcs11/buffer.h"
#include "pkcs11/mechanisms.h"
#include "pkcs11/provider.h"

namespace vtoken::pkcs11 {

Result<void> GetSlotList(CK_BBOOL tokenPresent, CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount) {
  auto p = VT_TRY(CurrentProvider());
  if (pulCount == nullptr) return Fail(CKR_ARGUMENTS_BAD, "pulCount is NULL");
  VT_CHECK(p->Sync());
  const auto ids = p->slots.List(tokenPresent != CK_FALSE);
  if (pSlotList == nullptr) {
    *pulCount = ids.size();
    return {};
  }
  if (*pulCount < ids.size()) {
    *pulCount = ids.size();
    return Fail(CKR_BUFFER_TOO_SMALL, "slot list buffer too small");
  }
  std::copy(ids.begin(), ids.end(), pSlotList);
  *pulCount = ids.size();
  return {};
}

Result<void> GetSlotInfo(CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo) {
  auto p = VT_TRY(CurrentProvider());
  if (pInfo == nullptr) return Fail(CKR_ARGUMENTS_BAD, "pInfo is NULL");
  VT_CHECK(p->Sync());
  return p->slots.SlotInfo(slotID, pInfo);
}

Result<void> GetTokenInfo(CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo) {
  auto p = VT_TRY(CurrentProvider());
  if (pInfo == nullptr) return Fail(CKR_ARGUMENTS_BAD, "pInfo is NULL");
  VT_CHECK(p->Sync());
  SlotEntry slot = VT_TRY(p->slots.Token(slotID));
  *pInfo = slot.token_info;
  pInfo->ulSessionCount = p->sessions.Count(slotID);
  pInfo->ulRwSessionCount = p->sessions.CountRw(slotID);
  return {};
}

Result<void> GetMechanismList(CK_SLOT_ID slotID, CK_MECHANISM_TYPE_PTR pMechanismList, CK_ULONG_PTR pulCount) {
  auto p = VT_TRY(CurrentProvider());
  if (pulCount == nullptr) return Fail(CKR_ARGUMENTS_BAD, "pulCount is NULL");
  VT_CHECK(p->Sync());
  VT_TRY(p->slots.Get(slotID));  // every vtoken token offers every mechanism
  return MechanismList(pMechanismList, pulCount);
}

Result<void> GetMechanismInfo(CK_SLOT_ID slotID, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR pInfo) {
  auto p = VT_TRY(CurrentProvider());
  if (pInfo == nullptr) return Fail(CKR_ARGUMENTS_BAD, "pInfo is NULL");
  VT_CHECK(p->Sync());
  VT_TRY(p->slots.Get(slotID));
  return MechanismInfo(type, pInfo);
}

Result<void> WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR pSlot, CK_VOID_PTR pReserved) {
  auto p = VT_TRY(CurrentProvider());
  if (pSlot == nullptr || pReserved != nullptr) return Fail(CKR_ARGUMENTS_BAD, "pSlot is NULL or pReserved is not");
  for (;;) {
    if (p->stopping()) return Fail(CKR_CRYPTOKI_NOT_INITIALIZED, "C_Finalize was called");
    (void)p->Sync();  // reconnects a lost agent; its events only come on a connection
    if (auto id = p->slots.TakeEvent()) {
      *pSlot = *id;
      return {};
    }
    if (flags & CKF_DONT_BLOCK) return Fail(CKR_NO_EVENT, "no slot event pending");
    if (p->stopping()) return Fail(CKR_CRYPTOKI_NOT_INITIALIZED, "C_Finalize was called");
    p->slots.WaitForEvent(std::chrono::milliseconds(1000));
  }
}

Result<void> InitToken(CK_SLOT_ID slotID, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen, CK_UTF8CHAR_PTR pLabel) {
  auto p = VT_TRY(CurrentProvider());
  if (pPin == nullptr || pLabel == nullptr) return Fail(CKR_ARGUMENTS_BAD, "pPin or pLabel is NULL");
  VT_CHECK(p->Sync());
  VT_TRY(p->slots.Token(slotID));
  if (p->sessions.Count(slotID) != 0) return Fail(CKR_SESSION_EXISTS, "close the token's sessions first");
  const Secret so_pin(pPin, ulPinLen);
  VT_TRY(p->Call({{"op", "init_token"},
                  {"slot_id", slotID},
                  {"so_pin", wire::Binary(so_pin)},
                  {"label", std::string(TrimPadded(pLabel, 32))}}));
  p->objects.Drop(slotID);
  return p->RefreshSlots();
}

}  // namespace vtoken::pkcs11
