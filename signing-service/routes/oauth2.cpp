// OAuth 2.0 authorization code flow with PKCE (S256) for native apps
// (CSC §8.4, RFC 6749, RFC 7636, RFC 8252): login page -> consent page ->
// redirect to the app's loopback redirect_uri. Pending logins and codes are
// short-lived and kept in memory; tokens go to the database like auth/login's.
#include <map>
#include <mutex>

#include "auth_logic.h"
#include "oauth_pending.h"
#include "routes/routes.h"

namespace vtoken::service {
namespace {

constexpr int kTxnTtl = 600;
constexpr int kCodeTtl = 60;
constexpr int kMaxTxnFailures = 5;
// How many sign-ins may wait, and who gets pushed out: see oauth_pending.h.

struct Code {
  std::string client_id, redirect_uri, challenge;
  std::int64_t account = 0;
  std::int64_t expires = 0;
};

struct OAuthState {
  std::mutex mutex;
  PendingSignIns sign_ins;
  std::map<std::string, Code> codes;  // key: hex SHA-256 of the code

  void Expire(std::int64_t now) {
    sign_ins.Expire(now);
    std::erase_if(codes, [&](auto& kv) { return kv.second.expires <= now; });
  }
};

std::string Html(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string UrlEncode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      static const char* hex = "0123456789ABCDEF";
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

bool IsLoopbackRedirect(const std::string& uri) {
  if (uri.size() > 1024 || uri.find('#') != std::string::npos) return false;
  for (std::string_view prefix : {"http://127.0.0.1", "http://[::1]", "http://localhost"}) {
    if (uri.compare(0, prefix.size(), prefix) != 0) continue;
    if (uri.size() == prefix.size()) return true;
    char next = uri[prefix.size()];
    return next == ':' || next == '/' || next == '?';
  }
  return false;
}

std::string Redirect(const std::string& uri, const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out = uri + (uri.find('?') == std::string::npos ? '?' : '&');
  bool first = true;
  for (auto& [k, v] : params) {
    if (v.empty()) continue;
    if (!first) out += '&';
    out += k + "=" + UrlEncode(v);
    first = false;
  }
  return out;
}

void Page(httplib::Response& res, int status, const std::string& title, const std::string& body) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_header("X-Frame-Options", "DENY");
  res.set_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'");
  res.set_content("<!doctype html><html><head><meta charset=\"utf-8\"><title>" + Html(title) +
                      "</title></head><body style=\"font-family:sans-serif;max-width:28em;margin:3em auto\">"
                      "<h1>" + Html(title) + "</h1>" + body + "</body></html>",
                  "text/html; charset=utf-8");
}

void LoginPage(httplib::Response& res, const std::string& txn, const PendingSignIn& t, const std::string& message) {
  std::string body = "<p>Sign in to authorize <b>" + Html(t.client_id) + "</b>.</p>";
  if (!message.empty()) body += "<p role=\"alert\" style=\"color:#b00\">" + Html(message) + "</p>";
  body += "<form method=\"post\" action=\"/oauth2/login\">"
          "<input type=\"hidden\" name=\"txn\" value=\"" + Html(txn) + "\">"
          "<p><label>Email <input name=\"email\" type=\"email\" autocomplete=\"username\" required></label></p>"
          "<p><label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label></p>"
          "<p><label>Authenticator code <input name=\"otp\" inputmode=\"numeric\" pattern=\"[0-9]{6}\" "
          "autocomplete=\"one-time-code\" required></label></p>"
          "<p><button type=\"submit\">Sign in</button></p></form>";
  Page(res, 200, "vtoken signing service", body);
}

void ConsentPage(httplib::Response& res, const std::string& txn, const PendingSignIn& t) {
  Page(res, 200, "Allow access?",
       "<p>Allow <b>" + Html(t.client_id) + "</b> to use the signing credentials of <b>" + Html(t.email) +
           "</b>? Each signature will still need an authenticator code.</p>"
           "<form method=\"post\" action=\"/oauth2/consent\">"
           "<input type=\"hidden\" name=\"txn\" value=\"" + Html(txn) + "\">"
           "<button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button> "
           "<button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>");
}

void Authorize(Context& ctx, OAuthState& st, const httplib::Request& req, httplib::Response& res) {
  auto p = [&](const char* k) { return req.has_param(k) ? req.get_param_value(k) : std::string(); };
  std::string client_id = p("client_id"), redirect_uri = p("redirect_uri"), state = p("state");
  if (client_id.empty() || client_id.size() > 200)
    return Page(res, 400, "Invalid request", "<p>Missing or invalid client_id.</p>");
  if (!IsLoopbackRedirect(redirect_uri))
    return Page(res, 400, "Invalid request", "<p>redirect_uri must be a loopback http:// URI.</p>");
  if (state.size() > 512) state.clear();
  auto fail = [&](const char* error, const char* description) {
    res.set_redirect(Redirect(redirect_uri, {{"error", error}, {"error_description", description}, {"state", state}}));
  };
  if (p("response_type") != "code") return fail("unsupported_response_type", "response_type must be code");
  std::string challenge = p("code_challenge");
  if (challenge.size() < 43 || challenge.size() > 128) return fail("invalid_request", "code_challenge is required");
  if (p("code_challenge_method") != "S256") return fail("invalid_request", "code_challenge_method must be S256");
  if (!p("scope").empty() && p("scope") != "service") return fail("invalid_scope", "Only scope service is supported");
  std::string id = RandomToken();
  PendingSignIn t;  // not signed in yet: no account, no failures
  t.client_id = client_id;
  t.redirect_uri = redirect_uri;
  t.challenge = challenge;
  t.state = state;
  t.expires = ctx.clock.Now() + kTxnTtl;
  t.address = req.remote_addr;
  {
    std::lock_guard lock(st.mutex);
    st.Expire(ctx.clock.Now());
    if (!st.sign_ins.Add(id, t)) return fail("temporarily_unavailable", "Too many pending sign-ins");
  }
  LoginPage(res, id, t, "");
}

void Login(Context& ctx, OAuthState& st, const httplib::Request& req, httplib::Response& res) {
  auto form = ParseForm(req);
  std::string id = FormValue(form, "txn");
  PendingSignIn t;
  {
    std::lock_guard lock(st.mutex);
    st.Expire(ctx.clock.Now());
    auto* pending = st.sign_ins.Find(id);
    if (!pending || pending->account)
      return Page(res, 400, "Sign-in expired", "<p>This sign-in request has expired. Start again from the application.</p>");
    t = *pending;
  }
  std::string password = FormValue(form, "password"), otp = FormValue(form, "otp");
  ClientInfo client = ClientOf(req);
  auto account = CheckPassword(ctx.store, FormValue(form, "email"), password);
  ApiResult<void> ok = account ? ApiResult<void>{} : std::unexpected(account.error());
  if (account) {
    ok = ctx.store.Tx([&](Store::Txn& tx) -> ApiResult<void> {
      auto a = tx.AccountById(account->id);
      if (!a) return ApiFail(400, "authentication_error", "");
      auto r = CheckOtp(tx, ctx, *a, otp);
      Audit(tx, ctx, client, r ? "oauth_login" : "oauth_login_failed", a->email, {}, {}, {}, t.client_id);
      return r;
    });
  }
  WipeMemory(password.data(), password.size());
  WipeMemory(otp.data(), otp.size());
  std::lock_guard lock(st.mutex);
  auto* pending = st.sign_ins.Find(id);
  if (!pending)
    return Page(res, 400, "Sign-in expired", "<p>This sign-in request has expired.</p>");
  if (!ok) {
    if (++pending->failures >= kMaxTxnFailures) {
      std::string uri = Redirect(t.redirect_uri, {{"error", "access_denied"},
                                                  {"error_description", "Too many failed sign-in attempts"},
                                                  {"state", t.state}});
      st.sign_ins.Erase(id);
      return res.set_redirect(uri);
    }
    std::string message = ok.error().error == "otp_blocked" ? "Authorization is blocked after 5 wrong codes. Ask the administrator to reset it."
                          : ok.error().error == "invalid_otp" ? "Wrong or already used authenticator code."
                                                              : "Wrong email or password.";
    return LoginPage(res, id, *pending, message);
  }
  pending->account = account->id;
  pending->email = account->email;
  ConsentPage(res, id, *pending);
}

void Consent(Context& ctx, OAuthState& st, const httplib::Request& req, httplib::Response& res) {
  auto form = ParseForm(req);
  std::string id = FormValue(form, "txn"), decision = FormValue(form, "decision");
  std::lock_guard lock(st.mutex);
  st.Expire(ctx.clock.Now());
  auto* pending = st.sign_ins.Find(id);
  if (!pending || !pending->account)
    return Page(res, 400, "Sign-in expired", "<p>This sign-in request has expired.</p>");
  PendingSignIn t = std::move(*pending);
  st.sign_ins.Erase(id);
  if (decision != "allow")
    return res.set_redirect(Redirect(t.redirect_uri, {{"error", "access_denied"},
                                                      {"error_description", "The user denied access"},
                                                      {"state", t.state}}));
  std::string code = RandomToken();
  st.codes[HexEncode(TokenHash(code))] = Code{t.client_id, t.redirect_uri, t.challenge, *t.account,
                                        ctx.clock.Now() + kCodeTtl};
  res.set_redirect(Redirect(t.redirect_uri, {{"code", code}, {"state", t.state}}));
}

ApiResult<json> Token(Context& ctx, OAuthState& st, const httplib::Request& req) {
  auto form = ParseForm(req);
  std::string grant = FormValue(form, "grant_type");
  if (grant.empty()) return BadRequest("Missing parameter grant_type");
  IssuedTokens tokens;
  if (grant == "authorization_code") {
    std::string code = FormValue(form, "code"), client_id = FormValue(form, "client_id");
    std::string verifier = FormValue(form, "code_verifier");
    if (code.empty()) return BadRequest("Missing parameter code");
    if (client_id.empty()) return BadRequest("Missing parameter client_id");
    if (verifier.empty()) return BadRequest("Missing parameter code_verifier");
    Code c;
    {
      std::lock_guard lock(st.mutex);
      st.Expire(ctx.clock.Now());
      auto it = st.codes.find(HexEncode(TokenHash(code)));
      if (it == st.codes.end()) return ApiFail(400, "invalid_grant", "Authorization code is invalid or expired");
      c = it->second;
      st.codes.erase(it);  // single use, even when the exchange fails
    }
    if (c.client_id != client_id) return ApiFail(400, "invalid_grant", "Invalid parameter client_id");
    if (FormValue(form, "redirect_uri") != c.redirect_uri)
      return ApiFail(400, "invalid_grant", "redirect_uri parameter does not match");
    auto digest = Sha256(verifier);
    if (verifier.size() < 43 || verifier.size() > 128 ||
        !ConstantTimeEqual(Base64UrlEncode(digest), c.challenge))
      return ApiFail(400, "invalid_grant", "PKCE verification failed");
    tokens = ctx.store.Tx([&](Store::Txn& t) {
      auto a = t.AccountById(c.account);
      Audit(t, ctx, ClientOf(req), "token", a ? a->email : "", {}, {}, {}, "authorization_code");
      return IssueTokens(t, ctx, c.account, true);
    });
  } else if (grant == "refresh_token") {
    std::string refresh = FormValue(form, "refresh_token");
    if (refresh.empty()) return BadRequest("Missing parameter refresh_token");
    tokens = API_TRY(ctx.store.Tx([&](Store::Txn& t) { return RotateRefreshToken(t, ctx, refresh); }));
  } else {
    return BadRequest("Invalid parameter grant_type");
  }
  return json{{"access_token", tokens.access_token}, {"refresh_token", tokens.refresh_token},
              {"token_type", "Bearer"}, {"expires_in", tokens.expires_in}};
}

}  // namespace

void RegisterOAuth2(httplib::Server& s, Context& ctx) {
  auto st = std::make_shared<OAuthState>();
  s.Get("/oauth2/authorize", [&ctx, st](const httplib::Request& req, httplib::Response& res) {
    Authorize(ctx, *st, req, res);
  });
  s.Post("/oauth2/login", [&ctx, st](const httplib::Request& req, httplib::Response& res) {
    Login(ctx, *st, req, res);
  });
  s.Post("/oauth2/consent", [&ctx, st](const httplib::Request& req, httplib::Response& res) {
    Consent(ctx, *st, req, res);
  });
  s.Post("/oauth2/token", [&ctx, st](const httplib::Request& req, httplib::Response& res) {
    Respond(res, [&]() -> ApiResult<std::optional<json>> { return API_TRY(Token(ctx, *st, req)); });
  });
  s.Post("/oauth2/revoke", [&ctx](const httplib::Request& req, httplib::Response& res) {
    auto form = ParseForm(req);
    std::string token = FormValue(form, "token");
    if (token.empty()) return SendError(res, {400, "invalid_request", "Missing parameter token"});
    ctx.store.Tx([&](Store::Txn& t) {
      RevokeToken(t, token, std::nullopt);
      return 0;
    });
    res.status = 204;
  });
}

}  // namespace vtoken::service
