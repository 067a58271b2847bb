#include "contract_fixture.h"

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "common/ossl.h"
#include "remote-client/der.h"
#include "remote-client/encoding.h"
#include "tests/support/shell.h"

extern char** environ;

namespace vtoken::csc::test {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr long kPeriod = 30;

using vtoken::test::ShellQuote;

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Tail(const fs::path& p) {
  const std::string all = ReadFile(p);
  return all.size() > 3000 ? all.substr(all.size() - 3000) : all;
}

fs::path BinaryPath() {
  if (const char* env = std::getenv("VTOKEN_SIGNING_SERVICE"); env != nullptr && *env != '\0') return env;
#ifdef VTOKEN_SIGNING_SERVICE
  return VTOKEN_SIGNING_SERVICE;
#else
  return {};
#endif
}

std::string Oathtool(const std::string& secret, long offset) {
  return vtoken::test::OathtoolCode(secret, static_cast<long>(std::time(nullptr)) + offset);
}

}  // namespace

Service* Service::Get() {
  static std::unique_ptr<Service> instance;
  static bool tried = false;
  if (!tried) {
    tried = true;
    std::unique_ptr<Service> s(new Service());
    s->binary_ = BinaryPath();
    if (!s->binary_.empty() && fs::exists(s->binary_)) {
      if (!s->Start()) throw std::runtime_error("the signing service did not start: " + Tail(s->data_dir_ / "service.log"));
      instance = std::move(s);
    }
  }
  return instance.get();
}

bool Service::Start() {
  char tmpl[] = "/tmp/vtoken-csc-contract-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return false;
  data_dir_ = tmpl;
  const fs::path port_file = data_dir_ / "port";
  const fs::path log = data_dir_ / "service.log";
  std::vector<std::string> args = {binary_.string(), "--data-dir", data_dir_.string(), "serve",
                                   "--listen", "127.0.0.1:0", "--port-file", port_file.string(),
                                   "--test-mode", "--exit-with-parent"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  const int rc = posix_spawn(&pid_, binary_.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return false;

  const auto until = std::chrono::steady_clock::now() + 90s;
  while (std::chrono::steady_clock::now() < until) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    const std::string text = ReadFile(port_file);
    if (!text.empty() && text.back() == '\n') {
      port_ = std::atoi(text.c_str());
      break;
    }
    if (!text.empty() && std::atoi(text.c_str()) > 0 && ReadFile(log).find("listening on") != std::string::npos) {
      port_ = std::atoi(text.c_str());
      break;
    }
    std::this_thread::sleep_for(50ms);
  }
  if (port_ <= 0) return false;
  url_ = "https://127.0.0.1:" + std::to_string(port_);
  ca_file_ = data_dir_ / "ca.pem";
  return fs::exists(ca_file_);
}

Service::~Service() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int status = 0;
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > until) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
  }
  if (std::getenv("VTOKEN_KEEP_TEST_DIR") == nullptr && !data_dir_.empty()) {
    std::error_code ec;
    fs::remove_all(data_dir_, ec);
  }
}

std::string Service::Cli(const std::vector<std::string>& args, const std::string& stdin_text) const {
  std::string cmd;
  if (!stdin_text.empty()) cmd = "printf '%s\\n' " + ShellQuote(stdin_text) + " | ";
  cmd += ShellQuote(binary_.string()) + " --data-dir " + ShellQuote(data_dir_.string());
  for (const auto& a : args) cmd += " " + ShellQuote(a);
  cmd += " 2>>" + ShellQuote((data_dir_ / "cli.log").string());
  const vtoken::test::CommandOutput r = vtoken::test::RunCommand(cmd);
  if (r.rc != 0)
    throw std::runtime_error("service CLI failed (" + args.at(0) + " " + args.at(1) + "): " + r.out + Tail(data_dir_ / "cli.log"));
  return r.out;
}

Account Service::CreateAccount(const std::string& tag) {
  Account a;
  a.email = tag + "-" + std::to_string(++counter_) + "@example.org";
  a.password = "correct horse " + std::to_string(counter_);
  const auto out = nlohmann::json::parse(Cli({"account", "create", "--email", a.email, "--password-stdin", "--json"}, a.password));
  a.secret = out.at("secret").get<std::string>();
  if (out.at("email") != a.email || out.at("otpauth").get<std::string>().rfind("otpauth://totp/", 0) != 0)
    throw std::runtime_error("unexpected account create output");
  return a;
}

std::string Service::Issue(const Account& account, const IssueOptions& o) {
  std::vector<std::string> args = {"credential", "issue", "--email", account.email, "--key", o.key, "--years", "1",
                                   "--quota", std::to_string(o.quota), "--scal", std::to_string(o.scal),
                                   "--multisign", std::to_string(o.multisign), "--json"};
  if (o.expired) args.push_back("--expired");
  return nlohmann::json::parse(Cli(args)).at("credentialID").get<std::string>();
}

void Service::ResetTotp(const Account& account) { Cli({"account", "reset-totp", "--email", account.email}); }
void Service::RevokeCredential(const std::string& id) { Cli({"credential", "revoke", id}); }

void Service::SetClockOffset(long seconds) {
  auto r = Raw("POST", "/test/clock", nlohmann::json{{"offset_seconds", seconds}}.dump());
  if (!r || r->status / 100 != 2) throw std::runtime_error("/test/clock failed");
  offset_ = seconds;
}

Secret Service::NextCode(const Account& account) {
  SetClockOffset(offset_ + kPeriod);
  return Secret(Oathtool(account.secret, offset_));
}

Secret Service::CurrentCode(const Account& account) const { return Secret(Oathtool(account.secret, offset_)); }

Secret Service::WrongCode(const Secret& right) {
  std::string s(right.view());
  for (char& c : s) c = static_cast<char>('0' + (c - '0' + 5) % 10);
  return Secret(s);
}

void Service::Fault(const nlohmann::json& fault) {
  auto r = Raw("POST", "/test/fault", fault.dump());
  if (!r || r->status / 100 != 2) throw std::runtime_error("/test/fault failed");
}

std::shared_ptr<CurlTransport> Service::Transport(TlsOptions tls) const {
  if (tls.ca_file.empty()) tls.ca_file = ca_file_;
  auto t = CurlTransport::Create(std::move(tls));
  if (!t) throw std::runtime_error("no curl transport");
  return std::shared_ptr<CurlTransport>(std::move(*t));
}

std::unique_ptr<Client> Service::NewClient(std::shared_ptr<HttpTransport> transport, ClientOptions options) const {
  if (options.base_url.empty()) options.base_url = url_;
  if (!transport) transport = Transport();
  return std::make_unique<Client>(std::move(options), std::move(transport));
}

std::unique_ptr<Client> Service::LoggedIn(const Account& account, bool remember) {
  auto client = NewClient();
  auto r = client->Login(account.email, Secret(account.password), NextCode(account), remember);
  if (!r) throw std::runtime_error("login failed: " + Describe(r.error()));
  return client;
}

Result<HttpResponse> Service::Raw(const std::string& method, const std::string& path, const std::string& body,
                                  const std::string& content_type) const {
  auto transport = Transport();
  HttpRequest req;
  req.method = method;
  req.url = url_ + path;
  req.content_type = method == "POST" ? content_type : "";
  req.body.assign(body.begin(), body.end());
  return transport->Send(req, Deadline::In(30s));
}

bool VerifyWithCertificate(const Bytes& cert_der, const Bytes& hash, const Bytes& signature, HashAlgo hash_algo,
                           const SignAlgo& algo) {
  const unsigned char* p = cert_der.data();
  ossl::X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(cert_der.size())));
  if (!cert) return false;
  EVP_PKEY* pub = X509_get0_pubkey(cert.get());
  auto md = [](HashAlgo h) {
    switch (h) {
      case HashAlgo::Sha224: return EVP_sha224();
      case HashAlgo::Sha256: return EVP_sha256();
      case HashAlgo::Sha384: return EVP_sha384();
      case HashAlgo::Sha512: return EVP_sha512();
    }
    return EVP_sha256();
  };
  ossl::PKeyCtx ctx(EVP_PKEY_CTX_new(pub, nullptr));
  if (!ctx || EVP_PKEY_verify_init(ctx.get()) != 1) return false;
  if (EVP_PKEY_CTX_set_signature_md(ctx.get(), md(hash_algo)) != 1) return false;
  Bytes sig = signature;
  switch (algo.kind) {
    case SignAlgo::Kind::RsaPkcs1:
      if (EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) != 1) return false;
      break;
    case SignAlgo::Kind::RsaPss:
      if (EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PSS_PADDING) != 1 ||
          EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), md(algo.pss.mgf1_hash)) != 1 ||
          EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx.get(), static_cast<int>(algo.pss.salt_length)) != 1)
        return false;
      break;
    case SignAlgo::Kind::Ecdsa: {
      auto der = EcdsaRawToDer(signature);
      if (!der) return false;
      sig = *der;
      break;
    }
  }
  return EVP_PKEY_verify(ctx.get(), sig.data(), sig.size(), hash.data(), hash.size()) == 1;
}

std::string Sha256PinOfCertificateFile(const fs::path& pem) {
  FILE* f = std::fopen(pem.c_str(), "r");
  if (f == nullptr) throw std::runtime_error("cannot open " + pem.string());
  ossl::X509Ptr cert(PEM_read_X509(f, nullptr, nullptr, nullptr));
  std::fclose(f);
  if (!cert) throw std::runtime_error("no certificate in " + pem.string());
  unsigned char* spki = nullptr;
  const int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert.get()), &spki);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(spki, static_cast<size_t>(len), digest);
  OPENSSL_free(spki);
  return "sha256//" + Base64Encode({digest, sizeof digest});
}

}  // namespace vtoken::csc::test
