#include "tokend/server.h"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <limits>
#include <thread>
#include <vector>

#include "tokend/log.h"

namespace vtoken::agent {
namespace {

constexpr int kMaxInflightPerConnection = 16;
constexpr unsigned kSlowWorkers = 16;  // cloud requests waiting for a prompt or the service
constexpr std::size_t kMaxConnections = 256;
// Lanes (each with a thread) per application connection; the module opens
// at most 8.
constexpr long kMaxLanesPerApplication = 16;
constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::uint64_t kIoStopKey = std::numeric_limits<std::uint64_t>::max();
// After a request, one I/O thread at a time polls for the next one this long
// before it sleeps: a client signing in a loop sends its next request within
// tens of microseconds, and finding it awake saves a wake-up on both sides.
constexpr auto kIoSpin = std::chrono::microseconds(100);
// After a spin that found nothing, the next 1, 3, 7, 15, then 31 requests
// are waited for asleep; a spin that finds one resets it.
constexpr int kMaxIoSpinBackoffShift = 5;
// No spinning while requests overlapped this recently: they need the CPUs.
constexpr auto kOverlapQuiet = std::chrono::milliseconds(100);

std::int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct Server::Connection {
  UniqueFd fd;
  bool tcp = false;  // loopback TCP: admitted by the secret in its hello
  pid_t peer_pid = 0;  // SO_PEERCRED at accept (0 over TCP)
  ConnectionState state;
  // A lane (docs/agent-protocol.md, "Lanes"): the application connection
  // whose login state its sign and decrypt requests use. Set once, by the
  // lane's hello, before anything else is read from it.
  std::shared_ptr<Connection> app;
  // Loopback TCP: waits for the secret, then arms the connection. A lane:
  // reads and serves it (ServeLane).
  std::thread thread;
  std::mutex write_mu;
  bool closed = false;  // guarded by write_mu
  std::mutex read_mu;   // the frame reader: one thread at a time (the one the armed event woke)
  wire::FrameReader frames;
  std::mutex inflight_mu;  // guards the rest
  int inflight = 0;
  bool paused = false;    // not re-armed: kMaxInflightPerConnection requests running
  bool ended = false;     // nothing more will be read (end of stream, bad frame, refused)
  bool finished = false;  // Finish has been called

  void Write(const Json& message) {
    std::lock_guard lock(write_mu);
    if (closed) return;
    if (auto w = wire::WriteFrame(fd.get(), message); !w) {
      LogDebug("connection " + std::to_string(state.id) + ": " + w.error().message);
      closed = true;
      ::shutdown(fd.get(), SHUT_RDWR);  // the reader sees the end and cleans up
    }
  }
  // Ends reading; replies still being computed are written before the
  // connection closes (the `shutdown` op's own reply, for one).
  void StopReading() {
    std::lock_guard lock(write_mu);
    if (!closed) ::shutdown(fd.get(), SHUT_RD);
  }
};

Server::Server(Listener listener, ServerOptions options, std::unique_ptr<TcpListener> tcp)
    : listener_(std::move(listener)), tcp_(std::move(tcp)), options_(options) {
  unsigned workers = options_.workers ? options_.workers : std::max(4u, std::thread::hardware_concurrency());
  pool_ = std::make_unique<WorkerPool>(workers);
  slow_pool_ = std::make_unique<WorkerPool>(kSlowWorkers);
  stop_fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  epoll_fd_.reset(::epoll_create1(EPOLL_CLOEXEC));
  io_stop_fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kIoStopKey;
  if (!epoll_fd_ || !io_stop_fd_ || ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, io_stop_fd_.get(), &ev) != 0)
    throw std::runtime_error(std::string("cannot set up epoll: ") + std::strerror(errno));
}

Server::~Server() = default;

void Server::RequestStop() {
  std::uint64_t one = 1;
  [[maybe_unused]] auto w = ::write(stop_fd_.get(), &one, sizeof one);
}

void Server::Run(Dispatcher& dispatcher) {
  dispatcher_ = &dispatcher;
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  UniqueFd signal_fd(::signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK));
  auto idle_since = std::chrono::steady_clock::now();
  std::vector<std::thread> finished;
  // As many I/O threads as the pool had workers: a long request (RSA-4096 key
  // generation) holds one, and the others keep serving every connection.
  for (unsigned i = 0; i < (options_.workers ? options_.workers : std::max(4u, std::thread::hardware_concurrency())); ++i)
    io_threads_.emplace_back([this] { IoLoop(); });

  for (;;) {
    pollfd fds[4] = {{listener_.fd.get(), POLLIN, 0},
                     {signal_fd.get(), POLLIN, 0},
                     {stop_fd_.get(), POLLIN, 0},
                     {tcp_ ? tcp_->fd() : -1, POLLIN, 0}};
    const int n = ::poll(fds, 4, 1000);  // wakes up to reap finished connections and check idleness
    if (n < 0 && errno != EINTR) {
      LogError(std::string("poll failed: ") + std::strerror(errno));
      break;
    }
    if (fds[1].revents) {
      signalfd_siginfo info{};
      [[maybe_unused]] auto r = ::read(signal_fd.get(), &info, sizeof info);
      LogInfo(std::string("stopping on ") + (info.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM"));
      break;
    }
    if (fds[2].revents) {
      LogInfo("stopping on request");
      break;
    }
    if (fds[0].revents & POLLIN) Accept();
    if (fds[3].revents & POLLIN) AcceptTcp();
    {
      std::lock_guard lock(mu_);
      for (auto& t : zombies_) finished.push_back(std::move(t));
      zombies_.clear();
      if (!connections_.empty()) idle_since = std::chrono::steady_clock::now();
    }
    for (auto& t : finished) t.join();
    finished.clear();
    if (options_.idle_exit_seconds > 0 &&
        std::chrono::steady_clock::now() - idle_since >= std::chrono::seconds(options_.idle_exit_seconds)) {
      LogInfo("no connections for " + std::to_string(options_.idle_exit_seconds) + " s; exiting");
      break;
    }
  }

  stopping_ = true;
  if (listener_.unlink_on_exit) ::unlink(listener_.path.c_str());
  listener_.fd.reset();
  {
    std::unique_lock lock(mu_);
    for (auto& [id, conn] : connections_) conn->StopReading();
    if (!cv_.wait_for(lock, std::chrono::seconds(10), [&] { return connections_.empty(); })) {
      LogError("connections did not finish within 10 s; exiting anyway");
      std::_Exit(0);
    }
    for (auto& t : zombies_) finished.push_back(std::move(t));
    zombies_.clear();
  }
  for (auto& t : finished) t.join();
  const std::uint64_t one = 1;
  [[maybe_unused]] auto w = ::write(io_stop_fd_.get(), &one, sizeof one);
  for (auto& t : io_threads_) t.join();
  io_threads_.clear();
  slow_pool_.reset();
  pool_.reset();
}

void Server::Accept() {
  UniqueFd fd(::accept4(listener_.fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!fd) return;
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.uid != ::geteuid()) {
    LogWarning("refused a connection from uid " + std::to_string(cred.uid) + " (pid " + std::to_string(cred.pid) + ")");
    return;
  }
  AddConnection(std::move(fd), false, cred.pid);
}

void Server::AcceptTcp() {
  for (UniqueFd fd = tcp_->Accept(); fd; fd = tcp_->Accept()) AddConnection(std::move(fd), true);
}

void Server::AddConnection(UniqueFd fd, bool tcp, pid_t peer_pid) {
  timeval send_timeout{5, 0};  // a client that stops reading must not stall others' events forever
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);

  auto conn = std::make_shared<Connection>();
  conn->fd = std::move(fd);
  conn->tcp = tcp;
  conn->peer_pid = peer_pid;
  std::lock_guard lock(mu_);
  if (connections_.size() >= kMaxConnections) {
    LogWarning("too many connections; refused one");
    return;
  }
  dispatcher_->Connect(conn->state);
  connections_[conn->state.id] = conn;
  LogDebug("connection " + std::to_string(conn->state.id) + (tcp ? " over loopback TCP" : ""));
  if (tcp)
    conn->thread = std::thread([this, conn] { Admit(conn); });
  else
    Arm(*conn, EPOLL_CTL_ADD);
}

void Server::Arm(Connection& conn, int op) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
  ev.data.u64 = conn.state.id;
  if (::epoll_ctl(epoll_fd_.get(), op, conn.fd.get(), &ev) != 0) {
    LogError("connection " + std::to_string(conn.state.id) + ": epoll_ctl: " + std::strerror(errno));
    ::shutdown(conn.fd.get(), SHUT_RDWR);
  }
}

void Server::Admit(const std::shared_ptr<Connection>& conn) {
  // No SO_PEERCRED over TCP: the hello must carry the endpoint file's secret.
  auto hello = tcp_->Admit(conn->fd.get());
  bool open = false;
  if (!hello) {
    LogWarning("connection " + std::to_string(conn->state.id) + " over loopback TCP refused: " + hello.error().message);
  } else {
    // A lane over TCP is refused (AttachLane: no SO_PEERCRED to check).
    conn->Write(wire::Find(*hello, "lane_of") ? AttachLane(conn, *hello) : dispatcher_->Handle(conn->state, *hello));
    open = !conn->state.close_after_reply;
  }
  if (open) {
    Arm(*conn, EPOLL_CTL_ADD);
    return;
  }
  {
    std::lock_guard lock(conn->inflight_mu);
    conn->ended = conn->finished = true;
  }
  Finish(conn);
}

int Server::WaitForEvent(epoll_event& ev, bool spin) {
  spin = spin && MaySpin();
  if (spin && spinners_.fetch_add(1) == 0) {
    const auto start = std::chrono::steady_clock::now();
    int n = 0;
    while ((n = ::epoll_wait(epoll_fd_.get(), &ev, 1, 0)) == 0 && std::chrono::steady_clock::now() - start < kIoSpin) {
    }
    spinners_.fetch_sub(1);
    SpinEnded(n != 0);
    if (n != 0) return n;
  } else if (spin) {
    spinners_.fetch_sub(1);
  }
  return ::epoll_wait(epoll_fd_.get(), &ev, 1, -1);
}

void Server::IoLoop() {
  bool spin = false;
  for (;;) {
    epoll_event ev{};
    const int n = WaitForEvent(ev, spin);
    spin = false;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      LogError(std::string("epoll_wait failed: ") + std::strerror(errno));
      return;
    }
    if (n == 0) continue;
    if (ev.data.u64 == kIoStopKey) return;  // level-triggered: every I/O thread sees it
    std::shared_ptr<Connection> conn;
    {
      std::lock_guard lock(mu_);
      auto it = connections_.find(ev.data.u64);
      if (it != connections_.end()) conn = it->second;
    }
    if (conn) {
      OnReadable(conn);
      spin = true;
    }
  }
}

bool Server::ReadRequests(Connection& conn, int flags, std::vector<Json>& requests) {
  std::lock_guard lock(conn.read_mu);
  std::array<std::uint8_t, kReadChunk> buffer;
  const ssize_t got = ::recv(conn.fd.get(), buffer.data(), buffer.size(), flags);
  if (got < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) return true;  // nothing yet
  if (got <= 0) return false;
  conn.frames.Feed({buffer.data(), static_cast<std::size_t>(got)});
  WipeMemory(buffer.data(), static_cast<std::size_t>(got));
  for (;;) {
    auto next = conn.frames.Next();
    if (!next) {
      LogWarning("connection " + std::to_string(conn.state.id) + " (" + conn.state.app + ") sent a bad frame (" +
                 next.error().message + "); closing it");
      return false;
    }
    if (!*next) return true;
    requests.push_back(std::move(**next));
  }
}

// On the I/O thread the connection's armed event woke (no other thread reads
// it until it is armed again).
void Server::OnReadable(const std::shared_ptr<Connection>& conn) {
  std::vector<Json> requests;
  bool end = !ReadRequests(*conn, MSG_DONTWAIT, requests);
  // hello and anything before it: in order, on this thread, before anything is armed.
  std::size_t first = 0;
  for (; first < requests.size() && !conn->state.hello_done; ++first) {
    conn->Write(wire::Find(requests[first], "lane_of") ? AttachLane(conn, requests[first])
                                                       : dispatcher_->Handle(conn->state, requests[first]));
    wire::WipeSecrets(requests[first]);
    if (conn->state.close_after_reply) {
      end = true;
      first = requests.size();
      break;
    }
  }
  if (conn->app && !end) {
    // A lane from now on: its own thread reads and serves it (see ServeLane).
    ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, conn->fd.get(), nullptr);
    std::vector<Json> rest(std::make_move_iterator(requests.begin() + static_cast<std::ptrdiff_t>(first)),
                           std::make_move_iterator(requests.end()));
    std::lock_guard lock(mu_);  // Finish, on that thread, takes the std::thread under mu_
    conn->thread = std::thread([this, conn, rest = std::move(rest)]() mutable { ServeLane(conn, std::move(rest)); });
    return;
  }
  const std::size_t count = requests.size() - first;
  bool finish = false;
  {
    std::lock_guard lock(conn->inflight_mu);
    conn->inflight += static_cast<int>(count);
    if (end) {
      conn->ended = true;
      if (conn->inflight == 0 && !conn->finished) finish = conn->finished = true;
    } else if (conn->inflight < kMaxInflightPerConnection) {
      Arm(*conn, EPOLL_CTL_MOD);  // the next request may start on another thread now
    } else {
      conn->paused = true;  // armed again by Done
    }
  }
  if (finish) Finish(conn);
  for (std::size_t i = first; i < requests.size(); ++i)
    Execute(conn, std::move(requests[i]), i + 1 == requests.size());
}

// Runs one request here (`here`: the last of what was read) or on a pool.
void Server::Execute(const std::shared_ptr<Connection>& conn, Json request, bool here) {
  const bool slow = dispatcher_->MayBlock(request);  // before `request` moves into the job
  auto job = [this, conn, request = std::move(request)]() mutable {
    Serve(*conn, request);
    Done(conn);
  };
  if (slow)
    slow_pool_->Post(std::move(job));
  else if (here)
    job();
  else
    pool_->Post(std::move(job));
}

void Server::Serve(Connection& conn, Json& request) {
  if (running_.fetch_add(1, std::memory_order_relaxed) > 0) last_overlap_ns_.store(NowNs(), std::memory_order_relaxed);
  Json reply = conn.app ? dispatcher_->HandleOnLane(conn.app->state, request) : dispatcher_->Handle(conn.state, request);
  wire::WipeSecrets(request);  // PINs, codes: handled; not kept until the job is freed
  conn.Write(reply);
  wire::WipeSecrets(reply);  // token_create's PIN and PUK, decrypt's plaintext
  running_.fetch_sub(1, std::memory_order_relaxed);
}

void Server::ServeLane(const std::shared_ptr<Connection>& conn, std::vector<Json> requests) {
  for (;;) {
    for (auto& request : requests) Serve(*conn, request);
    const bool served = !requests.empty();
    requests.clear();
    // The module sends a lane's next request as soon as it has the reply:
    // polling for it a while saves a sleep and a wake-up on both sides. No
    // other thread waits on this socket, so nobody else is woken meanwhile.
    bool open = true;
    if (served && MaySpin()) {
      const auto start = std::chrono::steady_clock::now();
      while ((open = ReadRequests(*conn, MSG_DONTWAIT, requests)) && requests.empty() &&
             std::chrono::steady_clock::now() - start < kIoSpin) {
      }
      SpinEnded(!requests.empty());
    }
    if (open && requests.empty()) open = ReadRequests(*conn, 0, requests);  // asleep until a request or the end
    if (!open) break;
  }
  {
    std::lock_guard lock(conn->inflight_mu);
    conn->ended = conn->finished = true;
  }
  Finish(conn);
}

bool Server::MaySpin() {
  if (NowNs() - last_overlap_ns_.load(std::memory_order_relaxed) < std::chrono::nanoseconds(kOverlapQuiet).count())
    return false;
  if (spin_skip_.load(std::memory_order_relaxed) > 0) {
    spin_skip_.fetch_sub(1, std::memory_order_relaxed);
    return false;
  }
  return true;
}

void Server::SpinEnded(bool found) {
  if (found) {
    spin_misses_.store(0, std::memory_order_relaxed);
    return;
  }
  // Nothing came: a busy machine or an idle client.
  const int misses = std::min(spin_misses_.load(std::memory_order_relaxed) + 1, kMaxIoSpinBackoffShift);
  spin_misses_.store(misses, std::memory_order_relaxed);
  spin_skip_.store((1 << misses) - 1, std::memory_order_relaxed);
}

void Server::Done(const std::shared_ptr<Connection>& conn) {
  bool finish = false;
  {
    std::lock_guard lock(conn->inflight_mu);
    --conn->inflight;
    if (conn->paused && !conn->ended && conn->inflight < kMaxInflightPerConnection) {
      conn->paused = false;
      Arm(*conn, EPOLL_CTL_MOD);
    }
    if (conn->ended && conn->inflight == 0 && !conn->finished) finish = conn->finished = true;
  }
  if (finish) Finish(conn);
}

void Server::Finish(const std::shared_ptr<Connection>& conn) {
  ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, conn->fd.get(), nullptr);  // fails harmlessly if never armed
  dispatcher_->Disconnect(conn->state);
  {
    std::lock_guard lock(conn->write_mu);
    conn->closed = true;
    conn->fd.reset();
  }
  LogDebug("connection " + std::to_string(conn->state.id) + " closed");
  std::lock_guard lock(mu_);
  connections_.erase(conn->state.id);
  // The application's lanes go with it (their logins already went).
  for (auto& [id, other] : connections_)
    if (other->app == conn) other->StopReading();
  if (conn->thread.joinable()) zombies_.push_back(std::move(conn->thread));
  cv_.notify_all();
}

Json Server::AttachLane(const std::shared_ptr<Connection>& conn, const Json& hello) {
  Json reply = dispatcher_->Handle(conn->state, hello);  // version, client, ...: as on any connection
  if (!conn->state.hello_done) return reply;
  auto refuse = [&](CK_RV rv, const std::string& why) {
    conn->state.close_after_reply = true;
    LogWarning("connection " + std::to_string(conn->state.id) + " refused as a lane: " + why);
    return wire::ErrorReply(wire::GetUint(hello, "id").value_or(0), Error{rv, why});
  };
  auto app_id = wire::GetUint(hello, "lane_of");
  std::lock_guard lock(mu_);  // against Finish of the application connection
  auto it = app_id ? connections_.find(*app_id) : connections_.end();
  // Only an application connection (not a lane) of the same process, by the
  // kernel's word (SO_PEERCRED), not by the hello's.
  if (it == connections_.end() || it->second == conn || conn->tcp || it->second->tcp || it->second->app ||
      !it->second->state.hello_done || conn->peer_pid == 0 || it->second->peer_pid != conn->peer_pid)
    return refuse(CKR_ARGUMENTS_BAD, "lane_of names no application connection of this process");
  const auto lanes = std::count_if(connections_.begin(), connections_.end(),
                                   [&](const auto& other) { return other.second->app == it->second; });
  if (lanes >= kMaxLanesPerApplication)
    return refuse(CKR_DEVICE_MEMORY, "this application has " + std::to_string(kMaxLanesPerApplication) + " lanes already");
  conn->app = it->second;
  return reply;
}

void Server::Broadcast(const Json& event) {
  std::vector<std::shared_ptr<Connection>> targets;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, conn] : connections_)
      if (conn->state.events) targets.push_back(conn);
  }
  for (auto& conn : targets) conn->Write(event);
}

void Server::SendTo(std::uint64_t connection_id, const Json& event) {
  std::shared_ptr<Connection> target;
  {
    std::lock_guard lock(mu_);
    auto it = connections_.find(connection_id);
    if (it == connections_.end() || !it->second->state.events) return;
    target = it->second;
  }
  target->Write(event);
}

}  // namespace vtoken::agent
