#include "pkcs11/provider.h"

#include <pthread.h>
#include <unistd.h>

#include <cstdlib>
#include <new>

#include "common/paths.h"
#include "pkcs11/api.h"
#include "pkcs11/buffer.h"
#include "pkcs11/log.h"

namespace vtoken::pkcs11 {
namespace {

// The one global: a mutex and the current provider. It lives in static
// storage so the fork child handler can re-create it in place without
// touching a lock another (now vanished) thread may have held.
struct Global {
  std::mutex mutex;
  std::shared_ptr<Provider> provider;
};
alignas(Global) unsigned char g_storage[sizeof(Global)];
Global* g_global = new (g_storage) Global();

void AtForkChild() {
  // The child has one thread; the parent's provider, its threads and its
  // locks are unusable here. Close the agent sockets (so the child cannot read
  // the parent's replies) and leak the rest on purpose.
  if (Provider* p = g_global->provider.get()) {
    p->agent.CloseDescriptorsInChild();
    new (&g_global->provider) std::shared_ptr<Provider>();  // forget without destroying
  }
  g_global = new (g_storage) Global();
}

std::once_flag g_atfork_once;

}  // namespace

AgentClient::Options AgentOptions(const Config& config) {
  AgentClient::Options o;
  const std::string socket = config.GetString("agent.socket");
  o.socket = socket.empty() ? paths::AgentSocket() : std::filesystem::path(socket);
  o.autostart = config.GetBool("agent.autostart");
  if (o.autostart) o.program = FindAgentProgram(config.GetString("agent.program"));
  o.timeout = std::chrono::milliseconds(config.GetInt("agent.timeout_ms"));
  return o;
}

Provider::Provider(const Config& config)
    : objects([this](CK_SLOT_ID slot) { return CallForSession({{"op", "objects"}, {"slot_id", slot}}); }),
      agent(AgentOptions(config), this) {}

Provider::~Provider() { Stop(); }

void Provider::Stop() {
  stopping_.store(true);
  slots.Wake();
  agent.Shutdown();
  slots.Wake();
}

Result<void> Provider::ApplySnapshot(const wire::Json& message) {
  SnapshotChange change = VT_TRY(slots.Apply(message));
  for (CK_SLOT_ID slot : change.gone) {
    sessions.Kill(slot);
    logins.Clear(slot);
    objects.Drop(slot);
  }
  for (auto [slot, generation] : change.generations) objects.NoteGeneration(slot, generation);
  slots.Publish(change.events);
  return {};
}

Result<void> Provider::Sync() {
  if (stopping()) return Fail(CKR_CRYPTOKI_NOT_INITIALIZED, "module is finalizing");
  const bool fresh = VT_TRY(agent.EnsureConnected());
  if (!fresh && !need_slots_.load()) return {};
  std::lock_guard lock(sync_mutex_);
  if (!fresh && !need_slots_.load()) return {};
  need_slots_.store(false);
  auto reply = agent.Call({{"op", "slots"}});
  if (!reply) {
    need_slots_.store(true);
    return std::unexpected(reply.error());
  }
  if (auto applied = ApplySnapshot(*reply); !applied) {
    need_slots_.store(true);
    return applied;
  }
  return {};
}

Result<void> Provider::RefreshSlots() {
  need_slots_.store(true);
  return Sync();
}

Result<wire::Json> Provider::Call(wire::Json request) {
  wire::WipeSecretsOnExit wipe(request);  // a PIN not sent; once moved on, AgentClient::Call wipes it
  VT_CHECK(Sync());
  return agent.Call(std::move(request));
}

Result<wire::Json> Provider::CallForSession(wire::Json request) {
  auto reply = Call(std::move(request));
  if (!reply && reply.error().rv == CKR_DEVICE_ERROR && !agent.connected() && !stopping())
    return Fail(CKR_DEVICE_REMOVED, "agent unreachable: " + reply.error().message);
  return reply;
}

void Provider::DropLogin(CK_SLOT_ID slot) {
  if (logins.Clear(slot)) objects.Invalidate(slot);
}

void Provider::OnEvent(const wire::Json& event) {
  auto name = wire::GetString(event, "event");
  if (!name) return;
  if (*name == "slots") {
    if (auto r = ApplySnapshot(event); !r) Log(LogLevel::kWarning, "bad slots event: " + Describe(r.error()));
  } else if (*name == "objects") {
    auto slot = wire::GetUint(event, "slot_id");
    auto generation = wire::GetUint(event, "generation");
    if (slot && generation) objects.NoteGeneration(*slot, *generation);
  } else if (*name == "logged_out") {
    if (auto slot = wire::GetUint(event, "slot_id")) DropLogin(*slot);
  }
}

void Provider::OnDisconnected() {
  // Logins and session objects belonged to the connection. Token objects
  // keep their handles if the agent still lists them after reconnecting.
  logins.ClearAll();
  objects.InvalidateAll();
  need_slots_.store(true);
  slots.Wake();
}

Result<std::shared_ptr<Provider>> CurrentProvider() {
  std::lock_guard lock(g_global->mutex);
  if (!g_global->provider) return Fail(CKR_CRYPTOKI_NOT_INITIALIZED, "C_Initialize has not been called");
  return g_global->provider;
}

Result<SessionRef> EnterSession(CK_SESSION_HANDLE handle) {
  auto p = VT_TRY(CurrentProvider());
  // Picks up a reconnection (which may kill sessions); an unreachable agent
  // is reported by the calls that need it, not by session lookups.
  if (auto synced = p->Sync(); !synced && synced.error().rv == CKR_CRYPTOKI_NOT_INITIALIZED)
    return std::unexpected(synced.error());
  auto s = VT_TRY(p->sessions.Get(handle));
  return SessionRef{std::move(p), std::move(s)};
}

Result<void> Initialize(CK_VOID_PTR pInitArgs) {
  if (pInitArgs != nullptr) {
    const auto* args = static_cast<const CK_C_INITIALIZE_ARGS*>(pInitArgs);
    if (args->pReserved != nullptr) return Fail(CKR_ARGUMENTS_BAD, "pReserved must be NULL");
    const int callbacks = (args->CreateMutex != nullptr) + (args->DestroyMutex != nullptr) +
                          (args->LockMutex != nullptr) + (args->UnlockMutex != nullptr);
    if (callbacks != 0 && callbacks != 4) return Fail(CKR_ARGUMENTS_BAD, "give all four mutex callbacks or none");
    // With or without CKF_OS_LOCKING_OK we use our own (OS) locks, which the
    // spec allows; application callbacks are never needed.
    // CKF_LIBRARY_CANT_CREATE_OS_THREADS is accepted, and the agent reader
    // thread still runs: GnuTLS passes the flag (with CKF_OS_LOCKING_OK) to
    // every module it loads, so refusing it shut out p11tool, gnutls-cli and
    // every GnuTLS application. The thread never calls into the application;
    // C_Finalize joins it and a forked child does not inherit it.
  }
  std::lock_guard lock(g_global->mutex);
  if (g_global->provider) return Fail(CKR_CRYPTOKI_ALREADY_INITIALIZED, "already initialized");
  auto config = Config::LoadDefault();
  if (!config) {
    Log(LogLevel::kError, "configuration: " + config.error().message);
    return Fail(CKR_GENERAL_ERROR, config.error().message);
  }
  LogLevel level = ParseLogLevel(config->GetString("pkcs11.log_level"), LogLevel::kWarning);
  if (const char* env = std::getenv("VTOKEN_P11_LOG"); env && *env) level = ParseLogLevel(env, level);
  SetLogLevel(level);
  std::call_once(g_atfork_once, [] { ::pthread_atfork(nullptr, nullptr, AtForkChild); });
  auto provider = std::make_shared<Provider>(*config);
  // Not fatal: the agent may come later (every call reconnects).
  if (auto synced = provider->Sync(); !synced) Log(LogLevel::kInfo, "agent not reachable yet: " + Describe(synced.error()));
  g_global->provider = std::move(provider);
  return {};
}

Result<void> Finalize(CK_VOID_PTR pReserved) {
  if (pReserved != nullptr) return Fail(CKR_ARGUMENTS_BAD, "pReserved must be NULL");
  std::shared_ptr<Provider> provider;
  {
    std::lock_guard lock(g_global->mutex);
    provider.swap(g_global->provider);
  }
  if (!provider) return Fail(CKR_CRYPTOKI_NOT_INITIALIZED, "not initialized");
  provider->Stop();  // wakes waiters and joins the reader thread
  return {};
}

Result<void> GetInfo(CK_INFO_PTR pInfo) {
  VT_TRY(CurrentProvider());
  if (pInfo == nullptr) return Fail(CKR_ARGUMENTS_BAD, "pInfo is NULL");
  *pInfo = CK_INFO{};
  pInfo->cryptokiVersion = {CRYPTOKI_VERSION_MAJOR, CRYPTOKI_VERSION_MINOR};
  PadString(pInfo->manufacturerID, "vtoken");
  PadString(pInfo->libraryDescription, "vtoken virtual token module");
  pInfo->libraryVersion = {0, 1};
  pInfo->flags = 0;
  return {};
}

}  // namespace vtoken::pkcs11
