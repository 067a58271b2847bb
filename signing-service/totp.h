#pragma once
// TOTP (RFC 6238, HMAC-SHA1, 6 digits) through liboath, and the otpauth://
// pairing URI authenticator apps read.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/secure.h"

namespace vtoken::service::totp {

constexpr int kDigits = 6;
constexpr int kWindow = 1;  // accept the previous and the next step too

SecureBytes NewSecret();  // 20 random bytes (160 bits, RFC 4226 recommendation)
std::string Base32(const SecureBytes& secret);

// The code for `time` (seconds since the epoch); digits 6..8.
std::string Generate(const SecureBytes& secret, std::int64_t time, int period, int digits = kDigits);

// The time step (time / period) whose code equals `code` within ±kWindow
// steps of `now`, if any. Comparison is constant-time per candidate.
std::optional<std::int64_t> MatchStep(const SecureBytes& secret, std::string_view code,
                                      std::int64_t now, int period);

// otpauth://totp/vtoken:EMAIL?secret=BASE32&issuer=vtoken&algorithm=SHA1&digits=6&period=30
std::string OtpauthUri(const std::string& email, const SecureBytes& secret, int period);

}  // namespace vtoken::service::totp
