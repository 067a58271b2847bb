#pragma once
// The provider's one connection to the agent, shared by every provider and key
// handle of the process (the protocol's rule: one connection per application
// process, login state belongs to it). Requests are serialized; events are
// not asked for. A broken connection is dropped, and so is the login state
// that belonged to it; the next call connects again.
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>

#include "cng-provider/src/transport.h"
#include "common/secure.h"
#include "common/wire.h"

namespace vtoken::ksp {

using wire::Bytes;
using wire::Json;

class AgentConnection {
 public:
  explicit AgentConnection(TransportFactory factory) : factory_(std::move(factory)) {}

  // Sends a request (id added) and returns the successful reply. Agent errors
  // come back mapped by FromAgent, with the agent's CKR_* name in the message.
  KspResult<Json> Call(Json request);
  // Same, but keeps the agent's error (callers that act on the CK_RV).
  KspResult<std::expected<Json, Error>> CallRaw(Json request);

  bool LoggedIn(std::uint64_t slot_id);
  // user_type 1 with the PIN, or with no PIN (the agent prompts, if it can);
  // user_type 2: context-specific login (cloud tokens' per-signature code).
  // no_prompt (NCRYPT_SILENT_FLAG): the agent must not ask anyone; where it
  // would have to, the login fails with kSilentContext.
  KspResult<void> Login(std::uint64_t slot_id, unsigned user_type, const Secret* pin, bool no_prompt);
  void ForgetLogin(std::uint64_t slot_id);

  // Replaces the transport factory and drops the connection (tests).
  void Reset(TransportFactory factory);

 private:
  KspResult<void> ConnectLocked();
  KspResult<Json> RoundTripLocked(const Json& request, std::uint64_t id);
  void DropLocked();

  std::mutex mu_;
  TransportFactory factory_;
  std::unique_ptr<Transport> transport_;
  wire::FrameReader reader_;
  std::uint64_t next_id_ = 1;
  std::set<std::uint64_t> logged_in_;
};

// The process-wide connection (DefaultTransportFactory until Reset).
AgentConnection& Agent();

}  // namespace vtoken::ksp
