#include "cng-provider/src/tcp_transport.h"

// winsock2.h must come before windows.h.
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>

#include "cng-provider/src/wide.h"

namespace vtoken::ksp {
namespace {

constexpr std::size_t kSecretBytes = 32;
constexpr std::size_t kMaxEndpointFile = 4096;

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

KspResult<void> StartWinsock() {
  static std::once_flag once;
  static int result = 0;
  std::call_once(once, [] {
    WSADATA data;
    result = WSAStartup(MAKEWORD(2, 2), &data);
  });
  if (result != 0) return KspFail(Status::kDeviceNotReady, "WSAStartup failed: " + std::to_string(result));
  return {};
}

class TcpTransport final : public Transport {
 public:
  TcpTransport(SOCKET s, TcpEndpoint endpoint) : socket_(s), endpoint_(std::move(endpoint)) {}
  ~TcpTransport() override {
    WipeMemory(endpoint_.secret.data(), endpoint_.secret.size());
    closesocket(socket_);
  }

  KspResult<void> Send(std::span<const std::uint8_t> data) override {
    std::size_t done = 0;
    while (done < data.size()) {
      const int chunk = static_cast<int>(std::min<std::size_t>(data.size() - done, 1 << 20));
      const int w = ::send(socket_, reinterpret_cast<const char*>(data.data() + done), chunk, 0);
      if (w <= 0) return KspFail(Status::kDeviceNotReady, "sending to the agent failed (WSA error " + std::to_string(WSAGetLastError()) + ")");
      done += static_cast<std::size_t>(w);
    }
    return {};
  }

  KspResult<std::size_t> Receive(std::span<std::uint8_t> buffer) override {
    const int r = ::recv(socket_, reinterpret_cast<char*>(buffer.data()), static_cast<int>(buffer.size()), 0);
    if (r < 0) {
      const int err = WSAGetLastError();
      return KspFail(Status::kDeviceNotReady, err == WSAETIMEDOUT ? "the agent did not answer in time"
                                                                   : "receiving from the agent failed (WSA error " + std::to_string(err) + ")");
    }
    return static_cast<std::size_t>(r);
  }

  void DecorateHello(wire::Json& hello) const override { hello["secret"] = wire::Binary(endpoint_.secret); }

  std::string Describe() const override { return "tcp 127.0.0.1:" + std::to_string(endpoint_.port); }

 private:
  SOCKET socket_;
  TcpEndpoint endpoint_;
};

}  // namespace

KspResult<TcpEndpoint> ParseTcpEndpoint(std::string_view text) {
  if (text.size() > kMaxEndpointFile) return KspFail(Status::kDeviceNotReady, "the agent endpoint file is too large");
  TcpEndpoint e;
  bool have_port = false, have_secret = false;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = Trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (line.empty() || line.front() == '#') continue;
    const auto eq = line.find('=');
    if (eq == std::string_view::npos) return KspFail(Status::kDeviceNotReady, "the agent endpoint file has a line without '='");
    const std::string_view key = Trim(line.substr(0, eq)), value = Trim(line.substr(eq + 1));
    if (key == "port") {
      unsigned port = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), port);
      if (ec != std::errc() || p != value.data() + value.size() || port == 0 || port > 65535)
        return KspFail(Status::kDeviceNotReady, "the agent endpoint file has a bad port");
      e.port = static_cast<std::uint16_t>(port);
      have_port = true;
    } else if (key == "secret") {
      if (value.size() != 2 * kSecretBytes) return KspFail(Status::kDeviceNotReady, "the agent endpoint secret must be 64 hex digits");
      e.secret.resize(kSecretBytes);
      for (std::size_t i = 0; i < kSecretBytes; ++i) {
        const int hi = HexDigit(value[2 * i]), lo = HexDigit(value[2 * i + 1]);
        if (hi < 0 || lo < 0) return KspFail(Status::kDeviceNotReady, "the agent endpoint secret must be 64 hex digits");
        e.secret[i] = static_cast<std::uint8_t>(hi << 4 | lo);
      }
      have_secret = true;
    }  // unknown keys: later versions may add some
  }
  if (!have_port || !have_secret) return KspFail(Status::kDeviceNotReady, "the agent endpoint file lacks port or secret");
  return e;
}

std::filesystem::path TcpEndpointPath() {
  if (const wchar_t* p = _wgetenv(L"VTOKEN_AGENT_TCP_FILE"); p && *p) return std::filesystem::path(p);
  if (const wchar_t* local = _wgetenv(L"LOCALAPPDATA"); local && *local)
    return std::filesystem::path(local) / L"vtoken" / L"agent-tcp.txt";
  return {};
}

KspResult<std::unique_ptr<Transport>> ConnectTcp(const TcpEndpoint& endpoint, unsigned timeout_ms) {
  VT_CHECK(StartWinsock());
  SOCKET s = ::socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  if (s == INVALID_SOCKET) return KspFail(Status::kDeviceNotReady, "socket() failed (WSA error " + std::to_string(WSAGetLastError()) + ")");
  DWORD timeout = timeout_ms;
  ::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, reinterpret_cast<const char*>(&timeout), sizeof timeout);
  ::setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, reinterpret_cast<const char*>(&timeout), sizeof timeout);
  BOOL nodelay = TRUE;
  ::setsockopt(s, IPPROTO_TCP, TCP_NODELAY, reinterpret_cast<const char*>(&nodelay), sizeof nodelay);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(endpoint.port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // never anything but loopback
  if (::connect(s, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = WSAGetLastError();
    closesocket(s);
    return KspFail(Status::kDeviceNotReady, "the agent does not answer on 127.0.0.1:" + std::to_string(endpoint.port) +
                                                " (WSA error " + std::to_string(err) + "); is vtokend running with agent.tcp_listen?");
  }
  return std::unique_ptr<Transport>(new TcpTransport(s, endpoint));
}

TransportFactory TcpTransportFactory() {
  return []() -> KspResult<std::unique_ptr<Transport>> {
    const auto path = TcpEndpointPath();
    if (path.empty()) return KspFail(Status::kDeviceNotReady, "neither VTOKEN_AGENT_TCP_FILE nor LOCALAPPDATA is set");
    std::ifstream in(path, std::ios::binary);
    if (!in) return KspFail(Status::kDeviceNotReady, "no agent endpoint file at " + Narrow(path.wstring()) + ": is vtokend running?");
    std::string text(kMaxEndpointFile + 1, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    auto endpoint = ParseTcpEndpoint(text);
    WipeMemory(text.data(), text.size());
    if (!endpoint) return std::unexpected(endpoint.error());
    unsigned timeout_ms = 120000;  // prompts included
    if (const char* t = std::getenv("VTOKEN_AGENT_TIMEOUT_MS"); t && *t) timeout_ms = static_cast<unsigned>(std::strtoul(t, nullptr, 10));
    auto transport = ConnectTcp(*endpoint, timeout_ms ? timeout_ms : 120000);
    WipeMemory(endpoint->secret.data(), endpoint->secret.size());
    return transport;
  };
}

TransportFactory DefaultTransportFactory() {
  // The named pipe transport slots in here: try \\.\pipe\vtoken-agent-<SID>
  // first, then fall back to TCP.
  return TcpTransportFactory();
}

}  // namespace vtoken::ksp
