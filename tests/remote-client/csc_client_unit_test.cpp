// The client over MemoryTransport: request shapes, session handling, retry
// policy, deadlines and response checks for each endpoint.
#include <catch2/catch.hpp>

#include <thread>

#include <p11-kit/pkcs11.h>

#include "remote-client/csc_client.h"
#include "remote-client/der.h"
#include "remote-client/memory_transport.h"
#include "test_keys.h"

using namespace vtoken;
using namespace vtoken::csc;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

struct Fixture {
  std::shared_ptr<MemoryTransport> transport = std::make_shared<MemoryTransport>();
  Client client{Options(), transport};

  static ClientOptions Options() {
    ClientOptions o;
    o.base_url = "https://csc.test/";
    o.backoff = 1ms;
    o.call_timeout = 1234ms;
    return o;
  }
  void LogIn(bool refresh = true) {
    transport->Respond(200, refresh ? R"({"access_token":"AT","refresh_token":"RT","expires_in":3600})"
                                    : R"({"access_token":"AT","expires_in":3600})");
    REQUIRE(client.Login("alice@example.org", Secret("pw"), Secret("123456"), refresh));
  }
  json Body(std::size_t i) const { return json::parse(transport->requests().at(i).body); }
  MemoryTransport::Recorded Request(std::size_t i) const { return transport->requests().at(i); }
  std::size_t Count() const { return transport->requests().size(); }
};

json InfoBody() {
  return {{"specs", "2.0.0.2"}, {"name", "svc"}, {"logo", "https://x/logo.png"}, {"region", "RO"},
          {"lang", "en-US"}, {"description", "d"}, {"authType", {"basic", "oauth2code"}},
          {"oauth2", "https://csc.test/"}, {"methods", {"auth/login", "signatures/signHash"}}};
}

std::string RsaInfo(const test::TestCert& cert, int scal = 1) {
  return json{{"key", {{"status", "enabled"}, {"algo", {"1.2.840.113549.1.1.1", "1.2.840.113549.1.1.10"}}, {"len", 2048}}},
              {"cert", {{"status", "valid"}, {"certificates", {cert.base64}}}},
              {"SCAL", std::to_string(scal)},
              {"multisign", 5}}
      .dump();
}

std::string EcInfo(const test::TestCert& cert) {
  return json{{"key", {{"status", "enabled"}, {"algo", {"1.2.840.10045.2.1"}}, {"len", 256}, {"curve", "1.2.840.10045.3.1.7"}}},
              {"cert", {{"status", "valid"}, {"certificates", {cert.base64}}}},
              {"SCAL", "1"},
              {"multisign", 1}}
      .dump();
}

Sad FreshSad() {
  Sad sad;
  sad.value = Secret("SAD-VALUE");
  sad.expires = Clock::now() + 60s;
  return sad;
}

using test::Rsa;
using test::P256;

}  // namespace

TEST_CASE("info: request and parsed answer") {
  Fixture f;
  f.transport->Respond(200, InfoBody().dump());
  const auto info = f.client.Info();
  REQUIRE(info);
  CHECK(info->specs == "2.0.0.2");
  CHECK(info->auth_types == std::vector<std::string>{"basic", "oauth2code"});
  CHECK(info->oauth2 == "https://csc.test/");
  const auto r = f.Request(0);
  CHECK(r.method == "POST");
  CHECK(r.url == "https://csc.test/csc/v2/info");
  CHECK(r.content_type == "application/json");
  CHECK(r.authorization.empty());
  CHECK(r.timeout == 1234ms);
  CHECK(f.Body(0) == json::object());
}

TEST_CASE("info: a 1.x service or a malformed answer is refused") {
  Fixture f;
  auto body = InfoBody();
  body["specs"] = "1.0.4.0";
  f.transport->Respond(200, body.dump());
  auto old = f.client.Info();
  REQUIRE_FALSE(old);
  CHECK(KindOf(old.error()) == CscErrorKind::BadResponse);
  body = InfoBody();
  body["authType"] = "basic";
  f.transport->Respond(200, body.dump());
  auto wrong = f.client.Info();
  REQUIRE_FALSE(wrong);
  CHECK(wrong.error().message.find("'authType' is not an array") != std::string::npos);
}

TEST_CASE("safe calls are retried on transient failures, within max_attempts") {
  Fixture f;
  f.transport->Respond(503, R"({"error":"temporarily_unavailable","error_description":"Injected fault"})");
  f.transport->Fail(MakeError(CscErrorKind::Unreachable, "dropped"));
  f.transport->Respond(200, InfoBody().dump());
  REQUIRE(f.client.Info());
  CHECK(f.Count() == 3);

  Fixture g;
  for (int i = 0; i < 5; ++i) g.transport->Fail(MakeError(CscErrorKind::Timeout, "slow"));
  auto r = g.client.Info();
  REQUIRE_FALSE(r);
  CHECK(KindOf(r.error()) == CscErrorKind::Timeout);
  CHECK(g.Count() == 3);  // max_attempts
}

TEST_CASE("refusals and TLS failures are not retried") {
  Fixture f;
  f.transport->Respond(400, R"({"error":"invalid_request","error_description":"Malformed JSON body"})");
  CHECK_FALSE(f.client.Info());
  CHECK(f.Count() == 1);
  f.transport->Fail(MakeError(CscErrorKind::TlsFailure, "pin"));
  auto tls = f.client.Info();
  REQUIRE_FALSE(tls);
  CHECK(KindOf(tls.error()) == CscErrorKind::TlsFailure);
  CHECK(f.Count() == 2);
}

TEST_CASE("retries stop at the overall deadline") {
  ClientOptions o = Fixture::Options();
  o.max_attempts = 1000;
  o.backoff = 20ms;
  auto transport = std::make_shared<MemoryTransport>();
  transport->SetHandler([](const HttpRequest&) -> Result<HttpResponse> {
    return std::unexpected(MakeError(CscErrorKind::Unreachable, "down"));
  });
  Client client(o, transport);
  const auto start = Clock::now();
  auto r = client.Info(Deadline::In(300ms));
  const auto took = Clock::now() - start;
  REQUIRE_FALSE(r);
  CHECK(KindOf(r.error()) == CscErrorKind::Unreachable);
  CHECK(took < 400ms);
  CHECK(transport->requests().size() < 10);  // backoff doubles: 20, 40, 80, 160 ms
}

TEST_CASE("a passed deadline fails without sending") {
  Fixture f;
  auto r = f.client.Info(Deadline{Clock::now() - 1ms});
  REQUIRE_FALSE(r);
  CHECK(KindOf(r.error()) == CscErrorKind::Timeout);
  CHECK(f.Count() == 0);
}

TEST_CASE("login: Basic credentials, OTP extension field, tokens kept") {
  Fixture f;
  f.LogIn();
  const auto r = f.Request(0);
  CHECK(r.url == "https://csc.test/csc/v2/auth/login");
  CHECK(r.authorization == "Basic YWxpY2VAZXhhbXBsZS5vcmc6cHc=");  // alice@example.org:pw
  CHECK(f.Body(0) == json{{"rememberMe", true}, {"OTP", "123456"}});
  CHECK(f.client.HasSession());
  CHECK(f.client.Session().refresh_token.view() == "RT");
  f.transport->Respond(200, R"({"credentialIDs":[]})");
  REQUIRE(f.client.ListCredentials());
  CHECK(f.Request(1).authorization == "Bearer AT");
}

TEST_CASE("login: wrong code, blocked, and never a retry") {
  Fixture f;
  f.transport->Respond(400, R"({"error":"invalid_otp","error_description":"The OTP is invalid"})");
  auto wrong = f.client.Login("a@b", Secret("pw"), Secret("000000"), false);
  REQUIRE_FALSE(wrong);
  CHECK(KindOf(wrong.error()) == CscErrorKind::WrongCode);
  CHECK(wrong.error().rv == CKR_PIN_INCORRECT);
  CHECK(wrong.error().message.find("The OTP is invalid") != std::string::npos);
  CHECK(wrong.error().message.find("000000") == std::string::npos);
  f.transport->Respond(503, "{}");
  f.transport->Respond(200, R"({"access_token":"AT"})");
  auto busy = f.client.Login("a@b", Secret("pw"), Secret("111111"), false);
  REQUIRE_FALSE(busy);
  CHECK(KindOf(busy.error()) == CscErrorKind::ServerError);
  CHECK(f.Count() == 2);
  CHECK(f.transport->pending() == 1);  // the 200 was never asked for
  (void)f.transport->Send(HttpRequest{}, Deadline::In(1s));
  f.transport->Respond(400, R"({"error":"otp_blocked","error_description":"Authorization blocked after 5 wrong codes"})");
  auto blocked = f.client.Login("a@b", Secret("pw"), Secret("222222"), false);
  REQUIRE_FALSE(blocked);
  CHECK(blocked.error().rv == CKR_PIN_LOCKED);
  CHECK_FALSE(f.client.Login("a:b", Secret("pw"), Secret("1"), false));
}

TEST_CASE("login: malformed token answers are refused") {
  for (const char* body : {R"({"refresh_token":"x"})", R"({"access_token":5})", R"({"access_token":""})",
                           R"({"access_token":"a","expires_in":-1})", R"({"access_token":"a","token_type":"mac"})"}) {
    CAPTURE(body);
    Fixture f;
    f.transport->Respond(200, body);
    auto r = f.client.Login("a@b", Secret("pw"), Secret("1"), false);
    REQUIRE_FALSE(r);
    CHECK(KindOf(r.error()) == CscErrorKind::BadResponse);
    CHECK_FALSE(f.client.HasSession());
  }
  Fixture f;
  f.transport->Respond(200, R"({"access_token":")" + std::string(9000, 'a') + "\"}");
  CHECK_FALSE(f.client.Login("a@b", Secret("pw"), Secret("1"), false));
}

TEST_CASE("calls needing a session fail locally without one") {
  Fixture f;
  auto r = f.client.ListCredentials();
  REQUIRE_FALSE(r);
  CHECK(KindOf(r.error()) == CscErrorKind::Unauthorized);
  CHECK(r.error().rv == CKR_DEVICE_REMOVED);
  CHECK(f.Count() == 0);
}

TEST_CASE("an expired token is reported as Unauthorized") {
  Fixture f;
  f.LogIn(false);
  f.transport->Respond(401, R"({"error":"expired_token","error_description":"The access token is expired or revoked"})");
  auto r = f.client.ListCredentials();
  REQUIRE_FALSE(r);
  CHECK(KindOf(r.error()) == CscErrorKind::Unauthorized);
}

TEST_CASE("refresh: by auth/login after login, by oauth2/token after OAuth2") {
  Fixture f;
  f.LogIn();
  f.transport->Respond(200, R"({"access_token":"AT2","refresh_token":"RT2","expires_in":60})");
  REQUIRE(f.client.Refresh());
  CHECK(f.Request(1).url == "https://csc.test/csc/v2/auth/login");
  CHECK(f.Request(1).authorization.empty());
  CHECK(f.Body(1) == json{{"rememberMe", true}, {"refresh_token", "RT"}});
  CHECK(f.client.Session().access_token.view() == "AT2");
  CHECK(f.client.Session().refresh_token.view() == "RT2");

  Fixture g;
  g.transport->Respond(200, R"({"access_token":"A","refresh_token":"R","token_type":"Bearer","expires_in":3600})");
  REQUIRE(g.client.ExchangeCode(Secret("CODE+1"), Secret("VERIFIER"), "http://127.0.0.1:5/cb"));
  CHECK(g.Request(0).url == "https://csc.test/oauth2/token");
  CHECK(g.Request(0).content_type == "application/x-www-form-urlencoded");
  CHECK(g.Request(0).body ==
        "grant_type=authorization_code&code=CODE%2B1&redirect_uri=http%3A%2F%2F127.0.0.1%3A5%2Fcb"
        "&client_id=vtoken&code_verifier=VERIFIER");
  g.transport->Respond(200, R"({"access_token":"A2","expires_in":3600})");
  REQUIRE(g.client.Refresh());
  CHECK(g.Request(1).body == "grant_type=refresh_token&refresh_token=R&client_id=vtoken");
  CHECK(g.client.Session().refresh_token.view() == "R");  // kept when not rotated

  Fixture h;
  h.transport->Respond(400, R"({"error":"invalid_grant","error_description":"PKCE verification failed"})");
  auto bad = h.client.ExchangeCode(Secret("c"), Secret("v"), "http://127.0.0.1:5/cb");
  REQUIRE_FALSE(bad);
  CHECK(KindOf(bad.error()) == CscErrorKind::Unauthorized);
}

TEST_CASE("a token about to expire is refreshed before the call") {
  Fixture f;
  f.transport->Respond(200, R"({"access_token":"OLD","refresh_token":"RT","expires_in":10})");
  REQUIRE(f.client.Login("a@b", Secret("pw"), Secret("1"), true));
  f.transport->Respond(200, R"({"access_token":"NEW","refresh_token":"RT2","expires_in":3600})");
  f.transport->Respond(200, R"({"credentialIDs":["c1"]})");
  REQUIRE(f.client.ListCredentials());
  REQUIRE(f.Count() == 3);
  CHECK(f.Request(1).url == "https://csc.test/csc/v2/auth/login");
  CHECK(f.Request(2).authorization == "Bearer NEW");
}

TEST_CASE("revoke: the refresh token, then the session is gone") {
  Fixture f;
  f.LogIn();
  f.transport->Respond(204, "", "");
  REQUIRE(f.client.Revoke());
  CHECK(f.Request(1).url == "https://csc.test/csc/v2/auth/revoke");
  CHECK(f.Request(1).authorization == "Bearer AT");
  CHECK(f.Body(1) == json{{"token_type_hint", "refresh_token"}, {"token", "RT"}});
  CHECK_FALSE(f.client.HasSession());

  Fixture g;
  g.LogIn(false);
  g.transport->Respond(204, "", "");
  REQUIRE(g.client.Revoke());
  CHECK(g.Body(1) == json{{"token_type_hint", "access_token"}, {"token", "AT"}});
}

TEST_CASE("credentials/list: IDs, paging and caps") {
  Fixture f;
  f.LogIn();
  f.transport->Respond(200, R"({"credentialIDs":["a","b"],"nextPageToken":"p2"})");
  f.transport->Respond(200, R"({"credentialIDs":["c"]})");
  const auto ids = f.client.ListCredentials();
  REQUIRE(ids);
  CHECK(*ids == std::vector<std::string>{"a", "b", "c"});
  CHECK(f.Body(1) == json{{"credentialInfo", false}});
  CHECK(f.Body(2) == json{{"credentialInfo", false}, {"pageToken", "p2"}});

  json many = {{"credentialIDs", json::array()}};
  for (int i = 0; i < 1001; ++i) many["credentialIDs"].push_back("id" + std::to_string(i));
  for (const std::string& body : {many.dump(), std::string(R"({"credentialIDs":[1]})"),
                                 std::string(R"({"credentialIDs":[""]})"), std::string(R"({})"),
                                 std::string(R"({"credentialIDs":["a\u0001"]})"), std::string("[1]"),
                                 std::string("not json")}) {
    f.transport->Respond(200, body);
    auto r = f.client.ListCredentials();
    REQUIRE_FALSE(r);
    CHECK(KindOf(r.error()) == CscErrorKind::BadResponse);
  }
}

TEST_CASE("hostile response bodies: nesting, type and redirects") {
  Fixture f;
  f.transport->Respond(200, std::string(50, '[') + std::string(50, ']'));
  auto deep = f.client.Info();
  REQUIRE_FALSE(deep);
  CHECK(KindOf(deep.error()) == CscErrorKind::BadResponse);
  f.transport->Respond(200, InfoBody().dump(), "text/html");
  CHECK(KindOf(f.client.Info().error()) == CscErrorKind::BadResponse);
  f.transport->Respond(302, "");
  CHECK(KindOf(f.client.Info().error()) == CscErrorKind::BadResponse);
  f.transport->Respond(400, "<html>not csc</html>");
  CHECK(KindOf(f.client.Info().error()) == CscErrorKind::InvalidRequest);
}

TEST_CASE("credentials/authorize: authData, hashes and the SAD") {
  Fixture f;
  f.LogIn();
  const Bytes h1(32, 0xAB), h2(32, 0xCD);
  const std::vector<Bytes> hashes = {h1, h2};
  f.transport->Respond(200, R"({"SAD":"S-A-D","expiresIn":300})");
  const auto before = Clock::now();
  const auto sad = f.client.Authorize("cred-1", Secret("654321"), 2, hashes, HashAlgo::Sha256);
  REQUIRE(sad);
  CHECK(sad->value.view() == "S-A-D");
  CHECK(sad->num_signatures == 2);
  CHECK(sad->expires >= before + 300s);
  CHECK(sad->expires <= Clock::now() + 300s);
  const auto r = f.Request(1);
  CHECK(r.url == "https://csc.test/csc/v2/credentials/authorize");
  CHECK(f.Body(1) == json{{"credentialID", "cred-1"},
                          {"numSignatures", 2},
                          {"hashes", {Base64Encode(h1), Base64Encode(h2)}},
                          {"hashAlgorithmOID", "2.16.840.1.101.3.4.2.1"},
                          {"authData", {{{"id", "otp"}, {"value", "654321"}}}}});

  // SCAL1 without hashes: no hashes member at all.
  f.transport->Respond(200, R"({"SAD":"x"})");
  REQUIRE(f.client.Authorize("cred-1", Secret("1"), 3, {}, HashAlgo::Sha256));
  CHECK_FALSE(f.Body(2).contains("hashes"));
}

TEST_CASE("credentials/authorize: local checks, errors, never retried") {
  Fixture f;
  f.LogIn();
  const std::vector<Bytes> short_hash = {Bytes(31, 1)};
  auto len = f.client.Authorize("c", Secret("1"), 1, short_hash, HashAlgo::Sha256);
  REQUIRE_FALSE(len);
  CHECK(KindOf(len.error()) == CscErrorKind::InvalidRequest);
  CHECK_FALSE(f.client.Authorize("c", Secret("1"), 0, {}, HashAlgo::Sha256));
  CHECK(f.Count() == 1);

  f.transport->Fail(MakeError(CscErrorKind::Unreachable, "dropped"));
  f.transport->Respond(200, R"({"SAD":"x"})");
  CHECK_FALSE(f.client.Authorize("c", Secret("1"), 1, {}, HashAlgo::Sha256));
  CHECK(f.Count() == 2);

  struct Row { const char* body; CscErrorKind kind; };
  const Row rows[] = {
      {R"({"error":"invalid_otp","error_description":"The OTP has already been used"})", CscErrorKind::WrongCode},
      {R"({"error":"otp_blocked","error_description":"Authorization blocked after 5 wrong codes"})", CscErrorKind::Blocked},
      {R"({"error":"invalid_request","error_description":"Signing certificate is expired"})", CscErrorKind::CertificateExpired},
      {R"({"error":"invalid_request","error_description":"Signing certificate is revoked"})", CscErrorKind::CertificateRevoked},
      {R"({"error":"quota_exceeded","error_description":"Signature quota used up"})", CscErrorKind::QuotaExceeded},
      {R"({"error":"invalid_request","error_description":"Invalid parameter credentialID"})", CscErrorKind::NotFound},
  };
  for (const auto& row : rows) {
    // Drain the response queued above, if any, before each row.
    while (f.transport->pending() > 0) (void)f.transport->Send(HttpRequest{}, Deadline::In(1s));
    f.transport->Respond(400, row.body);
    auto r = f.client.Authorize("c", Secret("1"), 1, {}, HashAlgo::Sha256);
    REQUIRE_FALSE(r);
    CHECK(KindOf(r.error()) == row.kind);
  }
  for (const char* body : {R"({})", R"({"SAD":7})", R"({"SAD":"x","expiresIn":"soon"})", R"({"SAD":"x","expiresIn":0})"}) {
    f.transport->Respond(200, body);
    auto r = f.client.Authorize("c", Secret("1"), 1, {}, HashAlgo::Sha256);
    REQUIRE_FALSE(r);
    CHECK(KindOf(r.error()) == CscErrorKind::BadResponse);
  }
}

TEST_CASE("signatures/signHash: RSA PKCS#1 and PSS requests and checks") {
  Fixture f;
  f.LogIn();
  f.transport->Respond(200, RsaInfo(Rsa()));
  REQUIRE(f.client.GetCredentialInfo("rsa"));
  const std::vector<Bytes> hashes = {Bytes(32, 1), Bytes(32, 2)};
  const std::string sig = Base64Encode(Bytes(256, 7));
  f.transport->Respond(200, json{{"signatures", {sig, sig}}}.dump());
  const auto sigs = f.client.SignHash("rsa", FreshSad(), hashes, HashAlgo::Sha256, {SignAlgo::Kind::RsaPkcs1, {}});
  REQUIRE(sigs);
  CHECK(sigs->size() == 2);
  CHECK((*sigs)[0] == Bytes(256, 7));
  CHECK(f.Body(2) == json{{"credentialID", "rsa"},
                          {"hashes", {Base64Encode(hashes[0]), Base64Encode(hashes[1])}},
                          {"hashAlgorithmOID", "2.16.840.1.101.3.4.2.1"},
                          {"signAlgo", "1.2.840.113549.1.1.1"},
                          {"operationMode", "S"},
                          {"SAD", "SAD-VALUE"}});

  const std::vector<Bytes> one = {Bytes(48, 3)};
  f.transport->Respond(200, json{{"signatures", {sig}}}.dump());
  const SignAlgo pss{SignAlgo::Kind::RsaPss, {HashAlgo::Sha384, HashAlgo::Sha384, 48}};
  REQUIRE(f.client.SignHash("rsa", FreshSad(), one, HashAlgo::Sha384, pss));
  CHECK(f.Body(3)["signAlgo"] == "1.2.840.113549.1.1.10");
  CHECK(f.Body(3)["signAlgoParams"] == Base64Encode(EncodePssParams(pss.pss)));
  CHECK(f.Body(3)["hashAlgorithmOID"] == "2.16.840.1.101.3.4.2.2");

  // Wrong count, wrong length, bad base64: BadResponse. Never retried.
  for (const json& body : {json{{"signatures", {sig}}}, json{{"signatures", {Base64Encode(Bytes(255, 1)), sig}}},
                           json{{"signatures", {"***", sig}}}, json{{"signatures", sig}}}) {
    f.transport->Respond(200, body.dump());
    auto r = f.client.SignHash("rsa", FreshSad(), hashes, HashAlgo::Sha256, {});
    REQUIRE_FALSE(r);
    CHECK(KindOf(r.error()) == CscErrorKind::BadResponse);
  }
  const auto sent = f.Count();
  f.transport->Respond(503, "{}");
  f.transport->Respond(200, json{{"signatures", {sig, sig}}}.dump());
  CHECK_FALSE(f.client.SignHash("rsa", FreshSad(), hashes, HashAlgo::Sha256, {}));
  CHECK(f.Count() == sent + 1);

  // Mechanism and key must agree; PSS hash must be the hash algorithm.
  CHECK_FALSE(f.client.SignHash("rsa", FreshSad(), hashes, HashAlgo::Sha256, {SignAlgo::Kind::Ecdsa, {}}));
  CHECK_FALSE(f.client.SignHash("rsa", FreshSad(), hashes, HashAlgo::Sha256, pss));
  CHECK(f.Count() == sent + 1);
}

TEST_CASE("signatures/signHash: ECDSA DER comes back as raw r||s") {
  Fixture f;
  f.LogIn();
  const std::vector<Bytes> hashes = {Bytes(32, 9)};
  // No cached key: credentials/info is fetched first.
  f.transport->Respond(200, EcInfo(P256()));
  Bytes raw(64, 0x11);
  raw[0] = 0x00;
  raw[32] = 0xF0;
  f.transport->Respond(200, json{{"signatures", {Base64Encode(*EcdsaRawToDer(raw))}}}.dump());
  auto sigs = f.client.SignHash("ec", FreshSad(), hashes, HashAlgo::Sha256, {SignAlgo::Kind::Ecdsa, {}});
  REQUIRE(sigs);
  CHECK(f.Request(1).url == "https://csc.test/csc/v2/credentials/info");
  CHECK(f.Body(2)["signAlgo"] == "1.2.840.10045.4.3.2");
  CHECK((*sigs)[0] == raw);
  // A raw answer of exactly 2n bytes (other CSC services) is accepted too.
  f.transport->Respond(200, json{{"signatures", {Base64Encode(raw)}}}.dump());
  sigs = f.client.SignHash("ec", FreshSad(), hashes, HashAlgo::Sha256, {SignAlgo::Kind::Ecdsa, {}});
  REQUIRE(sigs);
  CHECK((*sigs)[0] == raw);
  f.transport->Respond(200, json{{"signatures", {Base64Encode(Bytes(63, 1))}}}.dump());
  CHECK(KindOf(f.client.SignHash("ec", FreshSad(), hashes, HashAlgo::Sha256, {SignAlgo::Kind::Ecdsa, {}}).error()) ==
        CscErrorKind::BadResponse);
  CHECK(f.Count() == 5);
}

TEST_CASE("signatures/signHash: SAD errors and local expiry") {
  Fixture f;
  f.LogIn();
  f.transport->Respond(200, RsaInfo(Rsa()));
  REQUIRE(f.client.GetCredentialInfo("rsa"));
  const std::vector<Bytes> hashes = {Bytes(32, 1)};
  Sad old = FreshSad();
  old.expires = Clock::now() - 1s;
  auto expired = f.client.SignHash("rsa", old, hashes, HashAlgo::Sha256, {});
  REQUIRE_FALSE(expired);
  CHECK(KindOf(expired.error()) == CscErrorKind::SadExpired);
  CHECK(expired.error().rv == CKR_USER_NOT_LOGGED_IN);
  CHECK(f.Count() == 2);
  f.transport->Respond(400, R"({"error":"invalid_request","error_description":"Hash is not authorized by the SAD"})");
  CHECK(KindOf(f.client.SignHash("rsa", FreshSad(), hashes, HashAlgo::Sha256, {}).error()) == CscErrorKind::SadInvalid);
  f.transport->Respond(400, R"({"error":"invalid_request","error_description":"SAD expired"})");
  CHECK(KindOf(f.client.SignHash("rsa", FreshSad(), hashes, HashAlgo::Sha256, {}).error()) == CscErrorKind::SadExpired);
  CHECK_FALSE(f.client.SignHash("rsa", FreshSad(), {}, HashAlgo::Sha256, {}));
  const std::vector<Bytes> many(65, Bytes(32, 1));
  CHECK_FALSE(f.client.SignHash("rsa", FreshSad(), many, HashAlgo::Sha256, {}));
}
