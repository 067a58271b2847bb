#pragma once
// Diagnostics of the module go to stderr, and only as much as asked for:
// VTOKEN_P11_LOG (error|warning|info|debug) overrides pkcs11.log_level from
// vtoken.conf. "warning" (the default) reports only failures that point at a
// problem (agent unreachable, internal errors), not the CKR_* answers that
// applications provoke on purpose. PINs are never passed to these functions.
#include <string_view>

namespace vtoken::pkcs11 {

enum class LogLevel { kError = 0, kWarning = 1, kInfo = 2, kDebug = 3 };

void SetLogLevel(LogLevel level);
LogLevel ParseLogLevel(std::string_view name, LogLevel fallback);
bool LogEnabled(LogLevel level);
void Log(LogLevel level, std::string_view message);

}  // namespace vtoken::pkcs11
