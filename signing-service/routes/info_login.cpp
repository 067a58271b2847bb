// info (§11.1), auth/login (§11.2), auth/revoke (§11.3).
#include "auth_logic.h"
#include "algorithms.h"
#include "routes/routes.h"

namespace vtoken::service {
namespace {

json InfoBody(const httplib::Request& req, const Context& ctx) {
  std::string base = BaseUrl(req);
  return json{
      {"specs", "2.0.0.2"},
      {"name", "vtoken reference signing service"},
      {"logo", base + "logo.png"},
      {"region", "RO"},
      {"lang", "en-US"},
      {"description", "Reference CSC API v2 service of the vtoken project"},
      {"authType", {"basic", "oauth2code"}},
      {"oauth2", base},
      {"methods", {"auth/login", "auth/revoke", "credentials/list", "credentials/info",
                   "credentials/authorize", "signatures/signHash"}},
      {"signAlgorithms", {{"algos", AllSignAlgos()}, {"algoParams", {kOidRsaPss}}}},
      {"signature_formats", {{"formats", json::array()}, {"envelope_properties", json::array()}}},
      {"conformance_levels", json::array()},
      {"vtoken", {{"loginOTPField", "OTP"}, {"testMode", ctx.cfg.test_mode}}},
  };
}

struct BasicCredentials {
  std::string email;
  Secret password;
};

ApiResult<std::optional<BasicCredentials>> ParseBasic(const httplib::Request& req) {
  std::string header = req.get_header_value("Authorization");
  if (header.empty()) return std::nullopt;
  constexpr std::string_view kBasic = "Basic ";
  if (header.size() <= kBasic.size() || header.size() > 2048 || header.compare(0, kBasic.size(), kBasic) != 0)
    return ApiFail(401, "invalid_request", "Malformed authentication parameter");
  auto decoded = Base64Decode(std::string_view(header).substr(kBasic.size()));
  WipeMemory(header.data(), header.size());
  if (!decoded) return ApiFail(401, "invalid_request", "Malformed authentication parameter");
  std::string_view s(reinterpret_cast<const char*>(decoded->data()), decoded->size());
  auto colon = s.find(':');
  std::optional<BasicCredentials> out;
  if (colon != std::string_view::npos && colon > 0)
    out = BasicCredentials{std::string(s.substr(0, colon)), Secret(s.substr(colon + 1))};
  WipeMemory(decoded->data(), decoded->size());
  if (!out) return BadRequest("Malformed username-password");
  return out;
}

json TokensJson(const IssuedTokens& t) {
  json j{{"access_token", t.access_token}, {"expires_in", t.expires_in}};
  if (!t.refresh_token.empty()) j["refresh_token"] = t.refresh_token;
  return j;
}

ApiResult<std::optional<json>> Login(Context& ctx, const httplib::Request& req) {
  json body = API_TRY(ParseBody(req));
  auto remember = API_TRY(OptBool(body, "rememberMe")).value_or(false);
  auto refresh = API_TRY(OptString(body, "refresh_token"));
  auto basic = API_TRY(ParseBasic(req));
  ClientInfo client = ClientOf(req);
  if (!basic) {
    if (!refresh) return ApiFail(401, "invalid_request", "Malformed authentication parameter");
    auto tokens = ctx.store.Tx([&](Store::Txn& t) -> ApiResult<IssuedTokens> {
      auto r = RotateRefreshToken(t, ctx, *refresh);
      if (r) {
        auto row = t.TokenByHash(TokenHash(r->access_token));
        auto a = row ? t.AccountById(row->account_id) : std::nullopt;
        Audit(t, ctx, client, "login", a ? a->email : "", {}, {}, {}, "refresh_token");
      }
      return r;
    });
    if (!tokens) return BadRequest("Invalid refresh_token");
    return TokensJson(*tokens);
  }
  auto otp = API_TRY(ReqString(body, "OTP"));
  auto account = CheckPassword(ctx.store, basic->email, std::string(basic->password.view()));
  if (!account) {
    ctx.store.Tx([&](Store::Txn& t) {
      Audit(t, ctx, client, "login_failed", basic->email, {}, {}, {}, "password");
      return 0;
    });
    return std::unexpected(account.error());
  }
  auto tokens = ctx.store.Tx([&](Store::Txn& t) -> ApiResult<IssuedTokens> {
    auto a = t.AccountById(account->id);
    if (!a) return ApiFail(400, "authentication_error", "An error occurred during authentication process");
    if (auto ok = CheckOtp(t, ctx, *a, otp); !ok) {
      Audit(t, ctx, client, "login_failed", a->email, {}, {}, {}, ok.error().error);
      return std::unexpected(ok.error());
    }
    Audit(t, ctx, client, "login", a->email);
    return IssueTokens(t, ctx, a->id, remember);
  });
  WipeMemory(otp.data(), otp.size());
  if (!tokens) return std::unexpected(tokens.error());
  return TokensJson(*tokens);
}

ApiResult<std::optional<json>> Revoke(Context& ctx, const httplib::Request& req) {
  auto account = API_TRY(Authenticate(ctx, req));
  json body = API_TRY(ParseBody(req));
  auto token = API_TRY(ReqString(body, "token"));
  auto hint = API_TRY(OptString(body, "token_type_hint"));
  if (hint && *hint != "access_token" && *hint != "refresh_token")
    return BadRequest("Invalid parameter token_type_hint");
  ctx.store.Tx([&](Store::Txn& t) {
    RevokeToken(t, token, account);
    return 0;
  });
  return std::nullopt;
}

}  // namespace

std::string BaseUrl(const httplib::Request& req) {
  std::string host = req.get_header_value("Host");
  bool ok = !host.empty() && host.size() < 256;
  for (char c : host)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == ':' || c == '-' || c == '[' || c == ']'))
      ok = false;
  return "https://" + (ok ? host : std::string("127.0.0.1")) + "/";
}

void RegisterInfoLogin(httplib::Server& s, Context& ctx) {
  s.Post("/csc/v2/info", [&ctx](const httplib::Request& req, httplib::Response& res) {
    Respond(res, [&]() -> ApiResult<std::optional<json>> {
      API_TRY(ParseBody(req));
      return InfoBody(req, ctx);
    });
  });
  s.Post("/csc/v2/auth/login", [&ctx](const httplib::Request& req, httplib::Response& res) {
    Respond(res, [&] { return Login(ctx, req); });
  });
  s.Post("/csc/v2/auth/revoke", [&ctx](const httplib::Request& req, httplib::Response& res) {
    Respond(res, [&] { return Revoke(ctx, req); });
  });
}

}  // namespace vtoken::service
