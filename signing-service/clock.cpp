#include "clock.h"

#include <chrono>

namespace vtoken::service {

std::int64_t Clock::Now() const {
  auto real = std::chrono::duration_cast<std::chrono::seconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  return real + offset_.load();
}

}  // namespace vtoken::service
