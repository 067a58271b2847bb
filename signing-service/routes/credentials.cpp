// credentials/list (§11.4), credentials/info (§11.5), credentials/authorize (§11.6).
#include "algorithms.h"
#include "auth_logic.h"
#include "credential_rules.h"
#include "routes/routes.h"
#include "totp.h"

namespace vtoken::service {
namespace {

struct InfoOptions {
  std::string certificates = "single";
  bool cert_info = false;
  bool auth_info = false;
};

ApiResult<InfoOptions> ParseInfoOptions(const json& body) {
  InfoOptions o;
  if (auto c = API_TRY(OptString(body, "certificates"))) {
    if (*c != "none" && *c != "single" && *c != "chain") return BadRequest("Invalid parameter certificates");
    o.certificates = *c;
  }
  o.cert_info = API_TRY(OptBool(body, "certInfo")).value_or(false);
  o.auth_info = API_TRY(OptBool(body, "authInfo")).value_or(false);
  return o;
}

ApiResult<json> CredentialJson(const Context& ctx, const Credential& c, int totp_period, const InfoOptions& o) {
  auto type = KeyTypeFromName(c.key_type);
  if (!type) return ApiFail(500, "server_error", "Unknown key type in the store");
  std::int64_t now = ctx.clock.Now();
  std::string cert_status = CertStatus(c, now);
  bool enabled = cert_status == "valid" && c.quota_used < c.quota_total;
  json key{{"status", enabled ? "enabled" : "disabled"}, {"algo", SignAlgosFor(*type)}, {"len", KeyBits(*type)}};
  if (!IsRsa(*type)) key["curve"] = CurveOid(*type);
  json cert{{"status", cert_status}};
  if (o.certificates != "none") {
    json list = json::array({Base64Encode(c.cert_der)});
    if (o.certificates == "chain") list.push_back(Base64Encode(ctx.ca.cert_der()));
    cert["certificates"] = list;
  }
  if (o.cert_info) {
    auto s = SummarizeCert(c.cert_der);
    if (!s) return ApiFail(500, "server_error", "Bad certificate in the store");
    cert["issuerDN"] = s->issuer_dn;
    cert["subjectDN"] = s->subject_dn;
    cert["serialNumber"] = s->serial_hex;
    cert["validFrom"] = GeneralizedTime(c.not_before);
    cert["validTo"] = GeneralizedTime(c.not_after);
  }
  json auth{{"mode", "explicit"}, {"expression", "otp"},
            {"objects", json::array({json{{"type", "Password"}, {"id", "otp"}, {"format", "N"},
                                          {"generator", "totp"}, {"label", "Authenticator code"},
                                          {"description", "Enter the 6-digit code from your authenticator app"},
                                          {"digits", totp::kDigits}, {"period", totp_period}}})}};
  json out{{"key", key}, {"cert", cert}, {"auth", auth}, {"SCAL", std::to_string(c.scal)},
           {"multisign", c.multisign}, {"lang", "en-US"},
           {"quota", {{"total", c.quota_total}, {"used", c.quota_used}}}};
  if (!c.label.empty()) out["description"] = c.label;
  return out;
}

ApiResult<std::optional<json>> List(Context& ctx, const httplib::Request& req) {
  auto account_id = API_TRY(Authenticate(ctx, req));
  json body = API_TRY(ParseBody(req));
  if (body.contains("userID") && !body["userID"].is_null()) return BadRequest("userID parameter MUST be null");
  bool with_info = API_TRY(OptBool(body, "credentialInfo")).value_or(false);
  auto only_valid = API_TRY(OptBool(body, "onlyValid"));
  auto opts = API_TRY(ParseInfoOptions(body));
  auto [creds, account] = ctx.store.Tx([&](Store::Txn& t) {
    return std::pair{t.Credentials(account_id), t.AccountById(account_id)};
  });
  if (!account) return ApiFail(401, "invalid_token", "The access token is not valid");
  json ids = json::array(), infos = json::array();
  for (auto& c : creds) {
    if (only_valid.value_or(false) && !CheckUsable(c, ctx.clock.Now())) continue;
    ids.push_back(c.id);
    if (with_info) {
      json info = API_TRY(CredentialJson(ctx, c, account->totp_period, opts));
      info["credentialID"] = c.id;
      infos.push_back(std::move(info));
    }
  }
  json out{{"credentialIDs", ids}};
  if (with_info) out["credentialInfos"] = infos;
  if (only_valid) out["onlyValid"] = *only_valid;
  return out;
}

ApiResult<std::optional<json>> Info(Context& ctx, const httplib::Request& req) {
  auto account_id = API_TRY(Authenticate(ctx, req));
  json body = API_TRY(ParseBody(req));
  auto id = API_TRY(ReqString(body, "credentialID"));
  auto opts = API_TRY(ParseInfoOptions(body));
  auto found = ctx.store.Tx([&](Store::Txn& t) -> ApiResult<std::pair<Credential, Account>> {
    auto c = API_TRY(OwnedCredential(t, account_id, id));
    auto a = t.AccountById(account_id);
    if (!a) return BadRequest("Invalid parameter credentialID");
    return std::pair{c, *a};
  });
  if (!found) return std::unexpected(found.error());
  return API_TRY(CredentialJson(ctx, found->first, found->second.totp_period, opts));
}

// The TOTP code from authData [{"id": "otp", "value": ...}], or the legacy top-level "OTP".
ApiResult<std::string> OtpFromBody(const json& body) {
  auto it = body.find("authData");
  if (it == body.end() || it->is_null()) {
    auto legacy = API_TRY(OptString(body, "OTP"));
    if (!legacy) return BadRequest("Missing (or invalid type) array parameter authData");
    return *legacy;
  }
  if (!it->is_array() || it->size() > 8) return BadRequest("Missing (or invalid type) array parameter authData");
  for (auto& obj : *it) {
    if (!obj.is_object()) return BadRequest("Invalid parameter authData");
    auto id = API_TRY(OptString(obj, "id"));
    if (!id) return BadRequest("Invalid parameter authData");
    std::string lower;
    for (char ch : *id) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (lower == "otp") {
      auto value = API_TRY(OptString(obj, "value"));
      if (!value) return BadRequest("Invalid parameter authData");
      return *value;
    }
  }
  return BadRequest("Invalid parameter authData");
}

ApiResult<std::optional<json>> Authorize(Context& ctx, const httplib::Request& req) {
  auto account_id = API_TRY(Authenticate(ctx, req));
  json body = API_TRY(ParseBody(req));
  auto id = API_TRY(ReqString(body, "credentialID"));
  auto num = API_TRY(OptInt(body, "numSignatures"));
  if (!num) return BadRequest("Missing (or invalid type) integer parameter numSignatures");
  if (*num < 1) return BadRequest("Invalid value for parameter numSignatures");
  auto hashes_b64 = API_TRY(OptStringArray(body, "hashes", kMaxHashes));
  auto hash_oid = API_TRY(OptString(body, "hashAlgorithmOID"));
  std::vector<Bytes> hashes;
  if (hashes_b64 && !hashes_b64->empty()) {
    if (!hash_oid) return BadRequest("Missing (or invalid type) string parameter hashAlgorithmOID");
    auto alg = HashFromOid(*hash_oid);
    if (!alg) return BadRequest("Invalid parameter hashAlgorithmOID");
    hashes = API_TRY(DecodeHashes(*hashes_b64, HashLength(*alg)));
  }
  std::string otp = API_TRY(OtpFromBody(body));
  ClientInfo client = ClientOf(req);
  std::string sad = RandomToken();
  auto result = ctx.store.Tx([&](Store::Txn& t) -> ApiResult<json> {
    auto cred = API_TRY(OwnedCredential(t, account_id, id));
    API_TRY(CheckUsable(cred, ctx.clock.Now()));
    if (*num > cred.multisign) return BadRequest("Numbers of signatures is too high");
    if (cred.scal == 2 && (hashes.empty() || static_cast<std::int64_t>(hashes.size()) != *num))
      return BadRequest("Invalid parameter hashes");
    auto account = t.AccountById(account_id);
    if (!account) return BadRequest("Invalid parameter credentialID");
    if (auto ok = CheckOtp(t, ctx, *account, otp); !ok) {
      Audit(t, ctx, client, "authorize_failed", account->email, cred.id, {}, {}, ok.error().error);
      return std::unexpected(ok.error());
    }
    SadRow row{account_id, cred.id, static_cast<int>(*num), ctx.clock.Now() + ctx.cfg.sad_ttl,
               hashes.empty() ? "" : *hash_oid, {}};
    std::string hex_list;
    for (auto& h : hashes) {
      row.bound_hex.push_back(HexEncode(h));
      hex_list += (hex_list.empty() ? "" : ",") + HexEncode(h);
    }
    t.InsertSad(TokenHash(sad), row);
    Audit(t, ctx, client, "authorize", account->email, cred.id, hex_list, {},
          "numSignatures=" + std::to_string(*num));
    return json{{"SAD", sad}, {"expiresIn", ctx.cfg.sad_ttl}};
  });
  WipeMemory(otp.data(), otp.size());
  if (!result) return std::unexpected(result.error());
  return *result;
}

}  // namespace

void RegisterCredentials(httplib::Server& s, Context& ctx) {
  s.Post("/csc/v2/credentials/list", [&ctx](const httplib::Request& req, httplib::Response& res) {
    Respond(res, [&] { return List(ctx, req); });
  });
  s.Post("/csc/v2/credentials/info", [&ctx](const httplib::Request& req, httplib::Response& res) {
    Respond(res, [&] { return Info(ctx, req); });
  });
  s.Post("/csc/v2/credentials/authorize", [&ctx](const httplib::Request& req, httplib::Response& res) {
    Respond(res, [&] { return Authorize(ctx, req); });
  });
}

}  // namespace vtoken::service
