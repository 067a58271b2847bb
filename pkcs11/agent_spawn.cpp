// Starting the agent on demand, as gpg-agent is started by gpg: detached
// (double fork, own session), with stdio on /dev/null and no descriptor of
// the host application inherited. Only async-signal-safe calls happen between
// fork and exec, because the host may be multi-threaded.
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "pkcs11/agent_client.h"

#ifndef VTOKEN_INSTALLED_AGENT
#define VTOKEN_INSTALLED_AGENT "/usr/local/bin/vtokend"
#endif

namespace vtoken::pkcs11 {
namespace {

std::filesystem::path ExpandHome(const std::string& p) {
  if (!p.starts_with("~")) return p;
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home ? home : "/") / p.substr(p.size() > 1 && p[1] == '/' ? 2 : 1);
}

bool Executable(const std::filesystem::path& p) { return ::access(p.c_str(), X_OK) == 0; }

void CloseFrom(int first) {
#ifdef SYS_close_range
  if (::syscall(SYS_close_range, first, ~0U, 0) == 0) return;
#endif
  for (int fd = first; fd < 65536; ++fd) ::close(fd);
}

}  // namespace

std::filesystem::path FindAgentProgram(const std::string& configured) {
  if (!configured.empty()) return ExpandHome(configured);
  if (const char* env = std::getenv("VTOKEN_AGENT"); env && *env) return env;
  Dl_info info{};
  if (::dladdr(reinterpret_cast<void*>(&FindAgentProgram), &info) != 0 && info.dli_fname) {
    std::error_code ec;
    auto self = std::filesystem::weakly_canonical(info.dli_fname, ec);
    if (!ec) {
      auto sibling = (self.parent_path() / ".." / "bin" / "vtokend").lexically_normal();
      if (Executable(sibling)) return sibling;
    }
  }
  return VTOKEN_INSTALLED_AGENT;
}

Result<void> SpawnAgent(const std::filesystem::path& program) {
  if (!Executable(program)) return Fail(CKR_DEVICE_ERROR, "agent program " + program.string() + " is not executable");
  // Everything the child needs is prepared before fork: no allocation after it.
  const std::string path = program.string();
  char* const argv[] = {const_cast<char*>(path.c_str()), nullptr};
  const pid_t pid = ::fork();
  if (pid < 0) return Fail(CKR_DEVICE_ERROR, std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::setsid();
    const pid_t grandchild = ::fork();
    if (grandchild != 0) ::_exit(grandchild < 0 ? 1 : 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    const int null_fd = ::open("/dev/null", O_RDWR);
    if (null_fd >= 0) {
      ::dup2(null_fd, 0);
      ::dup2(null_fd, 1);
      ::dup2(null_fd, 2);
    }
    CloseFrom(3);
    ::execv(argv[0], argv);
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return Fail(CKR_DEVICE_ERROR, "could not start the agent " + path);
  return {};
}

}  // namespace vtoken::pkcs11
