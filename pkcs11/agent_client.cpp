#include "pkcs11/agent_client.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>

#include "pkcs11/log.h"

namespace vtoken::pkcs11 {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kRetryInterval = std::chrono::milliseconds(1000);
// How long callers keep the socket's read side after the last reply before
// the background reader takes it back for events: long enough that a thread
// signing in a loop never has to wake it, short enough that an idle
// application still sees events at once.
constexpr auto kLinger = std::chrono::milliseconds(5);
constexpr std::size_t kReadChunk = 64 * 1024;
// A lone caller whose replies usually come within kMaxSpin (an emulated
// token's RSA-2048 or P-256 signature) polls the socket for up to 1.5 times
// the usual round trip before it sleeps: a sleeping thread costs two context
// switches and, on an idle CPU, a wake-up far longer than the signature of a
// P-256 key. Slower replies (cloud tokens, RSA-4096, prompts) are waited for
// asleep.
constexpr auto kMaxSpin = std::chrono::microseconds(500);
constexpr int kMaxSpinBackoffShift = 5;  // after repeated misses, up to 31 replies without spinning
// Spinning is for a lone caller: none while another call overlapped one this recently.
constexpr auto kOverlapQuiet = std::chrono::milliseconds(100);

std::int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

bool IsLaneOp(const wire::Json& request) {
  const wire::Json* op = wire::Find(request, "op");
  return op && op->is_string() && (*op == "sign" || *op == "decrypt");
}

// One recv into `in` (the copy on the stack wiped: replies may carry
// plaintext). The count recv returned; -1 with errno set.
ssize_t ReadInto(int fd, wire::FrameReader& in) {
  std::array<std::uint8_t, kReadChunk> buffer;
  const ssize_t got = ::recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
  if (got > 0) {
    in.Feed({buffer.data(), static_cast<std::size_t>(got)});
    WipeMemory(buffer.data(), static_cast<std::size_t>(got));
  }
  return got;
}

// A reply as the caller gets it: itself, or the agent's error.
Result<wire::Json> AsResult(wire::Json&& reply) {
  if (auto ok = wire::GetBool(reply, "ok"); ok && *ok) return std::move(reply);
  Error e = wire::ErrorFromReply(reply);
  if (e.message.empty()) e.message = "agent refused the request";
  return std::unexpected(std::move(e));
}

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
    : options_(std::move(options)), listener_(listener) {
  for (auto& fd : lane_fds_) fd.store(-1);
}

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

Result<std::uint64_t> AgentClient::Hello(int fd, std::uint64_t lane_of) {
  SetTimeouts(fd, std::min(options_.timeout, std::chrono::milliseconds(5000)));
  wire::Json hello{{"id", 0u},
                   {"op", "hello"},
                   {"version", wire::kProtocolVersion},
                   {"client", "pkcs11"},
                   {"app", ProcessName()},
                   {"pid", static_cast<std::uint64_t>(::getpid())},
                   {"events", lane_of == 0}};
  if (lane_of != 0) hello["lane_of"] = lane_of;
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
    return wire::Find(*reply, "connection") ? wire::GetUint(*reply, "connection").value_or(0) : 0;
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
  // The previous connection has ended (connected_ was cleared when it did).
  CloseSocket();
  if (wake_fd_ < 0) {
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) return Fail(CKR_HOST_MEMORY, std::string("eventfd: ") + std::strerror(errno));
  }
  auto fd = Connect();
  std::uint64_t connection_id = 0;
  if (fd) {
    if (auto hello = Hello(*fd); !hello) {
      ::close(*fd);
      fd = std::unexpected(hello.error());
    } else {
      connection_id = *hello;
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
    in_ = wire::FrameReader();
    connected_.store(true, std::memory_order_release);
    current_epoch_ = epoch;
    last_wait_end_ = Clock::now();
  }
  std::vector<std::unique_ptr<Lane>> old_lanes;
  {
    std::lock_guard lanes_lock(lanes_mutex_);
    lane_epoch_ = epoch;
    lane_app_ = connection_id;
    old_lanes.swap(idle_lanes_);  // lanes in use close when their call returns
  }
  for (auto& lane : old_lanes) CloseLane(std::move(lane));
  reader_ = std::thread([this, f = *fd, epoch] { BackgroundReader(f, epoch); });
  Log(LogLevel::kInfo, "connected to agent at " + options_.socket.string());
  return true;
}

void AgentClient::CloseSocket() {
  if (reader_.joinable()) reader_.join();
  {
    // A caller may still be leaving the read side of the dead connection.
    std::unique_lock lock(pending_mutex_);
    reply_cv_.wait(lock, [&] { return !reading_; });
  }
  std::lock_guard write_lock(write_mutex_);
  if (int old = fd_.exchange(-1); old >= 0) ::close(old);
}

void AgentClient::Complete(const std::shared_ptr<Pending>& p, Result<wire::Json> reply) {
  p->reply = std::move(reply);
  p->done = true;
}

void AgentClient::FailAllPendingLocked(const std::string& why) {
  connected_.store(false, std::memory_order_release);
  for (auto& [id, p] : pending_) Complete(p, Fail(CKR_DEVICE_ERROR, why));
  pending_.clear();
  reply_cv_.notify_all();
  reader_cv_.notify_all();
}

void AgentClient::FailAllPending(const std::string& why) {
  std::lock_guard lock(pending_mutex_);
  FailAllPendingLocked(why);
}

void AgentClient::ConnectionLost(int fd, const std::string& why) {
  ::shutdown(fd, SHUT_RDWR);
  FailAllPending(shutdown_.load() ? "module is finalizing" : "agent connection lost");
  TellDisconnected(why);
}

void AgentClient::TellDisconnected(const std::string& why) {
  if (!shutdown_.load() && !why.empty()) Log(LogLevel::kWarning, "agent connection: " + why);
  try {
    listener_->OnDisconnected();
  } catch (...) {
    // Nothing may escape into the host process.
  }
}

bool AgentClient::ReadableBy(std::uint64_t epoch) const {
  return connected_.load(std::memory_order_acquire) && current_epoch_ == epoch && !shutdown_.load();
}

std::chrono::nanoseconds AgentClient::SpinBudget() const {
  const std::chrono::nanoseconds typical(round_trip_ns_.load(std::memory_order_relaxed));
  if (typical.count() == 0 || typical > kMaxSpin) return {};
  return std::min<std::chrono::nanoseconds>(kMaxSpin, typical * 3 / 2 + std::chrono::microseconds(20));
}

void AgentClient::NoteRoundTrip(std::chrono::nanoseconds took) {
  const std::int64_t old = round_trip_ns_.load(std::memory_order_relaxed);
  const std::int64_t now = old == 0 ? took.count() : old + (took.count() - old) / 8;
  round_trip_ns_.store(now, std::memory_order_relaxed);
}

bool AgentClient::SpinUntilReadable(int fd) {
  const auto budget = SpinBudget();
  if (budget.count() == 0) return false;
  // After a spin that ran out (a busy machine, a slow request) the next 1, 3,
  // 7, 15, then 31 replies are waited for asleep; a spin that pays resets it.
  if (spin_skip_.load(std::memory_order_relaxed) > 0) {
    spin_skip_.fetch_sub(1, std::memory_order_relaxed);
    return false;
  }
  const auto start = Clock::now();
  pollfd pfd{fd, POLLIN, 0};
  for (;;) {
    if (::poll(&pfd, 1, 0) != 0) {  // readable, closed or an error: ReadOnce sees which
      spin_misses_.store(0, std::memory_order_relaxed);
      return true;
    }
    // No sched_yield(): on a busy machine it gives the CPU away for a whole
    // time slice, far longer than the reply takes.
    if (Clock::now() - start >= budget) {
      const int misses = std::min(spin_misses_.load(std::memory_order_relaxed) + 1, kMaxSpinBackoffShift);
      spin_misses_.store(misses, std::memory_order_relaxed);
      spin_skip_.store((1 << misses) - 1, std::memory_order_relaxed);
      return false;
    }
  }
}

AgentClient::ReadResult AgentClient::ReadOnce(int fd, int timeout_ms, ReadMode mode) {
  const bool background = mode == ReadMode::kBackground;
  pollfd fds[2] = {{fd, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  const int n = (mode == ReadMode::kSpinFirst && SpinUntilReadable(fd)) ? ::poll(fds, 1, 0)
                                                                        : ::poll(fds, background ? 2 : 1, timeout_ms);
  if (n < 0 && errno != EINTR) {
    ConnectionLost(fd, std::string("poll: ") + std::strerror(errno));
    return ReadResult::kClosed;
  }
  if (n <= 0) return ReadResult::kMore;
  if (background && fds[1].revents) {
    std::uint64_t count;
    [[maybe_unused]] auto r = ::read(wake_fd_, &count, sizeof count);
  }
  if (!fds[0].revents) return ReadResult::kMore;
  const ssize_t got = ReadInto(fd, in_);
  if (got < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) return ReadResult::kMore;
  if (got <= 0) {
    ConnectionLost(fd, got == 0 ? "" : std::string("read: ") + std::strerror(errno));
    return ReadResult::kClosed;
  }
  try {
    for (;;) {
      auto frame = in_.Next();
      if (!frame) {
        ConnectionLost(fd, "bad frame from agent: " + Describe(frame.error()));
        return ReadResult::kClosed;
      }
      if (!*frame) return ReadResult::kMore;
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
      {
        std::lock_guard lock(pending_mutex_);
        auto it = pending_.find(*id);
        if (it == pending_.end()) continue;  // timed out meanwhile
        Complete(it->second, AsResult(std::move(m)));
        pending_.erase(it);
      }
      // Outside the lock: the woken caller need not wait for it again.
      reply_cv_.notify_all();
    }
  } catch (...) {
    // Nothing may escape into the host process (allocation failures).
    ConnectionLost(fd, "cannot read the agent's reply");
    return ReadResult::kClosed;
  }
}

void AgentClient::BackgroundReader(int fd, std::uint64_t epoch) {
  std::unique_lock lock(pending_mutex_);
  for (;;) {
    if (!ReadableBy(epoch)) return;
    // Callers read for themselves while any is waiting; take the socket only
    // after they have been gone for kLinger.
    // Callers do not wake this thread (that would cost a context switch per
    // call); it looks again every kLinger.
    const auto now = Clock::now();
    if (reading_ || waiting_ > 0) {
      reader_cv_.wait_until(lock, now + kLinger);
      continue;
    }
    if (now < last_wait_end_ + kLinger) {
      reader_cv_.wait_until(lock, last_wait_end_ + kLinger);
      continue;
    }
    reading_ = true;
    background_reading_ = true;
    lock.unlock();
    const ReadResult r = ReadOnce(fd, -1, ReadMode::kBackground);
    lock.lock();
    reading_ = false;
    background_reading_ = false;
    reply_cv_.notify_all();
    if (r == ReadResult::kClosed) return;
  }
}

Result<wire::Json> AgentClient::Wait(const std::shared_ptr<Pending>& p, std::uint64_t id, int fd,
                                     std::uint64_t epoch) {
  const auto deadline = Clock::now() + options_.timeout;
  bool asked_background = false;
  std::unique_lock lock(pending_mutex_);
  while (!p->done) {
    const auto now = Clock::now();
    if (now >= deadline) break;
    if (!reading_ && ReadableBy(epoch)) {
      // Hold the read side until our own reply came (replies for others are
      // handed over on the way), then pass it on: passing it after every
      // read would wake a waiter only to find it taken again.
      reading_ = true;
      for (auto at = now; !p->done && at < deadline && ReadableBy(epoch); at = Clock::now()) {
        // Spinning pays only for a lone caller: with more, the CPUs are busy
        // anyway and the agent needs them.
        const bool spin = waiting_ == 1 && Lone();
        lock.unlock();
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - at).count();
        ReadOnce(fd, static_cast<int>(std::min<long long>(left, 3600 * 1000)),
                 spin ? ReadMode::kSpinFirst : ReadMode::kBlock);
        lock.lock();
      }
      reading_ = false;
      reply_cv_.notify_all();  // the read side is free for the next waiter
      continue;
    }
    if (reading_ && background_reading_ && !asked_background) {
      const std::uint64_t one = 1;
      [[maybe_unused]] auto w = ::write(wake_fd_, &one, sizeof one);
      asked_background = true;
    }
    if (!reading_ && !ReadableBy(epoch)) break;  // connection gone; p was failed or will not be answered
    reply_cv_.wait_until(lock, deadline);
  }
  --waiting_;
  last_wait_end_ = Clock::now();
  if (!p->done) {
    pending_.erase(id);
    if (!ReadableBy(epoch)) return Fail(CKR_DEVICE_ERROR, "agent connection lost");
    return Fail(CKR_DEVICE_ERROR, "agent did not answer within " + std::to_string(options_.timeout.count()) + " ms");
  }
  if (shutdown_.load() && !p->reply) return Fail(CKR_CRYPTOKI_NOT_INITIALIZED, "module is finalizing");
  return std::move(p->reply);
}

bool AgentClient::Lone() const {
  return calls_.load(std::memory_order_relaxed) == 1 &&
         NowNs() - last_overlap_ns_.load(std::memory_order_relaxed) >=
             std::chrono::nanoseconds(kOverlapQuiet).count();
}

Result<wire::Json> AgentClient::Call(wire::Json request) {
  wire::WipeSecretsOnExit wipe(request);  // the PIN in it: sent or refused, not kept
  VT_TRY(EnsureConnected());
  if (calls_.fetch_add(1, std::memory_order_relaxed) > 0)
    last_overlap_ns_.store(NowNs(), std::memory_order_relaxed);
  struct CallCount {
    std::atomic<int>& calls;
    ~CallCount() { calls.fetch_sub(1, std::memory_order_relaxed); }
  } count{calls_};
  if (auto on_lane = CallOnLane(request)) return std::move(*on_lane);
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
    ++waiting_;
  }
  request["id"] = id;
  const auto started = Clock::now();
  Result<void> sent;
  int fd = -1;
  {
    std::lock_guard write_lock(write_mutex_);
    fd = fd_.load();
    if (write_epoch_ != epoch || fd < 0) {
      sent = Fail(CKR_DEVICE_ERROR, "agent connection lost");
    } else {
      sent = wire::WriteFrame(fd, request);
      if (!sent) ::shutdown(fd, SHUT_RDWR);  // whoever reads next notices and cleans up
    }
  }
  if (!sent) {
    std::lock_guard lock(pending_mutex_);
    pending_.erase(id);
    --waiting_;
    last_wait_end_ = Clock::now();
    return std::unexpected(sent.error());
  }
  auto reply = Wait(p, id, fd, epoch);
  NoteRoundTrip(Clock::now() - started);
  return reply;
}

// --- Lanes -----------------------------------------------------------------

std::optional<Result<wire::Json>> AgentClient::CallOnLane(wire::Json& request) {
  if (!IsLaneOp(request)) return std::nullopt;
  std::unique_ptr<Lane> lane;
  std::size_t slot = kMaxLanes;
  std::uint64_t epoch = 0, app = 0;
  {
    std::lock_guard lock(lanes_mutex_);
    if (lane_app_ == 0) return std::nullopt;
    epoch = lane_epoch_;
    app = lane_app_;
    if (!idle_lanes_.empty()) {
      lane = std::move(idle_lanes_.back());
      idle_lanes_.pop_back();
    } else {
      for (std::size_t i = 0; i < kMaxLanes && slot == kMaxLanes; ++i)
        if (lane_fds_[i].load() == -1) slot = i;
      if (slot == kMaxLanes) return std::nullopt;  // all busy: share the main connection
      lane_fds_[slot].store(-2);
    }
  }
  if (!lane) {
    auto opened = OpenLane(slot, epoch, app);
    if (!opened) {
      // An agent that refuses lanes: none for this connection.
      Log(LogLevel::kWarning, "cannot open a lane to the agent: " + Describe(opened.error()));
      std::lock_guard lock(lanes_mutex_);
      lane_fds_[slot].store(-1);
      if (lane_epoch_ == epoch) lane_app_ = 0;
      return std::nullopt;
    }
    lane = std::move(*opened);
  }
  bool broke = false;
  auto reply = Exchange(*lane, request, broke);
  if (!reply) {
    const std::uint64_t epoch_of_lane = lane->epoch;
    CloseLane(std::move(lane));  // a late reply must not be read as the next one's
    if (shutdown_.load()) return Fail(CKR_CRYPTOKI_NOT_INITIALIZED, "module is finalizing");
    if (broke) LaneBroke(epoch_of_lane, reply.error().message);
    return std::unexpected(reply.error());
  }
  {
    std::lock_guard lock(lanes_mutex_);
    if (lane->epoch == lane_epoch_ && lane_app_ != 0) idle_lanes_.push_back(std::move(lane));
  }
  if (lane) CloseLane(std::move(lane));  // its connection was replaced meanwhile
  return AsResult(std::move(*reply));
}

Result<std::unique_ptr<AgentClient::Lane>> AgentClient::OpenLane(std::size_t slot, std::uint64_t epoch,
                                                                 std::uint64_t app_connection) {
  const int fd = VT_TRY(TryConnect(options_.socket));
  lane_fds_[slot].store(fd);
  auto lane = std::make_unique<Lane>();
  lane->fd = fd;
  lane->slot = slot;
  lane->epoch = epoch;
  if (auto hello = Hello(fd, app_connection); !hello) {
    CloseLane(std::move(lane));
    return std::unexpected(hello.error());
  }
  return lane;
}

Result<wire::Json> AgentClient::Exchange(Lane& lane, wire::Json& request, bool& broke) {
  broke = true;  // until only the deadline can end it
  const std::uint64_t id = lane.next_id++;
  request["id"] = id;
  const auto started = Clock::now();
  const auto deadline = started + options_.timeout;
  VT_CHECK(wire::WriteFrame(lane.fd, request));
  for (;;) {
    // A frame may already be whole in what the last read brought.
    auto frame = lane.in.Next();
    if (!frame) return Fail(CKR_DEVICE_ERROR, "bad frame from agent: " + Describe(frame.error()));
    if (*frame) {
      if (wire::GetUint(**frame, "id").value_or(0) != id) continue;  // not ours (lanes get no events)
      NoteRoundTrip(Clock::now() - started);
      return std::move(**frame);
    }
    const auto now = Clock::now();
    if (now >= deadline) {
      broke = false;  // the agent is slow, not gone
      return Fail(CKR_DEVICE_ERROR, "agent did not answer within " + std::to_string(options_.timeout.count()) + " ms");
    }
    if (!(Lone() && SpinUntilReadable(lane.fd))) {
      pollfd pfd{lane.fd, POLLIN, 0};
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
      const int n = ::poll(&pfd, 1, static_cast<int>(std::min<long long>(left, 3600 * 1000)));
      if (n < 0 && errno != EINTR) return Fail(CKR_DEVICE_ERROR, std::string("poll: ") + std::strerror(errno));
      if (n <= 0) continue;
    }
    const ssize_t got = ReadInto(lane.fd, lane.in);
    if (got < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (got <= 0) return Fail(CKR_DEVICE_ERROR, got == 0 ? "agent closed a lane" : std::string("read: ") + std::strerror(errno));
  }
}

void AgentClient::CloseLane(std::unique_ptr<Lane> lane) {
  if (!lane) return;
  std::lock_guard lock(lanes_mutex_);  // so the fork child never closes a reused number
  ::close(lane->fd);
  lane_fds_[lane->slot].store(-1);
}

void AgentClient::LaneBroke(std::uint64_t epoch, const std::string& why) {
  {
    std::lock_guard lock(write_mutex_);
    if (write_epoch_ != epoch) return;  // that connection is gone already
    if (int fd = fd_.load(); fd >= 0) ::shutdown(fd, SHUT_RDWR);
  }
  bool lost = false;
  {
    std::lock_guard lock(pending_mutex_);
    if (current_epoch_ == epoch && connected_.load()) {
      FailAllPendingLocked(shutdown_.load() ? "module is finalizing" : "agent connection lost");
      lost = true;
    }
  }
  if (lost) TellDisconnected(why);
}

void AgentClient::CloseDescriptorsInChild() {
  if (int fd = fd_.load(std::memory_order_relaxed); fd >= 0) ::close(fd);
  for (auto& lane_fd : lane_fds_)
    if (int fd = lane_fd.load(std::memory_order_relaxed); fd >= 0) ::close(fd);
}

void AgentClient::Shutdown() {
  shutdown_.store(true);
  std::lock_guard connect_lock(connect_mutex_);
  if (int fd = fd_.load(); fd >= 0) ::shutdown(fd, SHUT_RDWR);
  FailAllPending("module is finalizing");
  CloseSocket();
  std::vector<std::unique_ptr<Lane>> lanes;
  {
    std::lock_guard lanes_lock(lanes_mutex_);
    lanes.swap(idle_lanes_);
    lane_app_ = 0;
  }
  for (auto& lane : lanes) CloseLane(std::move(lane));
  {
    // Calls still waiting on a lane end now, as on the main connection.
    std::lock_guard lanes_lock(lanes_mutex_);
    for (auto& lane_fd : lane_fds_)
      if (int fd = lane_fd.load(); fd >= 0) ::shutdown(fd, SHUT_RDWR);
  }
  if (wake_fd_ >= 0) {
    ::close(wake_fd_);
    wake_fd_ = -1;
  }
}

}  // namespace vtoken::pkcs11
