#include "tokend/emulated/pin_policy.h"

#include <p11-kit/pkcs11.h>

#include "tokend/emulated/emulated_token.h"

namespace vtoken::agent {

constexpr std::size_t kMaxLabelBytes = 32;
constexpr std::size_t kMaxNameBytes = 64;
constexpr std::size_t kMaxPinBytes = 256;

Result<void> CheckPinPolicy(const TokenPolicy& policy, const Secret& pin) {
  if (pin.size() < policy.pin_min || pin.size() > policy.pin_max)
    return Fail(CKR_PIN_LEN_RANGE, "PIN must be " + std::to_string(policy.pin_min) + " to " +
                                       std::to_string(policy.pin_max) + " bytes long");
  for (unsigned char c : pin.view()) {
    if (c < 0x20 || c == 0x7f) return Fail(CKR_PIN_INVALID, "PIN holds a control character");
    if (policy.pin_digits_only && (c < '0' || c > '9')) return Fail(CKR_PIN_INVALID, "PIN must be digits only");
  }
  return {};
}

Result<void> CheckPolicy(const TokenPolicy& policy) {
  if (policy.pin_retries < 1 || policy.pin_retries > 100 || policy.puk_retries < 1 || policy.puk_retries > 100)
    return Fail(CKR_ARGUMENTS_BAD, "retry counters must be 1..100");
  if (policy.pin_min < 1 || policy.pin_min > policy.pin_max || policy.pin_max > kMaxPinBytes)
    return Fail(CKR_ARGUMENTS_BAD, "PIN length limits must satisfy 1 <= min <= max <= 256");
  if (policy.kdf != "scrypt" && policy.kdf != "pbkdf2") return Fail(CKR_ARGUMENTS_BAD, "KDF must be scrypt or pbkdf2");
  if (policy.kdf == "scrypt" && policy.kdf_cost > 22) return Fail(CKR_ARGUMENTS_BAD, "scrypt cost is log2(N) <= 22");
  return {};
}

Result<void> CheckTokenLabel(const std::string& label) {
  if (label.size() > kMaxLabelBytes) return Fail(CKR_ARGUMENTS_BAD, "token label longer than 32 bytes");
  if (label.find('\0') != std::string::npos || label.find(':') != std::string::npos)
    return Fail(CKR_ARGUMENTS_BAD, "token label must not contain NUL or ':'");
  return {};
}

Result<void> CheckTokenName(const std::string& name) {
  if (name.empty() || name.size() > kMaxNameBytes || name == "." || name == ".." ||
      name.find_first_of(std::string("/\\\0", 3)) != std::string::npos)
    return Fail(CKR_ARGUMENTS_BAD, "token name must be 1..64 bytes without '/', '\\' or NUL");
  return {};
}

}  // namespace vtoken::agent
