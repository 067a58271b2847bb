#pragma once
// Typed errors of the CSC client. A CscErrorKind says what went wrong in words
// the agent can act on (ask for a new code, drop the session, tell the user the
// certificate expired); it travels inside vtoken::Error as the CKR_* value of
// the table in README.md plus a stable "csc:<kind>:" prefix of the message, so
// KindOf() recovers it even after the error has crossed the agent wire.
#include <optional>
#include <source_location>
#include <string>
#include <string_view>

#include "common/error.h"

namespace vtoken::csc {

enum class CscErrorKind {
  WrongCode,           // the TOTP code (or password) was refused
  Blocked,             // too many wrong codes: an administrator must reset it
  CertificateExpired,  // the credential's certificate is outside its validity
  CertificateRevoked,  // the credential (or its certificate) was revoked
  QuotaExceeded,       // the credential's signature quota is used up
  SadExpired,          // the signature activation data timed out or is used up
  SadInvalid,          // the SAD does not cover this credential or these hashes
  NotFound,            // no such credential (for this account)
  Unauthorized,        // access token missing, expired or revoked
  InvalidRequest,      // the service says our request was malformed
  Unreachable,         // no connection, connection dropped, no answer
  Timeout,             // the per-call timeout or the overall deadline passed
  TlsFailure,          // certificate verification or public-key pin failed
  BadResponse,         // the service answered something we refuse to parse
  ServerError,         // 5xx or an error we cannot classify
};

// "wrong_code", "blocked", ... (the stable names used in messages).
std::string_view KindName(CscErrorKind kind);
// The CKR_* value an application sees for this kind (table in README.md).
unsigned long CkrFor(CscErrorKind kind);

// Builds the error: rv = CkrFor(kind), message = "csc:<kind>: <message>".
Error MakeError(CscErrorKind kind, std::string_view message,
                std::source_location where = std::source_location::current());
inline std::unexpected<Error> CscFail(CscErrorKind kind, std::string_view message,
                                      std::source_location where = std::source_location::current()) {
  return std::unexpected(MakeError(kind, message, where));
}

// The kind of an error made by MakeError; nullopt for other errors.
std::optional<CscErrorKind> KindOf(const Error& error);

// Classifies a CSC error answer of `endpoint` ("credentials/authorize",
// "oauth2/token", ...): HTTP status plus the "error" and "error_description"
// members of the body (either may be empty). Follows the error table of
// signing-service/API.md, falling back on the status for other services.
CscErrorKind ClassifyServiceError(std::string_view endpoint, long http_status,
                                  std::string_view error, std::string_view description);

}  // namespace vtoken::csc
