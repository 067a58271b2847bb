// Contract: transport behaviour against the real service and its fault
// switch — slow answers end in Timeout within the deadline (never a hang),
// injected statuses in ServerError, dropped connections in Unreachable, a
// wrong CA or pin in TlsFailure; safe calls recover by retrying, unsafe ones
// are sent once; one kept-alive connection serves many calls.
#include <catch2/catch.hpp>

#include <atomic>
#include <fstream>
#include <thread>

#include <openssl/rand.h>
#include <p11-kit/pkcs11.h>

#include "contract_fixture.h"
#include "test_keys.h"

using namespace vtoken;
using namespace vtoken::csc;
using namespace vtoken::csc::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

CscErrorKind KindOfResult(const auto& r) {
  REQUIRE_FALSE(r);
  INFO(Describe(r.error()));
  const auto kind = KindOf(r.error());
  REQUIRE(kind.has_value());
  return *kind;
}

ClientOptions Fast() {
  ClientOptions o;
  o.call_timeout = 700ms;
  o.deadline = 3s;
  o.backoff = 50ms;
  return o;
}

// Clears the fault switch when a test section ends, whatever happened.
struct FaultGuard {
  Service* svc;
  ~FaultGuard() { svc->Fault(json::object()); }
};

const std::vector<Bytes> kOneHash = {Bytes(32, 0x5a)};

}  // namespace

TEST_CASE("a slow service ends in Timeout within the deadline, never a hang") {
  VT_REQUIRE_SERVICE(svc);
  FaultGuard guard{svc};
  auto client = svc->NewClient(nullptr, Fast());
  REQUIRE(client->Info());  // connection up, so timing covers only the call
  svc->Fault({{"delay_ms", 5000}, {"count", -1}, {"path", "/csc/v2/info"}});
  auto start = Clock::now();
  auto r = client->Info();
  auto took = Clock::now() - start;
  CHECK(KindOfResult(r) == CscErrorKind::Timeout);
  CHECK(took < 3500ms);   // all attempts inside the 3 s deadline
  CHECK(took >= 1400ms);  // it did retry a safe call (2+ attempts of 700 ms)

  start = Clock::now();
  r = client->Info(Deadline::In(1s));
  took = Clock::now() - start;
  CHECK(KindOfResult(r) == CscErrorKind::Timeout);
  CHECK(took < 1500ms);
}

TEST_CASE("a slow signHash is sent once and times out") {
  VT_REQUIRE_SERVICE(svc);
  FaultGuard guard{svc};
  const Account a = svc->CreateAccount("slow");
  const std::string id = svc->Issue(a, {.key = "p256", .multisign = 3});
  auto client = svc->NewClient(nullptr, Fast());
  REQUIRE(client->Login(a.email, Secret(a.password), svc->NextCode(a), false));
  REQUIRE(client->GetCredentialInfo(id));
  const auto sad = client->Authorize(id, svc->NextCode(a), 3, {}, HashAlgo::Sha256);
  REQUIRE(sad);
  svc->Fault({{"delay_ms", 2000}, {"count", 1}, {"path", "/csc/v2/signatures/signHash"}});
  const auto start = Clock::now();
  auto r = client->SignHash(id, *sad, kOneHash, HashAlgo::Sha256, {SignAlgo::Kind::Ecdsa, {}});
  CHECK(KindOfResult(r) == CscErrorKind::Timeout);
  CHECK(Clock::now() - start < 1500ms);
  // Not retried: the delayed request still runs on the service and uses one
  // of the three signatures; the next call sees the fault gone.
  std::this_thread::sleep_for(1500ms);
  CHECK(client->SignHash(id, *sad, kOneHash, HashAlgo::Sha256, {SignAlgo::Kind::Ecdsa, {}}));
}

TEST_CASE("an injected status is a ServerError; safe calls recover by retrying") {
  VT_REQUIRE_SERVICE(svc);
  FaultGuard guard{svc};
  const Account a = svc->CreateAccount("status");
  const std::string id = svc->Issue(a, {.key = "p256", .multisign = 3});
  auto client = svc->NewClient(nullptr, Fast());
  REQUIRE(client->Login(a.email, Secret(a.password), svc->NextCode(a), false));

  svc->Fault({{"status", 503}, {"count", 1}, {"path", "/csc/v2/credentials/info"}});
  CHECK(client->GetCredentialInfo(id));  // retried after the 503

  svc->Fault({{"status", 500}, {"count", -1}, {"path", "/csc/v2/credentials/list"}});
  auto list = client->ListCredentials();
  CHECK(KindOfResult(list) == CscErrorKind::ServerError);
  CHECK(list.error().message.find("Injected fault") != std::string::npos);
  svc->Fault(json::object());

  const auto sad = client->Authorize(id, svc->NextCode(a), 3, {}, HashAlgo::Sha256);
  REQUIRE(sad);
  svc->Fault({{"status", 503}, {"count", 1}, {"path", "/csc/v2/signatures/signHash"}});
  auto sign = client->SignHash(id, *sad, kOneHash, HashAlgo::Sha256, {SignAlgo::Kind::Ecdsa, {}});
  CHECK(KindOfResult(sign) == CscErrorKind::ServerError);  // sent once, not retried
  CHECK(client->SignHash(id, *sad, kOneHash, HashAlgo::Sha256, {SignAlgo::Kind::Ecdsa, {}}));

  svc->Fault({{"status", 503}, {"count", 1}, {"path", "/csc/v2/auth/login"}});
  auto login = client->Login(a.email, Secret(a.password), svc->NextCode(a), false);
  CHECK(KindOfResult(login) == CscErrorKind::ServerError);
}

TEST_CASE("a dropped connection is Unreachable; safe calls recover by retrying") {
  VT_REQUIRE_SERVICE(svc);
  FaultGuard guard{svc};
  const Account a = svc->CreateAccount("drop");
  const std::string id = svc->Issue(a, {.key = "p256", .multisign = 3});
  auto client = svc->NewClient(nullptr, Fast());
  REQUIRE(client->Login(a.email, Secret(a.password), svc->NextCode(a), false));
  REQUIRE(client->GetCredentialInfo(id));

  svc->Fault({{"drop", true}, {"count", 1}, {"path", "/csc/v2/credentials/list"}});
  CHECK(client->ListCredentials());

  svc->Fault({{"drop", true}, {"count", -1}, {"path", "/csc/v2/info"}});
  auto info = client->Info();
  CHECK(KindOfResult(info) == CscErrorKind::Unreachable);
  svc->Fault(json::object());

  const auto sad = client->Authorize(id, svc->NextCode(a), 3, {}, HashAlgo::Sha256);
  REQUIRE(sad);
  svc->Fault({{"drop", true}, {"count", 1}, {"path", "/csc/v2/signatures/signHash"}});
  auto sign = client->SignHash(id, *sad, kOneHash, HashAlgo::Sha256, {SignAlgo::Kind::Ecdsa, {}});
  CHECK(KindOfResult(sign) == CscErrorKind::Unreachable);
  CHECK(client->SignHash(id, *sad, kOneHash, HashAlgo::Sha256, {SignAlgo::Kind::Ecdsa, {}}));
}

TEST_CASE("nothing listening is Unreachable, quickly") {
  VT_REQUIRE_SERVICE(svc);
  ClientOptions o = Fast();
  o.base_url = "https://127.0.0.1:1";
  auto client = svc->NewClient(nullptr, o);
  const auto start = Clock::now();
  CHECK(KindOfResult(client->Info()) == CscErrorKind::Unreachable);
  CHECK(Clock::now() - start < 2s);
}

TEST_CASE("TLS: a wrong CA, the system store or a wrong pin is a TlsFailure") {
  VT_REQUIRE_SERVICE(svc);
  // A CA that did not sign the server certificate.
  const auto other = MakeCert("p256");
  const auto other_ca = svc->data_dir() / "other-ca.pem";
  {
    std::ofstream out(other_ca);
    out << "-----BEGIN CERTIFICATE-----\n";
    for (std::size_t i = 0; i < other.base64.size(); i += 64) out << other.base64.substr(i, 64) << "\n";
    out << "-----END CERTIFICATE-----\n";
  }
  auto wrong_ca = svc->NewClient(svc->Transport({.ca_file = other_ca}), Fast());
  auto r = wrong_ca->Info();
  CHECK(KindOfResult(r) == CscErrorKind::TlsFailure);
  CHECK(r.error().rv == CKR_DEVICE_ERROR);

  auto system = CurlTransport::Create({});
  REQUIRE(system);
  auto system_client = svc->NewClient(std::shared_ptr<CurlTransport>(std::move(*system)), Fast());
  CHECK(KindOfResult(system_client->Info()) == CscErrorKind::TlsFailure);

  const std::string pin = Sha256PinOfCertificateFile(svc->data_dir() / "server.pem");
  auto pinned = svc->NewClient(svc->Transport({.pinned_public_key = pin}), Fast());
  CHECK(pinned->Info());
  std::string wrong_pin = "sha256//" + Base64Encode(Bytes(32, 0x01));
  auto mismatched = svc->NewClient(svc->Transport({.pinned_public_key = wrong_pin}), Fast());
  CHECK(KindOfResult(mismatched->Info()) == CscErrorKind::TlsFailure);
  // A pin alone (no CA) is not enough: verification stays on.
  auto pin_only = CurlTransport::Create({.pinned_public_key = pin});
  REQUIRE(pin_only);
  auto pin_only_client = svc->NewClient(std::shared_ptr<CurlTransport>(std::move(*pin_only)), Fast());
  CHECK(KindOfResult(pin_only_client->Info()) == CscErrorKind::TlsFailure);
}

TEST_CASE("keep-alive: one connection serves many calls") {
  VT_REQUIRE_SERVICE(svc);
  const Account a = svc->CreateAccount("keepalive");
  const std::string id = svc->Issue(a, {.key = "p256", .multisign = 10});
  auto transport = svc->Transport();
  auto client = svc->NewClient(transport);
  REQUIRE(client->Info());
  REQUIRE(client->Login(a.email, Secret(a.password), svc->NextCode(a), false));
  for (int i = 0; i < 5; ++i) {
    REQUIRE(client->ListCredentials());
    REQUIRE(client->GetCredentialInfo(id));
  }
  const auto sad = client->Authorize(id, svc->NextCode(a), 3, {}, HashAlgo::Sha256);
  REQUIRE(sad);
  for (int i = 0; i < 3; ++i)
    REQUIRE(client->SignHash(id, *sad, kOneHash, HashAlgo::Sha256, {SignAlgo::Kind::Ecdsa, {}}));
  CHECK(transport->connections_opened() == 1);
}

TEST_CASE("calls from several threads share one client") {
  VT_REQUIRE_SERVICE(svc);
  const Account a = svc->CreateAccount("threads");
  const std::string id = svc->Issue(a, {.key = "p256"});
  auto client = svc->LoggedIn(a);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i)
        if (client->GetCredentialInfo(id)) ++ok;
    });
  for (auto& t : threads) t.join();
  CHECK(ok == 20);
}
