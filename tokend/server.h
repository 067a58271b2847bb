#pragma once
// The agent's socket side: accepts connections (same uid only, checked with
// SO_PEERCRED), reads and runs requests (replies may come back in any order,
// writes serialized per connection), pushes events, and stops on
// SIGTERM/SIGINT, the `shutdown` op, or after agent.idle_exit_seconds without
// connections.
//
// Reading is leader/follower on one epoll set: a few I/O threads wait in
// epoll_wait, every connection is armed EPOLLONESHOT, and the thread that
// wakes for a connection reads what is there, re-arms it (so the next
// pipelined request of the same connection can start on another thread) and
// runs the request itself. A request thus costs one thread wake-up in the
// agent, not a reader-to-worker hand-off. Frames that arrive together beyond
// the first go to the worker pool; requests that may wait for a person or a
// remote service go to the slow pool. After a request, one I/O thread at a
// time polls the epoll set for up to 100 µs before it sleeps, so a client
// signing in a loop finds it awake; after spins that found nothing, up to
// the next 31 requests are waited for asleep. Only while requests come one
// at a time: when two ran at once in the last 100 ms, the CPUs are needed
// for the requests and nobody spins.
// Lanes (docs/agent-protocol.md) are the exception: after its hello a lane
// leaves the epoll set and gets a thread of its own that reads, serves and
// answers its requests one after the other. A lane carries one request at a
// time, so that thread is the only one a request wakes, and after a reply it
// can poll the socket for the next request without another I/O thread being
// woken for it (epoll wakes a sleeping waiter for every event, spinner or
// not). At most 16 lanes per application connection; lanes count against
// the connection limit (256), which bounds their threads too.
// A connection that sends garbage, a truncated or oversized frame, or CBOR
// that is not a map is closed; nothing else is affected.
#include <sys/epoll.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "tokend/dispatcher.h"
#include "tokend/listener.h"
#include "tokend/tcp_listener.h"
#include "tokend/worker_pool.h"

namespace vtoken::agent {

struct ServerOptions {
  long idle_exit_seconds = 0;  // 0 = never
  unsigned workers = 0;        // 0 = one per core, at least 4
};

class Server : public EventSink {
 public:
  // `tcp`: the optional loopback TCP listener (Wine clients), see tcp_listener.h.
  Server(Listener listener, ServerOptions options, std::unique_ptr<TcpListener> tcp = nullptr);
  ~Server() override;

  // Serves until stopped. SIGTERM and SIGINT must be blocked in every thread
  // before any thread starts (main does it); Run waits for them with signalfd.
  void Run(Dispatcher& dispatcher);
  // Thread-safe; makes Run return.
  void RequestStop();

  void Broadcast(const Json& event) override;
  void SendTo(std::uint64_t connection_id, const Json& event) override;

 private:
  struct Connection;
  void IoLoop();
  // epoll_wait for one I/O thread; after a request (`spin`) one thread at a
  // time polls for a while before blocking.
  int WaitForEvent(epoll_event& ev, bool spin);
  void OnReadable(const std::shared_ptr<Connection>& conn);
  // Reads once (recv `flags`) and appends the whole frames; false at the end
  // of the stream or a bad frame.
  bool ReadRequests(Connection& conn, int flags, std::vector<Json>& requests);
  // A lane's own thread: serves its requests one after the other, inline.
  void ServeLane(const std::shared_ptr<Connection>& conn, std::vector<Json> requests);
  // Handles one request and writes the reply.
  void Serve(Connection& conn, Json& request);
  // Whether a thread that just served a request may poll for the next (no
  // overlap lately, no back-off); SpinEnded records whether it paid.
  bool MaySpin();
  void SpinEnded(bool found);
  void Admit(const std::shared_ptr<Connection>& conn);  // loopback TCP: the secret, then the hello
  void Arm(Connection& conn, int op);
  void Execute(const std::shared_ptr<Connection>& conn, Json request, bool here);
  void Done(const std::shared_ptr<Connection>& conn);
  void Accept();
  void AcceptTcp();
  void AddConnection(UniqueFd fd, bool tcp, pid_t peer_pid = 0);
  // The hello of a lane: handles it as any hello, then ties the lane to the
  // connection `lane_of` names, or refuses it (the reply says why).
  Json AttachLane(const std::shared_ptr<Connection>& conn, const Json& hello);
  void Finish(const std::shared_ptr<Connection>& conn);

  Listener listener_;
  std::unique_ptr<TcpListener> tcp_;
  const ServerOptions options_;
  Dispatcher* dispatcher_ = nullptr;
  std::unique_ptr<WorkerPool> pool_;
  // Requests that may wait for a person or a remote service (cloud prompts,
  // cloud signatures, cloud login) run here, so they never starve the pool
  // that serves every other connection's requests.
  std::unique_ptr<WorkerPool> slow_pool_;
  UniqueFd stop_fd_;  // eventfd
  UniqueFd epoll_fd_;    // every connection past admission, EPOLLONESHOT
  UniqueFd io_stop_fd_;  // eventfd in epoll_fd_, level-triggered: ends every I/O thread
  std::vector<std::thread> io_threads_;
  std::atomic<int> spinners_{0};
  std::atomic<int> spin_skip_{0};    // requests to wait for asleep after a spin found nothing
  std::atomic<int> spin_misses_{0};  // spins in a row that found nothing (at most 5)
  std::atomic<int> running_{0};      // requests being handled now
  std::atomic<std::int64_t> last_overlap_ns_{0};  // steady clock when two last ran at once
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::uint64_t, std::shared_ptr<Connection>> connections_;
  std::vector<std::thread> zombies_;  // readers that finished, joined by Run
  std::atomic<bool> stopping_{false};
};

}  // namespace vtoken::agent
