#include "pkcs11/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>

namespace vtoken::pkcs11 {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kWarning)};
constexpr const char* kNames[] = {"error", "warning", "info", "debug"};
}  // namespace

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level), std::memory_order_relaxed); }

LogLevel ParseLogLevel(std::string_view name, LogLevel fallback) {
  for (int i = 0; i < 4; ++i)
    if (name == kNames[i]) return static_cast<LogLevel>(i);
  return fallback;
}

bool LogEnabled(LogLevel level) {
  return static_cast<int>(level) <= g_level.load(std::memory_order_relaxed);
}

void Log(LogLevel level, std::string_view message) {
  if (!LogEnabled(level)) return;
  // One write() per line so lines of concurrent threads do not interleave.
  std::string line = "vtoken-pkcs11[" + std::to_string(getpid()) + "] " + kNames[static_cast<int>(level)] +
                     ": " + std::string(message) + "\n";
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace vtoken::pkcs11
