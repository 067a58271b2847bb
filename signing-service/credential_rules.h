#pragma once
// Rules about a credential that credentials/* and signatures/signHash share.
#include "http_util.h"

namespace vtoken::service {

// Another account's credential is reported exactly like a missing one.
inline ApiResult<Credential> OwnedCredential(Store::Txn& t, std::int64_t account_id, const std::string& id) {
  auto c = t.CredentialById(id);
  if (!c || c->account_id != account_id) return BadRequest("Invalid parameter credentialID");
  return *c;
}

inline std::string CertStatus(const Credential& c, std::int64_t now) {
  if (c.revoked) return "revoked";
  if (now >= c.not_after || now < c.not_before) return "expired";
  return "valid";
}

// Can this credential sign at all right now?
inline ApiResult<void> CheckUsable(const Credential& c, std::int64_t now) {
  auto status = CertStatus(c, now);
  if (status == "revoked") return BadRequest("Signing certificate is revoked");
  if (status == "expired") return BadRequest("Signing certificate is expired");
  if (c.quota_used >= c.quota_total) return ApiFail(400, "quota_exceeded", "Signature quota used up");
  return {};
}

// Decodes base64 hashes and checks their length against the hash algorithm.
inline ApiResult<std::vector<Bytes>> DecodeHashes(const std::vector<std::string>& in, std::size_t length) {
  std::vector<Bytes> out;
  for (auto& h : in) {
    auto b = Base64Decode(h);
    if (!b) return BadRequest("Invalid Base64 hash string parameter");
    if (b->size() != length) return BadRequest("Invalid digest value length");
    out.push_back(std::move(*b));
  }
  return out;
}

}  // namespace vtoken::service
