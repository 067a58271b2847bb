// Client core: URLs, the call loop with retries, error classification,
// session state, and `info`.
#include "remote-client/csc_client.h"

#include <random>
#include <thread>

namespace vtoken::csc {
namespace {

std::string TrimSlash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

bool Transient(const Error& e) {
  const auto kind = KindOf(e);
  return kind == CscErrorKind::Unreachable || kind == CscErrorKind::Timeout ||
         kind == CscErrorKind::ServerError;
}

std::chrono::milliseconds Jitter(std::chrono::milliseconds base) {
  thread_local std::minstd_rand rng{std::random_device{}()};
  const auto spread = std::max<long>(1, base.count() / 4);
  return std::chrono::milliseconds(std::uniform_int_distribution<long>(0, spread)(rng));
}

}  // namespace

Client::Client(ClientOptions options, std::shared_ptr<HttpTransport> transport)
    : options_(std::move(options)), transport_(std::move(transport)) {
  options_.base_url = TrimSlash(options_.base_url);
  options_.oauth_base_url = TrimSlash(options_.oauth_base_url.empty() ? options_.base_url
                                                                      : options_.oauth_base_url);
  if (options_.max_attempts < 1) options_.max_attempts = 1;
}

Deadline Client::Resolve(OptDeadline d) const { return d ? *d : Deadline::In(options_.deadline); }

std::string Client::CscUrl(std::string_view method) const {
  return options_.base_url + "/csc/v2/" + std::string(method);
}

std::string Client::OAuthUrl(std::string_view path) const {
  return options_.oauth_base_url + "/oauth2/" + std::string(path);
}

Result<Json> Client::Execute(Call call, Deadline deadline) {
  auto backoff = options_.backoff;
  bool refreshed = false;
  for (int attempt = 1;; ++attempt) {
    const std::uint64_t generation = SessionGeneration();
    auto result = ExecuteOnce(call, deadline);
    // The service no longer accepts the access token though our clock says
    // it is valid (its clock or its token lifetime differ from ours): with a
    // refresh token, refresh once and resend. A 401 is answered before the
    // request is processed, so the resend spends no code or signature twice.
    if (!result && call.auth == Auth::Bearer && call.refresh_on_401 && !refreshed &&
        KindOf(result.error()) == CscErrorKind::Unauthorized &&
        result.error().message.find(": HTTP 401") != std::string::npos && !Session().refresh_token.empty()) {
      refreshed = true;
      std::lock_guard lock(refresh_mutex_);
      // Another thread may have refreshed meanwhile: then just resend.
      if (SessionGeneration() == generation) VT_CHECK(RefreshLocked(deadline));
      --attempt;
      continue;
    }
    if (result || call.retry == Retry::Never || attempt >= options_.max_attempts ||
        !Transient(result.error()))
      return result;
    const auto pause = backoff + Jitter(backoff);
    // Another attempt needs the pause plus some time to run; else give up now.
    if (deadline.Remaining() <= pause + std::chrono::milliseconds(50)) return result;
    std::this_thread::sleep_for(pause);
    backoff *= 2;
  }
}

Result<Json> Client::ExecuteOnce(const Call& call, Deadline deadline) {
  HttpRequest request;
  request.method = call.method;
  request.url = call.url;
  request.content_type = call.method == "POST" ? call.content_type : "";
  request.body = call.body;
  request.timeout = options_.call_timeout;
  if (call.auth == Auth::Bearer) {
    std::lock_guard lock(mutex_);
    if (session_.access_token.empty())
      return CscFail(CscErrorKind::Unauthorized, call.endpoint + ": not logged in");
    SecureString header("Bearer ");
    header.append(session_.access_token.view());
    request.authorization = Secret(std::string_view(header.data(), header.size()));
    WipeMemory(header.data(), header.size());
  } else {
    request.authorization = call.authorization;
  }

  if (deadline.Passed())
    return CscFail(CscErrorKind::Timeout, call.endpoint + ": deadline passed before the call");
  auto sent = transport_->Send(request, deadline);
  if (!sent) {
    Error e = std::move(sent).error();
    e.message += " [" + call.endpoint + "]";
    return std::unexpected(std::move(e));
  }
  HttpResponse& response = *sent;
  const long status = response.status;
  if (status == 204) return Json::object();
  if (status >= 200 && status < 300) {
    if (!response.content_type.empty() && response.content_type.find("json") == std::string::npos)
      return CscFail(CscErrorKind::BadResponse,
                     call.endpoint + ": answer is " + Printable(response.content_type, 64) + ", not JSON");
    return ParseObject(call.endpoint, response.BodyView());
  }
  if (status >= 300 && status < 400)
    return CscFail(CscErrorKind::BadResponse,
                   call.endpoint + ": unexpected redirect (HTTP " + std::to_string(status) + ")");
  if (status < 200)
    return CscFail(CscErrorKind::BadResponse, call.endpoint + ": HTTP status " + std::to_string(status));

  // A CSC error body, if there is a usable one.
  std::string error, description;
  if (auto body = ParseObject(call.endpoint, response.BodyView())) {
    Reader reader(call.endpoint, *body);
    if (auto e = reader.OptString("error", 256); e && *e) error = **e;
    if (auto d = reader.OptString("error_description", kMaxTextBytes); d && *d) description = **d;
  }
  const auto kind = ClassifyServiceError(call.endpoint, status, error, description);
  std::string message = call.endpoint + ": HTTP " + std::to_string(status);
  if (!error.empty()) message += " " + Printable(error, 64);
  if (!description.empty()) message += ": " + Printable(description);
  return CscFail(kind, message);
}

bool Client::HasSession() const {
  std::lock_guard lock(mutex_);
  return !session_.access_token.empty();
}

std::optional<Clock::time_point> Client::SessionExpires() const {
  std::lock_guard lock(mutex_);
  if (session_.access_token.empty()) return std::nullopt;
  return session_.expires;
}

SessionTokens Client::Session() const {
  std::lock_guard lock(mutex_);
  return session_;
}

void Client::SetSession(SessionTokens tokens) {
  std::lock_guard lock(mutex_);
  session_ = std::move(tokens);
  ++session_generation_;
}

void Client::ClearSession() {
  std::lock_guard lock(mutex_);
  session_ = SessionTokens{};
  ++session_generation_;
}

std::uint64_t Client::SessionGeneration() const {
  std::lock_guard lock(mutex_);
  return session_generation_;
}

Result<ServiceInfo> ParseServiceInfo(const Json& body) {
  Reader r("info", body);
  ServiceInfo info;
  info.specs = VT_TRY(r.String("specs", 32));
  info.name = VT_TRY(r.String("name"));
  info.logo = VT_TRY(r.OptString("logo")).value_or("");
  info.region = VT_TRY(r.OptString("region", 16)).value_or("");
  info.lang = VT_TRY(r.OptString("lang", 64)).value_or("");
  info.description = VT_TRY(r.OptString("description")).value_or("");
  info.auth_types = VT_TRY(r.Strings("authType", kMaxSmallArray, 64, true));
  info.oauth2 = VT_TRY(r.OptString("oauth2")).value_or("");
  info.methods = VT_TRY(r.Strings("methods", kMaxSmallArray, 128, true));
  if (!info.specs.starts_with("2."))
    return std::unexpected(r.Bad("service speaks CSC " + Printable(info.specs, 32) + ", not 2.x"));
  return info;
}

Result<ServiceInfo> Client::Info(OptDeadline d) {
  Json request = Json::object();
  if (!options_.lang.empty()) request["lang"] = options_.lang;
  const std::string dump = request.dump();
  Call call{.endpoint = "info", .url = CscUrl("info"), .body = SecureBytes(dump.begin(), dump.end()),
            .retry = Retry::Safe};
  const Json body = VT_TRY(Execute(std::move(call), Resolve(d)));
  return ParseServiceInfo(body);
}

}  // namespace vtoken::csc
