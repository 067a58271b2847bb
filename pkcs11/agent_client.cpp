#include "pkcs11/agent_client.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include "pkcs11/log.h"

namespace vtoken::pkcs11 {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kRetryInterval = std::chrono::milliseconds(1000);

Result<int> TryConnect(const std::filesystem::path& socket_path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string path = socket_path.string();
  if (path.empty() || path.size() >= sizeof(addr.sun_path))
    return Fail(CKR_DEVICE_ERROR, "agent socket path is empty or too long: " + path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Fail(CKR_DEVICE_ERROR, std::string("socket: ") + std::strerror(errno));
  int rc;
  do {
    rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    const int err = errno;
    ::close(fd);
    return Fail(CKR_DEVICE_ERROR, "no agent at " + path + ": " + std::strerror(err));
  }
  return fd;
}

void SetTimeouts(int fd, std::chrono::milliseconds t) {
  timeval tv{};
  tv.tv_sec = t.count() / 1000;
  tv.tv_usec = (t.count() % 1000) * 1000;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

std::string ProcessName() {
  std::ifstream comm("/proc/self/comm");
  std::string name;
  std::getline(comm, name);
  return name.empty() ? std::string("unknown") : name;
}

}  // namespace

AgentClient::AgentClient(Options options, Listener* listener)
    : options_(std::move(options)), listener_(listener) {}

AgentClient::~AgentClient() { Shutdown(); }

Result<int> AgentClient::Connect() {
  auto fd = TryConnect(options_.socket);
  if (fd || !options_.autostart) return fd;
  if (options_.program.empty()) return Fail(fd.error().rv, fd.error().message + " (and no agent program to start)");
  Log(LogLevel::kInfo, "starting agent " + options_.program.string());
  VT_CHECK(SpawnAgent(options_.program));
  const auto deadline = Clock::now() + options_.start_wait;
  while (Clock::now() < deadline && !shutdown_.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    fd = TryConnect(options_.socket);
    if (fd) return fd;
  }
  return Fail(CKR_DEVICE_ERROR, "started " + options_.program.string() + " but it did not open " +
                                    options_.socket.string() + " in time");
}

Result<void> AgentClient::Hello(int fd) {
  SetTimeouts(fd, std::min(options_.timeout, std::chrono::milliseconds(5000)));
  wire::Json hello{{"id", 0u},
                   {"op", "hello"},
                   {"version", wire::kProtocolVersion},
                   {"client", "pkcs11"},
                   {"app", ProcessName()},
                   {"pid", static_cast<std::uint64_t>(::getpid())},
                   {"events", true}};
  VT_CHECK(wire::WriteFrame(fd, hello));
  for (int frames = 0; frames < 16; ++frames) {  // skip anything that is not our reply
    auto reply = VT_TRY(wire::ReadFrame(fd));
    if (!reply) return Fail(CKR_DEVICE_ERROR, "agent closed the connection during hello");
    auto id = wire::GetUint(*reply, "id");
    if (!id || *id != 0) continue;
    auto ok = wire::GetBool(*reply, "ok");
    if (!ok || !*ok) {
      Error e = wire::ErrorFromReply(*reply);
      return Fail(CKR_DEVICE_ERROR, "agent refused hello: " + e.message);
    }
    SetTimeouts(fd, std::chrono::milliseconds(0));  // the reader blocks; waiters time out instead
    return {};
  }
  return Fail(CKR_DEVICE_ERROR, "agent did not answer hello");
}

Result<bool> AgentClient::EnsureConnected() {
  if (shutdown_.load()) return Fail(CKR_CRYPTOKI_NOT_INITIALIZED, "module is finalizing");
  if (connected_.load(std::memory_order_acquire)) return false;
  std::lock_guard connect_lock(connect_mutex_);
  if (shutdown_.load()) return Fail(CKR_CRYPTOKI_NOT_INITIALIZED, "module is finalizing");
  if (connected_.load(std::memory_order_acquire)) return false;
  if (failed_before_ && Clock::now() - last_failure_ < kRetryInterval)
    return Fail(CKR_DEVICE_ERROR, "agent unreachable (next attempt within a second)");
  // The previous reader has ended (it cleared connected_ on its way out).
  if (reader_.joinable()) reader_.join();
  {
    std::lock_guard write_lock(write_mutex_);
    if (int old = fd_.exchange(-1); old >= 0) ::close(old);
  }
  auto fd = Connect();
  if (fd) {
    if (auto hello = Hello(*fd); !hello) {
      ::close(*fd);
      fd = std::unexpected(hello.error());
    }
  }
  if (!fd) {
    failed_before_ = true;
    last_failure_ = Clock::now();
    Log(LogLevel::kWarning, Describe(fd.error()));
    return std::unexpected(fd.error());
  }
  failed_before_ = false;
  const std::uint64_t epoch = ++epoch_;
  {
    std::lock_guard write_lock(write_mutex_);
    fd_.store(*fd);
    write_epoch_ = epoch;
  }
  {
    std::lock_guard pending_lock(pending_mutex_);
    connected_.store(true, std::memory_order_release);
    current_epoch_ = epoch;
  }
  reader_ = std::thread([this, f = *fd, epoch] { ReaderLoop(f, epoch); });
  Log(LogLevel::kInfo, "connected to agent at " + options_.socket.string());
  return true;
}

void AgentClient::Complete(const std::shared_ptr<Pending>& p, Result<wire::Json> reply) {
  std::lock_guard lock(p->mutex);
  p->reply = std::move(reply);
  p->done = true;
  p->cv.notify_all();
}

void AgentClient::FailAllPending(const std::string& why) {
  std::map<std::uint64_t, std::shared_ptr<Pending>> failed;
  {
    std::lock_guard lock(pending_mutex_);
    connected_.store(false, std::memory_order_release);
    failed.swap(pending_);
  }
  for (auto& [id, p] : failed) Complete(p, Fail(CKR_DEVICE_ERROR, why));
}

void AgentClient::ReaderLoop(int fd, std::uint64_t epoch) {
  try {
    for (;;) {
      auto frame = wire::ReadFrame(fd);
      if (!frame) {
        if (!shutdown_.load()) Log(LogLevel::kWarning, "agent connection: " + Describe(frame.error()));
        break;
      }
      if (!*frame) break;  // clean end of stream
      wire::Json& m = **frame;
      if (m.contains("event")) {
        try {
          listener_->OnEvent(m);
        } catch (const std::exception& e) {
          Log(LogLevel::kWarning, std::string("bad event from agent: ") + e.what());
        }
        continue;
      }
      auto id = wire::GetUint(m, "id");
      if (!id) continue;
      std::shared_ptr<Pending> p;
      {
        std::lock_guard lock(pending_mutex_);
        auto it = pending_.find(*id);
        if (it == pending_.end()) continue;  // timed out meanwhile
        p = std::move(it->second);
        pending_.erase(it);
      }
      auto ok = wire::GetBool(m, "ok");
      if (ok && *ok) {
        Complete(p, std::move(m));
      } else {
        Error e = wire::ErrorFromReply(m);
        if (e.message.empty()) e.message = "agent refused the request";
        Complete(p, std::unexpected(std::move(e)));
      }
    }
  } catch (...) {
    // Nothing may escape a thread of the host process.
  }
  ::shutdown(fd, SHUT_RDWR);
  FailAllPending(shutdown_.load() ? "module is finalizing" : "agent connection lost");
  try {
    listener_->OnDisconnected();
  } catch (...) {
  }
  (void)epoch;
}

Result<wire::Json> AgentClient::Call(wire::Json request) {
  VT_TRY(EnsureConnected());
  auto p = std::make_shared<Pending>();
  std::uint64_t id = 0;
  std::uint64_t epoch = 0;
  {
    std::lock_guard lock(pending_mutex_);
    if (!connected_.load(std::memory_order_acquire))
      return Fail(CKR_DEVICE_ERROR, "agent connection lost");
    id = next_id_++;
    epoch = current_epoch_;
    pending_.emplace(id, p);
  }
  request["id"] = id;
  Result<void> sent;
  {
    std::lock_guard write_lock(write_mutex_);
    if (write_epoch_ != epoch || fd_.load() < 0) {
      sent = Fail(CKR_DEVICE_ERROR, "agent connection lost");
    } else {
      sent = wire::WriteFrame(fd_.load(), request);
      if (!sent) ::shutdown(fd_.load(), SHUT_RDWR);  // the reader notices and cleans up
    }
  }
  if (!sent) {
    std::lock_guard lock(pending_mutex_);
    pending_.erase(id);
    return std::unexpected(sent.error());
  }
  std::unique_lock lock(p->mutex);
  if (!p->cv.wait_for(lock, options_.timeout, [&] { return p->done; })) {
    lock.unlock();
    std::lock_guard plock(pending_mutex_);
    pending_.erase(id);
    return Fail(CKR_DEVICE_ERROR, "agent did not answer within " + std::to_string(options_.timeout.count()) + " ms");
  }
  if (shutdown_.load() && !p->reply) return Fail(CKR_CRYPTOKI_NOT_INITIALIZED, "module is finalizing");
  return std::move(p->reply);
}

void AgentClient::Shutdown() {
  shutdown_.store(true);
  std::lock_guard connect_lock(connect_mutex_);
  if (int fd = fd_.load(); fd >= 0) ::shutdown(fd, SHUT_RDWR);
  if (reader_.joinable()) reader_.join();
  {
    std::lock_guard write_lock(write_mutex_);
    if (int old = fd_.exchange(-1); old >= 0) ::close(old);
  }
  FailAllPending("module is finalizing");
}

}  // namespace vtoken::pkcs11
