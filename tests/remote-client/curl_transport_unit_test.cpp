// CurlTransport against a tiny plain-HTTP server on loopback (allow_plain_http
// is for tests only): the body cap, redirects not followed, the timeout.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "remote-client/csc_error.h"
#include "remote-client/curl_transport.h"

using namespace vtoken;
using namespace vtoken::csc;
using namespace std::chrono_literals;

namespace {

// Answers every connection with `response` after `delay`, then closes it.
class TinyServer {
 public:
  TinyServer(std::string response, std::chrono::milliseconds delay = 0ms)
      : response_(std::move(response)), delay_(delay) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    socklen_t len = sizeof addr;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    REQUIRE(listen(fd_, 4) == 0);
    thread_ = std::thread([this] { Serve(); });
  }
  ~TinyServer() {
    stop_ = true;
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/csc/v2/info"; }

 private:
  void Serve() {
    while (!stop_) {
      const int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      char buf[4096];
      std::string req;
      while (req.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = read(c, buf, sizeof buf);
        if (n <= 0) break;
        req.append(buf, static_cast<std::size_t>(n));
      }
      std::this_thread::sleep_for(delay_);
      std::size_t off = 0;
      while (off < response_.size()) {
        const ssize_t n = send(c, response_.data() + off, response_.size() - off, MSG_NOSIGNAL);
        if (n <= 0) break;
        off += static_cast<std::size_t>(n);
      }
      close(c);
    }
  }

  std::string response_;
  std::chrono::milliseconds delay_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::string Http(int status, const std::string& extra, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\nConnection: close\r\n" + extra + "\r\n" + body;
}

Result<HttpResponse> Get(const std::string& url, std::chrono::milliseconds timeout = 2000ms) {
  auto t = CurlTransport::Create({.allow_plain_http = true});
  REQUIRE(t);
  HttpRequest req;
  req.url = url;
  req.body.assign({'{', '}'});
  req.timeout = timeout;
  return (*t)->Send(req, Deadline::In(5s));
}

}  // namespace

TEST_CASE("curl transport: an answer is returned with status and type") {
  TinyServer server(Http(200, "", R"({"ok":true})"));
  auto r = Get(server.url());
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->content_type == "application/json");
  CHECK(r->BodyView() == R"({"ok":true})");
}

TEST_CASE("curl transport: bodies over 1 MiB are refused") {
  TinyServer server(Http(200, "", std::string(kMaxResponseBytes + 10, 'x')));
  auto r = Get(server.url());
  REQUIRE_FALSE(r);
  CHECK(KindOf(r.error()) == CscErrorKind::BadResponse);
}

TEST_CASE("curl transport: redirects are not followed") {
  TinyServer server(Http(302, "Location: http://127.0.0.1:1/elsewhere\r\n", ""));
  auto r = Get(server.url());
  REQUIRE(r);
  CHECK(r->status == 302);
  CHECK(r->location == "http://127.0.0.1:1/elsewhere");
}

TEST_CASE("curl transport: a slow server times out at the per-call timeout") {
  TinyServer server(Http(200, "", "{}"), 1500ms);
  auto r = Get(server.url(), 300ms);  // the server would answer 200 after 1.5 s
  REQUIRE_FALSE(r);
  CHECK(KindOf(r.error()) == CscErrorKind::Timeout);
}

TEST_CASE("curl transport: plain http is refused unless allowed") {
  TinyServer server(Http(200, "", "{}"));
  auto t = CurlTransport::Create({});
  REQUIRE(t);
  HttpRequest req;
  req.url = server.url();
  auto r = (*t)->Send(req, Deadline::In(2s));
  REQUIRE_FALSE(r);
  CHECK(KindOf(r.error()) == CscErrorKind::InvalidRequest);
}
