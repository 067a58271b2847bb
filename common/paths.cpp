#include "common/paths.h"

#include <cstdlib>
#include <string>
#ifndef _WIN32
#include <pwd.h>
#include <unistd.h>
#endif

namespace vtoken::paths {
namespace {

std::filesystem::path Env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return {};
  std::filesystem::path p(v);
  return p.is_absolute() ? p : std::filesystem::path{};  // XDG: relative paths are invalid
}

std::filesystem::path Home() {
  if (auto h = Env("HOME"); !h.empty()) return h;
#ifndef _WIN32
  if (const passwd* pw = getpwuid(getuid()); pw && pw->pw_dir) return pw->pw_dir;
#else
  if (auto h = Env("USERPROFILE"); !h.empty()) return h;
#endif
  return "/";
}

}  // namespace

std::filesystem::path RuntimeDir() {
  if (auto d = Env("XDG_RUNTIME_DIR"); !d.empty()) return d / "vtoken";
#ifndef _WIN32
  return std::filesystem::path("/tmp") / ("vtoken-" + std::to_string(getuid()));
#else
  return std::filesystem::temp_directory_path() / "vtoken";
#endif
}

std::filesystem::path DataDir() {
  if (auto d = Env("XDG_DATA_HOME"); !d.empty()) return d / "vtoken";
  return Home() / ".local" / "share" / "vtoken";
}

std::filesystem::path ConfigDir() {
  if (auto d = Env("XDG_CONFIG_HOME"); !d.empty()) return d / "vtoken";
  return Home() / ".config" / "vtoken";
}

std::filesystem::path ConfigFile() {
  if (auto f = Env("VTOKEN_CONFIG"); !f.empty()) return f;
  return ConfigDir() / "vtoken.conf";
}

std::filesystem::path AgentSocket() { return RuntimeDir() / "agent.sock"; }

}  // namespace vtoken::paths
