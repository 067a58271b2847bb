#pragma once
// vtoken::csc::Client — a typed client of the Cloud Signature Consortium API
// v2 (signing-service/API.md describes the reference service). Every call
// returns Result<T>; failures carry a CscErrorKind (csc_error.h). Each call
// has an overall deadline (default ClientOptions::deadline); each HTTP attempt
// also has its own timeout. Only calls that are safe to repeat (info,
// credentials/list, credentials/info) are retried, with backoff, inside the
// deadline; login, token exchanges, authorize and signHash are sent once.
//
// Thread safety: calls may come from several threads; the session tokens
// are guarded by a mutex and the transport serialises its own handle.
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/secure.h"
#include "remote-client/csc_error.h"
#include "remote-client/csc_types.h"
#include "remote-client/http_transport.h"
#include "remote-client/response.h"

namespace vtoken::csc {

struct ClientOptions {
  // "https://host:port" — CSC calls go to base_url + "/csc/v2/<method>".
  std::string base_url;
  // Base of /oauth2/*; empty = base_url (info().oauth2 tells the real one).
  std::string oauth_base_url;
  std::string client_id = "vtoken";
  std::string lang;
  std::chrono::milliseconds call_timeout{10000};  // one HTTP attempt
  std::chrono::milliseconds deadline{30000};      // one call, all attempts
  int max_attempts = 3;                            // safe calls only
  std::chrono::milliseconds backoff{200};          // doubled after each retry
  // Refresh the access token first when it expires within this margin (and
  // a refresh token is held).
  std::chrono::seconds refresh_margin{30};
};

class Client {
 public:
  Client(ClientOptions options, std::shared_ptr<HttpTransport> transport);

  using OptDeadline = std::optional<Deadline>;

  Result<ServiceInfo> Info(OptDeadline deadline = {});

  // auth/login: HTTP Basic email:password plus the TOTP code (vtoken
  // extension "OTP"). remember=true asks for a refresh token.
  Result<void> Login(std::string_view email, const Secret& password, const Secret& otp,
                     bool remember, OptDeadline deadline = {});
  // oauth2/token, grant_type=authorization_code (see oauth.h for the URL).
  Result<void> ExchangeCode(const Secret& code, const Secret& verifier,
                            std::string_view redirect_uri, OptDeadline deadline = {});
  // New access token from the refresh token (auth/login with refresh_token,
  // or oauth2/token grant_type=refresh_token, by where the session came
  // from). The refresh token rotates.
  Result<void> Refresh(OptDeadline deadline = {});
  // auth/revoke of the refresh token (which ends its access tokens) or of
  // the access token; the local session is dropped in any case.
  Result<void> Revoke(OptDeadline deadline = {});

  Result<std::vector<std::string>> ListCredentials(OptDeadline deadline = {});
  // credentials/list with credentialInfo=true: everything the agent caches.
  Result<std::vector<CredentialInfo>> ListCredentialInfos(OptDeadline deadline = {});
  Result<CredentialInfo> GetCredentialInfo(std::string_view credential_id, OptDeadline deadline = {});

  // credentials/authorize: the TOTP code for num_signatures signatures. For
  // SCAL2 (or to bind a SCAL1 SAD) pass the hashes to be signed.
  Result<Sad> Authorize(std::string_view credential_id, const Secret& otp, unsigned num_signatures,
                        std::span<const Bytes> hashes, HashAlgo hash_algo, OptDeadline deadline = {});
  // signatures/signHash. Returns one signature per hash, in order: RSA as
  // modulus-sized bytes, ECDSA as raw r||s (2·n bytes, converted from the
  // service's DER). Needs the credential's key metadata: taken from an
  // earlier GetCredentialInfo/ListCredentialInfos, or fetched first.
  Result<std::vector<Bytes>> SignHash(std::string_view credential_id, const Sad& sad,
                                      std::span<const Bytes> hashes, HashAlgo hash_algo,
                                      const SignAlgo& algo, OptDeadline deadline = {});

  // Session state.
  bool HasSession() const;
  std::optional<Clock::time_point> SessionExpires() const;
  SessionTokens Session() const;         // a copy, e.g. to persist the refresh token
  void SetSession(SessionTokens tokens);  // restore a persisted session
  void ClearSession();

  const ClientOptions& options() const { return options_; }

 private:
  enum class Auth { None, Bearer };
  enum class Retry { Never, Safe };

  struct Call {
    std::string endpoint{};  // "credentials/info", "oauth2/token", ...
    std::string url{};
    std::string method = "POST";
    std::string content_type = "application/json";
    SecureBytes body{};
    Auth auth = Auth::None;
    Secret authorization{};  // explicit header (Basic) when auth == None
    Retry retry = Retry::Never;
    // Bearer calls: after a 401, refresh once and resend (not for revoke,
    // whose body names the refresh token a refresh would rotate away).
    bool refresh_on_401 = true;
  };

  Deadline Resolve(OptDeadline d) const;
  std::string CscUrl(std::string_view method) const;
  std::string OAuthUrl(std::string_view path) const;

  // Sends the call (with retries when allowed) and returns the parsed JSON
  // body of a 2xx answer ({} for 204), or the classified service error.
  Result<Json> Execute(Call call, Deadline deadline);
  Result<Json> ExecuteOnce(const Call& call, Deadline deadline);
  Result<void> EnsureFreshToken(Deadline deadline);
  // Refresh() with refresh_mutex_ held.
  Result<void> RefreshLocked(Deadline deadline);
  std::uint64_t SessionGeneration() const;
  Result<void> StoreTokens(std::string_view endpoint, Json& body, SessionTokens::Origin origin,
                           bool keep_old_refresh);
  Result<KeyInfo> KeyFor(std::string_view credential_id, Deadline deadline);

  ClientOptions options_;
  std::shared_ptr<HttpTransport> transport_;
  mutable std::mutex mutex_;  // guards session_, session_generation_ and keys_
  SessionTokens session_;
  std::uint64_t session_generation_ = 0;  // +1 whenever session_ changes
  // One refresh at a time: refresh tokens rotate, so a second thread
  // refreshing with the token the first one just spent would be refused and
  // end the session.
  std::mutex refresh_mutex_;
  std::map<std::string, KeyInfo, std::less<>> keys_;  // credentialID -> key
};

// Parsing of response objects, exposed for unit tests.
Result<ServiceInfo> ParseServiceInfo(const Json& body);
Result<CredentialInfo> ParseCredentialInfo(std::string_view endpoint, const Json& object,
                                           std::string credential_id);
Result<std::chrono::system_clock::time_point> ParseGeneralizedTime(std::string_view text);

}  // namespace vtoken::csc
