#pragma once
// The provider's error type. Internally every failure is a Status (what an
// NCrypt caller must be told) with a message and where it was raised; the
// bridge (bridge.cpp) is the only place that turns it into a SECURITY_STATUS.
#include <expected>
#include <source_location>
#include <string>

#include "common/error.h"

namespace vtoken::ksp {

enum class Status {
  kBadFlags,          // NTE_BAD_FLAGS
  kInvalidHandle,     // NTE_INVALID_HANDLE
  kInvalidParameter,  // NTE_INVALID_PARAMETER
  kBufferTooSmall,    // NTE_BUFFER_TOO_SMALL
  kBadKeyset,         // NTE_BAD_KEYSET: no such key
  kNotFound,          // NTE_NOT_FOUND: no such property value (a key without certificate)
  kNoMoreItems,       // NTE_NO_MORE_ITEMS
  kSilentContext,     // NTE_SILENT_CONTEXT: a PIN or code is needed and nobody may be asked
  kDeviceNotReady,    // NTE_DEVICE_NOT_READY: no agent, token unplugged
  kNotSupported,      // NTE_NOT_SUPPORTED
  kBadType,           // NTE_BAD_TYPE: a blob type that does not fit the key
  kNoMemory,          // NTE_NO_MEMORY
  kWrongPin,          // SCARD_W_WRONG_CHV, as smart-card providers report it
  kPinBlocked,        // SCARD_W_CHV_BLOCKED
  kUserCancelled,     // NTE_USER_CANCELLED
  kPermission,        // NTE_PERM: the key may not be used for this
  kInternal,          // NTE_INTERNAL_ERROR
};

struct KspError {
  Status status = Status::kInternal;
  std::string message;
  std::source_location where = std::source_location::current();
};

template <class T = void>
using KspResult = std::expected<T, KspError>;

inline std::unexpected<KspError> KspFail(Status status, std::string message,
                                         std::source_location where = std::source_location::current()) {
  return std::unexpected(KspError{status, std::move(message), where});
}

// An agent (CKR_*) error as the NCrypt caller must see it.
KspError FromAgent(const Error& e);
const char* StatusName(Status s);
std::string Describe(const KspError& e);

}  // namespace vtoken::ksp
