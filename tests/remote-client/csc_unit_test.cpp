// Error mapping, encodings, DER helpers and PKCE.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <openssl/ecdsa.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <p11-kit/pkcs11.h>

#include "remote-client/csc_error.h"
#include "remote-client/der.h"
#include "remote-client/encoding.h"
#include "remote-client/oauth.h"

using namespace vtoken;
using namespace vtoken::csc;

TEST_CASE("error kinds map to the documented CKR values") {
  struct Row { CscErrorKind kind; unsigned long rv; };
  const Row table[] = {
      {CscErrorKind::WrongCode, CKR_PIN_INCORRECT},
      {CscErrorKind::Blocked, CKR_PIN_LOCKED},
      {CscErrorKind::CertificateExpired, CKR_KEY_FUNCTION_NOT_PERMITTED},
      {CscErrorKind::CertificateRevoked, CKR_KEY_FUNCTION_NOT_PERMITTED},
      {CscErrorKind::QuotaExceeded, CKR_FUNCTION_REJECTED},
      {CscErrorKind::SadExpired, CKR_USER_NOT_LOGGED_IN},
      {CscErrorKind::SadInvalid, CKR_USER_NOT_LOGGED_IN},
      {CscErrorKind::NotFound, CKR_KEY_HANDLE_INVALID},
      {CscErrorKind::Unauthorized, CKR_DEVICE_REMOVED},
      {CscErrorKind::InvalidRequest, CKR_ARGUMENTS_BAD},
      {CscErrorKind::Unreachable, CKR_DEVICE_ERROR},
      {CscErrorKind::Timeout, CKR_DEVICE_ERROR},
      {CscErrorKind::TlsFailure, CKR_DEVICE_ERROR},
      {CscErrorKind::BadResponse, CKR_DEVICE_ERROR},
      {CscErrorKind::ServerError, CKR_DEVICE_ERROR},
  };
  for (const auto& row : table) {
    CAPTURE(KindName(row.kind));
    CHECK(CkrFor(row.kind) == row.rv);
    const Error e = MakeError(row.kind, "details");
    CHECK(e.rv == row.rv);
    CHECK(KindOf(e) == row.kind);
    CHECK(e.message == "csc:" + std::string(KindName(row.kind)) + ": details");
  }
  CHECK_FALSE(KindOf(Error{CKR_GENERAL_ERROR, "something else"}).has_value());
  CHECK_FALSE(KindOf(Error{CKR_GENERAL_ERROR, "csc:nonsense: x"}).has_value());
}

TEST_CASE("service errors are classified as in the API.md table") {
  using K = CscErrorKind;
  struct Row { const char* endpoint; long status; const char* error; const char* text; K kind; };
  const Row table[] = {
      {"auth/login", 400, "invalid_otp", "The OTP is invalid", K::WrongCode},
      {"credentials/authorize", 400, "invalid_otp", "The OTP has already been used", K::WrongCode},
      {"auth/login", 400, "authentication_error", "An error occurred during authentication process", K::WrongCode},
      {"credentials/authorize", 400, "otp_blocked", "Authorization blocked after 5 wrong codes", K::Blocked},
      {"credentials/authorize", 400, "invalid_request", "Signing certificate is expired", K::CertificateExpired},
      {"signatures/signHash", 400, "invalid_request", "Signing certificate is revoked", K::CertificateRevoked},
      {"signatures/signHash", 400, "quota_exceeded", "Signature quota used up", K::QuotaExceeded},
      {"signatures/signHash", 400, "invalid_request", "SAD expired", K::SadExpired},
      {"signatures/signHash", 400, "invalid_request", "Invalid parameter SAD", K::SadInvalid},
      {"signatures/signHash", 400, "invalid_request", "Hash is not authorized by the SAD", K::SadInvalid},
      {"signatures/signHash", 400, "invalid_request", "Numbers of signatures is too high", K::SadExpired},
      {"credentials/authorize", 400, "invalid_request", "Numbers of signatures is too high", K::InvalidRequest},
      {"credentials/info", 400, "invalid_request", "Invalid parameter credentialID", K::NotFound},
      {"credentials/list", 401, "invalid_token", "The access token is not valid", K::Unauthorized},
      {"credentials/list", 401, "expired_token", "The access token is expired or revoked", K::Unauthorized},
      {"credentials/list", 401, "invalid_request", "Malformed authorization header", K::Unauthorized},
      {"oauth2/token", 400, "invalid_grant", "PKCE verification failed", K::Unauthorized},
      {"auth/login", 400, "invalid_request", "Invalid refresh_token", K::Unauthorized},
      {"signatures/signHash", 500, "server_error", "Signing failed", K::ServerError},
      {"info", 503, "temporarily_unavailable", "Injected fault", K::ServerError},
      {"info", 502, "", "", K::ServerError},
      {"signatures/signHash", 400, "invalid_request", "Invalid digest value length", K::InvalidRequest},
      {"info", 413, "invalid_request", "Request body too large", K::InvalidRequest},
  };
  for (const auto& row : table) {
    CAPTURE(row.endpoint, row.status, row.error, row.text);
    CHECK(ClassifyServiceError(row.endpoint, row.status, row.error, row.text) == row.kind);
  }
}

TEST_CASE("base64 is strict") {
  const Bytes data = {0x00, 0xff, 0x10, 0x20, 0x30};
  CHECK(Base64Encode(data) == "AP8QIDA=");
  CHECK(Base64Decode("AP8QIDA=", 100) == data);
  CHECK(Base64Decode("", 100) == Bytes{});
  CHECK_FALSE(Base64Decode("AP8QIDA", 100));     // no padding
  CHECK_FALSE(Base64Decode("AP8Q IDA=", 100));   // whitespace
  CHECK_FALSE(Base64Decode("AP8QID-_", 100));    // url alphabet
  CHECK_FALSE(Base64Decode("AP8=QIDA", 100));    // padding in the middle
  CHECK_FALSE(Base64Decode("AP8QIDB=", 100));    // non-canonical bits
  CHECK_FALSE(Base64Decode("AP8QIDA=", 4));      // over the cap
  CHECK(Base64Decode("AP8QIDA=", 5));
  CHECK(Base64UrlEncode(Bytes{0xfb, 0xff}) == "-_8");
}

TEST_CASE("secret JSON bodies are valid JSON with escaped secrets") {
  SecretJsonBody body(nlohmann::json{{"a", 1}}.dump());
  body.AddSecret("OTP", "12\"3\\4\n");
  const SecureBytes bytes = body.Finish();
  const auto parsed = nlohmann::json::parse(bytes.begin(), bytes.end());
  CHECK(parsed["a"] == 1);
  CHECK(parsed["OTP"] == "12\"3\\4\n");
  SecretJsonBody empty(nlohmann::json::object().dump());
  empty.AddSecret("SAD", "x");
  const SecureBytes b2 = empty.Finish();
  CHECK(std::string(b2.begin(), b2.end()) == R"({"SAD":"x"})");
}

TEST_CASE("RSASSA-PSS parameters are DER OpenSSL reads back") {
  for (const auto h : {HashAlgo::Sha256, HashAlgo::Sha384, HashAlgo::Sha512}) {
    const PssParams params{h, h, static_cast<unsigned>(HashSize(h))};
    const Bytes der = EncodePssParams(params);
    const unsigned char* p = der.data();
    RSA_PSS_PARAMS* parsed = d2i_RSA_PSS_PARAMS(nullptr, &p, static_cast<long>(der.size()));
    REQUIRE(parsed != nullptr);
    CHECK(p == der.data() + der.size());
    CHECK(ASN1_INTEGER_get(parsed->saltLength) == static_cast<long>(HashSize(h)));
    const ASN1_OBJECT* hash_oid = nullptr;
    X509_ALGOR_get0(&hash_oid, nullptr, nullptr, parsed->hashAlgorithm);
    char text[64];
    OBJ_obj2txt(text, sizeof text, hash_oid, 1);
    CHECK(std::string(text) == HashOid(h));
    const ASN1_OBJECT* mgf_oid = nullptr;
    X509_ALGOR_get0(&mgf_oid, nullptr, nullptr, parsed->maskGenAlgorithm);
    OBJ_obj2txt(text, sizeof text, mgf_oid, 1);
    CHECK(std::string(text) == "1.2.840.113549.1.1.8");
    RSA_PSS_PARAMS_free(parsed);
  }
  // Salt 200 needs a leading zero byte in the INTEGER.
  const Bytes der = EncodePssParams({HashAlgo::Sha256, HashAlgo::Sha256, 200});
  const unsigned char* p = der.data();
  RSA_PSS_PARAMS* parsed = d2i_RSA_PSS_PARAMS(nullptr, &p, static_cast<long>(der.size()));
  REQUIRE(parsed != nullptr);
  CHECK(ASN1_INTEGER_get(parsed->saltLength) == 200);
  RSA_PSS_PARAMS_free(parsed);
}

TEST_CASE("ECDSA DER converts to raw r||s and back") {
  Bytes raw(64);
  raw[0] = 0x00;  // r with a leading zero byte: DER drops it, raw keeps it
  raw[1] = 0x7f;
  for (std::size_t i = 2; i < 64; ++i) raw[i] = static_cast<std::uint8_t>(i * 7 + 1);
  raw[32] = 0x80;  // s with the high bit set: DER adds a zero byte
  const auto der = EcdsaRawToDer(raw);
  REQUIRE(der);
  CHECK((*der)[0] == 0x30);
  CHECK(EcdsaDerToRaw(*der, 32) == raw);
  // Wrong field size, trailing garbage, truncation, non-DER all refused.
  CHECK_FALSE(EcdsaDerToRaw(*der, 16));
  Bytes trailing = *der;
  trailing.push_back(0);
  CHECK_FALSE(EcdsaDerToRaw(trailing, 32));
  CHECK_FALSE(EcdsaDerToRaw(Bytes(der->begin(), der->end() - 1), 32));
  CHECK_FALSE(EcdsaDerToRaw(raw, 32));
  // BER long-form length is not DER.
  Bytes ber = {0x30, 0x81, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01};
  CHECK_FALSE(EcdsaDerToRaw(ber, 32));
  Bytes small = {0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02};
  const auto r = EcdsaDerToRaw(small, 32);
  REQUIRE(r);
  CHECK(r->size() == 64);
  CHECK((*r)[31] == 1);
  CHECK((*r)[63] == 2);
  Bytes zero = {0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x02};
  CHECK_FALSE(EcdsaDerToRaw(zero, 32));
}

TEST_CASE("PKCE S256 follows RFC 7636 appendix B") {
  CHECK(PkceChallenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") ==
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
  const auto a = MakePkce();
  const auto b = MakePkce();
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->verifier.size() == 43);
  CHECK(a->challenge == PkceChallenge(a->verifier.view()));
  CHECK(a->state.size() == 22);
  CHECK_FALSE(a->verifier == b->verifier);
  CHECK(a->state != b->state);
}

TEST_CASE("authorize URL and redirect parsing") {
  PkceRequest pkce;
  pkce.verifier = Secret("v");
  pkce.challenge = "CHALLENGE";
  pkce.state = "STATE";
  const std::string url = BuildAuthorizeUrl(
      {.oauth_base = "https://127.0.0.1:9/", .client_id = "vtoken app", .redirect_uri = "http://127.0.0.1:5555/cb"}, pkce);
  CHECK(url == "https://127.0.0.1:9/oauth2/authorize?response_type=code&client_id=vtoken%20app"
               "&redirect_uri=http%3A%2F%2F127.0.0.1%3A5555%2Fcb&scope=service&code_challenge=CHALLENGE"
               "&code_challenge_method=S256&state=STATE");

  auto code = CodeFromRedirect("http://127.0.0.1:5555/cb?code=ab%2Bc&state=STATE", "STATE");
  REQUIRE(code);
  CHECK(code->view() == "ab+c");
  auto csrf = CodeFromRedirect("/cb?code=abc&state=OTHER", "STATE");
  REQUIRE_FALSE(csrf);
  CHECK(KindOf(csrf.error()) == CscErrorKind::BadResponse);
  auto denied = CodeFromRedirect("/cb?error=access_denied&error_description=User+denied&state=STATE", "STATE");
  REQUIRE_FALSE(denied);
  CHECK(KindOf(denied.error()) == CscErrorKind::Unauthorized);
  CHECK(denied.error().message.find("access_denied") != std::string::npos);
  CHECK_FALSE(CodeFromRedirect("/cb?state=STATE", "STATE"));
  CHECK_FALSE(CodeFromRedirect("/cb?code=%zz&state=STATE", "STATE"));
  CHECK_FALSE(CodeFromRedirect("/cb?code=%2&state=STATE", "STATE"));
}
