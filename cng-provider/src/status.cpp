#include "cng-provider/src/status.h"

#include <p11-kit/pkcs11.h>

#include <filesystem>

#include "common/ckr_names.h"

namespace vtoken::ksp {

KspError FromAgent(const Error& e) {
  Status s = Status::kInternal;
  switch (e.rv) {
    case CKR_PIN_INCORRECT:
    case CKR_PIN_INVALID:
    case CKR_PIN_LEN_RANGE:
      s = Status::kWrongPin;
      break;
    case CKR_PIN_LOCKED:
      s = Status::kPinBlocked;
      break;
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_DEVICE_REMOVED:
    case CKR_DEVICE_ERROR:
    case CKR_SLOT_ID_INVALID:
    case CKR_TOKEN_NOT_RECOGNIZED:
      s = Status::kDeviceNotReady;
      break;
    case CKR_OBJECT_HANDLE_INVALID:
    case CKR_KEY_HANDLE_INVALID:
      s = Status::kBadKeyset;
      break;
    case CKR_FUNCTION_CANCELED:
      s = Status::kUserCancelled;
      break;
    case kCkrPromptRequired:  // asked with no_prompt (NCRYPT_SILENT_FLAG): a person would have had to answer
      s = Status::kSilentContext;
      break;
    case CKR_DATA_LEN_RANGE:
    case CKR_DATA_INVALID:
    case CKR_ARGUMENTS_BAD:
    case CKR_MECHANISM_PARAM_INVALID:
      s = Status::kInvalidParameter;
      break;
    case CKR_MECHANISM_INVALID:
    case CKR_FUNCTION_NOT_SUPPORTED:
      s = Status::kNotSupported;
      break;
    case CKR_KEY_FUNCTION_NOT_PERMITTED:
    case CKR_KEY_TYPE_INCONSISTENT:
      s = Status::kPermission;
      break;
    case CKR_HOST_MEMORY:
      s = Status::kNoMemory;
      break;
    default:
      break;
  }
  return KspError{s, std::string(CkrName(e.rv)) + (e.message.empty() ? "" : ": " + e.message), e.where};
}

const char* StatusName(Status s) {
  switch (s) {
    case Status::kBadFlags: return "NTE_BAD_FLAGS";
    case Status::kInvalidHandle: return "NTE_INVALID_HANDLE";
    case Status::kInvalidParameter: return "NTE_INVALID_PARAMETER";
    case Status::kBufferTooSmall: return "NTE_BUFFER_TOO_SMALL";
    case Status::kBadKeyset: return "NTE_BAD_KEYSET";
    case Status::kNotFound: return "NTE_NOT_FOUND";
    case Status::kNoMoreItems: return "NTE_NO_MORE_ITEMS";
    case Status::kSilentContext: return "NTE_SILENT_CONTEXT";
    case Status::kDeviceNotReady: return "NTE_DEVICE_NOT_READY";
    case Status::kNotSupported: return "NTE_NOT_SUPPORTED";
    case Status::kBadType: return "NTE_BAD_TYPE";
    case Status::kNoMemory: return "NTE_NO_MEMORY";
    case Status::kWrongPin: return "SCARD_W_WRONG_CHV";
    case Status::kPinBlocked: return "SCARD_W_CHV_BLOCKED";
    case Status::kUserCancelled: return "NTE_USER_CANCELLED";
    case Status::kPermission: return "NTE_PERM";
    case Status::kInternal: return "NTE_INTERNAL_ERROR";
  }
  return "NTE_INTERNAL_ERROR";
}

std::string Describe(const KspError& e) {
  std::string out = StatusName(e.status);
  if (!e.message.empty()) out += ": " + e.message;
  out += " [" + std::filesystem::path(e.where.file_name()).filename().string() + ":" + std::to_string(e.where.line()) + "]";
  return out;
}

}  // namespace vtoken::ksp
