// Dispatcher core: framing of replies, hello, connections, login state.
// Object, signing and token-management handlers: dispatcher_objects.cpp,
// dispatcher_tokens.cpp.
#include "tokend/dispatcher.h"

#include <p11-kit/pkcs11.h>
#include <unistd.h>

#include <new>

#include "common/ckr_names.h"
#include "tokend/log.h"

namespace vtoken::agent {

Dispatcher::Dispatcher(Registry& registry, EventSink& events, DispatcherOptions options)
    : registry_(registry), events_(events), options_(std::move(options)) {
  last_slots_ = registry_.Snapshot();
  cloud_thread_ = std::thread([this] { CloudRefreshLoop(); });
}

Dispatcher::~Dispatcher() {
  {
    std::lock_guard lock(cloud_mu_);
    cloud_stop_ = true;
  }
  cloud_cv_.notify_all();
  cloud_thread_.join();
}

void Dispatcher::Connect(ConnectionState& state) {
  std::lock_guard lock(mu_);
  state.id = next_connection_id_++;
  connections_[state.id] = &state;
}

std::size_t Dispatcher::connection_count() const {
  std::lock_guard lock(mu_);
  return connections_.size();
}

void Dispatcher::Disconnect(ConnectionState& state) {
  std::map<std::uint64_t, SlotLogin> logins;
  {
    std::lock_guard lock(mu_);
    connections_.erase(state.id);
    logins.swap(state.logins);
    state.always_auth.clear();
  }
  for (const auto& [slot_id, login] : logins) {
    if (login.who == Login::kNone) continue;
    if (auto slot = registry_.Present(slot_id); slot && slot->token) LockIfUnused(slot_id, *slot->token);
  }
  for (const auto& slot : registry_.Tokens()) slot.token->DropSessionObjects(state.id);
}

Json Dispatcher::Handle(ConnectionState& c, const Json& request) {
  std::uint64_t id = 0;
  Result<Json> result;
  std::string op_name = "?";
  try {
    auto id_field = wire::GetUint(request, "id");
    auto op = wire::GetString(request, "op", 64);
    if (!id_field) {
      result = std::unexpected(id_field.error());
    } else if (id = *id_field; !op) {
      result = std::unexpected(op.error());
    } else if (op_name = *op; !c.hello_done && *op != "hello") {
      c.close_after_reply = true;
      result = Fail(CKR_CRYPTOKI_NOT_INITIALIZED, "the first request on a connection must be hello");
    } else {
      result = Dispatch(c, *op, request);
    }
  } catch (const std::bad_alloc&) {
    result = Fail(CKR_HOST_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    result = Fail(CKR_GENERAL_ERROR, std::string("internal error: ") + e.what());
  }
  if (LogEnabled(LogLevel::kDebug)) {
    std::string line = "connection " + std::to_string(c.id) + " " + op_name;
    if (const Json* s = wire::Find(request, "slot_id"); s && s->is_number_unsigned())
      line += " slot " + std::to_string(s->get<std::uint64_t>());
    line += result ? " -> ok" : " -> " + Describe(result.error());
    LogDebug(line);
  }
  if (!result) return wire::ErrorReply(id, result.error());
  Json reply = result->is_object() ? std::move(*result) : Json::object();
  reply["id"] = id;
  reply["ok"] = true;
  return reply;
}

Json Dispatcher::HandleOnLane(ConnectionState& app, const Json& request) {
  const auto op = wire::GetString(request, "op", 64);
  if (op && (*op == "sign" || *op == "decrypt")) return Handle(app, request);
  return wire::ErrorReply(wire::GetUint(request, "id").value_or(0),
                          Error{CKR_FUNCTION_NOT_SUPPORTED, "a lane carries only sign and decrypt requests"});
}

Result<Json> Dispatcher::Dispatch(ConnectionState& c, const std::string& op, const Json& req) {
  if (op == "hello") return Hello(c, req);
  if (op == "slots") return Json{{"slots", registry_.Snapshot()}};
  if (op == "init_token") return InitToken(c, req);
  if (op == "login") return DoLogin(c, req);
  if (op == "logout") return DoLogout(c, req);
  if (op == "init_pin") return InitPin(c, req);
  if (op == "set_pin") return SetPin(c, req);
  if (op == "objects") return ListObjects(c, req);
  if (op == "create_object") return CreateObject(c, req);
  if (op == "destroy_object") return DestroyObject(c, req);
  if (op == "set_attributes") return SetAttributes(c, req);
  if (op == "generate_key_pair") return GenerateKeyPair(c, req);
  if (op == "sign") return SignOrDecrypt(c, req, true);
  if (op == "decrypt") return SignOrDecrypt(c, req, false);
  if (op == "token_create") return TokenCreate(req);
  if (op == "token_delete") return TokenDelete(req);
  if (op == "token_plug") return TokenPlug(req, true);
  if (op == "token_unplug") return TokenPlug(req, false);
  if (op == "token_change_pin") return TokenSetPin(req, false);
  if (op == "token_unblock") return TokenSetPin(req, true);
  if (op == "token_list") return TokenList();
  if (op == "status") return Status();
  if (op == "cloud_login") return CloudLogin(c, req);
  if (op == "cloud_logout") return CloudLogout(req);
  if (op == "cloud_status") return CloudStatus();
  if (op == "cloud_sign_batch") return CloudSignBatch(c, req);
  if (op == "shutdown") {
    if (!options_.on_shutdown) return Fail(CKR_FUNCTION_NOT_SUPPORTED, "this agent cannot be stopped over the protocol");
    LogInfo("shutdown requested by " + c.client + " (" + c.app + ", pid " + std::to_string(c.pid) + ")");
    options_.on_shutdown();
    return Json::object();
  }
  return Fail(CKR_FUNCTION_NOT_SUPPORTED, "unknown operation '" + op + "'");
}

Result<Json> Dispatcher::Hello(ConnectionState& c, const Json& req) {
  if (c.hello_done) return Fail(CKR_CRYPTOKI_ALREADY_INITIALIZED, "hello was already sent on this connection");
  const auto version = VT_TRY(wire::GetUint(req, "version"));
  if (version != static_cast<std::uint64_t>(wire::kProtocolVersion)) {
    c.close_after_reply = true;
    return Fail(CKR_FUNCTION_FAILED, "protocol version " + std::to_string(version) + " is not supported (this agent speaks " +
                                         std::to_string(wire::kProtocolVersion) + ")");
  }
  c.client = VT_TRY(wire::GetString(req, "client", 64));
  c.app = VT_TRY(wire::GetString(req, "app", 256));
  c.pid = VT_TRY(wire::GetUint(req, "pid"));
  c.events = wire::Find(req, "events") ? VT_TRY(wire::GetBool(req, "events")) : false;
  c.hello_done = true;
  LogDebug("connection " + std::to_string(c.id) + ": " + c.client + " from " + c.app + " (pid " + std::to_string(c.pid) + ")");
  return Json{{"version", wire::kProtocolVersion}, {"agent", options_.agent_name}, {"connection", c.id}};
}

// --- helpers ---------------------------------------------------------------

Result<SlotEntry> Dispatcher::TokenFor(std::uint64_t slot_id) {
  SlotEntry slot = VT_TRY(registry_.Present(slot_id));
  if (slot.is_free())
    return Fail(CKR_TOKEN_NOT_RECOGNIZED, "slot " + std::to_string(slot_id) + " holds no token yet: initialize it first");
  if (slot.is_cloud)  // the handlers that serve cloud tokens check for them before calling this
    return Fail(CKR_TOKEN_WRITE_PROTECTED, "the cloud token '" + slot.name + "' is read-only: its keys and certificates live in the signing service");
  return slot;
}

Login Dispatcher::LoginOf(const ConnectionState& c, std::uint64_t slot_id) const {
  std::lock_guard lock(mu_);
  auto it = c.logins.find(slot_id);
  return it == c.logins.end() ? Login::kNone : it->second.who;
}

bool Dispatcher::AnyoneLoggedInLocked(std::uint64_t slot_id) const {
  for (const auto& [id, c] : connections_) {
    auto it = c->logins.find(slot_id);
    if (it != c->logins.end() && it->second.who != Login::kNone) return true;
  }
  return false;
}

std::shared_ptr<std::mutex> Dispatcher::AuthMutex(std::uint64_t slot_id) {
  std::lock_guard lock(mu_);
  auto& m = auth_mutexes_[slot_id];
  if (!m) m = std::make_shared<std::mutex>();
  return m;
}

void Dispatcher::LockIfUnused(std::uint64_t slot_id, EmulatedToken& token) {
  auto auth = AuthMutex(slot_id);
  std::lock_guard auth_lock(*auth);
  {
    std::lock_guard lock(mu_);
    if (AnyoneLoggedInLocked(slot_id)) return;
  }
  token.Lock();
}

void Dispatcher::DropSlot(std::uint64_t slot_id, const std::shared_ptr<EmulatedToken>& token) {
  std::vector<std::uint64_t> notify, everyone;
  {
    auto auth = AuthMutex(slot_id);
    std::lock_guard auth_lock(*auth);
    {
      std::lock_guard lock(mu_);
      for (auto& [id, c] : connections_) {
        everyone.push_back(id);
        c->always_auth.erase(slot_id);
        auto it = c->logins.find(slot_id);
        if (it == c->logins.end()) continue;
        if (it->second.who != Login::kNone && c->events) notify.push_back(id);
        c->logins.erase(it);
      }
    }
    if (token) token->Lock();
  }
  if (token)
    for (auto id : everyone) token->DropSessionObjects(id);
  for (auto id : notify) events_.SendTo(id, Json{{"event", "logged_out"}, {"slot_id", slot_id}});
}

void Dispatcher::PublishSlots() {
  std::lock_guard lock(publish_mu_);
  Json snapshot = registry_.Snapshot();
  if (snapshot == last_slots_) return;
  last_slots_ = snapshot;
  events_.Broadcast(Json{{"event", "slots"}, {"slots", std::move(snapshot)}});
}

void Dispatcher::PublishObjects(const SlotEntry& slot) {
  if (!slot.token && !slot.cloud) return;
  const std::uint64_t generation = slot.token ? slot.token->generation() : slot.cloud->generation();
  std::lock_guard lock(publish_mu_);
  events_.Broadcast(Json{{"event", "objects"}, {"slot_id", slot.slot_id}, {"generation", generation}});
}

Error Dispatcher::PinError(const Error& e, const SlotEntry& slot, bool puk) const {
  const std::string what = puk ? "PUK" : "PIN";
  const std::string token = "token '" + slot.name + "'";
  if (e.rv == CKR_PIN_INCORRECT && slot.token) {
    const TokenInfo info = slot.token->Info();
    const int left = puk ? info.puk_tries_left : info.pin_tries_left;
    if (left <= 0) {
      return Error{CKR_PIN_INCORRECT, "wrong " + what + " for " + token + "; the " + what + " is now locked" +
                                          (puk ? " and the token is blocked for good" : " (unblock it with the PUK)"),
                   e.where};
    }
    return Error{CKR_PIN_INCORRECT,
                 "wrong " + what + " for " + token + " (" + std::to_string(left) + (left == 1 ? " try" : " tries") + " left)",
                 e.where};
  }
  if (e.rv == CKR_PIN_LOCKED) {
    return Error{CKR_PIN_LOCKED,
                 puk ? "the PUK of " + token + " is locked: the token is blocked for good"
                     : "the PIN of " + token + " is locked; unblock it with the PUK (vtoken token unblock " + slot.name + ")",
                 e.where};
  }
  return e;
}

}  // namespace vtoken::agent
