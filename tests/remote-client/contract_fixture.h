#pragma once
// The real vtoken-signing-service as a child process for contract tests:
// started once per test process on 127.0.0.1:0 with --test-mode and a temp
// data dir, administered through its CLI, told the time through /test/clock,
// and killed at exit. TOTP codes come from oathtool, as from an authenticator
// app; each code moves the service clock one period on, so tests never wait
// for a new 30-second step and never replay a code by accident.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <sys/types.h>

#include "common/error.h"
#include "remote-client/csc_client.h"
#include "remote-client/curl_transport.h"

namespace vtoken::csc::test {

struct Account {
  std::string email;
  std::string password;
  std::string secret;  // base32 TOTP secret
};

struct IssueOptions {
  std::string key = "p256";  // rsa2048|rsa3072|rsa4096|p256|p384
  int scal = 1;
  int multisign = 5;
  int quota = 200;
  bool expired = false;
};

class Service {
 public:
  // The shared instance, started on first use; nullptr when the binary is
  // unknown (the test then warns and passes vacuously).
  static Service* Get();
  ~Service();

  const std::string& url() const { return url_; }  // https://127.0.0.1:PORT
  const std::filesystem::path& ca_file() const { return ca_file_; }
  const std::filesystem::path& data_dir() const { return data_dir_; }
  int port() const { return port_; }

  // CLI administration (runs the binary with --data-dir).
  Account CreateAccount(const std::string& tag);
  std::string Issue(const Account& account, const IssueOptions& options);
  void ResetTotp(const Account& account);
  void RevokeCredential(const std::string& id);

  // A code for the next TOTP step: advances the service clock by one period.
  Secret NextCode(const Account& account);
  // The code of the current step (for replay tests), and a wrong one.
  Secret CurrentCode(const Account& account) const;
  static Secret WrongCode(const Secret& right);
  // Absolute offset of the service clock (the code clock follows it).
  void SetClockOffset(long seconds);
  long clock_offset() const { return offset_; }

  // Fault switch: POST /test/fault with this body; {} clears it.
  void Fault(const nlohmann::json& fault);

  // Clients trusting the dev CA.
  std::shared_ptr<CurlTransport> Transport(TlsOptions tls = {}) const;
  std::unique_ptr<Client> NewClient(std::shared_ptr<HttpTransport> transport = nullptr,
                                    ClientOptions options = {}) const;
  // A client already logged in to `account`.
  std::unique_ptr<Client> LoggedIn(const Account& account, bool remember = false);

  // Raw HTTPS call (test endpoints, OAuth2 pages).
  Result<HttpResponse> Raw(const std::string& method, const std::string& path, const std::string& body,
                           const std::string& content_type = "application/json") const;

 private:
  Service() = default;
  bool Start();
  std::string Cli(const std::vector<std::string>& args, const std::string& stdin_text = "") const;

  std::filesystem::path binary_, data_dir_, ca_file_;
  std::string url_;
  int port_ = 0;
  pid_t pid_ = -1;
  long offset_ = 0;
  int counter_ = 0;
};

// Skips the rest of a test case when there is no service binary.
#define VT_REQUIRE_SERVICE(svc)                                        \
  auto* svc = ::vtoken::csc::test::Service::Get();                     \
  if (svc == nullptr) {                                                \
    WARN("vtoken-signing-service not built: contract test skipped");   \
    return;                                                            \
  }

// REQUIRE / CHECK that a Result succeeded, printing the error when it did not.
#define VT_ASSERT_OK(assertion, expr)                                      \
  do {                                                                     \
    const auto& vt_ok_ = (expr);                                           \
    INFO((vt_ok_ ? std::string() : ::vtoken::Describe(vt_ok_.error())));   \
    assertion(vt_ok_.has_value());                                         \
  } while (0)
#define REQUIRE_OK(expr) VT_ASSERT_OK(REQUIRE, expr)
#define CHECK_OK(expr) VT_ASSERT_OK(CHECK, expr)

// Verifies a signature made by the certificate's key (raw r||s for ECDSA).
bool VerifyWithCertificate(const Bytes& cert_der, const Bytes& hash, const Bytes& signature,
                           HashAlgo hash_algo, const SignAlgo& algo);

std::string Sha256PinOfCertificateFile(const std::filesystem::path& pem);

// The CSC error kind of a result that must have failed (the calling test
// fails if it succeeded or the error has no kind).
CscErrorKind KindOfResult(const auto& r) {
  REQUIRE_FALSE(r);
  const auto kind = KindOf(r.error());
  REQUIRE(kind.has_value());
  UNSCOPED_INFO(Describe(r.error()));  // shown with the caller's check
  return *kind;
}

}  // namespace vtoken::csc::test
