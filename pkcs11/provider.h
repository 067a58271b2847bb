#pragma once
// The module's state between C_Initialize and C_Finalize: the agent
// connection, the slot snapshot, the object cache, sessions and logins. One
// Provider exists per initialization; a forked child drops it (without
// touching its locks) and must call C_Initialize again.
//
// When the agent connection breaks, logins are gone (they belonged to the
// connection): sessions stay open but fall back to the public state, and
// object lists are fetched again. The next call reconnects; tokens that are
// no longer there (or were replaced) kill their sessions as a removal does.
#include <atomic>
#include <memory>
#include <mutex>

#include "common/config.h"
#include "pkcs11/agent_client.h"
#include "pkcs11/object_cache.h"
#include "pkcs11/session.h"
#include "pkcs11/slot_cache.h"

namespace vtoken::pkcs11 {

class Provider final : public AgentClient::Listener {
 public:
  explicit Provider(const Config& config);
  ~Provider() override;

  // Makes sure the agent is connected and the slot snapshot current.
  Result<void> Sync();
  // One request to the agent (connecting first when needed).
  Result<wire::Json> Call(wire::Json request);
  // The same for calls made on behalf of a session: a lost agent reads as
  // CKR_DEVICE_REMOVED (the token went away with it).
  Result<wire::Json> CallForSession(wire::Json request);

  // Fetches the slot snapshot now (after a call that changes it, so the
  // caller's next C_GetTokenInfo does not race the agent's event).
  Result<void> RefreshSlots();

  // Wakes C_WaitForSlotEvent, closes the connection, joins the reader.
  void Stop();
  bool stopping() const { return stopping_.load(); }

  // Ends every login of this application on the slot (C_Logout, last session closed).
  void DropLogin(CK_SLOT_ID slot);

  SlotCache slots;
  ObjectCache objects;
  SessionTable sessions;
  LoginTable logins;
  AgentClient agent;

  void OnEvent(const wire::Json& event) override;
  void OnDisconnected() override;

 private:
  Result<void> ApplySnapshot(const wire::Json& message);

  std::atomic<bool> stopping_{false};
  std::atomic<bool> need_slots_{true};
  std::mutex sync_mutex_;
};

// The initialized provider, or CKR_CRYPTOKI_NOT_INITIALIZED.
Result<std::shared_ptr<Provider>> CurrentProvider();

// The provider and a live session (CKR_SESSION_HANDLE_INVALID, or
// CKR_DEVICE_REMOVED once for a session whose token went away).
struct SessionRef {
  std::shared_ptr<Provider> provider;
  std::shared_ptr<Session> session;
};
Result<SessionRef> EnterSession(CK_SESSION_HANDLE handle);

// Agent connection settings from the configuration (agent.*).
AgentClient::Options AgentOptions(const Config& config);

}  // namespace vtoken::pkcs11
