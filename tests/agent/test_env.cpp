#include "tests/agent/test_env.h"

#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

extern char** environ;

namespace vtoken::agent::test {

namespace fs = std::filesystem;

TempXdg::TempXdg(const std::string& config_text) {
  std::string templ = (fs::temp_directory_path() / "vtoken-agent-test.XXXXXX").string();
  root_ = ::mkdtemp(templ.data());
  for (const char* d : {"run", "data", "config/vtoken"}) fs::create_directories(root_ / d);
  fs::permissions(root_ / "run", fs::perms::owner_all);
  ::setenv("XDG_RUNTIME_DIR", (root_ / "run").c_str(), 1);
  ::setenv("XDG_DATA_HOME", (root_ / "data").c_str(), 1);
  ::setenv("XDG_CONFIG_HOME", (root_ / "config").c_str(), 1);
  ::unsetenv("VTOKEN_CONFIG");
  if (!config_text.empty()) std::ofstream(root_ / "config" / "vtoken" / "vtoken.conf") << config_text;
}

TempXdg::~TempXdg() {
  std::error_code ec;
  fs::remove_all(root_, ec);
}

fs::path TempXdg::socket() const { return root_ / "run" / "vtoken" / "agent.sock"; }

fs::path VtokendPath() { return VTOKEN_TEST_VTOKEND; }

AgentProcess::~AgentProcess() {
  if (pid_ > 0) {
    Kill(SIGKILL);
    Wait();
  }
}

bool AgentProcess::Start(const fs::path& socket) {
  const std::string program = VtokendPath().string();
  char* argv[] = {const_cast<char*>(program.c_str()), nullptr};
  if (::posix_spawn(&pid_, program.c_str(), nullptr, nullptr, argv, environ) != 0) {
    pid_ = -1;
    return false;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    int fd = ConnectRaw(socket);
    if (fd >= 0) {
      ::close(fd);
      return true;
    }
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

void AgentProcess::Kill(int signal) {
  if (pid_ > 0) ::kill(pid_, signal);
}

int AgentProcess::Wait() {
  if (pid_ <= 0) return -1;
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int ConnectRaw(const fs::path& socket) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket.c_str(), sizeof addr.sun_path - 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool SendAll(int fd, const void* data, std::size_t n) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

bool ClosedByPeer(int fd, int ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  char buffer[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    ssize_t r = ::recv(fd, buffer, sizeof buffer, 0);
    if (r <= 0) return true;
  }
  return false;
}

}  // namespace vtoken::agent::test
