#pragma once
// How the provider reaches the agent. A Transport is one open byte stream to
// vtokend; the agent connection (agent_connection.h) does the framing.
// Implementations: loopback TCP guarded by a per-user secret file
// (tcp_transport.h: Wine, or Windows with the agent in WSL/elsewhere) and, to
// come, a named pipe (\\.\pipe\vtoken-agent-<user SID>) on Windows; tests
// plug in an in-process fake.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>

#include "cng-provider/src/status.h"
#include "common/wire.h"

namespace vtoken::ksp {

class Transport {
 public:
  virtual ~Transport() = default;
  // Writes all of `data`.
  virtual KspResult<void> Send(std::span<const std::uint8_t> data) = 0;
  // Reads some bytes; 0 = the agent closed the stream.
  virtual KspResult<std::size_t> Receive(std::span<std::uint8_t> buffer) = 0;
  // Adds what this transport needs to the first message (the TCP secret).
  virtual void DecorateHello(wire::Json& hello) const = 0;
  // For diagnostics: "tcp 127.0.0.1:40123".
  virtual std::string Describe() const = 0;
};

using TransportFactory = std::function<KspResult<std::unique_ptr<Transport>>()>;

// Where the default factory connects: named pipe when one is implemented,
// else loopback TCP from the endpoint file.
TransportFactory DefaultTransportFactory();

}  // namespace vtoken::ksp
