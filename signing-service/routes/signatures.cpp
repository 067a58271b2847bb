// signatures/signHash (§11.10). The SAD and quota are charged for the whole
// call in one transaction before the HSM signs (outside any lock), and
// refunded if the HSM fails, so concurrent calls can never overspend them.
// The audit rows are written in that transaction, before any signature.
#include <algorithm>

#include "algorithms.h"
#include "auth_logic.h"
#include "credential_rules.h"
#include "routes/routes.h"

namespace vtoken::service {
namespace {

struct SignRequest {
  std::string credential_id;
  std::string sad;
  std::vector<std::string> hashes_b64;
  std::optional<std::string> hash_oid;
  std::string sign_algo;
  std::optional<std::string> sign_algo_params;
};

ApiResult<SignRequest> ParseSignRequest(const json& body) {
  SignRequest r;
  r.credential_id = API_TRY(ReqString(body, "credentialID"));
  r.sad = API_TRY(ReqString(body, "SAD"));
  auto hashes = API_TRY(OptStringArray(body, "hashes", kMaxHashes));
  if (!hashes) return BadRequest("Missing (or invalid type) array parameter hashes");
  if (hashes->empty()) return BadRequest("Empty hash array");
  r.hashes_b64 = std::move(*hashes);
  r.hash_oid = API_TRY(OptString(body, "hashAlgorithmOID"));
  r.sign_algo = API_TRY(ReqString(body, "signAlgo"));
  r.sign_algo_params = API_TRY(OptString(body, "signAlgoParams"));
  auto mode = API_TRY(OptString(body, "operationMode"));
  if (mode && *mode != "S") return BadRequest("Invalid parameter operationMode");
  return r;
}

ApiResult<HashAlg> RequiredHash(const std::optional<std::string>& oid) {
  if (!oid) return BadRequest("Missing (or invalid type) string parameter hashAlgorithmOID");
  auto h = HashFromOid(*oid);
  if (!h) return BadRequest("Invalid parameter hashAlgorithmOID");
  return *h;
}

ApiResult<void> CheckAgrees(const std::optional<std::string>& oid, HashAlg implied) {
  if (!oid) return {};
  auto h = HashFromOid(*oid);
  if (!h) return BadRequest("Invalid parameter hashAlgorithmOID");
  if (*h != implied) return BadRequest("String parameter hashAlgorithmOID contradicts with signAlgo parameter");
  return {};
}

ApiResult<SignPlan> ResolvePlan(const SignRequest& r, KeyType key) {
  SignPlan plan;
  bool rsa = IsRsa(key);
  if (r.sign_algo == kOidRsaEncryption && rsa) {
    plan.kind = SignPlan::Kind::kRsaPkcs1;
    plan.hash = API_TRY(RequiredHash(r.hash_oid));
  } else if (r.sign_algo == kOidEcPublicKey && !rsa) {
    plan.kind = SignPlan::Kind::kEcdsa;
    plan.hash = API_TRY(RequiredHash(r.hash_oid));
  } else if (r.sign_algo == kOidRsaPss && rsa) {
    if (!r.sign_algo_params) return BadRequest("Missing (or invalid type) string parameter signAlgoParams");
    auto der = Base64Decode(*r.sign_algo_params);
    auto params = der ? ParsePssParams(*der) : std::nullopt;
    std::size_t em_len = static_cast<std::size_t>(KeyBits(key)) / 8;
    if (!params || params->salt_length + HashLength(params->hash) + 2 > em_len)
      return BadRequest("Invalid parameter signAlgoParams");
    plan.kind = SignPlan::Kind::kRsaPss;
    plan.pss = *params;
    plan.hash = params->hash;
    API_TRY(CheckAgrees(r.hash_oid, plan.hash));
  } else if (auto implied = ImpliedHashAlgo(r.sign_algo);
             implied && (implied->first == SignPlan::Kind::kEcdsa) != rsa) {
    plan.kind = implied->first;
    plan.hash = implied->second;
    API_TRY(CheckAgrees(r.hash_oid, plan.hash));
  } else {
    return BadRequest("Invalid parameter signAlgo");
  }
  return plan;
}

// A signHash call that was authenticated, checked and charged.
struct Charged {
  SignRequest r;
  Credential cred;
  KeyType key{};
  SignPlan plan;
  std::vector<Bytes> hashes;
  std::string email;
};

// Everything before the HSM in one transaction (one lock and one commit per
// call): the bearer token, the request, the credential, then the SAD and the
// quota charged for all hashes with an audit row each — or the whole call
// refused with nothing written.
ApiResult<Charged> Charge(Store::Txn& t, const Context& ctx, const httplib::Request& req, const ClientInfo& client) {
  auto account_id = API_TRY(Authenticate(t, ctx, req));
  json body = API_TRY(ParseBody(req));
  Charged c;
  c.r = API_TRY(ParseSignRequest(body));
  const SignRequest& r = c.r;
  c.cred = API_TRY(OwnedCredential(t, account_id, r.credential_id));
  auto key = KeyTypeFromName(c.cred.key_type);
  if (!key) return ApiFail(500, "server_error", "Unknown key type in the store");
  c.key = *key;
  c.plan = API_TRY(ResolvePlan(r, c.key));
  c.hashes = API_TRY(DecodeHashes(r.hashes_b64, HashLength(c.plan.hash)));

  const Credential& cred = c.cred;
  API_TRY(CheckUsable(cred, ctx.clock.Now()));
  Bytes sad_hash = TokenHash(r.sad);
  auto sad = t.SadByHash(sad_hash);
  if (!sad || sad->account_id != account_id || sad->credential_id != cred.id || sad->remaining <= 0)
    return BadRequest("Invalid parameter SAD");
  if (sad->expires <= ctx.clock.Now()) return BadRequest("SAD expired");
  int n = static_cast<int>(c.hashes.size());
  if (n > sad->remaining) return BadRequest("Numbers of signatures is too high");
  if (!sad->hash_oid.empty()) {
    if (sad->hash_oid != HashOid(c.plan.hash)) return BadRequest("Hash is not authorized by the SAD");
    for (auto& h : c.hashes) {
      auto it = std::find(sad->bound_hex.begin(), sad->bound_hex.end(), HexEncode(h));
      if (it == sad->bound_hex.end()) return BadRequest("Hash is not authorized by the SAD");
      sad->bound_hex.erase(it);  // each bound hash signs once
    }
  }
  if (cred.quota_used + n > cred.quota_total) return ApiFail(400, "quota_exceeded", "Signature quota used up");
  sad->remaining -= n;
  t.UpdateSad(sad_hash, *sad);
  t.AddQuotaUsed(cred.id, n);
  auto account = t.AccountById(account_id);
  if (account) c.email = account->email;
  for (auto& h : c.hashes) Audit(t, ctx, client, "sign", c.email, cred.id, HexEncode(h), r.sign_algo);
  return c;
}

// The HSM failed after the charge: SAD and quota back, and an audit row why.
void Refund(Context& ctx, const Charged& c, const ClientInfo& client, const Error& why) {
  int n = static_cast<int>(c.hashes.size());
  ctx.store.Tx([&](Store::Txn& t) {
    t.AddQuotaUsed(c.cred.id, -n);
    Bytes sad_hash = TokenHash(c.r.sad);
    if (auto sad = t.SadByHash(sad_hash)) {
      sad->remaining += n;
      if (!sad->hash_oid.empty())
        for (auto& b : c.hashes) sad->bound_hex.push_back(HexEncode(b));
      t.UpdateSad(sad_hash, *sad);
    }
    Audit(t, ctx, client, "sign_failed", c.email, c.cred.id, {}, c.r.sign_algo, Describe(why));
    return 0;
  });
}

ApiResult<std::optional<json>> SignHash(Context& ctx, const httplib::Request& req) {
  ClientInfo client = ClientOf(req);
  Charged c = API_TRY(ctx.store.Tx([&](Store::Txn& t) { return Charge(t, ctx, req, client); }));
  json signatures = json::array();
  for (auto& h : c.hashes) {
    auto sig = ctx.hsm.Sign(c.cred.id, c.key, c.plan, h);
    if (!sig) {
      Refund(ctx, c, client, sig.error());
      return ApiFail(500, "server_error", "Signing failed");
    }
    signatures.push_back(Base64Encode(*sig));
  }
  return json{{"signatures", signatures}};
}

}  // namespace

void RegisterSignatures(httplib::Server& s, Context& ctx) {
  s.Post("/csc/v2/signatures/signHash", [&ctx](const httplib::Request& req, httplib::Response& res) {
    Respond(res, [&] { return SignHash(ctx, req); });
  });
}

}  // namespace vtoken::service
