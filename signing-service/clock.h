#pragma once
// The service clock: real time plus an offset that only test mode can change
// (POST /test/clock), so tests can reach the next TOTP step or an expiry
// without waiting.
#include <atomic>
#include <cstdint>

namespace vtoken::service {

class Clock {
 public:
  std::int64_t Now() const;  // seconds since the epoch, offset applied
  void SetOffset(std::int64_t seconds) { offset_.store(seconds); }
  std::int64_t Offset() const { return offset_.load(); }

 private:
  std::atomic<std::int64_t> offset_{0};
};

}  // namespace vtoken::service
