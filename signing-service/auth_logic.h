#pragma once
// Authentication rules shared by auth/login, credentials/authorize and the
// OAuth2 login form: password check, TOTP with replay protection and the
// five-wrong-codes block, token issue and bearer-token checks.
#include <cstdint>
#include <optional>
#include <string>

#include "http_util.h"

namespace vtoken::service {

constexpr int kMaxOtpFailures = 5;

Bytes TokenHash(const std::string& token);

// TOTP secret at rest: AES-256-GCM under the master key, bound to the email.
Bytes SealTotpSecret(const SecureBytes& master_key, const std::string& email, const SecureBytes& secret);
std::optional<SecureBytes> OpenTotpSecret(const SecureBytes& master_key, const Account& a);

// Wrong email and wrong password give the same error (no account probing).
// The scrypt run happens outside any transaction; callers re-read the
// account inside their own transaction before CheckOtp.
ApiResult<Account> CheckPassword(Store& store, const std::string& email, const std::string& password);

// Checks `code` for the account and records the outcome (last used step,
// failure counter, block) in the same transaction; the caller commits even
// when this returns an error.
ApiResult<void> CheckOtp(Store::Txn& t, const Context& ctx, Account& account, const std::string& code);
// The error a blocked account gets (also used before spending anything).
ApiError OtpBlockedError();

struct IssuedTokens {
  std::string access_token;
  std::string refresh_token;  // empty unless requested
  int expires_in = 0;
};
IssuedTokens IssueTokens(Store::Txn& t, const Context& ctx, std::int64_t account_id, bool with_refresh);

// Rotates a refresh token: the old one is revoked (with the access tokens
// issued from it) and a new pair returned. Error texts differ per caller.
ApiResult<IssuedTokens> RotateRefreshToken(Store::Txn& t, const Context& ctx, const std::string& refresh);

// The account behind `Authorization: Bearer ...`, read in its own
// transaction or in the caller's.
ApiResult<std::int64_t> Authenticate(const Context& ctx, const httplib::Request& req);
ApiResult<std::int64_t> Authenticate(Store::Txn& t, const Context& ctx, const httplib::Request& req);

// Revokes `token` if it belongs to `account_id` (or to anyone when nullopt).
void RevokeToken(Store::Txn& t, const std::string& token, std::optional<std::int64_t> account_id);

void Audit(Store::Txn& t, const Context& ctx, const ClientInfo& client, std::string event,
           const std::string& account, const std::string& credential = {}, const std::string& hash_hex = {},
           const std::string& sign_algo = {}, const std::string& detail = {});

}  // namespace vtoken::service
