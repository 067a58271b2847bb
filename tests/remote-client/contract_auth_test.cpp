// Contract: info, login, sessions, OAuth2 and the account rules of the real
// service (two factors, replay, blocking after five wrong codes, reset,
// revoke, refresh rotation, token expiry, cross-account isolation).
#include <catch2/catch.hpp>

#include <regex>

#include <p11-kit/pkcs11.h>

#include "contract_fixture.h"
#include "remote-client/oauth.h"

using namespace vtoken;
using namespace vtoken::csc;
using namespace vtoken::csc::test;

namespace {

std::string FormField(const std::string& html, const std::string& name) {
  const std::regex re("name=\"" + name + "\"[^>]*value=\"([^\"]*)\"|value=\"([^\"]*)\"[^>]*name=\"" + name + "\"");
  std::smatch m;
  if (!std::regex_search(html, m, re)) return "";
  return m[1].matched ? m[1].str() : m[2].str();
}

constexpr const char* kRedirect = "http://127.0.0.1:53682/callback";

// Plays the browser: authorize page, login form, consent. Returns the
// redirect the service sent the browser to.
std::string BrowserFlow(Service* svc, const Account& a, const PkceRequest& pkce, const char* decision) {
  const std::string url = BuildAuthorizeUrl(
      {.oauth_base = svc->url(), .client_id = "vtoken", .redirect_uri = kRedirect}, pkce);
  REQUIRE(url.starts_with(svc->url()));
  auto page = svc->Raw("GET", url.substr(svc->url().size()), "");
  REQUIRE(page);
  REQUIRE(page->status == 200);
  const std::string txn = FormField(std::string(page->BodyView()), "txn");
  REQUIRE_FALSE(txn.empty());
  const std::string login = "txn=" + FormEscape(txn) + "&email=" + FormEscape(a.email) +
                            "&password=" + FormEscape(a.password) + "&otp=" + std::string(svc->NextCode(a).view());
  auto consent = svc->Raw("POST", "/oauth2/login", login, "application/x-www-form-urlencoded");
  REQUIRE(consent);
  REQUIRE(consent->status == 200);
  const std::string txn2 = FormField(std::string(consent->BodyView()), "txn");
  REQUIRE_FALSE(txn2.empty());
  auto answer = svc->Raw("POST", "/oauth2/consent", "txn=" + FormEscape(txn2) + "&decision=" + decision,
                         "application/x-www-form-urlencoded");
  REQUIRE(answer);
  REQUIRE(answer->status == 302);
  REQUIRE(answer->location.starts_with(kRedirect));
  return answer->location;
}

}  // namespace

TEST_CASE("info: the service describes itself over verified TLS") {
  VT_REQUIRE_SERVICE(svc);
  auto client = svc->NewClient();
  const auto info = client->Info();
  REQUIRE_OK(info);
  CHECK(info->specs == "2.0.0.2");
  CHECK(std::ranges::find(info->auth_types, "basic") != info->auth_types.end());
  CHECK(std::ranges::find(info->auth_types, "oauth2code") != info->auth_types.end());
  for (const char* m : {"auth/login", "auth/revoke", "credentials/list", "credentials/info",
                        "credentials/authorize", "signatures/signHash"})
    CHECK(std::ranges::find(info->methods, m) != info->methods.end());
  CHECK(info->oauth2.starts_with("https://127.0.0.1:"));
}

TEST_CASE("login: password and code, wrong password, wrong code, replayed code") {
  VT_REQUIRE_SERVICE(svc);
  const Account a = svc->CreateAccount("login");
  const std::string id = svc->Issue(a, {});
  auto client = svc->NewClient();

  auto no_session = client->ListCredentials();
  CHECK(KindOfResult(no_session) == CscErrorKind::Unauthorized);

  auto wrong_pw = client->Login(a.email, Secret("not the password"), svc->NextCode(a), false);
  CHECK(KindOfResult(wrong_pw) == CscErrorKind::WrongCode);
  CHECK(wrong_pw.error().rv == CKR_PIN_INCORRECT);

  const Secret code = svc->NextCode(a);
  auto wrong_code = client->Login(a.email, Secret(a.password), Service::WrongCode(code), false);
  CHECK(KindOfResult(wrong_code) == CscErrorKind::WrongCode);

  REQUIRE_OK(client->Login(a.email, Secret(a.password), code, false));
  CHECK(client->HasSession());
  CHECK(client->Session().refresh_token.empty());  // no rememberMe
  const auto ids = client->ListCredentials();
  REQUIRE_OK(ids);
  CHECK(*ids == std::vector<std::string>{id});

  // The same code again is a replay, refused even with the right password.
  auto replay = svc->NewClient()->Login(a.email, Secret(a.password), code, false);
  CHECK(KindOfResult(replay) == CscErrorKind::WrongCode);
  CHECK(replay.error().message.find("already been used") != std::string::npos);
}

TEST_CASE("five wrong codes block the account until reset-totp") {
  VT_REQUIRE_SERVICE(svc);
  const Account a = svc->CreateAccount("block");
  auto client = svc->NewClient();
  for (int i = 0; i < 4; ++i) {
    auto r = client->Login(a.email, Secret(a.password), Service::WrongCode(svc->NextCode(a)), false);
    CHECK(KindOfResult(r) == CscErrorKind::WrongCode);
  }
  auto fifth = client->Login(a.email, Secret(a.password), Service::WrongCode(svc->NextCode(a)), false);
  const auto fifth_kind = KindOfResult(fifth);
  CHECK((fifth_kind == CscErrorKind::WrongCode || fifth_kind == CscErrorKind::Blocked));
  // Blocked now, also for a right code.
  auto right = client->Login(a.email, Secret(a.password), svc->NextCode(a), false);
  CHECK(KindOfResult(right) == CscErrorKind::Blocked);
  CHECK(right.error().rv == CKR_PIN_LOCKED);
  svc->ResetTotp(a);
  REQUIRE_OK(client->Login(a.email, Secret(a.password), svc->NextCode(a), false));
}

TEST_CASE("a success resets the wrong-code counter") {
  VT_REQUIRE_SERVICE(svc);
  const Account a = svc->CreateAccount("counter");
  auto client = svc->NewClient();
  for (int i = 0; i < 4; ++i)
    CHECK_FALSE(client->Login(a.email, Secret(a.password), Service::WrongCode(svc->NextCode(a)), false));
  REQUIRE_OK(client->Login(a.email, Secret(a.password), svc->NextCode(a), false));
  for (int i = 0; i < 4; ++i)
    CHECK_FALSE(client->Login(a.email, Secret(a.password), Service::WrongCode(svc->NextCode(a)), false));
  REQUIRE_OK(client->Login(a.email, Secret(a.password), svc->NextCode(a), false));
}

TEST_CASE("remember: refresh tokens rotate, revoke ends the session") {
  VT_REQUIRE_SERVICE(svc);
  const Account a = svc->CreateAccount("refresh");
  svc->Issue(a, {});
  auto client = svc->LoggedIn(a, true);
  const SessionTokens first = client->Session();
  REQUIRE_FALSE(first.refresh_token.empty());

  REQUIRE_OK(client->Refresh());
  const SessionTokens second = client->Session();
  CHECK_FALSE(second.access_token == first.access_token);
  CHECK_FALSE(second.refresh_token == first.refresh_token);
  REQUIRE_OK(client->ListCredentials());

  // The old refresh token was invalidated by the rotation.
  auto stale = svc->NewClient();
  stale->SetSession(first);
  auto old = stale->Refresh();
  CHECK(KindOfResult(old) == CscErrorKind::Unauthorized);

  REQUIRE_OK(client->Revoke());
  CHECK_FALSE(client->HasSession());
  auto after = svc->NewClient();
  after->SetSession(second);
  auto gone = after->ListCredentials();
  CHECK(KindOfResult(gone) == CscErrorKind::Unauthorized);
  CHECK(gone.error().rv == CKR_DEVICE_REMOVED);
  auto gone_refresh = after->Refresh();
  CHECK(KindOfResult(gone_refresh) == CscErrorKind::Unauthorized);
}

TEST_CASE("an access token expires with the service clock") {
  VT_REQUIRE_SERVICE(svc);
  const Account a = svc->CreateAccount("expiry");
  auto client = svc->LoggedIn(a, false);
  REQUIRE_OK(client->ListCredentials());
  svc->SetClockOffset(svc->clock_offset() + 3700);  // default --token-ttl 3600
  auto r = client->ListCredentials();
  CHECK(KindOfResult(r) == CscErrorKind::Unauthorized);
}

TEST_CASE("a 401 with a refresh token held: one refresh and the call resent, until the refresh token expires") {
  VT_REQUIRE_SERVICE(svc);
  const Account a = svc->CreateAccount("reactive");
  auto client = svc->LoggedIn(a, true);
  const SessionTokens first = client->Session();
  svc->SetClockOffset(svc->clock_offset() + 3700);  // the access token expired; our clock does not know
  REQUIRE_OK(client->ListCredentials());
  CHECK_FALSE(client->Session().refresh_token == first.refresh_token);  // it was refreshed (and rotated)
  svc->SetClockOffset(svc->clock_offset() + 31 * 86400);  // past the 30-day refresh token
  auto r = client->ListCredentials();
  CHECK(KindOfResult(r) == CscErrorKind::Unauthorized);
  CHECK(r.error().rv == CKR_DEVICE_REMOVED);
}

TEST_CASE("one account never reaches another's credentials") {
  VT_REQUIRE_SERVICE(svc);
  const Account alice = svc->CreateAccount("alice");
  const Account mallory = svc->CreateAccount("mallory");
  const std::string alice_id = svc->Issue(alice, {});
  const std::string mallory_id = svc->Issue(mallory, {});
  auto a = svc->LoggedIn(alice);
  auto m = svc->LoggedIn(mallory);
  const auto mallory_ids = m->ListCredentials();
  REQUIRE_OK(mallory_ids);
  CHECK(*mallory_ids == std::vector<std::string>{mallory_id});

  auto info = m->GetCredentialInfo(alice_id);
  CHECK(KindOfResult(info) == CscErrorKind::NotFound);
  CHECK(info.error().rv == CKR_KEY_HANDLE_INVALID);
  auto authorize = m->Authorize(alice_id, svc->NextCode(mallory), 1, {}, HashAlgo::Sha256);
  CHECK(KindOfResult(authorize) == CscErrorKind::NotFound);

  // Alice's SAD in Mallory's session, on Alice's and on Mallory's credential.
  const auto sad = a->Authorize(alice_id, svc->NextCode(alice), 1, {}, HashAlgo::Sha256);
  REQUIRE_OK(sad);
  REQUIRE_OK(a->GetCredentialInfo(alice_id));
  const std::vector<Bytes> hashes = {Bytes(32, 0x42)};
  auto cross = m->SignHash(alice_id, *sad, hashes, HashAlgo::Sha256, {SignAlgo::Kind::Ecdsa, {}});
  REQUIRE_FALSE(cross);
  auto other = m->SignHash(mallory_id, *sad, hashes, HashAlgo::Sha256, {SignAlgo::Kind::Ecdsa, {}});
  CHECK(KindOfResult(other) == CscErrorKind::SadInvalid);
  // Alice can still use it.
  CHECK_OK(a->SignHash(alice_id, *sad, hashes, HashAlgo::Sha256, {SignAlgo::Kind::Ecdsa, {}}));
}

TEST_CASE("OAuth2 authorization code flow with PKCE") {
  VT_REQUIRE_SERVICE(svc);
  const Account a = svc->CreateAccount("oauth");
  const std::string id = svc->Issue(a, {});
  auto pkce = MakePkce();
  REQUIRE_OK(pkce);
  auto code = CodeFromRedirect(BrowserFlow(svc, a, *pkce, "allow"), pkce->state);
  REQUIRE_OK(code);
  auto client = svc->NewClient();
  REQUIRE_OK(client->ExchangeCode(*code, pkce->verifier, kRedirect));
  CHECK(client->Session().origin == SessionTokens::Origin::OAuth2);
  const auto ids = client->ListCredentials();
  REQUIRE_OK(ids);
  CHECK(*ids == std::vector<std::string>{id});
  REQUIRE_OK(client->Refresh());
  REQUIRE_OK(client->ListCredentials());
  // The code is single-use.
  auto again = svc->NewClient()->ExchangeCode(*code, pkce->verifier, kRedirect);
  CHECK(KindOfResult(again) == CscErrorKind::Unauthorized);
  REQUIRE_OK(client->Revoke());
  CHECK(KindOfResult(client->ListCredentials()) == CscErrorKind::Unauthorized);
}

TEST_CASE("OAuth2: a wrong PKCE verifier or redirect_uri is refused") {
  VT_REQUIRE_SERVICE(svc);
  const Account a = svc->CreateAccount("pkce");
  auto pkce = MakePkce();
  REQUIRE_OK(pkce);
  auto code = CodeFromRedirect(BrowserFlow(svc, a, *pkce, "allow"), pkce->state);
  REQUIRE_OK(code);
  auto other = MakePkce();
  auto wrong = svc->NewClient()->ExchangeCode(*code, other->verifier, kRedirect);
  CHECK(KindOfResult(wrong) == CscErrorKind::Unauthorized);
  CHECK(wrong.error().message.find("PKCE") != std::string::npos);

  auto pkce2 = MakePkce();
  auto code2 = CodeFromRedirect(BrowserFlow(svc, a, *pkce2, "allow"), pkce2->state);
  REQUIRE_OK(code2);
  auto elsewhere = svc->NewClient()->ExchangeCode(*code2, pkce2->verifier, "http://127.0.0.1:1/other");
  CHECK(KindOfResult(elsewhere) == CscErrorKind::Unauthorized);
}

TEST_CASE("OAuth2: denied consent comes back as an error redirect") {
  VT_REQUIRE_SERVICE(svc);
  const Account a = svc->CreateAccount("deny");
  auto pkce = MakePkce();
  REQUIRE_OK(pkce);
  auto code = CodeFromRedirect(BrowserFlow(svc, a, *pkce, "deny"), pkce->state);
  CHECK(KindOfResult(code) == CscErrorKind::Unauthorized);
  CHECK(code.error().message.find("access_denied") != std::string::npos);
}
