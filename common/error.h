#pragma once
// One error type for all of vtoken: a PKCS#11 return value, a message a person
// can read, and where it was raised. CK_RV values only become bare integers at
// the ABI edges (pkcs11/bridge, cng-provider) and on the agent wire.
#include <expected>
#include <source_location>
#include <string>
#include <utility>

namespace vtoken {

struct Error {
  unsigned long rv = 0;  // a CKR_* value
  std::string message;
  std::source_location where = std::source_location::current();
};

template <class T = void>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> Fail(unsigned long rv, std::string message,
                                   std::source_location where = std::source_location::current()) {
  return std::unexpected(Error{rv, std::move(message), where});
}

// "CKR_PIN_INCORRECT: wrong PIN (2 tries left) [tokend/pin.cpp:42]"
std::string Describe(const Error& e);

// "what: <strerror(errno)>", for a message about the system call that just failed.
std::string Errno(const std::string& what);

}  // namespace vtoken

// Unwraps a Result<T> or returns its error from the enclosing function.
//   auto key = VT_TRY(LoadKey(id));
#define VT_TRY(expr)                                                          \
  ({                                                                          \
    auto&& vt_try_result_ = (expr);                                           \
    if (!vt_try_result_) return std::unexpected(std::move(vt_try_result_).error()); \
    std::move(vt_try_result_).value();                                        \
  })

// For Result<void>: returns the error, if any, from the enclosing function.
#define VT_CHECK(expr)                                                        \
  do {                                                                        \
    auto&& vt_check_result_ = (expr);                                         \
    if (!vt_check_result_) return std::unexpected(std::move(vt_check_result_).error()); \
  } while (0)
