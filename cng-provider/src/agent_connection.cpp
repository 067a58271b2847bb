#include "cng-provider/src/agent_connection.h"

#include <windows.h>

#include <p11-kit/pkcs11.h>

#include <array>

#include "cng-provider/src/log.h"
#include "cng-provider/src/wide.h"

namespace vtoken::ksp {
namespace {

std::string ProcessName() {
  wchar_t path[MAX_PATH] = {};
  const DWORD n = GetModuleFileNameW(nullptr, path, MAX_PATH);
  std::wstring_view p(path, n);
  if (auto slash = p.find_last_of(L"\\/"); slash != std::wstring_view::npos) p.remove_prefix(slash + 1);
  return Narrow(p);
}

}  // namespace

AgentConnection& Agent() {
  static AgentConnection* connection = new AgentConnection(DefaultTransportFactory());  // never destroyed: no teardown order issues at DLL unload
  return *connection;
}

void AgentConnection::Reset(TransportFactory factory) {
  std::lock_guard lock(mu_);
  DropLocked();
  factory_ = std::move(factory);
}

void AgentConnection::DropLocked() {
  transport_.reset();
  reader_ = wire::FrameReader();
  logged_in_.clear();
}

KspResult<void> AgentConnection::ConnectLocked() {
  if (transport_) return {};
  auto transport = factory_();
  if (!transport) return std::unexpected(transport.error());
  transport_ = std::move(*transport);
  Json hello{{"op", "hello"}, {"version", wire::kProtocolVersion}, {"client", "ksp"},
             {"app", ProcessName()}, {"pid", static_cast<std::uint64_t>(GetCurrentProcessId())}, {"events", false}};
  transport_->DecorateHello(hello);
  const std::uint64_t id = next_id_++;
  hello["id"] = id;
  auto reply = RoundTripLocked(hello, id);
  wire::WipeSecrets(hello);
  if (!reply) {
    DropLocked();
    return std::unexpected(reply.error());
  }
  if (!(*reply)["ok"].is_boolean() || !(*reply)["ok"].get<bool>()) {
    const Error e = wire::ErrorFromReply(*reply);
    DropLocked();
    return KspFail(Status::kDeviceNotReady, "the agent refused hello: " + e.message);
  }
  Log("connected to the agent over " + transport_->Describe());
  return {};
}

KspResult<Json> AgentConnection::RoundTripLocked(const Json& request, std::uint64_t id) {
  Bytes frame = wire::EncodeFrame(request);
  auto sent = transport_->Send(frame);
  WipeMemory(frame.data(), frame.size());
  if (!sent) return std::unexpected(sent.error());
  std::array<std::uint8_t, 16384> buffer;
  for (;;) {
    auto next = reader_.Next();
    if (!next) return KspFail(Status::kDeviceNotReady, "the agent sent a bad frame: " + next.error().message);
    if (*next) {
      Json message = std::move(**next);
      if (message.contains("event")) continue;  // not asked for; ignore
      const Json* rid = wire::Find(message, "id");
      if (rid && rid->is_number_unsigned() && rid->get<std::uint64_t>() == id) return message;
      continue;  // a reply to nothing we wait for
    }
    auto got = transport_->Receive(buffer);
    if (!got) return std::unexpected(got.error());
    if (*got == 0) return KspFail(Status::kDeviceNotReady, "the agent closed the connection");
    reader_.Feed({buffer.data(), *got});
    WipeMemory(buffer.data(), *got);
  }
}

KspResult<std::expected<Json, Error>> AgentConnection::CallRaw(Json request) {
  wire::WipeSecretsOnExit wipe(request);  // the PIN in it: sent (maybe twice) or refused, not kept
  std::lock_guard lock(mu_);
  for (int attempt = 0;; ++attempt) {
    const bool fresh = !transport_;
    VT_CHECK(ConnectLocked());
    const std::uint64_t id = next_id_++;
    request["id"] = id;
    auto reply = RoundTripLocked(request, id);
    if (!reply) {
      DropLocked();
      // An agent that restarted since our last call: one retry on a new connection.
      if (!fresh && attempt == 0) continue;
      return std::unexpected(reply.error());
    }
    if (const Json* ok = wire::Find(*reply, "ok"); ok && ok->is_boolean() && ok->get<bool>()) return std::expected<Json, Error>(std::move(*reply));
    return std::expected<Json, Error>(std::unexpected(wire::ErrorFromReply(*reply)));
  }
}

KspResult<Json> AgentConnection::Call(Json request) {
  auto reply = VT_TRY(CallRaw(std::move(request)));
  if (!reply) return std::unexpected(FromAgent(reply.error()));
  return std::move(*reply);
}

bool AgentConnection::LoggedIn(std::uint64_t slot_id) {
  std::lock_guard lock(mu_);
  return transport_ && logged_in_.contains(slot_id);
}

void AgentConnection::ForgetLogin(std::uint64_t slot_id) {
  std::lock_guard lock(mu_);
  logged_in_.erase(slot_id);
}

KspResult<void> AgentConnection::Login(std::uint64_t slot_id, unsigned user_type, const Secret* pin, bool no_prompt) {
  Json request{{"op", "login"}, {"slot_id", slot_id}, {"user_type", user_type}};
  request["pin"] = pin ? wire::Binary(*pin) : Json(nullptr);
  if (no_prompt) request["no_prompt"] = true;
  auto reply = CallRaw(std::move(request));
  if (!reply) return std::unexpected(reply.error());
  if (!*reply) {
    const Error& e = reply->error();
    if (e.rv == CKR_USER_ALREADY_LOGGED_IN && user_type == CKU_USER) {
      std::lock_guard lock(mu_);
      logged_in_.insert(slot_id);
      return {};
    }
    if (!pin && e.rv == CKR_ARGUMENTS_BAD)  // this agent cannot prompt
      return KspFail(Status::kSilentContext,
                     "a PIN is needed and none was given (set NCRYPT_PIN_PROPERTY on the key or provider); the agent cannot ask for it: " +
                         e.message);
    return std::unexpected(FromAgent(e));
  }
  if (user_type == CKU_USER) {
    std::lock_guard lock(mu_);
    logged_in_.insert(slot_id);
  }
  return {};
}

}  // namespace vtoken::ksp
