#pragma once
// Containers for secrets (PIN, PUK, passwords, TOTP codes, SAD, access tokens,
// key material): memory is wiped before it goes back to the allocator, so a
// secret lives no longer than the object holding it.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vtoken {

void WipeMemory(void* p, std::size_t n) noexcept;

template <class T>
struct ZeroingAllocator {
  using value_type = T;
  ZeroingAllocator() noexcept = default;
  template <class U>
  ZeroingAllocator(const ZeroingAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return std::allocator<T>().allocate(n); }
  void deallocate(T* p, std::size_t n) noexcept {
    WipeMemory(p, n * sizeof(T));
    std::allocator<T>().deallocate(p, n);
  }
  template <class U>
  bool operator==(const ZeroingAllocator<U>&) const noexcept { return true; }
};

using SecureBytes = std::vector<std::uint8_t, ZeroingAllocator<std::uint8_t>>;
// Note: short strings live inside the object (SSO); the destructor of
// SecureString's buffer is not reached for them, so callers that hold a
// secret in a SecureString call Wipe() or let SecretString do it.
using SecureString = std::basic_string<char, std::char_traits<char>, ZeroingAllocator<char>>;

// A secret string that wipes itself (including the small-string buffer) on
// destruction and on move-from.
class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string_view s) : value_(s.begin(), s.end()) {}
  Secret(const std::uint8_t* p, std::size_t n) : value_(p, p + n) {}
  Secret(const Secret&) = default;
  Secret& operator=(const Secret&) = default;
  Secret(Secret&& o) noexcept : value_(std::move(o.value_)) { o.Wipe(); }
  Secret& operator=(Secret&& o) noexcept {
    if (this != &o) { Wipe(); value_ = std::move(o.value_); o.Wipe(); }
    return *this;
  }
  ~Secret() { Wipe(); }

  void Wipe() noexcept {
    WipeMemory(value_.data(), value_.size());
    value_.clear();
  }
  std::string_view view() const { return {reinterpret_cast<const char*>(value_.data()), value_.size()}; }
  const std::uint8_t* data() const { return value_.data(); }
  std::size_t size() const { return value_.size(); }
  bool empty() const { return value_.empty(); }
  bool operator==(const Secret& o) const;  // constant time

 private:
  SecureBytes value_;  // heap only: no small-buffer copy left behind
};

}  // namespace vtoken
