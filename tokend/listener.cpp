#include "tokend/listener.h"

#include <fcntl.h>
#include <p11-kit/pkcs11.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tokend/log.h"

namespace vtoken::agent {
namespace {

namespace fs = std::filesystem;

Result<sockaddr_un> Address(const fs::path& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.native().size() >= sizeof addr.sun_path)
    return Fail(CKR_ARGUMENTS_BAD, "socket path " + path.string() + " is too long for a Unix socket");
  std::memcpy(addr.sun_path, path.c_str(), path.native().size() + 1);
  return addr;
}

// systemd socket activation without libsystemd (sd_listen_fds(3)).
int SystemdSocket() {
  const char* pid = std::getenv("LISTEN_PID");
  const char* fds = std::getenv("LISTEN_FDS");
  if (!pid || !fds || std::strtol(pid, nullptr, 10) != getpid() || std::strtol(fds, nullptr, 10) < 1) return -1;
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_FDNAMES");
  constexpr int kFirst = 3;  // SD_LISTEN_FDS_START
  struct stat st{};
  if (fstat(kFirst, &st) != 0 || !S_ISSOCK(st.st_mode)) return -1;
  fcntl(kFirst, F_SETFD, FD_CLOEXEC);
  return kFirst;
}

bool SomeoneListens(const sockaddr_un& addr) {
  UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!probe) return false;
  return ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
}

}  // namespace

Result<Listener> OpenListener(const fs::path& socket_path) {
  Listener l;
  l.path = socket_path;
  if (int fd = SystemdSocket(); fd >= 0) {
    l.fd.reset(fd);
    LogInfo("listening on the socket passed by systemd");
    return l;
  }
  const sockaddr_un addr = VT_TRY(Address(socket_path));
  const fs::path dir = socket_path.parent_path();
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec) return Fail(CKR_DEVICE_ERROR, "cannot create " + dir.string() + ": " + ec.message());
    if (::chmod(dir.c_str(), 0700) != 0) return Fail(CKR_DEVICE_ERROR, Errno("cannot protect " + dir.string()));
  }

  const fs::path lock_path = socket_path.string() + ".lock";
  l.lock_fd.reset(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!l.lock_fd) return Fail(CKR_DEVICE_ERROR, Errno("cannot open " + lock_path.string()));
  if (::flock(l.lock_fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) return Fail(CKR_DEVICE_ERROR, Errno("cannot lock " + lock_path.string()));
    l.another_agent_runs = true;
    return l;
  }
  if (SomeoneListens(addr)) {
    l.another_agent_runs = true;
    return l;
  }
  if (::unlink(socket_path.c_str()) != 0 && errno != ENOENT)
    return Fail(CKR_DEVICE_ERROR, Errno("cannot remove the stale socket " + socket_path.string()));

  l.fd.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!l.fd) return Fail(CKR_DEVICE_ERROR, Errno("socket"));
  const mode_t old_mask = ::umask(0177);
  const int bound = ::bind(l.fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  ::umask(old_mask);
  if (bound != 0) return Fail(CKR_DEVICE_ERROR, Errno("cannot bind " + socket_path.string()));
  l.unlink_on_exit = true;
  ::chmod(socket_path.c_str(), 0600);
  if (::listen(l.fd.get(), 128) != 0) return Fail(CKR_DEVICE_ERROR, Errno("listen"));
  return l;
}

}  // namespace vtoken::agent
