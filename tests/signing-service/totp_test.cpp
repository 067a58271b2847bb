#include <catch2/catch.hpp>

#include "totp.h"

using namespace vtoken;
using namespace vtoken::service;

namespace {
SecureBytes Rfc6238Key() {
  std::string k = "12345678901234567890";  // RFC 6238 Appendix B, SHA-1 seed
  return SecureBytes(k.begin(), k.end());
}
}  // namespace

TEST_CASE("TOTP matches the RFC 6238 SHA-1 test vectors", "[totp]") {
  auto key = Rfc6238Key();
  CHECK(totp::Generate(key, 59, 30, 8) == "94287082");
  CHECK(totp::Generate(key, 1111111109, 30, 8) == "07081804");
  CHECK(totp::Generate(key, 1111111111, 30, 8) == "14050471");
  CHECK(totp::Generate(key, 1234567890, 30, 8) == "89005924");
  CHECK(totp::Generate(key, 2000000000, 30, 8) == "69279037");
  CHECK(totp::Generate(key, 20000000000, 30, 8) == "65353130");
  CHECK(totp::Generate(key, 59, 30) == "287082");  // 6 digits: the low digits
}

TEST_CASE("TOTP accepts one step either side and nothing further", "[totp]") {
  auto key = Rfc6238Key();
  const std::int64_t now = 1234567890;
  const std::int64_t step = now / 30;
  CHECK(totp::MatchStep(key, totp::Generate(key, now, 30), now, 30) == step);
  CHECK(totp::MatchStep(key, totp::Generate(key, now - 30, 30), now, 30) == step - 1);
  CHECK(totp::MatchStep(key, totp::Generate(key, now + 30, 30), now, 30) == step + 1);
  CHECK_FALSE(totp::MatchStep(key, totp::Generate(key, now - 60, 30), now, 30));
  CHECK_FALSE(totp::MatchStep(key, totp::Generate(key, now + 60, 30), now, 30));
  CHECK_FALSE(totp::MatchStep(key, "12345", now, 30));
  CHECK_FALSE(totp::MatchStep(key, "12a456", now, 30));
  CHECK_FALSE(totp::MatchStep(key, "", now, 30));
}

TEST_CASE("otpauth URI carries the pairing authenticator apps expect", "[totp]") {
  auto key = Rfc6238Key();
  CHECK(totp::Base32(key) == "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
  CHECK(totp::OtpauthUri("alice@example.org", key, 30) ==
        "otpauth://totp/vtoken:alice@example.org?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        "&issuer=vtoken&algorithm=SHA1&digits=6&period=30");
  CHECK(totp::NewSecret().size() == 20);
  CHECK(totp::NewSecret() != totp::NewSecret());
}
