#pragma once
// A small blocking client of the agent protocol for the vtoken CLI (and the
// socket tests): connect, hello, one request at a time. Also finds and starts
// vtokend when none answers, with the same lookup as the PKCS#11 module:
// config agent.program, $VTOKEN_AGENT, vtokend next to this executable, then
// the installed one (VTOKEN_INSTALLED_AGENT).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/wire.h"
#include "tokend/unique_fd.h"

namespace vtoken::agent {

struct AgentLaunch {
  std::filesystem::path socket;        // where to connect
  std::string configured_program;      // config agent.program ("" = not set)
  std::vector<std::string> agent_args; // passed to vtokend (e.g. --socket, --config)
  bool autostart = true;
};

class AgentClient {
 public:
  // Transport failures (no agent, connection lost) are CKR_DEVICE_ERROR with
  // unreachable() true; replies with ok=false become their Error.
  static Result<AgentClient> Connect(const std::filesystem::path& socket, const std::string& app, bool events = false);
  // Connects; when nothing answers and launch.autostart, starts vtokend and
  // retries for up to 3 s.
  static Result<AgentClient> ConnectOrStart(const AgentLaunch& launch, const std::string& app);

  // Sends `request` (an id is added) and returns the reply's result, skipping events.
  Result<wire::Json> Call(wire::Json request);
  bool unreachable() const { return unreachable_; }
  int fd() const { return fd_.get(); }

 private:
  UniqueFd fd_;
  std::uint64_t next_id_ = 1;
  bool unreachable_ = false;
};

// The vtokend executables to try, in order (existing ones only).
std::vector<std::filesystem::path> AgentCandidates(const std::string& configured_program);
// Starts `program` detached (own session, stdio on /dev/null); fails only
// when it cannot be executed.
Result<void> StartAgent(const std::filesystem::path& program, const std::vector<std::string>& args);

}  // namespace vtoken::agent
