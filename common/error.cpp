#include "common/error.h"

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/ckr_names.h"

namespace vtoken {
std::string Describe(const Error& e) {
  std::string out(CkrName(e.rv));
  if (!e.message.empty()) out += ": " + e.message;
  out += " [";
  out += std::filesystem::path(e.where.file_name()).filename().string();
  out += ":" + std::to_string(e.where.line()) + "]";
  return out;
}

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }
}  // namespace vtoken
