// signatures/signHash throughput and latency against the real service
// (SoftHSMv2 backend) with 1, 2 and 8 concurrent clients. Not a test.
//
//   csc_signhash_bench [--key p256|rsa2048|...] [--per-client N] [--clients 1,2,8]
//                      [--binary PATH]
//
// Each client has its own account and SCAL1 credential, logs in once, gets
// one SAD for N signatures and calls signHash with one hash per call over a
// kept-alive HTTPS connection.
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "crypto_util.h"
#include "tests/support/shell.h"

using nlohmann::json;
using namespace vtoken::service;
namespace fs = std::filesystem;

namespace {

std::string binary = VTOKEN_SERVICE_BINARY_PATH;
fs::path data_dir;
std::int64_t clock_offset = 0;

std::string Run(const std::string& cmd) {
  const vtoken::test::CommandOutput r = vtoken::test::RunCommand(cmd);
  if (r.rc != 0) throw std::runtime_error("failed: " + cmd + "\n" + r.out);
  return r.out;
}

std::string Cli(const std::string& args) { return Run(binary + " --data-dir " + data_dir.string() + " " + args); }

std::string Code(const std::string& secret) {
  return vtoken::test::OathtoolCode(secret, static_cast<long long>(std::time(nullptr)) + clock_offset);
}

void Advance(httplib::SSLClient& c) {
  clock_offset += 30;
  c.Post("/test/clock", json{{"offset_seconds", clock_offset}}.dump(), "application/json");
}

struct Client {
  std::string email, secret, credential, token, sad;
  std::vector<double> latencies_ms;
};

}  // namespace

int main(int argc, char** argv) {
  std::string key = "p256";
  int per_client = 300;
  std::vector<int> client_counts = {1, 2, 8};
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i], v = argv[i + 1];
    if (a == "--key") key = v;
    else if (a == "--per-client") per_client = std::stoi(v);
    else if (a == "--binary") binary = v;
    else if (a == "--clients") {
      client_counts.clear();
      std::stringstream ss(v);
      for (std::string x; std::getline(ss, x, ',');) client_counts.push_back(std::stoi(x));
    }
  }
  signal(SIGPIPE, SIG_IGN);
  char tmpl[] = "/tmp/vtoken-bench-XXXXXX";
  data_dir = mkdtemp(tmpl);
  int max_clients = *std::max_element(client_counts.begin(), client_counts.end());
  std::vector<Client> clients(max_clients);
  for (int i = 0; i < max_clients; ++i) {
    auto& c = clients[i];
    c.email = "bench" + std::to_string(i) + "@example.org";
    c.secret = json::parse(Run("printf 'benchmark-password\\n' | " + binary + " --data-dir " + data_dir.string() +
                               " account create --password-stdin --json --scrypt-n 1024 --email " + c.email))["secret"];
    c.credential = json::parse(Cli("credential issue --json --quota 1000000 --multisign 1000 --key " + key +
                                   " --email " + c.email))["credentialID"];
  }
  int fds[2];
  pipe(fds);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    dup2(open("/dev/null", O_WRONLY), 2);  // no per-request log lines
    execl(binary.c_str(), binary.c_str(), "--data-dir", data_dir.c_str(), "serve", "--listen", "127.0.0.1:0",
          "--test-mode", "--exit-with-parent", "--threads", "16", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  std::string line;
  for (char ch; read(fds[0], &ch, 1) == 1 && ch != '\n';) line += ch;
  int port = std::stoi(line.substr(line.rfind(':') + 1));
  httplib::SSLClient admin("127.0.0.1", port);
  admin.enable_server_certificate_verification(false);

  std::printf("signHash benchmark: key %s, %d signatures per client, one hash per call, SoftHSMv2, %u CPUs\n\n",
              key.c_str(), per_client, std::thread::hardware_concurrency());
  std::printf("%7s %8s %9s %10s %8s %8s %8s %8s\n", "clients", "sigs", "seconds", "sigs/s", "p50 ms", "p90 ms",
              "p99 ms", "max ms");
  for (int n : client_counts) {
    // Replay protection is per account: all clients can use the same steps.
    Advance(admin);
    for (int i = 0; i < n; ++i) {
      auto& c = clients[i];
      std::string up = c.email + ":benchmark-password";
      httplib::Headers h{{"Authorization", "Basic " + Base64Encode(Bytes(up.begin(), up.end()))}};
      auto r = admin.Post("/csc/v2/auth/login", h, json{{"OTP", Code(c.secret)}}.dump(), "application/json");
      c.token = json::parse(r->body)["access_token"];
    }
    Advance(admin);
    for (int i = 0; i < n; ++i) {
      auto& c = clients[i];
      auto r = admin.Post("/csc/v2/credentials/authorize", {{"Authorization", "Bearer " + c.token}},
                     json{{"credentialID", c.credential}, {"numSignatures", std::min(per_client, 1000)},
                          {"authData", {{{"id", "otp"}, {"value", Code(c.secret)}}}}}
                         .dump(),
                     "application/json");
      c.sad = json::parse(r->body)["SAD"];
      c.latencies_ms.clear();
    }
    auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    std::atomic<int> errors{0};
    for (int i = 0; i < n; ++i)
      threads.emplace_back([&, i] {
        auto& c = clients[i];
        httplib::SSLClient cli("127.0.0.1", port);
        cli.enable_server_certificate_verification(false);
        cli.set_keep_alive(true);
        cli.set_tcp_nodelay(true);
        httplib::Headers h{{"Authorization", "Bearer " + c.token}};
        for (int k = 0; k < per_client; ++k) {
          Bytes hash = Sha256("document " + std::to_string(i) + "/" + std::to_string(k));
          json body{{"credentialID", c.credential}, {"SAD", c.sad}, {"hashes", {Base64Encode(hash)}},
                    {"hashAlgorithmOID", "2.16.840.1.101.3.4.2.1"},
                    {"signAlgo", key.rfind("rsa", 0) == 0 ? "1.2.840.113549.1.1.1" : "1.2.840.10045.2.1"}};
          auto t0 = std::chrono::steady_clock::now();
          auto r = cli.Post("/csc/v2/signatures/signHash", h, body.dump(), "application/json");
          auto t1 = std::chrono::steady_clock::now();
          if (!r || r->status != 200) {
            if (errors++ == 0)
              std::fprintf(stderr, "first error: %s\n", r ? (std::to_string(r->status) + " " + r->body).c_str()
                                                         : httplib::to_string(r.error()).c_str());
          }
          c.latencies_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        }
      });
    for (auto& t : threads) t.join();
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::vector<double> all;
    for (int i = 0; i < n; ++i) all.insert(all.end(), clients[i].latencies_ms.begin(), clients[i].latencies_ms.end());
    std::sort(all.begin(), all.end());
    auto pct = [&](double p) { return all[std::min(all.size() - 1, static_cast<size_t>(p * all.size()))]; };
    std::printf("%7d %8zu %9.2f %10.1f %8.2f %8.2f %8.2f %8.2f%s\n", n, all.size(), seconds, all.size() / seconds,
                pct(0.50), pct(0.90), pct(0.99), all.back(), errors ? "  (errors!)" : "");
  }
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
  fs::remove_all(data_dir);
  return 0;
}
