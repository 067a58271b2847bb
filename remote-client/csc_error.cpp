#include "remote-client/csc_error.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

#include <p11-kit/pkcs11.h>

namespace vtoken::csc {
namespace {

struct KindRow {
  CscErrorKind kind;
  std::string_view name;
  unsigned long rv;
};

// Keep in sync with the table in README.md.
constexpr std::array kKinds = {
    KindRow{CscErrorKind::WrongCode, "wrong_code", CKR_PIN_INCORRECT},
    KindRow{CscErrorKind::Blocked, "blocked", CKR_PIN_LOCKED},
    KindRow{CscErrorKind::CertificateExpired, "certificate_expired", CKR_KEY_FUNCTION_NOT_PERMITTED},
    KindRow{CscErrorKind::CertificateRevoked, "certificate_revoked", CKR_KEY_FUNCTION_NOT_PERMITTED},
    KindRow{CscErrorKind::QuotaExceeded, "quota_exceeded", CKR_FUNCTION_REJECTED},
    KindRow{CscErrorKind::SadExpired, "sad_expired", CKR_USER_NOT_LOGGED_IN},
    KindRow{CscErrorKind::SadInvalid, "sad_invalid", CKR_USER_NOT_LOGGED_IN},
    KindRow{CscErrorKind::NotFound, "not_found", CKR_KEY_HANDLE_INVALID},
    KindRow{CscErrorKind::Unauthorized, "unauthorized", CKR_DEVICE_REMOVED},
    KindRow{CscErrorKind::InvalidRequest, "invalid_request", CKR_ARGUMENTS_BAD},
    KindRow{CscErrorKind::Unreachable, "unreachable", CKR_DEVICE_ERROR},
    KindRow{CscErrorKind::Timeout, "timeout", CKR_DEVICE_ERROR},
    KindRow{CscErrorKind::TlsFailure, "tls_failure", CKR_DEVICE_ERROR},
    KindRow{CscErrorKind::BadResponse, "bad_response", CKR_DEVICE_ERROR},
    KindRow{CscErrorKind::ServerError, "server_error", CKR_DEVICE_ERROR},
};

const KindRow& Row(CscErrorKind kind) {
  for (const auto& row : kKinds)
    if (row.kind == kind) return row;
  return kKinds.back();
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::ranges::transform(out, out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

bool Has(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

std::string_view KindName(CscErrorKind kind) { return Row(kind).name; }
unsigned long CkrFor(CscErrorKind kind) { return Row(kind).rv; }

Error MakeError(CscErrorKind kind, std::string_view message, std::source_location where) {
  std::string text = "csc:";
  text += KindName(kind);
  text += ": ";
  text += message;
  return Error{CkrFor(kind), std::move(text), where};
}

std::optional<CscErrorKind> KindOf(const Error& error) {
  std::string_view m = error.message;
  if (!m.starts_with("csc:")) return std::nullopt;
  m.remove_prefix(4);
  for (const auto& row : kKinds) {
    if (m.starts_with(row.name) && m.substr(row.name.size()).starts_with(':')) return row.kind;
  }
  return std::nullopt;
}

CscErrorKind ClassifyServiceError(std::string_view endpoint, long http_status,
                                  std::string_view error, std::string_view description) {
  const std::string code = Lower(error);
  const std::string text = Lower(description);
  // Error codes with one meaning (CSC v2 §10, OAuth2, and the extensions of
  // signing-service/API.md: otp_blocked, quota_exceeded).
  if (code == "invalid_otp" || code == "invalid_pin" || code == "authentication_error") return CscErrorKind::WrongCode;
  if (code == "otp_blocked") return CscErrorKind::Blocked;
  if (code == "quota_exceeded") return CscErrorKind::QuotaExceeded;
  if (code == "invalid_token" || code == "expired_token" || code == "invalid_grant" || code == "invalid_client")
    return CscErrorKind::Unauthorized;
  if (code == "server_error" || code == "temporarily_unavailable") return CscErrorKind::ServerError;
  if (http_status == 401) return CscErrorKind::Unauthorized;
  // auth/login with a refresh token that is unknown, used or expired.
  if (Has(text, "refresh_token") || Has(text, "refresh token")) return CscErrorKind::Unauthorized;
  // invalid_request is refined by its (stable) description.
  if (Has(text, "certificate") && Has(text, "expired")) return CscErrorKind::CertificateExpired;
  if (Has(text, "certificate") && Has(text, "revoked")) return CscErrorKind::CertificateRevoked;
  if (Has(text, "blocked") || Has(text, "locked")) return CscErrorKind::Blocked;
  if (Has(text, "quota")) return CscErrorKind::QuotaExceeded;
  if (Has(text, "sad expired")) return CscErrorKind::SadExpired;
  if (Has(text, "parameter sad") || Has(text, "not authorized by the sad")) return CscErrorKind::SadInvalid;
  // signHash: more hashes than the SAD has signatures left (it is used up).
  if (endpoint == "signatures/signHash" && Has(text, "numbers of signatures")) return CscErrorKind::SadExpired;
  if (Has(text, "parameter credentialid")) return CscErrorKind::NotFound;
  if (http_status == 429 || http_status >= 500) return CscErrorKind::ServerError;
  if (http_status >= 400 && http_status < 500) return CscErrorKind::InvalidRequest;
  return CscErrorKind::ServerError;
}

}  // namespace vtoken::csc
