#include "tokend/tcp_listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <p11-kit/pkcs11.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <string>

#include "common/paths.h"
#include "tokend/log.h"

namespace vtoken::agent {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kSecretBytes = 32;
constexpr std::uint32_t kMaxFirstFrame = 4096;

Result<Secret> RandomSecret() {
  std::uint8_t bytes[kSecretBytes];
  std::size_t got = 0;
  while (got < sizeof bytes) {
    const ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Fail(CKR_FUNCTION_FAILED, Errno("getrandom"));
    got += static_cast<std::size_t>(n);
  }
  Secret s(bytes, sizeof bytes);
  WipeMemory(bytes, sizeof bytes);
  return s;
}

std::string Hex(const Secret& s) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    out.push_back(kDigits[s.data()[i] >> 4]);
    out.push_back(kDigits[s.data()[i] & 15]);
  }
  return out;
}

// Written to a temporary name (0600, exclusive) and renamed: a reader never sees half a file.
Result<void> WriteEndpointFile(const fs::path& path, std::uint16_t port, const Secret& secret) {
  const fs::path dir = path.parent_path();
  std::error_code ec;
  if (!dir.empty() && !fs::exists(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec) return Fail(CKR_DEVICE_ERROR, "cannot create " + dir.string() + ": " + ec.message());
    ::chmod(dir.c_str(), 0700);
  }
  const fs::path tmp = path.string() + ".tmp." + std::to_string(::getpid());
  ::unlink(tmp.c_str());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) return Fail(CKR_DEVICE_ERROR, Errno("cannot create " + tmp.string()));
  std::string text = "# vtoken agent loopback endpoint (see docs/agent-protocol.md); keep private\nport=" +
                     std::to_string(port) + "\nsecret=" + Hex(secret) + "\n";
  const ssize_t w = ::write(fd.get(), text.data(), text.size());
  WipeMemory(text.data(), text.size());
  if (w != static_cast<ssize_t>(text.size()) || ::fsync(fd.get()) != 0) {
    ::unlink(tmp.c_str());
    return Fail(CKR_DEVICE_ERROR, Errno("cannot write " + tmp.string()));
  }
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return Fail(CKR_DEVICE_ERROR, Errno("cannot rename " + tmp.string()));
  }
  return {};
}

Result<void> ReadExactly(int fd, std::uint8_t* out, std::size_t n) {
  std::size_t done = 0;
  while (done < n) {
    const ssize_t r = ::recv(fd, out + done, n - done, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Fail(CKR_DEVICE_ERROR, "no hello in time");
    if (r <= 0) return Fail(CKR_DEVICE_ERROR, "closed before its hello");
    done += static_cast<std::size_t>(r);
  }
  return {};
}

}  // namespace

Result<std::optional<std::uint16_t>> ParseTcpListen(std::string_view value) {
  if (value.empty()) return std::optional<std::uint16_t>{};
  std::string_view port = value;
  if (const auto colon = value.rfind(':'); colon != std::string_view::npos) {
    const std::string_view host = value.substr(0, colon);
    if (host != "127.0.0.1" && host != "localhost")
      return Fail(CKR_ARGUMENTS_BAD, "agent.tcp_listen must be a loopback address (127.0.0.1:PORT), not '" + std::string(value) + "'");
    port = value.substr(colon + 1);
  }
  unsigned n = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
  if (port.empty() || ec != std::errc() || p != port.data() + port.size() || n > 65535)
    return Fail(CKR_ARGUMENTS_BAD, "agent.tcp_listen: '" + std::string(value) + "' is not PORT or 127.0.0.1:PORT");
  return std::optional<std::uint16_t>(static_cast<std::uint16_t>(n));
}

fs::path DefaultTcpEndpointFile() { return paths::RuntimeDir() / "agent-tcp.txt"; }

Result<std::unique_ptr<TcpListener>> TcpListener::Open(TcpListenerOptions options) {
  std::unique_ptr<TcpListener> l(new TcpListener());
  l->hello_timeout_ = options.hello_timeout;
  l->secret_ = VT_TRY(RandomSecret());
  l->fd_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!l->fd_) return Fail(CKR_DEVICE_ERROR, Errno("socket"));
  int one = 1;
  ::setsockopt(l->fd_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(options.port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // never any other interface
  if (::bind(l->fd_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
    return Fail(CKR_DEVICE_ERROR, Errno("cannot bind 127.0.0.1:" + std::to_string(options.port)));
  if (::listen(l->fd_.get(), 64) != 0) return Fail(CKR_DEVICE_ERROR, Errno("listen"));
  socklen_t len = sizeof addr;
  if (::getsockname(l->fd_.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) return Fail(CKR_DEVICE_ERROR, Errno("getsockname"));
  l->port_ = ntohs(addr.sin_port);
  const fs::path file = options.endpoint_file.empty() ? DefaultTcpEndpointFile() : options.endpoint_file;
  VT_CHECK(WriteEndpointFile(file, l->port_, l->secret_));
  l->endpoint_file_ = file;
  return l;
}

TcpListener::~TcpListener() {
  if (!endpoint_file_.empty()) ::unlink(endpoint_file_.c_str());
}

UniqueFd TcpListener::Accept() {
  UniqueFd fd(::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!fd) return fd;
  int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

Result<wire::Json> TcpListener::Admit(int fd) const {
  timeval timeout{static_cast<time_t>(hello_timeout_.count() / 1000), static_cast<suseconds_t>((hello_timeout_.count() % 1000) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::uint8_t header[4];
  VT_CHECK(ReadExactly(fd, header, 4));
  const std::uint32_t n = (std::uint32_t{header[0]} << 24) | (std::uint32_t{header[1]} << 16) |
                          (std::uint32_t{header[2]} << 8) | std::uint32_t{header[3]};
  if (n == 0 || n > kMaxFirstFrame) return Fail(CKR_ARGUMENTS_BAD, "first frame of " + std::to_string(n) + " bytes");
  SecureBytes payload(n);
  VT_CHECK(ReadExactly(fd, payload.data(), n));
  wire::Json hello = VT_TRY(wire::DecodePayload(payload));
  auto read = wire::GetOptionalSecret(hello, "secret");
  wire::WipeSecrets(hello);  // on every way out, and a secret of the wrong type too
  hello.erase("secret");
  timeval none{0, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
  const wire::Json* op = wire::Find(hello, "op");
  if (!op || !op->is_string() || op->get<std::string>() != "hello") return Fail(CKR_ARGUMENTS_BAD, "first frame is not hello");
  auto secret = VT_TRY(std::move(read));
  if (!secret || secret->size() != secret_.size() || !(*secret == secret_)) return Fail(CKR_PIN_INCORRECT, "hello without the right secret");
  return hello;
}

}  // namespace vtoken::agent
