#pragma once
// The module's one connection to the agent (docs/agent-protocol.md). Requests
// are pipelined: any thread may Call() at any time, each waits until its reply
// (matched by id) arrives, the connection breaks, or agent.timeout_ms passes.
//
// Who reads the socket (leader/follower, to save thread hand-offs, which cost
// most of a signature's time): one thread at a time holds the read side.
// A waiting Call() takes it when it is free and reads frames itself, handing
// other callers their replies; so a lone caller reads its own reply with no
// other thread woken. When no Call() has been waiting for kLinger, the
// background reader takes the read side and waits for events; a Call() that
// finds it there asks it (eventfd) to give the socket back.
// A lone caller whose replies usually come quickly polls the socket for a
// little while (bounded by its recent round trips, at most 500 µs) before it
// sleeps in poll(): a sleep and wake-up cost more than a P-256 signature.
// "Lone" means no other call overlapped one in the last kOverlapQuiet: with
// two threads signing, the spinner takes a CPU the agent needs (measured:
// two-thread throughput fell by a fifth). A spin that runs out (a busy
// machine) turns spinning off for a while.
// Lanes: sign and decrypt requests go on extra connections to the agent
// ("lanes", docs/agent-protocol.md), each used by one call at a time, so that
// threads signing at once each wait on their own socket and the agent wakes
// each of them directly (on one shared socket, the thread that reads a reply
// for another has to wake it: measured, two threads signing RSA-2048 reach
// ~4,700 signatures/s that way and ~6,000-6,500/s on lanes). A lane shares the main
// connection's logins; the agent accepts on it nothing but sign and decrypt,
// and only from this process. Lanes open on first use, up to kMaxLanes; when
// all are busy, or the agent offers none, calls share the main connection.
// A lane that breaks after its request went out means the agent went away:
// the main connection is ended with it, as if its reader had seen the end.
// Events go to the Listener on whichever thread reads them, before the
// replies that follow them; a Listener must never Call() from there (it would
// wait on itself), nor take a lock that a thread may hold across Call().
//
// A broken connection fails every waiting call with CKR_DEVICE_ERROR; the next
// Call() reconnects (starting the agent when autostart is on), at most once a
// second while the agent stays unreachable, so a dead agent never hangs or
// storms an application that polls.
#include <p11-kit/pkcs11.h>
#include <sys/types.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"
#include "common/wire.h"

namespace vtoken::pkcs11 {

class AgentClient {
 public:
  struct Options {
    std::filesystem::path socket;
    bool autostart = true;
    std::filesystem::path program;  // empty: no agent known to start
    std::chrono::milliseconds timeout{30000};
    std::chrono::milliseconds start_wait{2000};
  };

  class Listener {
   public:
    virtual ~Listener() = default;
    virtual void OnEvent(const wire::Json& event) = 0;  // reader thread
    virtual void OnDisconnected() = 0;                   // reader thread or caller
  };

  AgentClient(Options options, Listener* listener);
  ~AgentClient();
  AgentClient(const AgentClient&) = delete;
  AgentClient& operator=(const AgentClient&) = delete;

  // Connects when needed. True when this call made a new connection (the
  // caller then refetches what the agent knows: slots, objects).
  Result<bool> EnsureConnected();
  // Sends one request (an "id" is added) and waits for its reply. An error
  // reply becomes its Error (rv as the agent sent it).
  Result<wire::Json> Call(wire::Json request);
  bool connected() const { return connected_.load(std::memory_order_acquire); }
  // Closes the connection and joins the reader; later calls fail.
  void Shutdown();
  // For the fork child handler: closes the descriptors of the main
  // connection and the lanes, taking no lock (the child has no other thread).
  void CloseDescriptorsInChild();

  static constexpr std::size_t kMaxLanes = 8;

 private:
  struct Pending {  // guarded by pending_mutex_
    bool done = false;
    Result<wire::Json> reply = wire::Json();
  };
  struct Lane {
    int fd = -1;
    std::size_t slot = 0;  // index in lane_fds_
    std::uint64_t epoch = 0;
    std::uint64_t next_id = 1;
    wire::FrameReader in;
  };
  enum class ReadResult { kMore, kClosed };
  enum class ReadMode { kBlock, kSpinFirst, kBackground };

  Result<int> Connect();
  // The main connection's hello; returns the agent's id for the connection
  // (0 from an agent that offers no lanes).
  Result<std::uint64_t> Hello(int fd, std::uint64_t lane_of = 0);
  // A sign or decrypt request on a lane: nullopt when none is free or can be
  // opened (the caller then uses the main connection).
  std::optional<Result<wire::Json>> CallOnLane(wire::Json& request);
  Result<std::unique_ptr<Lane>> OpenLane(std::size_t slot, std::uint64_t epoch, std::uint64_t app_connection);
  // Sends the request and reads its reply (ok or not); an Error only when the
  // lane failed: `broke` when the agent closed it or it broke, not when the
  // reply is late.
  Result<wire::Json> Exchange(Lane& lane, wire::Json& request, bool& broke);
  void CloseLane(std::unique_ptr<Lane> lane);
  // A lane of connection `epoch` broke: end that connection too.
  void LaneBroke(std::uint64_t epoch, const std::string& why);
  // No other call overlapped one for kOverlapQuiet: spinning may pay.
  bool Lone() const;
  void FailAllPendingLocked(const std::string& why);  // pending_mutex_ held
  // Logs `why` (unless empty or finalizing) and tells the Listener.
  void TellDisconnected(const std::string& why);
  void BackgroundReader(int fd, std::uint64_t epoch);
  // Waits for one reply, reading the socket while nobody else does.
  Result<wire::Json> Wait(const std::shared_ptr<Pending>& p, std::uint64_t id, int fd, std::uint64_t epoch);
  // For the holder of the read side: waits until the socket (or, for the
  // background reader, the wake eventfd) is readable or `timeout_ms` passes,
  // then reads what is there and dispatches every whole frame.
  ReadResult ReadOnce(int fd, int timeout_ms, ReadMode mode);
  // Before blocking for a reply expected soon, polls the socket for up to
  // SpinBudget(): true when it became readable meanwhile.
  bool SpinUntilReadable(int fd);
  std::chrono::nanoseconds SpinBudget() const;
  void NoteRoundTrip(std::chrono::nanoseconds took);
  bool ReadableBy(std::uint64_t epoch) const;  // pending_mutex_ held
  void ConnectionLost(int fd, const std::string& why);
  void FailAllPending(const std::string& why);
  void Complete(const std::shared_ptr<Pending>& p, Result<wire::Json> reply);  // pending_mutex_ held
  void CloseSocket();  // connect_mutex_ held; waits until nobody reads it

  const Options options_;
  Listener* const listener_;

  std::mutex connect_mutex_;  // one connection attempt at a time
  std::chrono::steady_clock::time_point last_failure_{};
  bool failed_before_ = false;
  std::thread reader_;  // the background reader of the current connection

  std::atomic<bool> connected_{false};
  std::atomic<bool> shutdown_{false};
  std::atomic<int> fd_{-1};
  std::atomic<std::int64_t> round_trip_ns_{0};  // moving average of Call()'s send-to-reply time
  std::atomic<int> spin_skip_{0};               // replies to wait for asleep after a spin ran out
  std::atomic<int> spin_misses_{0};             // spins in a row that ran out (at most 5)
  int wake_fd_ = -1;         // eventfd: asks the background reader to give up the socket
  std::uint64_t epoch_ = 0;  // guarded by connect_mutex_

  std::atomic<int> calls_{0};                    // Call()s running now, on any connection
  std::atomic<std::int64_t> last_overlap_ns_{0};  // steady clock when two last ran at once

  std::mutex lanes_mutex_;
  std::vector<std::unique_ptr<Lane>> idle_lanes_;   // guarded by lanes_mutex_
  std::uint64_t lane_epoch_ = 0;                     // connection lanes attach to; guarded by lanes_mutex_
  std::uint64_t lane_app_ = 0;                       // the agent's id of it; 0 = no lanes
  std::array<std::atomic<int>, kMaxLanes> lane_fds_;  // -1 free, -2 opening; slots taken under lanes_mutex_

  std::mutex write_mutex_;
  std::uint64_t write_epoch_ = 0;  // connection fd_ belongs to; guarded by write_mutex_

  std::mutex pending_mutex_;
  std::condition_variable reply_cv_;   // a reply completed, the read side came free, the connection ended
  std::condition_variable reader_cv_;  // wakes the background reader when the connection ends
  std::uint64_t current_epoch_ = 0;    // guarded by pending_mutex_
  std::map<std::uint64_t, std::shared_ptr<Pending>> pending_;
  std::uint64_t next_id_ = 1;
  bool reading_ = false;             // a thread holds the read side
  bool background_reading_ = false;  // ... and it is the background reader
  int waiting_ = 0;                  // Call()s on the main connection between sending and getting their reply
  std::chrono::steady_clock::time_point last_wait_end_{};
  wire::FrameReader in_;  // only the holder of the read side touches it
};

// Where the agent program is: agent.program, $VTOKEN_AGENT,
// <dir of this module>/../bin/vtokend, then the installed VTOKEN_INSTALLED_AGENT.
std::filesystem::path FindAgentProgram(const std::string& configured);
// Starts `program` detached (double fork + setsid, stdio on /dev/null, no
// other descriptors). Does not wait for it to be ready.
Result<void> SpawnAgent(const std::filesystem::path& program);

}  // namespace vtoken::pkcs11
