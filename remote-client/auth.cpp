// Sessions: auth/login, the OAuth2 token endpoint, refresh and revoke.
#include <algorithm>
#include <cctype>

#include "remote-client/csc_client.h"
#include "remote-client/encoding.h"
#include "remote-client/oauth.h"

namespace vtoken::csc {
namespace {

constexpr std::int64_t kMaxExpiresIn = 366LL * 24 * 3600;

Secret BasicAuthorization(std::string_view email, const Secret& password) {
  SecureString pair(email.begin(), email.end());
  pair += ':';
  pair.append(password.view());
  std::string encoded = Base64Encode({reinterpret_cast<const std::uint8_t*>(pair.data()), pair.size()});
  SecureString header("Basic ");
  header.append(encoded);
  Secret out(std::string_view(header.data(), header.size()));
  WipeMemory(pair.data(), pair.size());
  WipeMemory(encoded.data(), encoded.size());
  WipeMemory(header.data(), header.size());
  return out;
}

SecureBytes ToBytes(SecureString& s) {
  SecureBytes out(s.begin(), s.end());
  WipeMemory(s.data(), s.size());
  return out;
}

void AddFormField(SecureString& form, std::string_view key, std::string_view value) {
  if (!form.empty()) form += '&';
  AppendFormEscaped(form, key);
  form += '=';
  AppendFormEscaped(form, value);
}

}  // namespace

Result<void> Client::StoreTokens(std::string_view endpoint, Json& body, SessionTokens::Origin origin,
                                 bool keep_old_refresh) {
  Reader r(endpoint, body);
  if (auto type = VT_TRY(r.OptString("token_type", 32))) {
    std::string lower = *type;
    std::ranges::transform(lower, lower.begin(), [](unsigned char c) { return std::tolower(c); });
    if (lower != "bearer") return std::unexpected(r.Bad("token_type is not Bearer"));
  }
  const auto expires_in = VT_TRY(r.OptInt("expires_in", 1, kMaxExpiresIn)).value_or(3600);
  SessionTokens tokens;
  tokens.origin = origin;
  tokens.access_token = VT_TRY(Reader::TakeSecret(endpoint, body, "access_token"));
  if (body.contains("refresh_token") && !body["refresh_token"].is_null())
    tokens.refresh_token = VT_TRY(Reader::TakeSecret(endpoint, body, "refresh_token"));
  tokens.expires = Clock::now() + std::chrono::seconds(expires_in);
  std::lock_guard lock(mutex_);
  if (tokens.refresh_token.empty() && keep_old_refresh) tokens.refresh_token = session_.refresh_token;
  session_ = std::move(tokens);
  ++session_generation_;
  return {};
}

Result<void> Client::Login(std::string_view email, const Secret& password, const Secret& otp,
                           bool remember, OptDeadline d) {
  if (email.empty() || email.size() > kMaxTextBytes || email.find(':') != std::string_view::npos)
    return CscFail(CscErrorKind::InvalidRequest, "auth/login: the email is empty, too long or contains ':'");
  Json plain = {{"rememberMe", remember}};
  SecretJsonBody body(plain.dump());
  body.AddSecret("OTP", otp.view());
  Call call{.endpoint = "auth/login", .url = CscUrl("auth/login"), .body = body.Finish(),
            .authorization = BasicAuthorization(email, password)};
  Json answer = VT_TRY(Execute(std::move(call), Resolve(d)));
  return StoreTokens("auth/login", answer, SessionTokens::Origin::Login, false);
}

Result<void> Client::ExchangeCode(const Secret& code, const Secret& verifier,
                                  std::string_view redirect_uri, OptDeadline d) {
  SecureString form;
  AddFormField(form, "grant_type", "authorization_code");
  AddFormField(form, "code", code.view());
  AddFormField(form, "redirect_uri", redirect_uri);
  AddFormField(form, "client_id", options_.client_id);
  AddFormField(form, "code_verifier", verifier.view());
  Call call{.endpoint = "oauth2/token", .url = OAuthUrl("token"),
            .content_type = "application/x-www-form-urlencoded", .body = ToBytes(form)};
  Json answer = VT_TRY(Execute(std::move(call), Resolve(d)));
  return StoreTokens("oauth2/token", answer, SessionTokens::Origin::OAuth2, false);
}

Result<void> Client::Refresh(OptDeadline d) {
  std::lock_guard lock(refresh_mutex_);
  return RefreshLocked(Resolve(d));
}

Result<void> Client::RefreshLocked(Deadline d) {
  SessionTokens current = Session();
  if (current.refresh_token.empty())
    return CscFail(CscErrorKind::Unauthorized, "refresh: no refresh token held (log in with remember)");
  if (current.origin == SessionTokens::Origin::OAuth2) {
    SecureString form;
    AddFormField(form, "grant_type", "refresh_token");
    AddFormField(form, "refresh_token", current.refresh_token.view());
    AddFormField(form, "client_id", options_.client_id);
    Call call{.endpoint = "oauth2/token", .url = OAuthUrl("token"),
              .content_type = "application/x-www-form-urlencoded", .body = ToBytes(form)};
    Json answer = VT_TRY(Execute(std::move(call), d));
    return StoreTokens("oauth2/token", answer, SessionTokens::Origin::OAuth2, true);
  }
  Json plain = {{"rememberMe", true}};
  SecretJsonBody body(plain.dump());
  body.AddSecret("refresh_token", current.refresh_token.view());
  Call call{.endpoint = "auth/login", .url = CscUrl("auth/login"), .body = body.Finish()};
  Json answer = VT_TRY(Execute(std::move(call), d));
  return StoreTokens("auth/login", answer, SessionTokens::Origin::Login, true);
}

Result<void> Client::EnsureFreshToken(Deadline deadline) {
  auto due = [&] {
    std::lock_guard lock(mutex_);
    return !session_.access_token.empty() && !session_.refresh_token.empty() &&
           session_.expires - Clock::now() < options_.refresh_margin;
  };
  if (!due()) return {};
  std::lock_guard lock(refresh_mutex_);
  if (!due()) return {};  // another thread refreshed while we waited
  return RefreshLocked(deadline);
}

Result<void> Client::Revoke(OptDeadline d) {
  SessionTokens current = Session();
  if (current.access_token.empty() && current.refresh_token.empty()) return {};
  const bool refresh = !current.refresh_token.empty();
  Json plain = {{"token_type_hint", refresh ? "refresh_token" : "access_token"}};
  SecretJsonBody body(plain.dump());
  body.AddSecret("token", refresh ? current.refresh_token.view() : current.access_token.view());
  SecureBytes bytes = body.Finish();
  const Deadline deadline = Resolve(d);
  Call call{.endpoint = "auth/revoke", .url = CscUrl("auth/revoke"), .body = bytes, .auth = Auth::Bearer,
            .refresh_on_401 = false};
  auto result = Execute(std::move(call), deadline);
  if (!result && refresh && KindOf(result.error()) == CscErrorKind::Unauthorized) {
    // The access token is gone but the refresh token may live on: revoke it
    // at the OAuth2 endpoint, where the token itself is the proof (RFC 7009).
    SecureString form;
    AddFormField(form, "token", current.refresh_token.view());
    AddFormField(form, "token_type_hint", "refresh_token");
    Call oauth{.endpoint = "oauth2/revoke", .url = OAuthUrl("revoke"),
               .content_type = "application/x-www-form-urlencoded", .body = ToBytes(form)};
    result = Execute(std::move(oauth), deadline);
  }
  ClearSession();
  if (!result) return std::unexpected(std::move(result).error());
  return {};
}

}  // namespace vtoken::csc
