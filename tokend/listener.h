#pragma once
// The agent's listening socket, and the rule that makes one agent per user:
//   1. systemd socket activation (LISTEN_PID = us, LISTEN_FDS >= 1): fd 3.
//   2. otherwise take an exclusive flock on <socket>.lock (non-blocking); if
//      another process holds it, an agent runs or is starting: exit quietly.
//      The kernel drops the lock when that agent dies, even by SIGKILL.
//   3. if connecting to the socket succeeds anyway (an agent that does not
//      use our lock, e.g. one behind systemd's socket), exit quietly too.
//   4. otherwise the socket file is stale: unlink it, bind (mode 0600) and listen.
// The socket's directory is created with mode 0700.
#include <filesystem>

#include "common/error.h"
#include "tokend/unique_fd.h"

namespace vtoken::agent {

struct Listener {
  bool another_agent_runs = false;
  UniqueFd fd;       // the listening socket
  UniqueFd lock_fd;  // held for the agent's life
  std::filesystem::path path;
  bool unlink_on_exit = false;  // we created the socket file (not systemd)
};

Result<Listener> OpenListener(const std::filesystem::path& socket_path);

}  // namespace vtoken::agent
