#include "common/secure.h"

#include <cstring>
#ifdef _WIN32
#include <windows.h>
#endif

namespace vtoken {

void WipeMemory(void* p, std::size_t n) noexcept {
  if (p == nullptr || n == 0) return;
#ifdef _WIN32
  SecureZeroMemory(p, n);
#else
  explicit_bzero(p, n);
#endif
}

bool Secret::operator==(const Secret& o) const {
  if (value_.size() != o.value_.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < value_.size(); ++i) diff |= value_[i] ^ o.value_[i];
  return diff == 0;
}

}  // namespace vtoken
