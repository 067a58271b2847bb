#pragma once
// Loopback TCP to the agent, for where neither AF_UNIX nor the agent's named
// pipe exists (Wine). The agent writes an endpoint file, private to the user:
//
//   # vtoken agent loopback endpoint
//   port=40123
//   secret=<64 hex digits: 32 random bytes>
//
// (path: $VTOKEN_AGENT_TCP_FILE, else %LOCALAPPDATA%\vtoken\agent-tcp.txt).
// The provider connects to 127.0.0.1:port and sends the secret as the byte
// field `secret` of its `hello`; the agent closes any connection whose first
// frame is not a hello with the right secret. Reading the file is what proves
// the caller is the user (the file system's permissions do the work that
// SO_PEERCRED does on the Unix socket).
#include <filesystem>
#include <string_view>

#include "cng-provider/src/transport.h"

namespace vtoken::ksp {

struct TcpEndpoint {
  std::uint16_t port = 0;
  wire::Bytes secret;  // 32 bytes
};

// Parses the endpoint file's text. Strict: port 1..65535, secret exactly 64 hex digits.
KspResult<TcpEndpoint> ParseTcpEndpoint(std::string_view text);
std::filesystem::path TcpEndpointPath();

// Connects to the endpoint named by the file (timeout_ms for connect, send, receive).
KspResult<std::unique_ptr<Transport>> ConnectTcp(const TcpEndpoint& endpoint, unsigned timeout_ms);
TransportFactory TcpTransportFactory();

}  // namespace vtoken::ksp
