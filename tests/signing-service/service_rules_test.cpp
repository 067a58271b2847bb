// The service rules of issue 3, each proven over HTTP against the real binary.
#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "service_fixture.h"

using namespace vtoken::service::test;

namespace {

const char* kSha256 = "2.16.840.1.101.3.4.2.1";

json SignBody(const std::string& cred, const std::string& sad, const std::vector<std::string>& hashes) {
  return {{"credentialID", cred}, {"SAD", sad}, {"hashes", hashes}, {"hashAlgorithmOID", kSha256},
          {"signAlgo", "1.2.840.10045.2.1"}};
}

// The audit table, oldest first: event, account, credential, hash_hex,
// client_addr, user_agent.
std::vector<std::vector<std::string>> AuditRows(const ServiceProcess& svc) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2((svc.dir() / "service.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT event, account, credential, hash_hex, client_addr, user_agent FROM audit ORDER BY id",
                     -1, &st, nullptr);
  std::vector<std::vector<std::string>> rows;
  while (sqlite3_step(st) == SQLITE_ROW) {
    rows.emplace_back();
    for (int i = 0; i < 6; ++i) rows.back().push_back(reinterpret_cast<const char*>(sqlite3_column_text(st, i)));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return rows;
}

httplib::Headers Basic(const std::string& user, const std::string& pw) {
  std::string up = user + ":" + pw;
  return {{"Authorization", "Basic " + B64({up.begin(), up.end()})}};
}

}  // namespace

TEST_CASE("login needs password and a fresh TOTP code, and refuses replays", "[rules]") {
  ServiceProcess svc;
  auto secret = svc.CreateAccount("dave@example.org");
  auto code = svc.NextCode(secret);
  auto login = [&](const std::string& pw, const json& body) {
    return svc.PostRaw("/csc/v2/auth/login", body.dump(), Basic("dave@example.org", pw));
  };
  auto r = login("wrong password", {{"OTP", code}});
  CHECK(r.error() == "authentication_error");
  CHECK(svc.PostRaw("/csc/v2/auth/login", json{{"OTP", code}}.dump(), Basic("nobody@example.org", "x")).error() ==
        "authentication_error");
  CHECK(login("correct horse", json::object()).description() == "Missing (or invalid type) string parameter OTP");
  REQUIRE(login("correct horse", {{"OTP", code}}).status == 200);
  r = login("correct horse", {{"OTP", code}});
  CHECK(r.error() == "invalid_otp");
  CHECK(r.description() == "The OTP has already been used");
  // An older code than the last used one is a replay too.
  svc.SetClockOffset(svc.clock_offset() + 30);
  auto newer = svc.CodeNow(secret);
  svc.SetClockOffset(svc.clock_offset() - 30);
  auto older_step = svc.CodeNow(secret);  // the step already used
  svc.SetClockOffset(svc.clock_offset() + 30);
  CHECK(login("correct horse", {{"OTP", newer}}).status == 200);
  CHECK(login("correct horse", {{"OTP", older_step}}).error() == "invalid_otp");
  CHECK(svc.PostRaw("/csc/v2/auth/login", "{}", {{"Authorization", "Basic !!!"}}).status == 401);
  CHECK(svc.PostRaw("/csc/v2/auth/login", "{}", {{"Authorization", "Basic bm9jb2xvbg=="}}).description() ==
        "Malformed username-password");
}

TEST_CASE("five wrong codes block login and authorization until reset-totp", "[rules]") {
  ServiceProcess svc;
  auto secret = svc.CreateAccount("erin@example.org");
  auto cred = svc.IssueCredential("erin@example.org", "--key p256");
  auto token = svc.Login("erin@example.org", secret);
  auto authorize = [&](const std::string& code) {
    return svc.Post("/csc/v2/credentials/authorize",
                    {{"credentialID", cred}, {"numSignatures", 1}, {"authData", {{{"id", "otp"}, {"value", code}}}}},
                    token);
  };
  // Four wrong codes, a success resets the counter.
  for (int i = 0; i < 4; ++i) CHECK(authorize("000000").error() == "invalid_otp");
  CHECK(authorize(svc.NextCode(secret)).status == 200);
  // Now five in a row: login (2) and authorize (3) share the counter.
  for (int i = 0; i < 2; ++i)
    CHECK(svc.PostRaw("/csc/v2/auth/login", json{{"OTP", "999999"}}.dump(), Basic("erin@example.org", "correct horse"))
              .error() == "invalid_otp");
  for (int i = 0; i < 3; ++i) CHECK(authorize("000000").error() == "invalid_otp");
  auto blocked = authorize(svc.NextCode(secret));  // even a correct code
  CHECK(blocked.error() == "otp_blocked");
  CHECK(blocked.description() == "Authorization blocked after 5 wrong codes");
  CHECK(svc.PostRaw("/csc/v2/auth/login", json{{"OTP", svc.NextCode(secret)}}.dump(),
                    Basic("erin@example.org", "correct horse"))
            .error() == "otp_blocked");
  auto list = svc.Cli("account list --json");
  CHECK(json::parse(list.out)[0]["blocked"] == true);

  REQUIRE(svc.Cli("account reset-totp --email erin@example.org").rc == 0);
  CHECK(authorize(svc.NextCode(secret)).status == 200);
  // --new-secret pairs a new secret: the old one stops working.
  auto fresh = svc.Cli("account reset-totp --email erin@example.org --new-secret --json");
  REQUIRE(fresh.rc == 0);
  auto new_secret = json::parse(fresh.out)["secret"].get<std::string>();
  CHECK(authorize(svc.NextCode(secret)).error() == "invalid_otp");
  CHECK(authorize(svc.NextCode(new_secret)).status == 200);
  CHECK(svc.Cli("account reset-totp --email nobody@example.org").rc == 3);
}

TEST_CASE("a SAD is single-account, single-credential, counted and expires", "[rules]") {
  ServiceProcess svc;
  auto secret = svc.CreateAccount("frank@example.org");
  auto a = svc.IssueCredential("frank@example.org", "--key p256 --multisign 3");
  auto b = svc.IssueCredential("frank@example.org", "--key p256");
  auto token = svc.Login("frank@example.org", secret);
  auto h = B64(Sha("x"));

  CHECK(svc.Post("/csc/v2/credentials/authorize",
                 {{"credentialID", a}, {"numSignatures", 4}, {"authData", {{{"id", "otp"}, {"value", "123456"}}}}}, token)
            .description() == "Numbers of signatures is too high");
  auto sad = svc.Authorize(token, a, secret, 2);
  CHECK(svc.Post("/csc/v2/signatures/signHash", SignBody(b, sad, {h}), token).description() == "Invalid parameter SAD");
  CHECK(svc.Post("/csc/v2/signatures/signHash", SignBody(a, sad, {h, h, h}), token).description() ==
        "Numbers of signatures is too high");
  CHECK(svc.Post("/csc/v2/signatures/signHash", SignBody(a, sad, {h}), token).status == 200);
  CHECK(svc.Post("/csc/v2/signatures/signHash", SignBody(a, sad, {h}), token).status == 200);
  CHECK(svc.Post("/csc/v2/signatures/signHash", SignBody(a, sad, {h}), token).description() == "Invalid parameter SAD");

  // Legacy top-level OTP works; the SAD expires after 300 s of service time.
  auto legacy = svc.Post("/csc/v2/credentials/authorize",
                         {{"credentialID", a}, {"numSignatures", 1}, {"OTP", svc.NextCode(secret)}}, token);
  REQUIRE(legacy.status == 200);
  CHECK(legacy.body["expiresIn"] == 300);
  svc.SetClockOffset(svc.clock_offset() + 301);
  CHECK(svc.Post("/csc/v2/signatures/signHash", SignBody(a, legacy.body["SAD"], {h}), token).description() ==
        "SAD expired");
}

TEST_CASE("SCAL2 binds the SAD to the authorized hashes", "[rules]") {
  ServiceProcess svc;
  auto secret = svc.CreateAccount("gina@example.org");
  auto cred = svc.IssueCredential("gina@example.org", "--key p256 --scal 2 --multisign 2");
  auto token = svc.Login("gina@example.org", secret);
  auto h1 = B64(Sha("one")), h2 = B64(Sha("two")), other = B64(Sha("other"));
  auto no_hashes = svc.Post("/csc/v2/credentials/authorize",
                            {{"credentialID", cred}, {"numSignatures", 1}, {"authData", {{{"id", "otp"}, {"value", "1"}}}}},
                            token);
  CHECK(no_hashes.description() == "Invalid parameter hashes");
  CHECK(svc.Post("/csc/v2/credentials/authorize",
                 {{"credentialID", cred}, {"numSignatures", 1}, {"hashes", {"AAAA"}}, {"hashAlgorithmOID", kSha256},
                  {"authData", {{{"id", "otp"}, {"value", "1"}}}}},
                 token)
            .description() == "Invalid digest value length");
  auto sad = svc.Authorize(token, cred, secret, 2, {{"hashes", {h1, h2}}, {"hashAlgorithmOID", kSha256}});
  CHECK(svc.Post("/csc/v2/signatures/signHash", SignBody(cred, sad, {other}), token).description() ==
        "Hash is not authorized by the SAD");
  CHECK(svc.Post("/csc/v2/signatures/signHash", SignBody(cred, sad, {h2}), token).status == 200);
  CHECK(svc.Post("/csc/v2/signatures/signHash", SignBody(cred, sad, {h2}), token).description() ==
        "Hash is not authorized by the SAD");  // each bound hash signs once
  auto sha512 = json{{"credentialID", cred}, {"SAD", sad}, {"hashes", {B64(Sha("one", "SHA512"))}},
                     {"signAlgo", "1.2.840.10045.4.3.4"}};
  CHECK(svc.Post("/csc/v2/signatures/signHash", sha512, token).description() == "Hash is not authorized by the SAD");
  CHECK(svc.Post("/csc/v2/signatures/signHash", SignBody(cred, sad, {h1}), token).status == 200);
}

TEST_CASE("expired and revoked certificates cannot sign", "[rules]") {
  ServiceProcess svc;
  auto secret = svc.CreateAccount("hank@example.org");
  auto expired = svc.IssueCredential("hank@example.org", "--key p256 --expired");
  auto good = svc.IssueCredential("hank@example.org", "--key p256 --years 1");
  auto token = svc.Login("hank@example.org", secret);
  auto info = svc.Post("/csc/v2/credentials/info", {{"credentialID", expired}}, token);
  CHECK(info.body["cert"]["status"] == "expired");
  CHECK(info.body["key"]["status"] == "disabled");
  auto code = svc.NextCode(secret);
  auto r = svc.Post("/csc/v2/credentials/authorize",
                    {{"credentialID", expired}, {"numSignatures", 1}, {"authData", {{{"id", "otp"}, {"value", code}}}}},
                    token);
  CHECK(r.description() == "Signing certificate is expired");
  // The refusal did not spend the code.
  CHECK(svc.Post("/csc/v2/credentials/authorize",
                 {{"credentialID", good}, {"numSignatures", 1}, {"authData", {{{"id", "otp"}, {"value", code}}}}}, token)
            .status == 200);

  // Revoked: an existing SAD stops working, and the credential is no longer "valid".
  auto revoked = svc.IssueCredential("hank@example.org", "--key p256");
  auto sad2 = svc.Authorize(token, revoked, secret, 1);
  REQUIRE(svc.Cli("credential revoke " + revoked).rc == 0);
  CHECK(svc.Post("/csc/v2/signatures/signHash", SignBody(revoked, sad2, {B64(Sha("x"))}), token).description() ==
        "Signing certificate is revoked");
  auto listed = svc.Post("/csc/v2/credentials/list", {{"onlyValid", true}}, token);
  CHECK(listed.body["credentialIDs"] == json::array({good}));

  // A SAD obtained while valid stops working once the certificate expires
  // (service clock moved two years ahead; a fresh login keeps the token valid).
  auto sad = svc.Authorize(token, good, secret, 1);
  svc.SetClockOffset(svc.clock_offset() + 2 * 365 * 86400);
  auto token2 = svc.Login("hank@example.org", secret);
  auto late = svc.Post("/csc/v2/signatures/signHash", SignBody(good, sad, {B64(Sha("x"))}), token2);
  CHECK(late.description() == "Signing certificate is expired");
  CHECK(svc.Cli("credential revoke vt-nope").rc == 3);
}

// signHash checks and charges in one transaction: the token comes first,
// and a call refused at any check spends nothing and leaves no audit row.
TEST_CASE("a refused signHash is answered in check order and charges nothing", "[rules]") {
  ServiceProcess svc;
  auto secret = svc.CreateAccount("jon@example.org");
  auto cred = svc.IssueCredential("jon@example.org", "--key p256 --quota 1");
  auto token = svc.Login("jon@example.org", secret);
  auto sad = svc.Authorize(token, cred, secret, 1);
  auto h = B64(Sha("once"));
  CHECK(svc.PostRaw("/csc/v2/signatures/signHash", "{", {{"Authorization", "Bearer nope"}}).status == 401);
  CHECK(svc.PostRaw("/csc/v2/signatures/signHash", "{", {{"Authorization", "Bearer " + token}}).description() ==
        "Malformed JSON body");
  CHECK(svc.Post("/csc/v2/signatures/signHash", SignBody(cred, sad, {"AAAA"}), token).description() ==
        "Invalid digest value length");
  CHECK(svc.Post("/csc/v2/signatures/signHash", SignBody(cred, sad, {h, h}), token).description() ==
        "Numbers of signatures is too high");
  CHECK(svc.Post("/csc/v2/signatures/signHash", SignBody(cred, "not-a-sad", {h}), token).description() ==
        "Invalid parameter SAD");
  CHECK(svc.Post("/csc/v2/signatures/signHash", SignBody(cred, sad, {h}), token).status == 200);
  CHECK(svc.Post("/csc/v2/signatures/signHash", SignBody(cred, sad, {h}), token).error() == "quota_exceeded");
  auto listed = json::parse(svc.Cli("credential list --json").out);
  CHECK(listed[0]["quotaUsed"] == 1);
  auto rows = AuditRows(svc);
  CHECK(std::count_if(rows.begin(), rows.end(), [](auto& r) { return r[0] == "sign"; }) == 1);
}

TEST_CASE("the signature quota is counted and refuses with its own error", "[rules]") {
  ServiceProcess svc;
  auto secret = svc.CreateAccount("ivy@example.org");
  auto cred = svc.IssueCredential("ivy@example.org", "--key p256 --quota 3 --multisign 5");
  auto token = svc.Login("ivy@example.org", secret);
  auto h = B64(Sha("q"));
  auto sad = svc.Authorize(token, cred, secret, 5);
  CHECK(svc.Post("/csc/v2/signatures/signHash", SignBody(cred, sad, {h, h}), token).status == 200);
  auto over = svc.Post("/csc/v2/signatures/signHash", SignBody(cred, sad, {h, h}), token);
  CHECK(over.error() == "quota_exceeded");  // all-or-nothing
  CHECK(svc.Post("/csc/v2/signatures/signHash", SignBody(cred, sad, {h}), token).status == 200);
  CHECK(svc.Post("/csc/v2/signatures/signHash", SignBody(cred, sad, {h}), token).error() == "quota_exceeded");
  auto r = svc.Post("/csc/v2/credentials/authorize",
                    {{"credentialID", cred}, {"numSignatures", 1}, {"authData", {{{"id", "otp"}, {"value", "1"}}}}}, token);
  CHECK(r.error() == "quota_exceeded");
  auto listed = json::parse(svc.Cli("credential list --json").out);
  CHECK(listed[0]["quotaUsed"] == 3);
  CHECK(listed[0]["quotaTotal"] == 3);
}

TEST_CASE("multisign goes up to 100000 for SCAL1 and up to 64 for SCAL2", "[rules]") {
  ServiceProcess svc;
  auto secret = svc.CreateAccount("lena@example.org");
  // Server seals sign large batches under one authorization.
  auto big = svc.IssueCredential("lena@example.org", "--key p256 --scal 1 --multisign 100000");
  auto issue = [&](const std::string& options) {
    return svc.Cli("credential issue --email lena@example.org --key p256 --json " + options).rc;
  };
  CHECK(issue("--scal 1 --multisign 100001") == 2);
  CHECK(issue("--scal 1 --multisign 0") == 2);
  CHECK(issue("--scal 2 --multisign 65") == 2);
  CHECK(issue("--scal 2 --multisign 64") == 0);
  auto listed = json::parse(svc.Cli("credential list --json").out);
  REQUIRE(listed.size() == 2);
  CHECK(listed[0]["multisign"] == 100000);
  auto token = svc.Login("lena@example.org", secret);
  auto sad = svc.Authorize(token, big, secret, 100000);
  CHECK(svc.Post("/csc/v2/signatures/signHash", SignBody(big, sad, {B64(Sha("a"))}), token).status == 200);
}

TEST_CASE("one account never reaches another's credentials", "[rules]") {
  ServiceProcess svc;
  auto s1 = svc.CreateAccount("jack@example.org");
  auto s2 = svc.CreateAccount("kate@example.org");
  auto mine = svc.IssueCredential("jack@example.org", "--key p256");
  auto theirs = svc.IssueCredential("kate@example.org", "--key p256");
  auto t1 = svc.Login("jack@example.org", s1);
  auto t2 = svc.Login("kate@example.org", s2);
  auto list = svc.Post("/csc/v2/credentials/list", json::object(), t1);
  CHECK(list.body["credentialIDs"] == json::array({mine}));
  auto info_other = svc.Post("/csc/v2/credentials/info", {{"credentialID", theirs}}, t1);
  auto info_missing = svc.Post("/csc/v2/credentials/info", {{"credentialID", "vt-0000000000000000"}}, t1);
  CHECK(info_other.status == 400);
  CHECK(info_other.raw == info_missing.raw);  // indistinguishable
  auto code = svc.NextCode(s1);
  CHECK(svc.Post("/csc/v2/credentials/authorize",
                 {{"credentialID", theirs}, {"numSignatures", 1}, {"authData", {{{"id", "otp"}, {"value", code}}}}}, t1)
            .description() == "Invalid parameter credentialID");
  // Kate's SAD is useless with Jack's token, even for Kate's credential.
  auto sad = svc.Authorize(t2, theirs, s2, 1);
  CHECK(svc.Post("/csc/v2/signatures/signHash", SignBody(theirs, sad, {B64(Sha("x"))}), t1).description() ==
        "Invalid parameter credentialID");
  CHECK(svc.Post("/csc/v2/signatures/signHash", SignBody(mine, sad, {B64(Sha("x"))}), t1).description() ==
        "Invalid parameter SAD");
  CHECK(svc.Post("/csc/v2/credentials/list", {{"userID", "kate@example.org"}}, t1).status == 400);
}

TEST_CASE("garbage input gets a 4xx CSC error and the service keeps serving", "[rules]") {
  ServiceProcess svc;
  auto secret = svc.CreateAccount("liam@example.org");
  auto cred = svc.IssueCredential("liam@example.org", "--key p256");
  auto token = svc.Login("liam@example.org", secret);
  httplib::Headers bearer{{"Authorization", "Bearer " + token}};
  auto expect_400 = [&](const std::string& path, const std::string& body, const std::string& description) {
    auto r = svc.PostRaw(path, body, bearer);
    CHECK(r.status == 400);
    CHECK(r.error() == "invalid_request");
    if (!description.empty()) CHECK(r.description() == description);
  };
  expect_400("/csc/v2/credentials/info", "{", "Malformed JSON body");
  expect_400("/csc/v2/credentials/info", "[1,2]", "Malformed JSON body");
  expect_400("/csc/v2/credentials/info", "\xff\xfe", "Malformed JSON body");
  expect_400("/csc/v2/credentials/info", std::string(5000, '[') + std::string(5000, ']'), "Malformed JSON body");
  expect_400("/csc/v2/credentials/info", R"({"credentialID": 5})",
             "Missing (or invalid type) string parameter credentialID");
  expect_400("/csc/v2/credentials/info", R"({"credentialID": ")" + cred + R"(", "certificates": "all"})",
             "Invalid parameter certificates");
  expect_400("/csc/v2/credentials/authorize", R"({"credentialID": ")" + cred + R"(", "numSignatures": "2"})",
             "Missing (or invalid type) integer parameter numSignatures");
  expect_400("/csc/v2/credentials/authorize", R"({"credentialID": ")" + cred + R"(", "numSignatures": 0})",
             "Invalid value for parameter numSignatures");
  expect_400("/csc/v2/signatures/signHash",
             R"({"credentialID": ")" + cred + R"(", "SAD": "x", "hashes": ["not base64!"], "hashAlgorithmOID": ")" +
                 kSha256 + R"(", "signAlgo": "1.2.840.10045.2.1"})",
             "Invalid Base64 hash string parameter");
  expect_400("/csc/v2/signatures/signHash",
             R"({"credentialID": ")" + cred + R"(", "SAD": "x", "hashes": ["AAAA"], "hashAlgorithmOID": ")" + kSha256 +
                 R"(", "signAlgo": "1.2.840.10045.2.1"})",
             "Invalid digest value length");
  expect_400("/csc/v2/signatures/signHash",
             R"({"credentialID": ")" + cred + R"(", "SAD": "x", "hashes": [], "signAlgo": "1.2.840.10045.2.1"})",
             "Empty hash array");
  expect_400("/csc/v2/signatures/signHash",
             R"({"credentialID": ")" + cred + R"(", "SAD": "x", "hashes": "AAAA", "signAlgo": "1.2.840.10045.2.1"})",
             "Missing (or invalid type) array parameter hashes");
  expect_400("/csc/v2/signatures/signHash",
             R"({"credentialID": ")" + cred + R"(", "SAD": "x", "hashes": ["AAAA"], "signAlgo": "1.2.3"})",
             "Invalid parameter signAlgo");
  expect_400("/csc/v2/signatures/signHash",
             R"({"credentialID": ")" + cred + R"(", "SAD": "x", "hashes": ["AAAA"], "signAlgo": "1.2.840.10045.2.1", "operationMode": "A"})",
             "Invalid parameter operationMode");
  // Unknown fields are ignored.
  CHECK(svc.PostRaw("/csc/v2/credentials/info", R"({"credentialID": ")" + cred + R"(", "surprise": {"x": [1]}})", bearer)
            .status == 200);
  // Huge body, huge header, many headers, unknown path.
  CHECK(svc.PostRaw("/csc/v2/credentials/info", std::string(2 << 20, ' '), bearer).status == 413);
  httplib::Headers many = bearer;
  for (int i = 0; i < 150; ++i) many.emplace("X-Pad-" + std::to_string(i), "1");
  CHECK(svc.PostRaw("/csc/v2/info", "{}", many).status == 431);
  auto unknown = svc.Post("/csc/v2/credentials/sendOTP", json::object(), token);
  CHECK(unknown.status == 404);
  CHECK(unknown.error() == "invalid_request");
  // Raw garbage on the socket, and concurrent clients.
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      httplib::SSLClient c("127.0.0.1", svc.port());
      c.enable_server_certificate_verification(false);
      for (int k = 0; k < 5; ++k)
        if (auto r = c.Post("/csc/v2/info", "{}", "application/json"); r && r->status == 200) ++ok;
    });
  for (auto& t : threads) t.join();
  CHECK(ok == 40);
  CHECK(svc.Post("/csc/v2/credentials/info", {{"credentialID", cred}}, token).status == 200);
}

TEST_CASE("the audit log records logins, authorizations and signatures", "[rules]") {
  ServiceProcess svc;
  auto secret = svc.CreateAccount("mia@example.org");
  auto cred = svc.IssueCredential("mia@example.org", "--key p256");
  auto token = svc.Login("mia@example.org", secret);
  auto h = Sha("audited");
  auto sad = svc.Authorize(token, cred, secret, 1);
  httplib::Headers headers{{"Authorization", "Bearer " + token}, {"User-Agent", "vtoken-test/1"}};
  REQUIRE(svc.PostRaw("/csc/v2/signatures/signHash", SignBody(cred, sad, {B64(h)}).dump(), headers).status == 200);

  std::vector<std::string> events;
  std::string sign_row;
  for (auto& row : AuditRows(svc)) {
    events.push_back(row[0]);
    if (row[0] == "sign")
      for (int i = 1; i < 6; ++i) sign_row += row[i] + "|";
  }
  CHECK(events == std::vector<std::string>{"login", "authorize", "sign"});
  std::string hex;
  for (auto b : h) {
    char buf[3];
    std::snprintf(buf, sizeof buf, "%02x", b);
    hex += buf;
  }
  CHECK(sign_row == "mia@example.org|" + cred + "|" + hex + "|127.0.0.1|vtoken-test/1|");
}
