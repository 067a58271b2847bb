#include "service_fixture.h"

#include <openssl/evp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <stdexcept>

namespace vtoken::service::test {
namespace fs = std::filesystem;
namespace {

using vtoken::test::OathtoolCode;
using vtoken::test::RunCommand;
using vtoken::test::ShellQuote;

Reply ToReply(const httplib::Result& r) {
  Reply out;
  if (!r) return out;
  out.status = r->status;
  out.raw = r->body;
  out.body = json::parse(r->body, nullptr, false);
  return out;
}

}  // namespace

std::string B64(const std::vector<unsigned char>& b) {
  std::string out(4 * ((b.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), b.data(), static_cast<int>(b.size()));
  out.resize(n);
  return out;
}

std::vector<unsigned char> Unb64(const std::string& s) {
  std::vector<unsigned char> out(s.size());
  int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
  if (n < 0) return {};
  std::size_t pad = 0;
  if (!s.empty() && s.back() == '=') ++pad;
  if (s.size() > 1 && s[s.size() - 2] == '=') ++pad;
  out.resize(n - pad);
  return out;
}

std::vector<unsigned char> Sha(const std::string& data, const char* md) {
  std::vector<unsigned char> out(EVP_MAX_MD_SIZE);
  unsigned len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_get_digestbyname(md), nullptr);
  out.resize(len);
  return out;
}

ServiceProcess::ServiceProcess() {
  // The server may close a kept-alive connection (after a 5xx, a dropped
  // request); writing to it must be an error, not a signal.
  signal(SIGPIPE, SIG_IGN);
  char tmpl[] = "/tmp/vtoken-service-test-XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
  pid_ = fork();
  if (pid_ == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    std::string data = dir_.string();
    execl(VTOKEN_SERVICE_BINARY, VTOKEN_SERVICE_BINARY, "--data-dir", data.c_str(), "serve", "--listen",
          "127.0.0.1:0", "--test-mode", "--exit-with-parent", "--exit-after-idle", "120", "--threads", "8",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  std::string line;
  char c;
  while (read(fds[0], &c, 1) == 1 && c != '\n') line += c;
  close(fds[0]);
  auto pos = line.rfind(':');
  if (line.rfind("listening on https://127.0.0.1:", 0) != 0 || pos == std::string::npos)
    throw std::runtime_error("service did not start: \"" + line + "\"");
  port_ = std::stoi(line.substr(pos + 1));
  client_ = std::make_unique<httplib::SSLClient>("127.0.0.1", port_);
  client_->set_ca_cert_path((dir_ / "ca.pem").c_str());
  client_->enable_server_certificate_verification(true);
  client_->set_read_timeout(20, 0);
}

ServiceProcess::~ServiceProcess() {
  client_.reset();
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 100 && waitpid(pid_, &status, WNOHANG) == 0; ++i) usleep(20000);
    if (waitpid(pid_, &status, WNOHANG) == 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
  }
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

CommandResult ServiceProcess::Cli(const std::string& args, const std::string& stdin_text) const {
  std::string cmd;
  if (!stdin_text.empty()) cmd = "printf '%s\\n' " + ShellQuote(stdin_text) + " | ";
  cmd += std::string(VTOKEN_SERVICE_BINARY) + " --data-dir " + ShellQuote(dir_.string()) + " " + args;
  return RunCommand(cmd);
}

std::string ServiceProcess::CreateAccount(const std::string& email, const std::string& password) {
  auto r = Cli("account create --email " + ShellQuote(email) + " --password-stdin --json --scrypt-n 1024", password);
  if (r.rc != 0) throw std::runtime_error("account create failed: " + r.out);
  return json::parse(r.out).at("secret").get<std::string>();
}

std::string ServiceProcess::IssueCredential(const std::string& email, const std::string& options) {
  auto r = Cli("credential issue --email " + ShellQuote(email) + " --json " + options);
  if (r.rc != 0) throw std::runtime_error("credential issue failed: " + r.out);
  return json::parse(r.out).at("credentialID").get<std::string>();
}

Reply ServiceProcess::Post(const std::string& path, const json& body, const std::string& bearer) {
  httplib::Headers h;
  if (!bearer.empty()) h.emplace("Authorization", "Bearer " + bearer);
  return PostRaw(path, body.dump(), h);
}

Reply ServiceProcess::PostRaw(const std::string& path, const std::string& body, const httplib::Headers& headers,
                              const std::string& content_type) {
  return ToReply(client_->Post(path.c_str(), headers, body, content_type.c_str()));
}

void ServiceProcess::SetClockOffset(std::int64_t seconds) {
  offset_ = seconds;
  auto r = Post("/test/clock", {{"offset_seconds", seconds}});
  if (r.status != 204) throw std::runtime_error("/test/clock failed: " + r.raw);
}

std::string ServiceProcess::CodeNow(const std::string& secret) const {
  return OathtoolCode(secret, static_cast<std::int64_t>(std::time(nullptr)) + offset_);
}

std::string ServiceProcess::NextCode(const std::string& secret, int period) {
  SetClockOffset(offset_ + period);
  return CodeNow(secret);
}

std::string ServiceProcess::Login(const std::string& email, const std::string& secret, const std::string& password) {
  std::string up = email + ":" + password;
  httplib::Headers h{{"Authorization", "Basic " + B64(std::vector<unsigned char>(up.begin(), up.end()))}};
  auto r = PostRaw("/csc/v2/auth/login", json{{"OTP", NextCode(secret)}}.dump(), h);
  if (r.status != 200) throw std::runtime_error("login failed: " + r.raw);
  return r.body.at("access_token").get<std::string>();
}

std::string ServiceProcess::Authorize(const std::string& token, const std::string& credential,
                                      const std::string& secret, int num, const json& extra) {
  json body{{"credentialID", credential}, {"numSignatures", num},
            {"authData", json::array({{{"id", "otp"}, {"value", NextCode(secret)}}})}};
  for (auto& [k, v] : extra.items()) body[k] = v;
  auto r = Post("/csc/v2/credentials/authorize", body, token);
  if (r.status != 200) throw std::runtime_error("authorize failed: " + r.raw);
  return r.body.at("SAD").get<std::string>();
}

}  // namespace vtoken::service::test
