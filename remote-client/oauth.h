#pragma once
// OAuth2 authorization code flow with PKCE (RFC 7636, S256) for a native app
// (RFC 8252): the app opens the authorize URL in a browser, the service
// redirects to a loopback redirect_uri with ?code=..&state=.., and the client
// exchanges the code with the verifier (Client::ExchangeCode).
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/secure.h"

namespace vtoken::csc {

struct PkceRequest {
  Secret verifier;   // 43 base64url characters from 32 random bytes
  std::string challenge;  // base64url(SHA-256(verifier)), no padding
  std::string state;      // 22 base64url characters; must come back unchanged
};

// Fresh verifier, challenge and state from the OpenSSL CSPRNG.
Result<PkceRequest> MakePkce();
// S256 challenge of a verifier (exposed for tests: RFC 7636 appendix B).
std::string PkceChallenge(std::string_view verifier);

struct AuthorizeUrlParams {
  std::string oauth_base{};     // "https://host:port" (the URL ends in /oauth2/authorize)
  std::string client_id{};
  std::string redirect_uri{};   // e.g. "http://127.0.0.1:PORT/callback"
  std::string scope = "service";  // "service" (session) or "credential"
  std::string credential_id{};  // scope=credential only
  std::string lang{};           // optional UI language
};
std::string BuildAuthorizeUrl(const AuthorizeUrlParams& params, const PkceRequest& pkce);

// Reads the query of the redirect the browser was sent to (the part after
// '?', or the whole URL). Checks `state`, returns the authorization code or
// the error the service put there (Unauthorized kind, "access_denied" when
// the user refused consent).
Result<Secret> CodeFromRedirect(std::string_view redirect, std::string_view expected_state);

// application/x-www-form-urlencoded escaping (RFC 3986 unreserved kept).
void AppendFormEscaped(SecureString& out, std::string_view value);
std::string FormEscape(std::string_view value);

}  // namespace vtoken::csc
