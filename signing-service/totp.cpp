#include "totp.h"

#include <liboath/oath.h>

#include <cstdlib>
#include <mutex>
#include <stdexcept>

#include "crypto_util.h"

namespace vtoken::service::totp {
namespace {

void InitOath() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (oath_init() != OATH_OK) throw std::runtime_error("oath_init failed");
  });
}

std::string UriEscape(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '@') {
      out += static_cast<char>(c);
    } else {
      static const char* hex = "0123456789ABCDEF";
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace

SecureBytes NewSecret() {
  Bytes b = RandomBytes(20);
  SecureBytes s(b.begin(), b.end());
  WipeMemory(b.data(), b.size());
  return s;
}

std::string Base32(const SecureBytes& secret) {
  InitOath();
  char* out = nullptr;
  size_t len = 0;
  if (oath_base32_encode(reinterpret_cast<const char*>(secret.data()), secret.size(), &out, &len) !=
      OATH_OK)
    throw std::runtime_error("base32 encoding failed");
  std::string s(out, len);
  WipeMemory(out, len);
  std::free(out);
  while (!s.empty() && s.back() == '=') s.pop_back();  // apps expect no padding
  return s;
}

std::string Generate(const SecureBytes& secret, std::int64_t time, int period, int digits) {
  InitOath();
  char buf[16] = {};
  int rc = oath_totp_generate(reinterpret_cast<const char*>(secret.data()), secret.size(),
                              static_cast<time_t>(time), static_cast<unsigned>(period), 0,
                              static_cast<unsigned>(digits), buf);
  if (rc != OATH_OK) throw std::runtime_error("oath_totp_generate failed");
  std::string s(buf);
  WipeMemory(buf, sizeof buf);
  return s;
}

std::optional<std::int64_t> MatchStep(const SecureBytes& secret, std::string_view code,
                                      std::int64_t now, int period) {
  if (code.size() != kDigits || period <= 0) return std::nullopt;
  for (char c : code)
    if (c < '0' || c > '9') return std::nullopt;
  std::int64_t current = now / period;
  std::optional<std::int64_t> match;
  for (std::int64_t step = current - kWindow; step <= current + kWindow; ++step) {
    std::string candidate = Generate(secret, step * period, period);
    if (ConstantTimeEqual(candidate, code) && !match) match = step;
    WipeMemory(candidate.data(), candidate.size());
  }
  return match;
}

std::string OtpauthUri(const std::string& email, const SecureBytes& secret, int period) {
  return "otpauth://totp/vtoken:" + UriEscape(email) + "?secret=" + Base32(secret) +
         "&issuer=vtoken&algorithm=SHA1&digits=" + std::to_string(kDigits) +
         "&period=" + std::to_string(period);
}

}  // namespace vtoken::service::totp
