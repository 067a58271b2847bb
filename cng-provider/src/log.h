#pragma once
// Diagnostics of the provider. An NCrypt caller only sees a status code, so
// the reason goes here: to the file named by VTOKEN_KSP_LOG (appended), and to
// OutputDebugString (DebugView, a debugger).
#include <string_view>

namespace vtoken::ksp {
void Log(std::string_view line);
}  // namespace vtoken::ksp
