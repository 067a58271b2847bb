#pragma once
// The module's one connection to the agent (docs/agent-protocol.md). Requests
// are pipelined: any thread may Call() at any time, each waits on its own slot
// until the reader thread delivers the reply with its id, the connection
// breaks, or agent.timeout_ms passes. Events go to the Listener on the reader
// thread; a Listener must never Call() from there (it would wait on itself).
//
// A broken connection fails every waiting call with CKR_DEVICE_ERROR; the next
// Call() reconnects (starting the agent when autostart is on), at most once a
// second while the agent stays unreachable, so a dead agent never hangs or
// storms an application that polls.
#include <p11-kit/pkcs11.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

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
  // For the fork child handler: the descriptor to close (or -1).
  int fd() const { return fd_.load(std::memory_order_relaxed); }

 private:
  struct Pending {
    std::mutex mutex;
    std::condition_variable cv;
    bool done = false;
    Result<wire::Json> reply = wire::Json();
  };

  Result<int> Connect();
  Result<void> Hello(int fd);
  void ReaderLoop(int fd, std::uint64_t epoch);
  void FailAllPending(const std::string& why);
  void Complete(const std::shared_ptr<Pending>& p, Result<wire::Json> reply);

  const Options options_;
  Listener* const listener_;

  std::mutex connect_mutex_;  // one connection attempt at a time
  std::chrono::steady_clock::time_point last_failure_{};
  bool failed_before_ = false;
  std::thread reader_;

  std::atomic<bool> connected_{false};
  std::atomic<bool> shutdown_{false};
  std::atomic<int> fd_{-1};
  std::uint64_t epoch_ = 0;  // guarded by connect_mutex_

  std::mutex write_mutex_;
  std::uint64_t write_epoch_ = 0;  // connection fd_ belongs to; guarded by write_mutex_
  std::mutex pending_mutex_;
  std::uint64_t current_epoch_ = 0;  // guarded by pending_mutex_
  std::map<std::uint64_t, std::shared_ptr<Pending>> pending_;
  std::uint64_t next_id_ = 1;
};

// Where the agent program is: agent.program, $VTOKEN_AGENT,
// <dir of this module>/../bin/vtokend, then the installed VTOKEN_INSTALLED_AGENT.
std::filesystem::path FindAgentProgram(const std::string& configured);
// Starts `program` detached (double fork + setsid, stdio on /dev/null, no
// other descriptors). Does not wait for it to be ready.
Result<void> SpawnAgent(const std::filesystem::path& program);

}  // namespace vtoken::pkcs11
