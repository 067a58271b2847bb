#include "auth_logic.h"

#include "totp.h"

namespace vtoken::service {
namespace {

std::string TotpAad(const std::string& email) { return "totp:" + email; }

// A password check for unknown accounts still costs one scrypt run, so the
// response time does not tell which emails exist.
const std::string& DummyHash() {
  static const std::string h = HashPassword("vtoken-dummy-password");
  return h;
}

}  // namespace

Bytes TokenHash(const std::string& token) { return Sha256(token); }

Bytes SealTotpSecret(const SecureBytes& master_key, const std::string& email, const SecureBytes& secret) {
  return SealAesGcm(master_key, secret.data(), secret.size(), TotpAad(email));
}

std::optional<SecureBytes> OpenTotpSecret(const SecureBytes& master_key, const Account& a) {
  return OpenAesGcm(master_key, a.totp_sealed, TotpAad(a.email));
}

ApiResult<Account> CheckPassword(Store& store, const std::string& email, const std::string& password) {
  auto account = store.Tx([&](Store::Txn& t) { return t.AccountByEmail(email); });
  bool ok = VerifyPassword(password, account ? account->password_hash : DummyHash());
  if (!account || !ok)
    return ApiFail(400, "authentication_error", "An error occurred during authentication process");
  return *account;
}

ApiError OtpBlockedError() {
  return {400, "otp_blocked", "Authorization blocked after 5 wrong codes"};
}

ApiResult<void> CheckOtp(Store::Txn& t, const Context& ctx, Account& a, const std::string& code) {
  if (a.totp_blocked) return std::unexpected(OtpBlockedError());
  auto secret = OpenTotpSecret(ctx.master_key, a);
  if (!secret) throw StoreError("TOTP secret of " + a.email + " does not decrypt");
  auto step = totp::MatchStep(*secret, code, ctx.clock.Now(), a.totp_period);
  if (!step) {
    a.totp_failures++;
    a.totp_blocked = a.totp_failures >= kMaxOtpFailures;
    t.UpdateTotpState(a.id, a.totp_last_step, a.totp_failures, a.totp_blocked);
    return ApiFail(400, "invalid_otp", "The OTP is invalid");
  }
  if (*step <= a.totp_last_step) return ApiFail(400, "invalid_otp", "The OTP has already been used");
  a.totp_last_step = *step;
  a.totp_failures = 0;
  t.UpdateTotpState(a.id, a.totp_last_step, 0, false);
  return {};
}

IssuedTokens IssueTokens(Store::Txn& t, const Context& ctx, std::int64_t account_id, bool with_refresh) {
  IssuedTokens out;
  std::int64_t now = ctx.clock.Now();
  Bytes parent;
  if (with_refresh) {
    out.refresh_token = RandomToken();
    parent = TokenHash(out.refresh_token);
    t.InsertToken(parent, TokenRow{"refresh", account_id, {}, now + ctx.cfg.refresh_ttl, false});
  }
  out.access_token = RandomToken();
  out.expires_in = ctx.cfg.token_ttl;
  t.InsertToken(TokenHash(out.access_token), TokenRow{"access", account_id, parent, now + ctx.cfg.token_ttl, false});
  return out;
}

ApiResult<IssuedTokens> RotateRefreshToken(Store::Txn& t, const Context& ctx, const std::string& refresh) {
  Bytes h = TokenHash(refresh);
  auto row = t.TokenByHash(h);
  if (!row || row->kind != "refresh" || row->revoked)
    return ApiFail(400, "invalid_grant", "Invalid parameter refresh_token");
  if (row->expires <= ctx.clock.Now()) return ApiFail(400, "invalid_grant", "Refresh token expired");
  t.RevokeToken(h);
  t.RevokeTokensWithParent(h);
  return IssueTokens(t, ctx, row->account_id, true);
}

ApiResult<std::int64_t> Authenticate(const Context& ctx, const httplib::Request& req) {
  return ctx.store.Tx([&](Store::Txn& t) { return Authenticate(t, ctx, req); });
}

ApiResult<std::int64_t> Authenticate(Store::Txn& t, const Context& ctx, const httplib::Request& req) {
  const std::string header = req.get_header_value("Authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (header.size() <= kBearer.size() || header.size() > 1024 ||
      !std::equal(kBearer.begin(), kBearer.end(), header.begin(),
                  [](char a, char b) { return std::tolower(a) == std::tolower(b); }))
    return ApiFail(401, "invalid_request", "Malformed authorization header");
  std::string token = header.substr(kBearer.size());
  auto row = t.TokenByHash(TokenHash(token));
  WipeMemory(token.data(), token.size());
  if (!row || row->kind != "access") return ApiFail(401, "invalid_token", "The access token is not valid");
  if (row->revoked || row->expires <= ctx.clock.Now())
    return ApiFail(401, "expired_token", "The access token is expired or revoked");
  return row->account_id;
}

void RevokeToken(Store::Txn& t, const std::string& token, std::optional<std::int64_t> account_id) {
  Bytes h = TokenHash(token);
  auto row = t.TokenByHash(h);
  if (!row || (account_id && row->account_id != *account_id)) return;  // RFC 7009 §2.2
  t.RevokeToken(h);
  if (row->kind == "refresh") t.RevokeTokensWithParent(h);
}

void Audit(Store::Txn& t, const Context& ctx, const ClientInfo& client, std::string event,
           const std::string& account, const std::string& credential, const std::string& hash_hex,
           const std::string& sign_algo, const std::string& detail) {
  t.InsertAudit(AuditEntry{ctx.clock.Now(), std::move(event), account, credential, hash_hex, sign_algo,
                           client.addr, client.user_agent, detail});
}

}  // namespace vtoken::service
