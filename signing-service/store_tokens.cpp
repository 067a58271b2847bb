// Tokens, SADs and the audit log. Tokens and SADs are stored as SHA-256
// hashes: a copy of the database does not hand out live credentials.
#include <nlohmann/json.hpp>

#include "store.h"
#include "store_stmt.h"

namespace vtoken::service {

void Store::Txn::InsertToken(const Bytes& hash, const TokenRow& t) {
  auto s = Prepare("INSERT INTO tokens (hash, kind, account_id, parent, expires, revoked) VALUES (?, ?, ?, ?, ?, ?)");
  s.BindAll(hash, t.kind, t.account_id, t.parent, t.expires, t.revoked).Run();
}

std::optional<TokenRow> Store::Txn::TokenByHash(const Bytes& hash) {
  auto s = Prepare("SELECT kind, account_id, parent, expires, revoked FROM tokens WHERE hash = ?");
  s.Bind(hash);
  if (!s.Step()) return std::nullopt;
  return TokenRow{s.Text(0), s.Int(1), s.Blob(2), s.Int(3), s.Int(4) != 0};
}

void Store::Txn::RevokeToken(const Bytes& hash) {
  Prepare("UPDATE tokens SET revoked = 1 WHERE hash = ?").Bind(hash).Run();
}

void Store::Txn::RevokeTokensWithParent(const Bytes& parent) {
  Prepare("UPDATE tokens SET revoked = 1 WHERE parent = ?").Bind(parent).Run();
}

void Store::Txn::InsertSad(const Bytes& hash, const SadRow& r) {
  Prepare("INSERT INTO sads (hash, account_id, credential_id, remaining, expires, hash_oid, bound) "
          "VALUES (?, ?, ?, ?, ?, ?, ?)")
      .BindAll(hash, r.account_id, r.credential_id, r.remaining, r.expires, r.hash_oid,
               nlohmann::json(r.bound_hex).dump())
      .Run();
}

std::optional<SadRow> Store::Txn::SadByHash(const Bytes& hash) {
  auto s = Prepare("SELECT account_id, credential_id, remaining, expires, hash_oid, bound FROM sads WHERE hash = ?");
  s.Bind(hash);
  if (!s.Step()) return std::nullopt;
  SadRow r{s.Int(0), s.Text(1), static_cast<int>(s.Int(2)), s.Int(3), s.Text(4), {}};
  auto bound = nlohmann::json::parse(s.Text(5), nullptr, false);
  if (bound.is_array())
    for (auto& h : bound)
      if (h.is_string()) r.bound_hex.push_back(h.get<std::string>());
  return r;
}

void Store::Txn::UpdateSad(const Bytes& hash, const SadRow& r) {
  Prepare("UPDATE sads SET remaining = ?, bound = ? WHERE hash = ?")
      .BindAll(r.remaining, nlohmann::json(r.bound_hex).dump(), hash)
      .Run();
}

void Store::Txn::InsertAudit(const AuditEntry& e) {
  Prepare("INSERT INTO audit (time, event, account, credential, hash_hex, sign_algo, client_addr, "
          "user_agent, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .BindAll(e.time, e.event, e.account, e.credential, e.hash_hex, e.sign_algo, e.client_addr,
               e.user_agent.substr(0, 256), e.detail)
      .Run();
}

std::vector<AuditEntry> Store::Txn::Audit(int limit) {
  auto s = Prepare("SELECT time, event, account, credential, hash_hex, sign_algo, client_addr, "
                   "user_agent, detail FROM audit ORDER BY id DESC LIMIT ?");
  s.Bind(limit);
  std::vector<AuditEntry> out;
  while (s.Step())
    out.push_back({s.Int(0), s.Text(1), s.Text(2), s.Text(3), s.Text(4), s.Text(5), s.Text(6),
                   s.Text(7), s.Text(8)});
  return out;
}

}  // namespace vtoken::service
