#pragma once
// The agent protocol (docs/agent-protocol.md) as a function: Handle() takes
// one request of one connection and returns its reply. No sockets here, so
// every rule is testable in-process; server.* only moves frames.
//
// Login state belongs to a connection and a slot. The dispatcher keeps it in
// ConnectionState (guarded by the dispatcher's mutex, so Handle may run for
// one connection on several threads at once) and tells the token to forget
// its unlocked key (EmulatedToken::Lock) when no connection is logged in any
// more. Logins on one token are serialized (a per-slot auth mutex), as on a
// real token; signing is not.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <condition_variable>

#include "common/error.h"
#include "common/wire.h"
#include "tokend/cloud/cloud_token.h"
#include "tokend/registry.h"

namespace vtoken::agent {

using wire::Json;

enum class Login { kNone, kUser, kSo };

struct SlotLogin {
  Login who = Login::kNone;
  bool context_auth = false;  // a context-specific login is waiting for the next sign/decrypt
  // Cloud tokens: a TOTP code given as the PIN (user or context-specific
  // login), used by the next signature on this connection instead of the
  // configured source; forgotten after one use or kCloudCodeLifetime.
  std::optional<Secret> code;
  std::chrono::steady_clock::time_point code_time{};
};

struct ConnectionState {
  std::uint64_t id = 0;  // owner of session objects; unique for the agent's life
  // Set by hello, read-only afterwards.
  std::atomic<bool> hello_done{false};
  std::atomic<bool> events{false};
  std::string client, app;
  std::uint64_t pid = 0;
  // Set by Handle: close the connection once this reply is sent.
  bool close_after_reply = false;
  // Guarded by the dispatcher's mutex.
  std::map<std::uint64_t, SlotLogin> logins;
  std::map<std::uint64_t, std::pair<std::uint64_t, std::set<std::uint64_t>>> always_auth;  // slot -> (generation, oids)
};

// Where events go. The server writes them to connections that asked for
// events in hello; tests record them.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void Broadcast(const Json& event) = 0;
  virtual void SendTo(std::uint64_t connection_id, const Json& event) = 0;
};

struct DispatcherOptions {
  std::string agent_name = "vtokend " VTOKEN_VERSION_STRING;
  std::function<void()> on_shutdown;  // the `shutdown` op; null = refused
  cloud::CloudSettings cloud;          // cloud tokens (config [cloud])
  // Makes the CSC client of a cloud login; null = libcurl with cloud.ca_file
  // (tests give one on a MemoryTransport).
  std::function<Result<std::shared_ptr<csc::Client>>(const std::string& service)> make_cloud_client;
};

// Shared by the handler files: `params` of sign/decrypt, and an object on the wire.
Result<MechanismParams> ParamsArg(const Json& req);
Json ObjectJson(const ObjectView& o);
// Secrets from the CLI (PINs, passwords, codes) may come as text or bytes.
Result<std::optional<Secret>> SecretArg(const Json& req, const char* key);
// `no_prompt` of login/sign/cloud_sign_batch (false when absent): nobody may
// be asked for a PIN or code; where a person would have to be, kCkrPromptRequired.
Result<bool> NoPromptArg(const Json& req);

class Dispatcher {
 public:
  Dispatcher(Registry& registry, EventSink& events, DispatcherOptions options = {});
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // True for requests that may wait for a person or a remote service (cloud
  // login, cloud signatures and prompts): the server runs them apart.
  bool MayBlock(const Json& request) const;

  // Registers a connection (assigns state.id); Disconnect drops its logins and
  // session objects. Both must bracket every Handle call for that state.
  void Connect(ConnectionState& state);
  void Disconnect(ConnectionState& state);
  Json Handle(ConnectionState& state, const Json& request);
  // A request that came on a lane of the application connection `app`
  // (docs/agent-protocol.md): only sign and decrypt, with `app`'s logins.
  Json HandleOnLane(ConnectionState& app, const Json& request);
  std::size_t connection_count() const;

 private:
  Result<Json> Dispatch(ConnectionState& c, const std::string& op, const Json& req);
  // handlers: dispatcher.cpp (session, login), dispatcher_objects.cpp, dispatcher_tokens.cpp
  Result<Json> Hello(ConnectionState& c, const Json& req);
  Result<Json> InitToken(ConnectionState& c, const Json& req);
  Result<Json> DoLogin(ConnectionState& c, const Json& req);
  Result<Json> DoLogout(ConnectionState& c, const Json& req);
  Result<Json> InitPin(ConnectionState& c, const Json& req);
  Result<Json> SetPin(ConnectionState& c, const Json& req);
  Result<Json> ListObjects(ConnectionState& c, const Json& req);
  Result<Json> CreateObject(ConnectionState& c, const Json& req);
  Result<Json> DestroyObject(ConnectionState& c, const Json& req);
  Result<Json> SetAttributes(ConnectionState& c, const Json& req);
  Result<Json> GenerateKeyPair(ConnectionState& c, const Json& req);
  Result<Json> SignOrDecrypt(ConnectionState& c, const Json& req, bool sign);
  Result<Json> TokenCreate(const Json& req);
  Result<Json> TokenDelete(const Json& req);
  Result<Json> TokenPlug(const Json& req, bool plug);
  Result<Json> TokenSetPin(const Json& req, bool with_puk);  // token_change_pin (old PIN) or token_unblock (PUK)
  Result<Json> TokenList();
  Result<Json> Status();
  // dispatcher_cloud.cpp
  Result<Json> CloudLogin(ConnectionState& c, const Json& req);
  Result<Json> CloudLogout(const Json& req);
  Result<Json> CloudStatus();
  Result<Json> CloudSignBatch(ConnectionState& c, const Json& req);
  Result<Json> CloudUserLogin(ConnectionState& c, const SlotEntry& slot, std::uint64_t user_type,
                              std::optional<Secret> pin);
  Result<Json> CloudSign(ConnectionState& c, const SlotEntry& slot, std::uint64_t oid, unsigned long mechanism,
                         const MechanismParams& params, wire::Bytes data, bool no_prompt);
  // Empties the cloud token's slot (if it still holds `token`): logins end,
  // events go out.
  void RemoveCloudToken(const std::shared_ptr<cloud::CloudToken>& token, const std::string& why);
  // After a cloud call: a token whose session died is removed.
  void CheckCloudToken(const SlotEntry& slot);
  void CloudRefreshLoop();

  // A present, initialized token for an operation on `slot_id`.
  Result<SlotEntry> TokenFor(std::uint64_t slot_id);
  Login LoginOf(const ConnectionState& c, std::uint64_t slot_id) const;
  bool AnyoneLoggedInLocked(std::uint64_t slot_id) const;
  // Ends every connection's login on the slot (unplug, delete, reinit) and
  // tells each with `logged_out`; drops their session objects.
  void DropSlot(std::uint64_t slot_id, const std::shared_ptr<EmulatedToken>& token);
  // Locks the token if no connection is logged in to it any more.
  void LockIfUnused(std::uint64_t slot_id, EmulatedToken& token);
  std::shared_ptr<std::mutex> AuthMutex(std::uint64_t slot_id);
  // Pushes `slots` if the snapshot differs from the last one pushed.
  void PublishSlots();
  void PublishObjects(const SlotEntry& slot);
  // A PIN/PUK error with a message naming the token and the tries left.
  Error PinError(const Error& e, const SlotEntry& slot, bool puk) const;
  void ForgetKeyFlags(ConnectionState& c, std::uint64_t slot_id);
  Result<bool> RequiresContextLogin(ConnectionState& c, const SlotEntry& slot, std::uint64_t oid);

  Registry& registry_;
  EventSink& events_;
  const DispatcherOptions options_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();

  mutable std::mutex mu_;  // logins of every connection, the maps below
  std::map<std::uint64_t, ConnectionState*> connections_;
  std::map<std::uint64_t, std::shared_ptr<std::mutex>> auth_mutexes_;
  std::uint64_t next_connection_id_ = 1;

  std::mutex publish_mu_;
  Json last_slots_;

  // The background refresh of cloud tokens (sessions, credential caches).
  std::mutex cloud_mu_;
  std::condition_variable cloud_cv_;
  bool cloud_stop_ = false;
  std::map<std::uint64_t, std::chrono::steady_clock::time_point> cloud_due_;  // slot -> next refresh
  std::thread cloud_thread_;  // last: started after everything above exists
};

}  // namespace vtoken::agent
