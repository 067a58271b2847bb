#pragma once
// Agent logging: one line per event to stderr (and optionally a file), with
// levels from agent.log_level. Callers never pass PINs, PUKs or any other
// secret here: requests are logged by op, slot and result only.
#include <filesystem>
#include <string>
#include <string_view>

namespace vtoken::agent {

enum class LogLevel { kError = 0, kWarning = 1, kInfo = 2, kDebug = 3 };

// "error" | "warning" | "info" | "debug"; anything else means info.
LogLevel ParseLogLevel(std::string_view name);
void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);
// Also append lines to `file` (best effort; stderr stays).
void SetLogFile(const std::filesystem::path& file);
void Log(LogLevel level, std::string_view message);

inline void LogError(std::string_view m) { Log(LogLevel::kError, m); }
inline void LogWarning(std::string_view m) { Log(LogLevel::kWarning, m); }
inline void LogInfo(std::string_view m) { Log(LogLevel::kInfo, m); }
inline void LogDebug(std::string_view m) {
  if (LogEnabled(LogLevel::kDebug)) Log(LogLevel::kDebug, m);
}

}  // namespace vtoken::agent
