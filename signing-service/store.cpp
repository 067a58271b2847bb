#include "store.h"

#include "store_stmt.h"

namespace vtoken::service {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS accounts (
  id INTEGER PRIMARY KEY,
  email TEXT NOT NULL UNIQUE,
  phone TEXT NOT NULL DEFAULT '',
  password_hash TEXT NOT NULL,
  totp_sealed BLOB NOT NULL,
  totp_period INTEGER NOT NULL,
  totp_last_step INTEGER NOT NULL DEFAULT -1,
  totp_failures INTEGER NOT NULL DEFAULT 0,
  totp_blocked INTEGER NOT NULL DEFAULT 0,
  created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS credentials (
  id TEXT PRIMARY KEY,
  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  key_type TEXT NOT NULL,
  scal INTEGER NOT NULL,
  multisign INTEGER NOT NULL,
  quota_total INTEGER NOT NULL,
  quota_used INTEGER NOT NULL DEFAULT 0,
  label TEXT NOT NULL DEFAULT '',
  cert_der BLOB NOT NULL,
  not_before INTEGER NOT NULL,
  not_after INTEGER NOT NULL,
  revoked INTEGER NOT NULL DEFAULT 0,
  created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
  hash BLOB PRIMARY KEY,
  kind TEXT NOT NULL,
  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  parent BLOB,
  expires INTEGER NOT NULL,
  revoked INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS tokens_parent ON tokens(parent);
CREATE TABLE IF NOT EXISTS sads (
  hash BLOB PRIMARY KEY,
  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  credential_id TEXT NOT NULL,
  remaining INTEGER NOT NULL,
  expires INTEGER NOT NULL,
  hash_oid TEXT NOT NULL DEFAULT '',
  bound TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY,
  time INTEGER NOT NULL,
  event TEXT NOT NULL,
  account TEXT NOT NULL DEFAULT '',
  credential TEXT NOT NULL DEFAULT '',
  hash_hex TEXT NOT NULL DEFAULT '',
  sign_algo TEXT NOT NULL DEFAULT '',
  client_addr TEXT NOT NULL DEFAULT '',
  user_agent TEXT NOT NULL DEFAULT '',
  detail TEXT NOT NULL DEFAULT '');
)sql";

constexpr const char* kAccountCols =
    "id, email, phone, password_hash, totp_sealed, totp_period, totp_last_step, totp_failures, "
    "totp_blocked, created";

Account ReadAccount(const Stmt& s) {
  Account a;
  a.id = s.Int(0);
  a.email = s.Text(1);
  a.phone = s.Text(2);
  a.password_hash = s.Text(3);
  a.totp_sealed = s.Blob(4);
  a.totp_period = static_cast<int>(s.Int(5));
  a.totp_last_step = s.Int(6);
  a.totp_failures = static_cast<int>(s.Int(7));
  a.totp_blocked = s.Int(8) != 0;
  a.created = s.Int(9);
  return a;
}

constexpr const char* kCredentialCols =
    "id, account_id, key_type, scal, multisign, quota_total, quota_used, label, cert_der, "
    "not_before, not_after, revoked, created";

Credential ReadCredential(const Stmt& s) {
  Credential c;
  c.id = s.Text(0);
  c.account_id = s.Int(1);
  c.key_type = s.Text(2);
  c.scal = static_cast<int>(s.Int(3));
  c.multisign = static_cast<int>(s.Int(4));
  c.quota_total = static_cast<int>(s.Int(5));
  c.quota_used = static_cast<int>(s.Int(6));
  c.label = s.Text(7);
  c.cert_der = s.Blob(8);
  c.not_before = s.Int(9);
  c.not_after = s.Int(10);
  c.revoked = s.Int(11) != 0;
  c.created = s.Int(12);
  return c;
}

}  // namespace

std::unique_ptr<Store> Store::Open(const std::filesystem::path& file) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(file.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    throw StoreError("cannot open " + file.string() + ": " + msg);
  }
  std::unique_ptr<Store> store(new Store(db));
  sqlite3_busy_timeout(db, 10000);
  store->Exec("PRAGMA journal_mode=WAL");
  store->Exec("PRAGMA foreign_keys=ON");
  store->Exec("PRAGMA synchronous=NORMAL");
  store->Exec(kSchema);
  return store;
}

Store::~Store() {
  for (auto& [sql, cached] : statements_) sqlite3_finalize(cached.stmt);
  sqlite3_close(db_);
}

CachedStmt& Store::Cached(std::string_view sql) {
  if (auto it = statements_.find(sql); it != statements_.end()) return it->second;
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt,
                         nullptr) != SQLITE_OK)
    throw StoreError(std::string("prepare: ") + sqlite3_errmsg(db_));
  return statements_.emplace(std::string(sql), CachedStmt{stmt, false}).first->second;
}

void Store::Run(std::string_view sql) { Stmt(db_, Cached(sql)).Run(); }

void Store::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw StoreError(msg);
  }
}

Stmt Store::Txn::Prepare(std::string_view sql) { return Stmt(db_, store_.Cached(sql)); }

std::optional<Account> Store::Txn::AccountByEmail(const std::string& email) {
  auto s = Prepare(std::string("SELECT ") + kAccountCols + " FROM accounts WHERE email = ?");
  s.Bind(email);
  if (!s.Step()) return std::nullopt;
  return ReadAccount(s);
}

std::optional<Account> Store::Txn::AccountById(std::int64_t id) {
  auto s = Prepare(std::string("SELECT ") + kAccountCols + " FROM accounts WHERE id = ?");
  s.Bind(id);
  if (!s.Step()) return std::nullopt;
  return ReadAccount(s);
}

std::vector<Account> Store::Txn::Accounts() {
  auto s = Prepare(std::string("SELECT ") + kAccountCols + " FROM accounts ORDER BY id");
  std::vector<Account> out;
  while (s.Step()) out.push_back(ReadAccount(s));
  return out;
}

std::int64_t Store::Txn::InsertAccount(const Account& a) {
  Prepare("INSERT INTO accounts (email, phone, password_hash, totp_sealed, totp_period, created) "
          "VALUES (?, ?, ?, ?, ?, ?)")
      .BindAll(a.email, a.phone, a.password_hash, a.totp_sealed, a.totp_period, a.created)
      .Run();
  return sqlite3_last_insert_rowid(db_);
}

void Store::Txn::UpdateTotpState(std::int64_t id, std::int64_t last_step, int failures, bool blocked) {
  Prepare("UPDATE accounts SET totp_last_step = ?, totp_failures = ?, totp_blocked = ? WHERE id = ?")
      .BindAll(last_step, failures, blocked, id)
      .Run();
}

void Store::Txn::UpdateTotpSecret(std::int64_t id, const Bytes& sealed) {
  Prepare("UPDATE accounts SET totp_sealed = ?, totp_last_step = -1 WHERE id = ?").BindAll(sealed, id).Run();
}

void Store::Txn::DeleteAccount(std::int64_t id) {
  Prepare("DELETE FROM accounts WHERE id = ?").Bind(id).Run();
}

void Store::Txn::InsertCredential(const Credential& c) {
  Prepare("INSERT INTO credentials (id, account_id, key_type, scal, multisign, quota_total, "
          "quota_used, label, cert_der, not_before, not_after, revoked, created) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .BindAll(c.id, c.account_id, c.key_type, c.scal, c.multisign, c.quota_total, c.quota_used,
               c.label, c.cert_der, c.not_before, c.not_after, c.revoked, c.created)
      .Run();
}

std::optional<Credential> Store::Txn::CredentialById(const std::string& id) {
  auto s = Prepare(std::string("SELECT ") + kCredentialCols + " FROM credentials WHERE id = ?");
  s.Bind(id);
  if (!s.Step()) return std::nullopt;
  return ReadCredential(s);
}

std::vector<Credential> Store::Txn::Credentials(std::optional<std::int64_t> account_id) {
  std::string sql = std::string("SELECT ") + kCredentialCols + " FROM credentials";
  if (account_id) sql += " WHERE account_id = ?";
  sql += " ORDER BY rowid";
  auto s = Prepare(sql);
  if (account_id) s.Bind(*account_id);
  std::vector<Credential> out;
  while (s.Step()) out.push_back(ReadCredential(s));
  return out;
}

void Store::Txn::AddQuotaUsed(const std::string& id, int delta) {
  Prepare("UPDATE credentials SET quota_used = quota_used + ? WHERE id = ?").BindAll(delta, id).Run();
}

void Store::Txn::RevokeCredential(const std::string& id) {
  Prepare("UPDATE credentials SET revoked = 1 WHERE id = ?").Bind(id).Run();
}

}  // namespace vtoken::service
