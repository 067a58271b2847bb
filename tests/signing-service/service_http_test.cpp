// HTTP-level tests of every endpoint against the real service binary.
#include <catch2/catch.hpp>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <chrono>
#include <memory>

#include "algorithms.h"
#include "raw_tls_client.h"
#include "service_fixture.h"

using namespace vtoken::service;
using namespace vtoken::service::test;

namespace {

using X509Ptr = std::unique_ptr<X509, decltype(&X509_free)>;

X509Ptr ParseCert(const std::string& b64) {
  auto der = Unb64(b64);
  const unsigned char* p = der.data();
  return X509Ptr(d2i_X509(nullptr, &p, static_cast<long>(der.size())), X509_free);
}

enum class Padding { kPkcs1, kPss, kNone };

bool Verify(X509* cert, const std::vector<unsigned char>& hash, const std::vector<unsigned char>& sig,
            const char* md, Padding padding, int salt = -1) {
  EVP_PKEY* key = X509_get0_pubkey(cert);
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(EVP_PKEY_CTX_new(key, nullptr),
                                                                  EVP_PKEY_CTX_free);
  if (EVP_PKEY_verify_init(ctx.get()) != 1) return false;
  if (padding == Padding::kPkcs1) EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING);
  if (padding == Padding::kPss) {
    EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PSS_PADDING);
    EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx.get(), salt);
    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), EVP_get_digestbyname(md));
  }
  EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_get_digestbyname(md));
  return EVP_PKEY_verify(ctx.get(), sig.data(), sig.size(), hash.data(), hash.size()) == 1;
}

std::vector<unsigned char> ToVec(const vtoken::service::Bytes& b) { return {b.begin(), b.end()}; }

// The txn of an OAuth2 login page (its hidden form field).
std::string TxnOf(const std::string& page) {
  auto pos = page.find("name=\"txn\" value=\"");
  REQUIRE(pos != std::string::npos);
  pos += 18;
  return page.substr(pos, page.find('"', pos) - pos);
}

// Opens an OAuth2 sign-in (GET /oauth2/authorize?QUERY: the login page) and
// returns its txn.
std::string OpenSignIn(httplib::SSLClient& cli, const std::string& query) {
  auto page = cli.Get("/oauth2/authorize?" + query);
  REQUIRE(page);
  REQUIRE(page->status == 200);
  return TxnOf(page->body);
}

// Submits the login form (password and authenticator code) of sign-in `txn`;
// returns the page that comes back.
std::string SubmitLogin(httplib::SSLClient& cli, const std::string& txn, const std::string& email,
                        const std::string& password, const std::string& otp) {
  auto r = cli.Post("/oauth2/login",
                    httplib::Params{{"txn", txn}, {"email", email}, {"password", password}, {"otp", otp}});
  REQUIRE(r);
  return r->body;
}

}  // namespace

TEST_CASE("info describes the service without authorization", "[http]") {
  ServiceProcess svc;
  auto r = svc.Post("/csc/v2/info", json::object());
  REQUIRE(r.status == 200);
  CHECK(r.body["specs"] == "2.0.0.2");
  CHECK(r.body["authType"] == json::array({"basic", "oauth2code"}));
  CHECK(r.body["oauth2"] == "https://127.0.0.1:" + std::to_string(svc.port()) + "/");
  CHECK(r.body["methods"].size() == 6);
  CHECK(r.body["vtoken"]["testMode"] == true);
  // An empty body counts as {}.
  CHECK(svc.PostRaw("/csc/v2/info", "", {}).status == 200);
}

// httplib writes the headers and the body as two TLS records; the service
// corks the socket from routing to the end of the answer so that both leave
// in one TCP segment (one wake-up for the client instead of two), and
// uncorks it after every answer, errors included, or the next answer would
// wait for the kernel's 200 ms cork limit.
TEST_CASE("every answer leaves in one TCP segment and the connection stays usable", "[http]") {
  ServiceProcess svc;
  RawTlsClient raw(svc.port(), svc.dir() / "ca.pem");
  // The first answer may share the connection's first segments with the TLS
  // 1.3 session tickets; count from the second on.
  REQUIRE(raw.Post("/csc/v2/info", "{}").starts_with("HTTP/1.1 200"));
  struct Case {
    const char* path;
    const char* body;
    const char* status;
  };
  for (const Case& c : {Case{"/csc/v2/info", "{}", "HTTP/1.1 200"}, Case{"/csc/v2/no-such-method", "{}", "HTTP/1.1 404"},
                        Case{"/csc/v2/credentials/list", "{}", "HTTP/1.1 401"},
                        Case{"/csc/v2/info", "{not json", "HTTP/1.1 400"}, Case{"/csc/v2/info", "{}", "HTTP/1.1 200"}}) {
    INFO(c.path << " " << c.body);
    const std::uint32_t before = raw.DataSegmentsIn();
    const std::string answer = raw.Post(c.path, c.body);
    CHECK(answer.starts_with(c.status));
    CHECK(answer.ends_with("}"));
    CHECK(raw.DataSegmentsIn() - before == 1);
  }
}

TEST_CASE("login, list, info, authorize and signHash with RSA and EC keys", "[http]") {
  ServiceProcess svc;
  auto secret = svc.CreateAccount("alice@example.org");
  auto rsa = svc.IssueCredential("alice@example.org", "--key rsa2048 --multisign 10 --quota 50");
  auto ec = svc.IssueCredential("alice@example.org", "--key p256");
  auto ec384 = svc.IssueCredential("alice@example.org", "--key p384");
  auto token = svc.Login("alice@example.org", secret);

  auto list = svc.Post("/csc/v2/credentials/list",
                       {{"credentialInfo", true}, {"certificates", "chain"}, {"certInfo", true}, {"authInfo", true}},
                       token);
  REQUIRE(list.status == 200);
  CHECK(list.body["credentialIDs"] == json::array({rsa, ec, ec384}));
  REQUIRE(list.body["credentialInfos"].size() == 3);
  CHECK(list.body["credentialInfos"][0]["cert"]["certificates"].size() == 2);

  auto info = svc.Post("/csc/v2/credentials/info", {{"credentialID", rsa}, {"certInfo", true}, {"authInfo", true}}, token);
  REQUIRE(info.status == 200);
  CHECK(info.body["key"]["status"] == "enabled");
  CHECK(info.body["key"]["len"] == 2048);
  CHECK(info.body["cert"]["status"] == "valid");
  CHECK(info.body["cert"]["subjectDN"] == "O=vtoken demo,CN=alice@example.org");
  CHECK(info.body["cert"]["validFrom"].get<std::string>().size() == 15);
  CHECK(info.body["SCAL"] == "1");
  CHECK(info.body["multisign"] == 10);
  CHECK(info.body["auth"]["mode"] == "explicit");
  CHECK(info.body["auth"]["objects"][0]["id"] == "otp");
  CHECK(info.body["auth"]["objects"][0]["generator"] == "totp");
  auto cert = ParseCert(info.body["cert"]["certificates"][0]);
  REQUIRE(cert);
  auto ec_info = svc.Post("/csc/v2/credentials/info", {{"credentialID", ec}}, token);
  CHECK(ec_info.body["key"]["curve"] == "1.2.840.10045.3.1.7");
  auto ec_cert = ParseCert(ec_info.body["cert"]["certificates"][0]);
  auto ec384_info = svc.Post("/csc/v2/credentials/info", {{"credentialID", ec384}}, token);
  CHECK(ec384_info.body["key"]["len"] == 384);
  auto ec384_cert = ParseCert(ec384_info.body["cert"]["certificates"][0]);

  SECTION("RSA PKCS#1 v1.5 with SHA-256/384/512 in one SAD, several hashes per call") {
    auto sad = svc.Authorize(token, rsa, secret, 4);
    auto h256a = Sha("doc a"), h256b = Sha("doc b");
    auto r = svc.Post("/csc/v2/signatures/signHash",
                      {{"credentialID", rsa}, {"SAD", sad}, {"hashes", {B64(h256a), B64(h256b)}},
                       {"hashAlgorithmOID", "2.16.840.1.101.3.4.2.1"}, {"signAlgo", "1.2.840.113549.1.1.1"},
                       {"operationMode", "S"}},
                      token);
    REQUIRE(r.status == 200);
    REQUIRE(r.body["signatures"].size() == 2);
    CHECK(Verify(cert.get(), h256a, Unb64(r.body["signatures"][0]), "SHA256", Padding::kPkcs1));
    CHECK(Verify(cert.get(), h256b, Unb64(r.body["signatures"][1]), "SHA256", Padding::kPkcs1));
    CHECK(Unb64(r.body["signatures"][0]).size() == 256);
    auto h512 = Sha("doc c", "SHA512");
    r = svc.Post("/csc/v2/signatures/signHash",
                 {{"credentialID", rsa}, {"SAD", sad}, {"hashes", {B64(h512)}}, {"signAlgo", "1.2.840.113549.1.1.13"}},
                 token);
    REQUIRE(r.status == 200);
    CHECK(Verify(cert.get(), h512, Unb64(r.body["signatures"][0]), "SHA512", Padding::kPkcs1));
    auto h384 = Sha("doc d", "SHA384");
    r = svc.Post("/csc/v2/signatures/signHash",
                 {{"credentialID", rsa}, {"SAD", sad}, {"hashes", {B64(h384)}},
                  {"hashAlgorithmOID", "2.16.840.1.101.3.4.2.2"}, {"signAlgo", "1.2.840.113549.1.1.1"}},
                 token);
    REQUIRE(r.status == 200);
    CHECK(Verify(cert.get(), h384, Unb64(r.body["signatures"][0]), "SHA384", Padding::kPkcs1));
    // The SAD covered 4 signatures: it is used up now.
    r = svc.Post("/csc/v2/signatures/signHash",
                 {{"credentialID", rsa}, {"SAD", sad}, {"hashes", {B64(h256a)}}, {"signAlgo", "1.2.840.113549.1.1.11"}},
                 token);
    CHECK(r.status == 400);
    CHECK(r.description() == "Invalid parameter SAD");
    auto after = svc.Post("/csc/v2/credentials/info", {{"credentialID", rsa}}, token);
    CHECK(after.body["quota"]["used"] == 4);
  }

  SECTION("RSASSA-PSS with signAlgoParams") {
    auto sad = svc.Authorize(token, rsa, secret, 2);
    auto h = Sha("pss doc");
    auto params = EncodePssParams({HashAlg::kSha256, HashAlg::kSha256, 32});
    auto r = svc.Post("/csc/v2/signatures/signHash",
                      {{"credentialID", rsa}, {"SAD", sad}, {"hashes", {B64(h)}},
                       {"signAlgo", "1.2.840.113549.1.1.10"}, {"signAlgoParams", B64(ToVec(params))}},
                      token);
    REQUIRE(r.status == 200);
    CHECK(Verify(cert.get(), h, Unb64(r.body["signatures"][0]), "SHA256", Padding::kPss, 32));
    // Missing parameters, and a hashAlgorithmOID that contradicts them.
    r = svc.Post("/csc/v2/signatures/signHash",
                 {{"credentialID", rsa}, {"SAD", sad}, {"hashes", {B64(h)}}, {"signAlgo", "1.2.840.113549.1.1.10"}},
                 token);
    CHECK(r.description() == "Missing (or invalid type) string parameter signAlgoParams");
    r = svc.Post("/csc/v2/signatures/signHash",
                 {{"credentialID", rsa}, {"SAD", sad}, {"hashes", {B64(h)}}, {"signAlgo", "1.2.840.113549.1.1.10"},
                  {"signAlgoParams", B64(ToVec(params))}, {"hashAlgorithmOID", "2.16.840.1.101.3.4.2.3"}},
                 token);
    CHECK(r.description() == "String parameter hashAlgorithmOID contradicts with signAlgo parameter");
    r = svc.Post("/csc/v2/signatures/signHash",
                 {{"credentialID", rsa}, {"SAD", sad}, {"hashes", {B64(h)}}, {"signAlgo", "1.2.840.113549.1.1.10"},
                  {"signAlgoParams", "MAA="}},
                 token);
    CHECK(r.description() == "Invalid parameter signAlgoParams");
  }

  SECTION("ECDSA signatures come back DER-encoded") {
    auto sad = svc.Authorize(token, ec, secret, 2);
    auto h = Sha("ec doc");
    auto r = svc.Post("/csc/v2/signatures/signHash",
                      {{"credentialID", ec}, {"SAD", sad}, {"hashes", {B64(h)}}, {"signAlgo", "1.2.840.10045.4.3.2"}},
                      token);
    REQUIRE(r.status == 200);
    auto sig = Unb64(r.body["signatures"][0]);
    CHECK(sig[0] == 0x30);
    CHECK(Verify(ec_cert.get(), h, sig, "SHA256", Padding::kNone));
    r = svc.Post("/csc/v2/signatures/signHash",
                 {{"credentialID", ec}, {"SAD", sad}, {"hashes", {B64(h)}}, {"signAlgo", "1.2.840.10045.2.1"},
                  {"hashAlgorithmOID", "2.16.840.1.101.3.4.2.1"}},
                 token);
    REQUIRE(r.status == 200);
    CHECK(Verify(ec_cert.get(), h, Unb64(r.body["signatures"][0]), "SHA256", Padding::kNone));
    // An RSA algorithm on an EC key is refused.
    auto sad2 = svc.Authorize(token, ec384, secret, 1);
    auto h384 = Sha("ec384", "SHA384");
    r = svc.Post("/csc/v2/signatures/signHash",
                 {{"credentialID", ec384}, {"SAD", sad2}, {"hashes", {B64(h384)}}, {"signAlgo", "1.2.840.113549.1.1.12"}},
                 token);
    CHECK(r.description() == "Invalid parameter signAlgo");
    r = svc.Post("/csc/v2/signatures/signHash",
                 {{"credentialID", ec384}, {"SAD", sad2}, {"hashes", {B64(h384)}}, {"signAlgo", "1.2.840.10045.4.3.3"}},
                 token);
    REQUIRE(r.status == 200);
    CHECK(Verify(ec384_cert.get(), h384, Unb64(r.body["signatures"][0]), "SHA384", Padding::kNone));
  }
}

TEST_CASE("refresh tokens rotate and revoke works", "[http]") {
  ServiceProcess svc;
  auto secret = svc.CreateAccount("bob@example.org");
  std::string up = "bob@example.org:correct horse";
  httplib::Headers basic{{"Authorization", "Basic " + B64({up.begin(), up.end()})}};
  auto r = svc.PostRaw("/csc/v2/auth/login", json{{"OTP", svc.NextCode(secret)}, {"rememberMe", true}}.dump(), basic);
  REQUIRE(r.status == 200);
  CHECK(r.body["expires_in"] == 3600);
  std::string access = r.body["access_token"], refresh = r.body["refresh_token"];

  auto again = svc.Post("/csc/v2/auth/login", {{"refresh_token", refresh}});
  REQUIRE(again.status == 200);
  std::string refresh2 = again.body["refresh_token"];
  CHECK(refresh2 != refresh);
  // The old refresh token and the access token issued with it are gone.
  CHECK(svc.Post("/csc/v2/auth/login", {{"refresh_token", refresh}}).status == 400);
  CHECK(svc.Post("/csc/v2/credentials/list", json::object(), access).status == 401);
  std::string access2 = again.body["access_token"];
  CHECK(svc.Post("/csc/v2/credentials/list", json::object(), access2).status == 200);

  CHECK(svc.Post("/csc/v2/auth/revoke", {{"token", access2}, {"token_type_hint", "access_token"}}, access2).status == 204);
  auto gone = svc.Post("/csc/v2/credentials/list", json::object(), access2);
  CHECK(gone.status == 401);
  CHECK(gone.error() == "expired_token");
  CHECK(svc.Post("/csc/v2/credentials/list", json::object(), "not-a-token").error() == "invalid_token");
  CHECK(svc.Post("/csc/v2/credentials/list", json::object()).description() == "Malformed authorization header");

  // Access tokens expire (clock moved past the lifetime).
  auto access3 = svc.Login("bob@example.org", secret);
  svc.SetClockOffset(svc.clock_offset() + 3700);
  CHECK(svc.Post("/csc/v2/credentials/list", json::object(), access3).error() == "expired_token");
}

TEST_CASE("OAuth2 authorization code flow with PKCE", "[http][oauth2]") {
  ServiceProcess svc;
  auto secret = svc.CreateAccount("carol@example.org");
  std::string verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
  auto digest = Sha(verifier);
  std::string challenge = B64(digest);
  for (auto& c : challenge) c = c == '+' ? '-' : c == '/' ? '_' : c;
  while (challenge.back() == '=') challenge.pop_back();
  std::string redirect = "http://127.0.0.1:55555/callback";
  auto& cli = svc.client();

  // Non-loopback redirect URIs get an error page, never a redirect.
  auto bad = cli.Get("/oauth2/authorize?response_type=code&client_id=app&redirect_uri=https%3A%2F%2Fevil.example%2F"
                     "&code_challenge=" + challenge + "&code_challenge_method=S256");
  REQUIRE(bad);
  CHECK(bad->status == 400);
  auto plain = cli.Get("/oauth2/authorize?response_type=code&client_id=app&redirect_uri=" + redirect +
                       "&code_challenge=" + challenge + "&code_challenge_method=plain&state=s1");
  REQUIRE(plain);
  CHECK(plain->status == 302);
  CHECK(plain->get_header_value("Location").find("error=invalid_request") != std::string::npos);

  const std::string query = "response_type=code&client_id=app&redirect_uri=" + redirect + "&code_challenge=" +
                            challenge + "&code_challenge_method=S256";
  std::string txn = OpenSignIn(cli, query + "&scope=service&state=xyz");

  // A wrong password shows the form again.
  CHECK(SubmitLogin(cli, txn, "carol@example.org", "nope", "000000").find("Wrong email or password") !=
        std::string::npos);
  REQUIRE(SubmitLogin(cli, txn, "carol@example.org", "correct horse", svc.NextCode(secret)).find("decision") !=
          std::string::npos);
  auto redirected = cli.Post("/oauth2/consent", httplib::Params{{"txn", txn}, {"decision", "allow"}});
  REQUIRE(redirected);
  REQUIRE(redirected->status == 302);
  std::string location = redirected->get_header_value("Location");
  REQUIRE(location.rfind(redirect + "?code=", 0) == 0);
  CHECK(location.find("&state=xyz") != std::string::npos);
  auto cstart = location.find("code=") + 5;
  std::string code = location.substr(cstart, location.find('&', cstart) - cstart);

  auto token = [&](httplib::Params p) {
    auto r = cli.Post("/oauth2/token", p);
    Reply out;
    if (r) {
      out.status = r->status;
      out.body = json::parse(r->body, nullptr, false);
    }
    return out;
  };
  auto wrong_verifier = token({{"grant_type", "authorization_code"}, {"code", code}, {"client_id", "app"},
                               {"redirect_uri", redirect}, {"code_verifier", std::string(43, 'a')}});
  CHECK(wrong_verifier.error() == "invalid_grant");
  // Codes are single-use: after a failed exchange the code is gone too.
  auto reused = token({{"grant_type", "authorization_code"}, {"code", code}, {"client_id", "app"},
                       {"redirect_uri", redirect}, {"code_verifier", verifier}});
  CHECK(reused.description() == "Authorization code is invalid or expired");

  // Second round, done right.
  txn = OpenSignIn(cli, query);
  SubmitLogin(cli, txn, "carol@example.org", "correct horse", svc.NextCode(secret));
  location = cli.Post("/oauth2/consent", httplib::Params{{"txn", txn}, {"decision", "allow"}})->get_header_value("Location");
  cstart = location.find("code=") + 5;
  code = location.substr(cstart, location.find('&', cstart) - cstart);
  auto ok = token({{"grant_type", "authorization_code"}, {"code", code}, {"client_id", "app"},
                   {"redirect_uri", redirect}, {"code_verifier", verifier}});
  REQUIRE(ok.status == 200);
  CHECK(ok.body["token_type"] == "Bearer");
  CHECK(svc.Post("/csc/v2/credentials/list", json::object(), ok.body["access_token"]).status == 200);
  auto refreshed = token({{"grant_type", "refresh_token"}, {"refresh_token", ok.body["refresh_token"]}, {"client_id", "app"}});
  REQUIRE(refreshed.status == 200);
  CHECK(token({{"grant_type", "refresh_token"}, {"refresh_token", ok.body["refresh_token"]}, {"client_id", "app"}})
            .error() == "invalid_grant");
  CHECK(token({{"grant_type", "password"}}).description() == "Invalid parameter grant_type");

  // Deny sends access_denied.
  txn = OpenSignIn(cli, query + "&state=d");
  SubmitLogin(cli, txn, "carol@example.org", "correct horse", svc.NextCode(secret));
  location = cli.Post("/oauth2/consent", httplib::Params{{"txn", txn}, {"decision", "deny"}})->get_header_value("Location");
  CHECK(location.find("error=access_denied") != std::string::npos);
  CHECK(location.find("state=d") != std::string::npos);
}

// One client that keeps opening sign-ins pushes out its own oldest; a new
// sign-in is never refused for it, and the newest ones still complete.
TEST_CASE("a flood of pending OAuth2 sign-ins pushes out the flooder's oldest", "[http][oauth2]") {
  ServiceProcess svc;
  auto secret = svc.CreateAccount("dora@example.org");
  const std::string redirect = "http://127.0.0.1:55555/callback";
  const std::string challenge(43, 'c');
  auto& cli = svc.client();
  const std::string query = "response_type=code&client_id=app&redirect_uri=" + redirect + "&code_challenge=" +
                            challenge + "&code_challenge_method=S256";
  std::vector<std::string> txns;
  for (int i = 0; i < 70; ++i) txns.push_back(OpenSignIn(cli, query));  // 64 per address: the first six are pushed out
  auto sign_in = [&](const std::string& txn) {
    return SubmitLogin(cli, txn, "dora@example.org", "correct horse", svc.NextCode(secret));
  };
  for (int i = 0; i < 6; ++i) CHECK(sign_in(txns[i]).find("Sign-in expired") != std::string::npos);
  CHECK(sign_in(txns[6]).find("decision") != std::string::npos);
  CHECK(sign_in(txns.back()).find("decision") != std::string::npos);
}

// Many client addresses together (each under its own 64) fill the table's
// 1000: each new sign-in then pushes out the oldest one of all.
TEST_CASE("past 1000 pending OAuth2 sign-ins the oldest of all is pushed out", "[http][oauth2]") {
  ServiceProcess svc;
  const std::string query = "/oauth2/authorize?response_type=code&client_id=app&redirect_uri="
                            "http://127.0.0.1:55555/callback&code_challenge=" + std::string(43, 'c') +
                            "&code_challenge_method=S256";
  std::vector<std::string> txns;  // in the order opened
  for (int client = 2; client < 18; ++client) {  // 16 addresses x 63 = 1008 sign-ins
    RawTlsClient raw(svc.port(), svc.dir() / "ca.pem", "127.0.0." + std::to_string(client));
    for (int i = 0; i < 63; ++i) {
      const std::string page = raw.Get(query);
      REQUIRE(page.starts_with("HTTP/1.1 200"));
      txns.push_back(TxnOf(page));
    }
  }
  auto try_sign_in = [&](const std::string& txn) {
    return SubmitLogin(svc.client(), txn, "nobody@example.org", "wrong", "000000");
  };
  for (int i = 0; i < 8; ++i) CHECK(try_sign_in(txns[i]).find("Sign-in expired") != std::string::npos);
  // Still pending: the form comes back with the error.
  CHECK(try_sign_in(txns[8]).find("Wrong email or password") != std::string::npos);
  CHECK(try_sign_in(txns.back()).find("Wrong email or password") != std::string::npos);
}

TEST_CASE("fault switch: status, delay, drop, path filter and count", "[http][faults]") {
  ServiceProcess svc;
  CHECK(svc.Post("/test/fault", {{"status", 503}, {"count", 2}, {"path", "/csc/v2/info"}}).status == 204);
  CHECK(svc.Post("/csc/v2/auth/login", json::object()).status == 401);  // other path untouched
  auto r = svc.Post("/csc/v2/info", json::object());
  CHECK(r.status == 503);
  CHECK(r.error() == "temporarily_unavailable");
  CHECK(svc.Post("/csc/v2/info", json::object()).status == 503);
  CHECK(svc.Post("/csc/v2/info", json::object()).status == 200);  // count used up

  svc.Post("/test/fault", {{"delay_ms", 400}});
  auto t0 = std::chrono::steady_clock::now();
  CHECK(svc.Post("/csc/v2/info", json::object()).status == 200);
  CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(380));

  svc.Post("/test/fault", {{"drop", true}});
  CHECK(svc.Post("/csc/v2/info", json::object()).status == 0);
  CHECK(svc.Post("/csc/v2/info", json::object()).status == 200);

  svc.Post("/test/fault", {{"status", 500}, {"count", -1}});
  CHECK(svc.Post("/csc/v2/info", json::object()).status == 500);
  CHECK(svc.Post("/csc/v2/info", json::object()).status == 500);
  CHECK(svc.Post("/test/fault", json::object()).status == 204);  // clears
  CHECK(svc.Post("/csc/v2/info", json::object()).status == 200);
}
