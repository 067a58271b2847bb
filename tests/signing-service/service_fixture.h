#pragma once
// Runs the real vtoken-signing-service binary for HTTP-level tests: a temp
// data dir, CLI calls for accounts and credentials, `serve --test-mode` on
// 127.0.0.1:0 as a child process (killed in the destructor; it also exits
// with its parent and after idling), an HTTPS client trusting the
// service's CA, and TOTP codes from oathtool at the service's test clock.
#include <httplib.h>
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/shell.h"

namespace vtoken::service::test {

using nlohmann::json;

struct Reply {
  int status = 0;  // 0: no response (connection error)
  json body;
  std::string raw;
  std::string error() const { return body.is_object() ? body.value("error", "") : ""; }
  std::string description() const { return body.is_object() ? body.value("error_description", "") : ""; }
};

using CommandResult = vtoken::test::CommandOutput;  // rc and captured stdout

class ServiceProcess {
 public:
  ServiceProcess();
  ~ServiceProcess();

  // CLI runs (stdout captured, stderr to the test log).
  CommandResult Cli(const std::string& args, const std::string& stdin_text = "") const;
  // Creates an account; returns its base32 TOTP secret.
  std::string CreateAccount(const std::string& email, const std::string& password = "correct horse");
  std::string IssueCredential(const std::string& email, const std::string& options = "");

  Reply Post(const std::string& path, const json& body, const std::string& bearer = "");
  Reply PostRaw(const std::string& path, const std::string& body, const httplib::Headers& headers,
                const std::string& content_type = "application/json");
  httplib::SSLClient& client() { return *client_; }

  // Moves the service clock one TOTP step (30 s) ahead and returns the
  // oathtool code for that time, so every call gets a fresh, unused code.
  std::string NextCode(const std::string& secret, int period = 30);
  // Code for the current test clock without advancing it.
  std::string CodeNow(const std::string& secret) const;
  void SetClockOffset(std::int64_t seconds);
  std::int64_t clock_offset() const { return offset_; }

  std::string Login(const std::string& email, const std::string& secret, const std::string& password = "correct horse");
  std::string Authorize(const std::string& token, const std::string& credential, const std::string& secret,
                        int num = 1, const json& extra = json::object());

  const std::filesystem::path& dir() const { return dir_; }
  int port() const { return port_; }

 private:
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  int port_ = 0;
  std::int64_t offset_ = 0;
  std::unique_ptr<httplib::SSLClient> client_;
};

std::string B64(const std::vector<unsigned char>& b);
std::vector<unsigned char> Sha(const std::string& data, const char* md = "SHA256");
std::vector<unsigned char> Unb64(const std::string& s);

}  // namespace vtoken::service::test
