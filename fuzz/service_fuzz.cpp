// Fuzz target: one HTTP request to the reference signing service, as anyone
// who reaches its port can send it. The service runs in this process with
// the routes and server setup of `serve` (ConfigureServer), over plain HTTP on
// 127.0.0.1, on a real data directory made once by the service's own CLI:
// SQLite, its SoftHSMv2 token, the CA, one account with a SCAL1 P-256 and a
// SCAL2 RSA-2048 credential. Not in test mode: no fault switch, real clock.
//
// Input: "METHOD PATH" on the first line, header lines, an empty line, the
// body (lines end in LF or CRLF). The target adds Host, Content-Length and Connection: close, and
// replaces placeholders so that inputs get past authentication:
//   @TOKEN@ a fresh access token    @SAD@ a fresh SAD for 1000 signatures with @CRED@
//   @CRED@  the SCAL1 P-256 one     @CRED2@ the SCAL2 RSA-2048 one
//   @CODE@  the current TOTP code   @BASIC@ "email:password" in base64 (auth/login)
// Before each input the account's TOTP state and the quotas are reset, so an
// input's answer does not depend on the inputs before it.
//
// Every request gets an answer within 10 s; it is HTTP with a status below
// 500 (a 5xx means an exception or a store failure); a CSC error is a JSON
// object with an "error" string. VTOKEN_FUZZ_VERBOSE=1 prints each status.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "auth_logic.h"
#include "crypto_util.h"
#include "data_dir.h"
#include "http_server.h"
#include "totp.h"
#include "tests/support/shell.h"

namespace {
using namespace vtoken;
using namespace vtoken::service;
namespace fs = std::filesystem;

constexpr char kEmail[] = "fuzz@example.org";
constexpr char kPassword[] = "fuzz-password";

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "service_fuzz: %s\n", why.c_str());
  std::abort();
}

std::string Run(const std::string& cmd) {
  const vtoken::test::CommandOutput r = vtoken::test::RunCommand(cmd);
  if (r.rc != 0) Die("failed: " + cmd + "\n" + r.out);
  return r.out;
}

// The data directory, made once by the service's CLI before the first
// input; removed at exit (not after a crash: then it stays for a look).
struct DataDirectory {
  fs::path root;
  std::string scal1, scal2;  // credential IDs
  pid_t owner = 0;
};
DataDirectory* data_dir = nullptr;

void MakeDataDirectory() {
  char tmpl[] = "/tmp/vtoken-fuzz-service.XXXXXX";
  if (!mkdtemp(tmpl)) Die("mkdtemp");
  const std::string cli = std::string(VTOKEN_SERVICE_BINARY_PATH) + " --data-dir " + tmpl + " ";
  Run("printf '%s\\n' " + std::string(kPassword) + " | " + cli +
      "account create --json --password-stdin --scrypt-n 1024 --email " + kEmail);
  auto issue = [&](const std::string& options) {
    return nlohmann::json::parse(Run(cli + "credential issue --json --email " + kEmail + " " + options))
        .at("credentialID")
        .get<std::string>();
  };
  data_dir = new DataDirectory{tmpl, issue("--key p256 --scal 1 --multisign 1000 --quota 1000000"),
                               issue("--key rsa2048 --scal 2 --quota 1000000"), getpid()};
  std::atexit([] {
    std::error_code ignored;
    if (getpid() == data_dir->owner) fs::remove_all(data_dir->root, ignored);  // not in a forked child
  });
}

// The service on that directory, started on the first input and never
// stopped: its threads run until exit.
struct Service {
  SecureBytes master_key;
  std::unique_ptr<Store> store;
  Ca ca;
  std::unique_ptr<Hsm> hsm;
  Clock clock;
  std::unique_ptr<Context> ctx;
  httplib::Server server;
  std::atomic<std::int64_t> last_activity{0};
  int port = 0;
  std::int64_t account_id = 0;
  SecureBytes totp_secret;

  static Service& Get() {
    static Service* service = Start();
    return *service;
  }

  static Service* Start() {
    if (!data_dir) MakeDataDirectory();
    std::signal(SIGPIPE, SIG_IGN);  // as `serve` does: a client that left must not end the process
    auto* s = new Service;
    auto dir = DataDir::Open(data_dir->root);
    if (!dir) Die("data dir: " + dir.error().message);
    s->master_key = dir->master_key();
    s->store = dir->OpenStore();
    auto ca = dir->OpenCa();
    if (!ca) Die("CA: " + ca.error().message);
    s->ca = std::move(*ca);
    auto hsm = dir->OpenHsm({});
    if (!hsm) Die("HSM: " + hsm.error().message);
    s->hsm = std::move(*hsm);
    auto a = s->store->Tx([](Store::Txn& t) { return t.AccountByEmail(kEmail); });
    if (!a) Die("no account");
    s->account_id = a->id;
    auto secret = OpenTotpSecret(s->master_key, *a);
    if (!secret) Die("cannot open the TOTP secret");
    s->totp_secret = std::move(*secret);
    s->ctx.reset(new Context{*s->store, *s->hsm, s->ca, s->master_key, s->clock, ServiceConfig{}});
    ServeOptions options;
    options.threads = 2;
    options.access_log = false;
    ConfigureServer(s->server, *s->ctx, options, s->last_activity);
    s->port = s->server.bind_to_any_port("127.0.0.1");
    if (s->port <= 0) Die("cannot listen on 127.0.0.1");
    // The service's threads (they inherit this mask) leave libFuzzer's
    // SIGALRM to the fuzzing thread, which expects it.
    sigset_t alarm, old_mask;
    sigemptyset(&alarm);
    sigaddset(&alarm, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &alarm, &old_mask);
    std::thread([s] { s->server.listen_after_bind(); }).detach();
    pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
    return s;
  }

  struct Fresh {
    std::string token, sad;
  };
  Fresh Reset() {
    return store->Tx([&](Store::Txn& t) {
      t.UpdateTotpState(account_id, -1, 0, false);
      for (const auto& c : t.Credentials(account_id)) t.AddQuotaUsed(c.id, -c.quota_used);
      Fresh f{IssueTokens(t, *ctx, account_id, false).access_token, RandomToken()};
      t.InsertSad(TokenHash(f.sad), SadRow{account_id, data_dir->scal1, 1000, clock.Now() + 300, "", {}});
      return f;
    });
  }
};

void ReplaceAll(std::string& s, std::string_view from, const std::string& to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
}

bool IsHeader(std::string_view line, std::string_view name) {
  if (line.size() <= name.size() || line[name.size()] != ':') return false;
  for (std::size_t i = 0; i < name.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(line[i])) != name[i]) return false;
  return true;
}

// The length of the first whole HTTP response in `in`, or 0 while it is
// incomplete (every answer of the service carries a Content-Length or none
// and no body; an answer to HEAD never has a body).
std::size_t ResponseLength(const std::string& in, bool head) {
  const std::size_t end = in.find("\r\n\r\n");
  if (end == std::string::npos) return 0;
  std::size_t body = 0;
  for (std::size_t at = in.find("\r\n"); at < end; at = in.find("\r\n", at + 2))
    if (IsHeader(std::string_view(in).substr(at + 2, end - at - 2), "content-length"))
      body = std::strtoul(in.c_str() + at + 2 + sizeof "content-length", nullptr, 10);
  if (head) body = 0;
  return in.size() >= end + 4 + body ? end + 4 + body : 0;
}

// Sends `request` on a new connection and returns the service's first
// response: "" if it closed without one, or if `unfinished_ok` and none came
// within 50 ms (the request may be unfinished, and then the service rightly
// waits for the rest; a slow answer to a finished one goes unchecked). The
// connection may stay open after the response: for a request line it cannot
// parse, httplib answers 400 and keeps the connection alive. (Ending the
// sending side does not help: httplib then writes no response at all.)
std::string Exchange(int port, const std::string& request, bool unfinished_ok) {
  const bool head = request.starts_with("HEAD ");
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // libFuzzer's timeout alarm (SIGALRM, once a second) interrupts this
  // thread's system calls: EINTR is neither an answer nor a timeout.
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(unfinished_ok ? 50 : 10000);
  auto wait = [&](short events) {  // poll until `deadline`: >0 ready, 0 timed out
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd p{fd, events, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(0, left.count())));
      if (ready >= 0 || errno != EINTR) return ready > 0 ? static_cast<int>(p.revents) : 0;
    }
  };
  int rc = fd < 0 ? -1 : ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  if (rc != 0 && errno == EINTR && wait(POLLOUT)) {  // the connection went on
    int error = 0;
    socklen_t len = sizeof error;
    rc = ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) == 0 && error == 0 ? 0 : -1;
  }
  if (rc != 0) Die(std::string("cannot connect: ") + std::strerror(errno));
  // Closed with a reset, so that hundreds of connections a second do not use
  // up the ephemeral ports in TIME_WAIT.
  const linger reset{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  std::string response;
  std::size_t sent = 0;
  char buf[16384];
  while (!ResponseLength(response, head)) {
    const int revents = wait(static_cast<short>(POLLIN | (sent < request.size() ? POLLOUT : 0)));
    if (!revents) {
      if (unfinished_ok) break;
      Die("no answer within 10 s to:\n" + request + "\n---\n" + response);
    }
    if (revents & POLLOUT) {
      const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n > 0)
        sent += static_cast<std::size_t>(n);
      else if (errno != EINTR)
        sent = request.size();  // the service closed its side early; read what it said
    }
    if (revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n > 0)
        response.append(buf, static_cast<std::size_t>(n));
      else if (n == 0 || errno != EINTR)
        break;
    }
  }
  ::close(fd);
  return response.substr(0, ResponseLength(response, head));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  MakeDataDirectory();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 65536) return 0;
  Service& s = Service::Get();
  std::string input(reinterpret_cast<const char*>(data), size);

  const auto fresh = s.Reset();
  ReplaceAll(input, "@TOKEN@", fresh.token);
  ReplaceAll(input, "@SAD@", fresh.sad);
  ReplaceAll(input, "@CRED@", data_dir->scal1);
  ReplaceAll(input, "@CRED2@", data_dir->scal2);
  ReplaceAll(input, "@CODE@", totp::Generate(s.totp_secret, s.clock.Now(), 30));
  const std::string basic = std::string(kEmail) + ":" + kPassword;
  ReplaceAll(input, "@BASIC@", Base64Encode(Bytes(basic.begin(), basic.end())));

  auto chomp = [](std::string_view line) {
    return line.ends_with('\r') ? line.substr(0, line.size() - 1) : line;
  };
  std::size_t eol = input.find('\n');
  const std::string request_line(chomp(std::string_view(input).substr(0, eol)));
  std::string head = request_line + " HTTP/1.1\r\nHost: 127.0.0.1\r\n", body;
  bool own_framing = false;  // a Transfer-Encoding: the input frames the body itself
  if (eol != std::string::npos) {
    std::size_t pos = eol + 1;
    while (pos <= input.size()) {
      std::size_t end = input.find('\n', pos);
      if (end == std::string::npos) end = input.size();
      const std::string_view line = chomp(std::string_view(input.data() + pos, end - pos));
      pos = end + 1;
      if (line.empty()) break;
      if (IsHeader(line, "host") || IsHeader(line, "content-length") || IsHeader(line, "connection"))
        continue;
      own_framing = own_framing || IsHeader(line, "transfer-encoding");
      head.append(line).append("\r\n");
    }
    if (pos < input.size()) body = input.substr(pos);
  }
  head += "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";

  // An input that frames its body itself may leave it unfinished: then no
  // answer is right, and the next input finds out whether the service lives.
  const std::string response = Exchange(s.port, head + body, own_framing);
  if (response.empty() && own_framing) return 0;
  if (response.size() < 12 || response.compare(0, 9, "HTTP/1.1 ") != 0)
    Die("not an HTTP answer to:\n" + head + body + "\n---\n" + response);
  const int status = std::atoi(response.substr(9, 3).c_str());
  if (status < 100 || status >= 500)
    Die("status " + std::to_string(status) + " for:\n" + head + body + "\n---\n" + response);
  if (std::getenv("VTOKEN_FUZZ_VERBOSE")) std::fprintf(stderr, "%d <- %s\n", status, request_line.c_str());
  const std::size_t split = response.find("\r\n\r\n");
  const std::string payload = split == std::string::npos ? std::string() : response.substr(split + 4);
  if (status >= 400 && request_line.find(" /csc/") != std::string::npos &&
      !request_line.starts_with("HEAD ")) {
    auto j = nlohmann::json::parse(payload, nullptr, false);
    if (!j.is_object() || !j.contains("error") || !j["error"].is_string())
      Die("a CSC error without an \"error\" string:\n" + head + body + "\n---\n" + response);
  }
  return 0;
}
