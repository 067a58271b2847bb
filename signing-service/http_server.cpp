#include "http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "routes/routes.h"

namespace vtoken::service {
namespace {

constexpr std::size_t kMaxBody = 1 << 20;
constexpr std::size_t kMaxHeaders = 100;

std::int64_t MonotonicSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

httplib::Server::HandlerResponse FillError(const httplib::Request&, httplib::Response& res) {
  if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
  switch (res.status) {
    case 404: SendError(res, {404, "invalid_request", "Unknown method"}); break;
    case 405: SendError(res, {405, "invalid_request", "Method not allowed"}); break;
    case 413: SendError(res, {413, "invalid_request", "Request body too large"}); break;
    case 414: SendError(res, {414, "invalid_request", "Request URI too long"}); break;
    case 431: SendError(res, {431, "invalid_request", "Too many request headers"}); break;
    default:
      if (res.status < 500) SendError(res, {res.status, "invalid_request", "Malformed request"});
      else SendError(res, {res.status, "server_error", "Internal error"});
  }
  return httplib::Server::HandlerResponse::Handled;
}

void WritePortFile(const std::string& path, int port) {
  std::string tmp = path + ".tmp";
  std::ofstream(tmp) << port << "\n";
  std::filesystem::rename(tmp, path);
}

// httplib writes a response as two TLS records (status line and headers, then
// the body), and with TCP_NODELAY each went out as its own segment: two
// transmits here and two wake-ups for the client. Corked from routing until
// the logger (which httplib calls after the body), both leave in one segment.
// A response that never reaches the logger (a broken connection) is sent by
// the kernel after its 200 ms cork limit, or dropped with the connection.
void SetCork(const httplib::Request& req, bool on) {
  if (req.ssl == nullptr) return;
  const int fd = SSL_get_fd(req.ssl);
  const int value = on ? 1 : 0;
  if (fd >= 0) setsockopt(fd, IPPROTO_TCP, TCP_CORK, &value, sizeof value);
}

}  // namespace

bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost" || host == "::1") return true;
  in_addr a{};
  if (inet_pton(AF_INET, host.c_str(), &a) == 1) return (ntohl(a.s_addr) >> 24) == 127;
  return false;
}

void ConfigureServer(httplib::Server& svr, Context& ctx, const ServeOptions& opts,
                     std::atomic<std::int64_t>& last_activity) {
  int threads = opts.threads;
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  svr.set_payload_max_length(kMaxBody);
  svr.set_read_timeout(10, 0);
  svr.set_write_timeout(10, 0);
  svr.set_keep_alive_timeout(10);
  svr.set_keep_alive_max_count(10000);
  svr.set_tcp_nodelay(true);

  auto faults = NewFaultSwitch();
  bool test_mode = opts.test_mode;
  svr.set_pre_routing_handler(
      [&last_activity, faults, test_mode](const httplib::Request& req, httplib::Response& res) {
        last_activity = MonotonicSeconds();
        SetCork(req, true);
        if (req.headers.size() > kMaxHeaders) {
          SendError(res, {431, "invalid_request", "Too many request headers"});
          return httplib::Server::HandlerResponse::Handled;
        }
        if (test_mode && ApplyFault(*faults, req, res)) return httplib::Server::HandlerResponse::Handled;
        return httplib::Server::HandlerResponse::Unhandled;
      });
  svr.set_error_handler(httplib::Server::HandlerWithResponse(FillError));
  svr.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "error: %s %s: %s\n", req.method.c_str(), req.path.c_str(), e.what());
    } catch (...) {
      std::fprintf(stderr, "error: %s %s: unknown exception\n", req.method.c_str(), req.path.c_str());
    }
    res.body.clear();
    SendError(res, {500, "server_error", "Internal error"});
  });
  // Method, path and status only: bodies and headers carry secrets.
  const bool access_log = opts.access_log;
  svr.set_logger([access_log](const httplib::Request& req, const httplib::Response& res) {
    SetCork(req, false);
    if (access_log)
      std::fprintf(stderr, "%s %s %s -> %d\n", req.remote_addr.c_str(), req.method.c_str(), req.path.c_str(),
                   res.status);
  });

  RegisterInfoLogin(svr, ctx);
  RegisterCredentials(svr, ctx);
  RegisterSignatures(svr, ctx);
  RegisterOAuth2(svr, ctx);
  if (opts.test_mode) RegisterTestRoutes(svr, ctx, faults);
}

int RunServer(Context& ctx, const ServeOptions& opts) {
  // Signals go to a waiting thread, never to a request thread.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  httplib::SSLServer svr(opts.cert_file.c_str(), opts.key_file.c_str());
  if (!svr.is_valid()) {
    std::fprintf(stderr, "error: cannot load the TLS certificate %s / key %s\n", opts.cert_file.c_str(),
                 opts.key_file.c_str());
    return 1;
  }
  std::atomic<std::int64_t> last_activity{MonotonicSeconds()};
  ConfigureServer(svr, ctx, opts, last_activity);

  int port = opts.port;
  if (port == 0) {
    port = svr.bind_to_any_port(opts.host);
    if (port <= 0) port = -1;
  } else if (!svr.bind_to_port(opts.host, port)) {
    port = -1;
  }
  if (port < 0) {
    std::fprintf(stderr, "error: cannot listen on %s:%d\n", opts.host.c_str(), opts.port);
    return 1;
  }
  std::string shown = opts.host.find(':') != std::string::npos ? "[" + opts.host + "]" : opts.host;
  std::printf("listening on https://%s:%d\n", shown.c_str(), port);
  std::fflush(stdout);
  if (!opts.port_file.empty()) WritePortFile(opts.port_file, port);

  std::atomic<bool> done{false};
  std::thread signal_thread([&] {
    timespec tick{0, 200 * 1000 * 1000};
    while (!done) {
      siginfo_t info;
      if (sigtimedwait(&sigs, &info, &tick) > 0) {
        std::fprintf(stderr, "signal %d: shutting down\n", info.si_signo);
        svr.stop();
        return;
      }
      if (opts.exit_after_idle > 0 && MonotonicSeconds() - last_activity > opts.exit_after_idle) {
        std::fprintf(stderr, "idle for %d s: shutting down\n", opts.exit_after_idle);
        svr.stop();
        return;
      }
    }
  });
  bool ok = svr.listen_after_bind();
  done = true;
  signal_thread.join();
  if (!opts.port_file.empty()) std::filesystem::remove(opts.port_file);
  return ok || !svr.is_running() ? 0 : 1;
}

}  // namespace vtoken::service
