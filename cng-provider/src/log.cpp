#include "cng-provider/src/log.h"

#include <windows.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

namespace vtoken::ksp {

void Log(std::string_view line) {
  static std::mutex mu;
  std::string text = "vtoken-ksp[" + std::to_string(GetCurrentProcessId()) + "]: " + std::string(line) + "\n";
  std::lock_guard lock(mu);
  OutputDebugStringA(text.c_str());
  if (const char* path = std::getenv("VTOKEN_KSP_LOG"); path && *path) {
    if (FILE* f = std::fopen(path, "a")) {
      std::fputs(text.c_str(), f);
      std::fclose(f);
    }
  }
}

}  // namespace vtoken::ksp
