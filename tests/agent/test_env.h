#pragma once
// Test helpers: a private XDG environment in a temp directory, and the real
// vtokend started in it as a child process.
#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

#include "common/wire.h"
#include "tokend/agent_client.h"

namespace vtoken::agent::test {

// A PIN, PUK or code as the protocol carries it: a byte string.
inline wire::Json SecretBytes(const std::string& s) {
  return wire::Binary(std::span(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
}

// Creates XDG_RUNTIME_DIR, XDG_DATA_HOME, XDG_CONFIG_HOME under a fresh
// temp directory and sets them in this process's environment (children
// inherit them); removes the directory on destruction.
class TempXdg {
 public:
  explicit TempXdg(const std::string& config_text = "");
  ~TempXdg();
  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path socket() const;
  std::filesystem::path data() const { return root_ / "data" / "vtoken"; }

 private:
  std::filesystem::path root_;
};

// The vtokend built with the tests (VTOKEN_TEST_VTOKEND).
std::filesystem::path VtokendPath();

class AgentProcess {
 public:
  AgentProcess() = default;
  ~AgentProcess();  // SIGKILL if still running
  AgentProcess(const AgentProcess&) = delete;
  AgentProcess& operator=(const AgentProcess&) = delete;

  // Starts vtokend and waits (up to 5 s) until its socket answers.
  bool Start(const std::filesystem::path& socket);
  void Kill(int signal = SIGKILL);
  // Waits for the exit; returns the exit status (-1 on a signal/timeout).
  int Wait();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

// Raw socket helpers.
int ConnectRaw(const std::filesystem::path& socket);  // -1 on failure
bool SendAll(int fd, const void* data, std::size_t n);
// True when the peer closes the connection within `ms` (any pending replies are skipped).
bool ClosedByPeer(int fd, int ms = 3000);

}  // namespace vtoken::agent::test
