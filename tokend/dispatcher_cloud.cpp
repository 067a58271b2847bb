// Cloud tokens in the dispatcher: cloud_login, cloud_logout, cloud_status,
// cloud_sign_batch; login and sign on a cloud slot; the background refresh
// that keeps sessions and credential caches fresh and removes a token whose
// session died.
#include <p11-kit/pkcs11.h>

#include <algorithm>

#include "remote-client/csc_error.h"
#include "remote-client/curl_transport.h"
#include "tokend/dispatcher.h"
#include "tokend/log.h"

namespace vtoken::agent {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

// A code given as a PIN is a TOTP code: it is only good for a step or two.
constexpr auto kCloudCodeLifetime = 90s;
constexpr std::size_t kMaxBatch = 1000;

bool IsCode(const Secret& s) {
  if (s.size() < 6 || s.size() > 8) return false;
  return std::all_of(s.view().begin(), s.view().end(), [](char ch) { return ch >= '0' && ch <= '9'; });
}

// "CN=alice@example.org,O=vtoken demo" -> "alice@example.org".
std::string CommonName(const std::string& dn) {
  auto at = dn.find("CN=");
  if (at == std::string::npos) return {};
  auto end = dn.find(',', at);
  return dn.substr(at + 3, end == std::string::npos ? std::string::npos : end - at - 3);
}

Result<std::shared_ptr<csc::Client>> DefaultClient(const cloud::CloudSettings& settings, const std::string& service) {
  if (!service.starts_with("https://")) return Fail(CKR_ARGUMENTS_BAD, "the service URL must start with https:// (got '" + service + "')");
  csc::TlsOptions tls;
  tls.ca_file = settings.ca_file;
  auto transport = VT_TRY(csc::CurlTransport::Create(tls));
  csc::ClientOptions options;
  options.base_url = service;
  while (options.base_url.ends_with('/')) options.base_url.pop_back();
  options.deadline = settings.timeout;
  options.call_timeout = std::min(settings.timeout, std::chrono::milliseconds(10000));
  options.refresh_margin = 120s;  // the background refresh comes a minute before expiry
  return std::make_shared<csc::Client>(options, std::shared_ptr<csc::HttpTransport>(std::move(transport)));
}

}  // namespace

bool Dispatcher::MayBlock(const Json& request) const {
  const Json* op = wire::Find(request, "op");
  if (!op || !op->is_string()) return false;
  const auto& name = op->get_ref<const std::string&>();
  if (name == "cloud_login" || name == "cloud_logout" || name == "cloud_sign_batch") return true;
  if (name != "sign") return false;
  auto slot_id = wire::GetUint(request, "slot_id");
  if (!slot_id) return false;
  auto slot = registry_.Present(*slot_id);
  return slot && slot->is_cloud;
}

Result<Json> Dispatcher::CloudLogin(ConnectionState& c, const Json& req) {
  std::string service = wire::Find(req, "service") ? VT_TRY(wire::GetString(req, "service", 2048)) : options_.cloud.service_url;
  while (service.ends_with('/')) service.pop_back();
  std::string email = wire::Find(req, "email") ? VT_TRY(wire::GetString(req, "email", 320)) : std::string();
  auto password = VT_TRY(SecretArg(req, "password"));
  auto otp = VT_TRY(SecretArg(req, "otp"));
  auto code = VT_TRY(SecretArg(req, "code"));
  auto verifier = VT_TRY(SecretArg(req, "verifier"));
  const std::string redirect_uri = wire::Find(req, "redirect_uri") ? VT_TRY(wire::GetString(req, "redirect_uri", 2048)) : "";

  auto client = VT_TRY(options_.make_cloud_client ? options_.make_cloud_client(service) : DefaultClient(options_.cloud, service));
  const csc::Deadline deadline = csc::Deadline::In(options_.cloud.timeout);
  if (code) {
    if (!verifier || redirect_uri.empty())
      return Fail(CKR_ARGUMENTS_BAD, "an authorization code needs 'verifier' and 'redirect_uri'");
    auto done = client->ExchangeCode(*code, *verifier, redirect_uri, deadline);
    if (!done) {
      LogInfo("cloud login to " + service + " (authorization code) failed: " + done.error().message);
      return std::unexpected(done.error());
    }
  } else {
    if (email.empty() || !password || !otp) return Fail(CKR_ARGUMENTS_BAD, "a login needs 'email', 'password' and 'otp' (or an authorization 'code')");
    auto done = client->Login(email, *password, *otp, /*remember=*/true, deadline);
    if (!done) {
      LogInfo("cloud login of '" + email + "' to " + service + " failed: " + done.error().message);
      return std::unexpected(done.error());
    }
  }
  password.reset();
  otp.reset();
  code.reset();
  verifier.reset();
  if (email.empty()) {  // OAuth2: CSC has no "who am I"; the certificates name the account
    auto infos = client->ListCredentialInfos(csc::Deadline::In(options_.cloud.timeout));
    if (!infos) return std::unexpected(infos.error());
    for (const auto& info : *infos)
      if (email.empty()) email = CommonName(info.subject_dn);
    if (email.empty()) email = "account";
  }
  const std::uint64_t slot_id = VT_TRY(registry_.CloudSlotId(service, email));
  auto token = std::make_shared<cloud::CloudToken>(slot_id, service, email, client, options_.cloud);
  if (auto r = token->Refresh(); !r) {
    (void)client->Revoke(csc::Deadline::In(options_.cloud.timeout));
    return std::unexpected(r.error());
  }
  auto old = registry_.SetCloudToken(slot_id, token);
  if (old) {
    DropSlot(slot_id, nullptr);  // the old session's logins end with it
    (void)old->Revoke();
  }
  {
    std::lock_guard lock(cloud_mu_);
    cloud_due_[slot_id] = SteadyClock::now() + options_.cloud.refresh_interval;
  }
  cloud_cv_.notify_all();
  const auto objects = token->Objects(true);
  const auto keys = std::count_if(objects.begin(), objects.end(), [](const ObjectView& o) { return o.is_private; });
  LogInfo("cloud token '" + email + "' (" + service + ") inserted in slot " + std::to_string(slot_id) + " with " +
          std::to_string(keys) + " key(s), by " + c.app);
  PublishSlots();
  if (SlotEntry slot = VT_TRY(registry_.Present(slot_id)); old) PublishObjects(slot);
  return Json{{"slot_id", slot_id}, {"account", email}, {"service", service}, {"keys", keys}};
}

Result<Json> Dispatcher::CloudLogout(const Json& req) {
  std::optional<std::uint64_t> only;
  if (wire::Find(req, "slot_id")) only = VT_TRY(wire::GetUint(req, "slot_id"));
  const std::string account = wire::Find(req, "account") ? VT_TRY(wire::GetString(req, "account", 320)) : "";
  Json gone = Json::array();
  std::vector<std::string> failures;
  for (const auto& slot : registry_.CloudSlots()) {
    if (!slot.cloud || (only && *only != slot.slot_id) || (!account.empty() && account != slot.name)) continue;
    auto revoked = slot.cloud->Revoke();
    if (!revoked) failures.push_back(slot.name + ": " + revoked.error().message);
    RemoveCloudToken(slot.cloud, revoked ? "logged out (session revoked)" : "logged out (revoking failed: " + revoked.error().message + ")");
    gone.push_back(Json{{"slot_id", slot.slot_id}, {"account", slot.name}, {"service", slot.service}, {"revoked", revoked.has_value()}});
  }
  return Json{{"logged_out", std::move(gone)}};
}

Result<Json> Dispatcher::CloudStatus() {
  Json accounts = Json::array();
  for (const auto& slot : registry_.CloudSlots()) {
    if (slot.cloud) {
      accounts.push_back(slot.cloud->Status());
    } else {
      accounts.push_back(Json{{"slot_id", slot.slot_id}, {"service", slot.service}, {"account", slot.name}, {"present", false}});
    }
  }
  const auto& s = options_.cloud;
  return Json{{"service_url", s.service_url},
              {"authorization", s.source == cloud::AuthSource::kCommand ? "command" : "prompt"},
              {"scal1_window_seconds", s.scal1_window.count()},
              {"accounts", std::move(accounts)}};
}

Result<Json> Dispatcher::CloudUserLogin(ConnectionState& c, const SlotEntry& slot, std::uint64_t user_type,
                                        std::optional<Secret> pin) {
  if (user_type == CKU_SO) return Fail(CKR_USER_TYPE_INVALID, "the cloud token '" + slot.name + "' has no security officer");
  if (pin && pin->empty()) pin.reset();
  if (pin && !IsCode(*pin))
    return Fail(CKR_PIN_INVALID, "a PIN given to the cloud token '" + slot.name +
                                     "' is the authenticator code for the next signature (6 to 8 digits); "
                                     "or log in with an empty PIN");
  std::lock_guard lock(mu_);
  SlotLogin& state = c.logins[slot.slot_id];
  if (user_type == CKU_CONTEXT_SPECIFIC) {
    if (state.who != Login::kUser) {
      if (state.who == Login::kNone) c.logins.erase(slot.slot_id);
      return Fail(CKR_USER_NOT_LOGGED_IN, "a context-specific login needs a user login on cloud token '" + slot.name + "' first");
    }
    state.context_auth = true;
  } else {
    if (state.who == Login::kUser)
      return Fail(CKR_USER_ALREADY_LOGGED_IN, "already logged in as user on cloud token '" + slot.name + "'");
    state.who = Login::kUser;
  }
  state.code = std::move(pin);
  state.code_time = SteadyClock::now();
  return Json::object();
}

Result<Json> Dispatcher::CloudSign(ConnectionState& c, const SlotEntry& slot, std::uint64_t oid, unsigned long mechanism,
                                   const MechanismParams& params, wire::Bytes data, bool no_prompt) {
  cloud::SignRequest request;
  request.no_prompt = no_prompt;
  request.oid = oid;
  request.mechanism = mechanism;
  request.params = params;
  request.inputs.push_back(std::move(data));
  request.who = {c.app, c.pid};
  const bool always = slot.cloud->RequiresContextLogin(oid);
  {
    std::lock_guard lock(mu_);
    auto it = c.logins.find(slot.slot_id);
    if (it == c.logins.end() || it->second.who != Login::kUser)
      return Fail(CKR_USER_NOT_LOGGED_IN, "signing with cloud token '" + slot.name + "' needs a user login (an empty PIN will do)");
    SlotLogin& state = it->second;
    if (always) {
      if (!state.context_auth)
        return Fail(CKR_USER_NOT_LOGGED_IN, "this key of cloud token '" + slot.name +
                                                "' needs the authenticator code before each signature (context-specific login)");
      state.context_auth = false;
      request.single_use_code = true;
    }
    if (state.code && SteadyClock::now() - state.code_time < kCloudCodeLifetime) request.code = std::move(state.code);
    state.code.reset();
  }
  auto signature = slot.cloud->Sign(request);
  CheckCloudToken(slot);
  if (!signature) return std::unexpected(signature.error());
  return Json{{"signature", wire::Binary(*signature)}};
}

Result<Json> Dispatcher::CloudSignBatch(ConnectionState& c, const Json& req) {
  const auto slot_id = VT_TRY(wire::GetUint(req, "slot_id"));
  cloud::SignRequest request;
  if (wire::Find(req, "oid")) request.oid = VT_TRY(wire::GetUint(req, "oid"));
  else request.credential_id = VT_TRY(wire::GetString(req, "credential_id", 1024));
  request.mechanism = VT_TRY(wire::GetUint(req, "mechanism"));
  request.params = VT_TRY(ParamsArg(req));
  const Json* hashes = wire::Find(req, "hashes");
  if (!hashes || !hashes->is_array()) return Fail(CKR_ARGUMENTS_BAD, "field 'hashes' must be a list of byte strings");
  if (hashes->size() > kMaxBatch) return Fail(CKR_ARGUMENTS_BAD, "at most " + std::to_string(kMaxBatch) + " hashes per batch");
  for (const auto& h : *hashes) {
    if (!h.is_binary() || h.get_binary().size() > 1024) return Fail(CKR_ARGUMENTS_BAD, "each hash must be a byte string of at most 1 KiB");
    request.inputs.emplace_back(h.get_binary().begin(), h.get_binary().end());
  }
  request.code = VT_TRY(SecretArg(req, "otp"));
  request.no_prompt = VT_TRY(NoPromptArg(req));
  request.who = {c.app, c.pid};
  SlotEntry slot = VT_TRY(registry_.Present(slot_id));
  if (!slot.is_cloud) return Fail(CKR_ARGUMENTS_BAD, "slot " + std::to_string(slot_id) + " is not a cloud token");
  auto signatures = slot.cloud->SignBatch(request);
  CheckCloudToken(slot);
  if (!signatures) return std::unexpected(signatures.error());
  Json list = Json::array();
  for (const auto& s : *signatures) list.push_back(wire::Binary(s));
  return Json{{"signatures", std::move(list)}};
}

void Dispatcher::RemoveCloudToken(const std::shared_ptr<cloud::CloudToken>& token, const std::string& why) {
  if (!registry_.ClearCloudToken(token->slot_id(), token)) return;
  DropSlot(token->slot_id(), nullptr);
  LogInfo("cloud token '" + token->account() + "' removed from slot " + std::to_string(token->slot_id()) + ": " + why);
  PublishSlots();
}

void Dispatcher::CheckCloudToken(const SlotEntry& slot) {
  if (slot.cloud && slot.cloud->dead()) RemoveCloudToken(slot.cloud, "the session ended: " + slot.cloud->dead_reason());
}

void Dispatcher::CloudRefreshLoop() {
  std::unique_lock lock(cloud_mu_);
  while (!cloud_stop_) {
    cloud_cv_.wait_for(lock, 1s, [&] { return cloud_stop_; });
    if (cloud_stop_) return;
    const auto now = SteadyClock::now();
    std::vector<SlotEntry> due;
    for (const auto& slot : registry_.CloudSlots()) {
      if (!slot.cloud) {
        cloud_due_.erase(slot.slot_id);
        continue;
      }
      auto [it, fresh] = cloud_due_.emplace(slot.slot_id, now + options_.cloud.refresh_interval);
      if (auto expires = slot.cloud->SessionExpires()) {
        // A minute before the access token expires (the client refreshes it
        // then); with no way to refresh, just after, to notice the end.
        auto at = *expires - 60s;
        if (at <= now) at = *expires + 1s;
        it->second = std::min(it->second, std::max(at, now + 1s));
      }
      if (it->second <= now) due.push_back(slot);
    }
    if (due.empty()) continue;
    lock.unlock();
    std::map<std::uint64_t, SteadyClock::time_point> next;
    for (const auto& slot : due) {
      auto changed = slot.cloud->Refresh();
      if (!changed) {
        if (slot.cloud->dead()) {
          CheckCloudToken(slot);
        } else {
          LogWarning("cloud token '" + slot.name + "': refreshing the credentials failed (kept the cached ones): " +
                     changed.error().message);
        }
        next[slot.slot_id] = SteadyClock::now() + std::min<std::chrono::seconds>(options_.cloud.refresh_interval, 30s);
        continue;
      }
      next[slot.slot_id] = SteadyClock::now() + options_.cloud.refresh_interval;
      if (*changed) {
        LogInfo("cloud token '" + slot.name + "': credentials changed");
        PublishObjects(slot);
        PublishSlots();
      }
    }
    lock.lock();
    for (const auto& [id, at] : next) cloud_due_[id] = at;
  }
}

}  // namespace vtoken::agent
