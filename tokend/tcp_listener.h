#pragma once
// The agent's loopback TCP listener, for clients that have neither AF_UNIX nor
// the agent's named pipe: the Windows provider running under Wine.
//
// It listens on 127.0.0.1 only (any free port, or the configured one) and
// writes an endpoint file, mode 0600, next to the Unix socket
// ($XDG_RUNTIME_DIR/vtoken/agent-tcp.txt):
//
//   # vtoken agent loopback endpoint
//   port=40123
//   secret=<64 hex digits: 32 random bytes, new at every start>
//
// A TCP peer has no SO_PEERCRED; being able to read that file is what proves
// it runs as the user. So a connection is admitted only when its first frame,
// within a few seconds, is a `hello` carrying the secret as the byte field
// `secret` (compared in constant time); anything else closes it without a
// reply. The first frame of an unadmitted connection is capped at 4 KiB.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string_view>

#include "common/error.h"
#include "common/secure.h"
#include "common/wire.h"
#include "tokend/unique_fd.h"

namespace vtoken::agent {

struct TcpListenerOptions {
  std::uint16_t port = 0;                       // 0 = any free port
  std::filesystem::path endpoint_file;          // empty = DefaultTcpEndpointFile()
  std::chrono::milliseconds hello_timeout{5000};
};

// agent.tcp_listen: "" = no TCP listener; "PORT", "127.0.0.1:PORT" or
// "localhost:PORT" (PORT 0 = any free port). Other addresses are refused: the
// listener never leaves loopback.
Result<std::optional<std::uint16_t>> ParseTcpListen(std::string_view value);
std::filesystem::path DefaultTcpEndpointFile();

class TcpListener {
 public:
  static Result<std::unique_ptr<TcpListener>> Open(TcpListenerOptions options);
  ~TcpListener();  // closes the socket and removes the endpoint file
  TcpListener(const TcpListener&) = delete;
  TcpListener& operator=(const TcpListener&) = delete;

  int fd() const { return fd_.get(); }
  std::uint16_t port() const { return port_; }
  const std::filesystem::path& endpoint_file() const { return endpoint_file_; }

  // One pending connection (the socket is non-blocking); an empty fd if none.
  UniqueFd Accept();
  // Blocking, on the connection's own thread: reads the first frame and admits
  // the connection if it is a hello with the right secret. Returns that hello
  // with the secret removed, for the dispatcher to answer.
  Result<wire::Json> Admit(int connection_fd) const;

 private:
  TcpListener() = default;
  UniqueFd fd_;
  std::uint16_t port_ = 0;
  Secret secret_;
  std::filesystem::path endpoint_file_;
  std::chrono::milliseconds hello_timeout_{5000};
};

}  // namespace vtoken::agent
