#include <catch2/catch.hpp>

#include "crypto_util.h"

using namespace vtoken;
using namespace vtoken::service;

TEST_CASE("Base64 decoding is strict", "[crypto]") {
  CHECK(Base64Encode(Bytes{'f', 'o', 'o', 'b'}) == "Zm9vYg==");
  CHECK(Base64Decode("Zm9vYg==") == Bytes{'f', 'o', 'o', 'b'});
  CHECK(Base64Decode("") == Bytes{});
  CHECK_FALSE(Base64Decode("Zm9vYg="));    // bad length
  CHECK_FALSE(Base64Decode("Zm9v!g=="));   // bad character
  CHECK_FALSE(Base64Decode("Zm=vYg=="));   // data after padding
  CHECK_FALSE(Base64Decode("Zm9vYg-_"));   // base64url is not accepted
  auto random = RandomBytes(100);
  CHECK(Base64Decode(Base64Encode(random)) == random);
}

TEST_CASE("Passwords are hashed with scrypt and a per-hash salt", "[crypto]") {
  ScryptParams fast{1u << 10, 8, 1};
  auto h1 = HashPassword("correct horse", fast);
  auto h2 = HashPassword("correct horse", fast);
  CHECK(h1.rfind("scrypt$1024$8$1$", 0) == 0);
  CHECK(h1 != h2);  // salted
  CHECK(VerifyPassword("correct horse", h1));
  CHECK_FALSE(VerifyPassword("correct horsf", h1));
  CHECK_FALSE(VerifyPassword("", h1));
  CHECK_FALSE(VerifyPassword("correct horse", "scrypt$1024$8$1$bad"));
  CHECK_FALSE(VerifyPassword("correct horse", "scrypt$99999999999$8$1$AAAA$AAAA"));  // absurd N refused
  CHECK(HashPassword("x").rfind("scrypt$32768$8$1$", 0) == 0);  // default is memory-hard
}

TEST_CASE("AES-256-GCM sealing detects tampering and wrong context", "[crypto]") {
  auto k = RandomBytes(32);
  SecureBytes key(k.begin(), k.end());
  std::string secret = "totp secret bytes";
  auto sealed = SealAesGcm(key, reinterpret_cast<const std::uint8_t*>(secret.data()), secret.size(), "totp:a@b");
  auto opened = OpenAesGcm(key, sealed, "totp:a@b");
  REQUIRE(opened);
  CHECK(std::string(opened->begin(), opened->end()) == secret);
  CHECK_FALSE(OpenAesGcm(key, sealed, "totp:other@b"));
  sealed[15] ^= 1;
  CHECK_FALSE(OpenAesGcm(key, sealed, "totp:a@b"));
  auto other = RandomBytes(32);
  CHECK_FALSE(OpenAesGcm(SecureBytes(other.begin(), other.end()), sealed, "totp:a@b"));
}
