// The C ABI edge. Every C_* entry point is one generated line that runs the
// C++ implementation inside Guard: no exception crosses into the host
// (std::bad_alloc -> CKR_HOST_MEMORY, anything else -> CKR_GENERAL_ERROR),
// and an Error becomes its CK_RV here and nowhere else.
#include <exception>
#include <new>
#include <string>

#include "common/ckr_names.h"
#include "pkcs11/api.h"
#include "pkcs11/bridge.h"
#include "pkcs11/log.h"
#include "pkcs11/provider.h"

namespace vtoken::pkcs11 {
namespace {

LogLevel LevelFor(CK_RV rv) {
  switch (rv) {
    case CKR_GENERAL_ERROR:
    case CKR_HOST_MEMORY:
      return LogLevel::kError;
    case CKR_DEVICE_MEMORY:
    case CKR_FUNCTION_FAILED:
      return LogLevel::kWarning;
    case CKR_DEVICE_ERROR:  // the agent client already warned once about the connection
      return LogLevel::kInfo;
    case CKR_BUFFER_TOO_SMALL:
    case CKR_NO_EVENT:
      return LogLevel::kDebug;
    default:
      return LogLevel::kInfo;
  }
}

void LogNoThrow(LogLevel level, const char* name, const char* what) noexcept {
  try {
    if (LogEnabled(level)) Log(level, std::string(name) + ": " + what);
  } catch (...) {
  }
}

}  // namespace

CK_RV ResolveResult(const char* name, const Result<void>& result) noexcept {
  try {
    if (result) {
      if (LogEnabled(LogLevel::kDebug)) Log(LogLevel::kDebug, std::string(name) + " -> CKR_OK");
      return CKR_OK;
    }
    const Error& e = result.error();
    const LogLevel level = LevelFor(e.rv);
    if (LogEnabled(level)) Log(level, std::string(name) + " -> " + Describe(e));
    return e.rv == CKR_OK ? CKR_GENERAL_ERROR : e.rv;  // an Error never means success
  } catch (...) {
    return result ? CKR_OK : (result.error().rv == CKR_OK ? CKR_GENERAL_ERROR : result.error().rv);
  }
}

CK_RV ResolveException(const char* name) noexcept {
  try {
    throw;
  } catch (const std::bad_alloc&) {
    LogNoThrow(LogLevel::kError, name, "out of memory");
    return CKR_HOST_MEMORY;
  } catch (const std::exception& e) {
    LogNoThrow(LogLevel::kError, name, e.what());
    return CKR_GENERAL_ERROR;
  } catch (...) {
    LogNoThrow(LogLevel::kError, name, "unknown exception");
    return CKR_GENERAL_ERROR;
  }
}

namespace {
Result<void> NotSupported() {
  VT_TRY(CurrentProvider());
  return Fail(CKR_FUNCTION_NOT_SUPPORTED, "not implemented by vtoken");
}
Result<void> NotParallel() {
  VT_TRY(CurrentProvider());
  return Fail(CKR_FUNCTION_NOT_PARALLEL, "legacy parallel function");
}
}  // namespace

}  // namespace vtoken::pkcs11

#define VTOKEN_P11_BODY_IMPL(name, args) ::vtoken::pkcs11::name args
#define VTOKEN_P11_BODY_UNSUP(name, args) ::vtoken::pkcs11::NotSupported()
#define VTOKEN_P11_BODY_NOTPAR(name, args) ::vtoken::pkcs11::NotParallel()
#define VTOKEN_P11_SHIM(name, kind, params, args)                                     \
  extern "C" __attribute__((visibility("default"))) CK_RV C_##name params {          \
    return ::vtoken::pkcs11::Guard("C_" #name, [&] { return VTOKEN_P11_BODY_##kind(name, args); }); \
  }
VTOKEN_PKCS11_FUNCTIONS(VTOKEN_P11_SHIM)

namespace vtoken::pkcs11 {
namespace {
#define VTOKEN_P11_ENTRY(name, kind, params, args) C_##name,
CK_FUNCTION_LIST g_function_list = {{CRYPTOKI_VERSION_MAJOR, CRYPTOKI_VERSION_MINOR},
                                    VTOKEN_PKCS11_FUNCTIONS(VTOKEN_P11_ENTRY)};
#undef VTOKEN_P11_ENTRY
}  // namespace

CK_FUNCTION_LIST* FunctionList() { return &g_function_list; }

Result<void> GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList) {
  if (ppFunctionList == nullptr) return Fail(CKR_ARGUMENTS_BAD, "ppFunctionList is NULL");
  *ppFunctionList = &g_function_list;
  return {};
}

}  // namespace vtoken::pkcs11
