#pragma once
// The service's SQLite database: accounts, credentials, tokens, SADs and the
// audit log. One connection per process behind a mutex (requests only hold
// it for short transactions; HSM work happens outside), WAL journal and a
// busy timeout so the CLI can write while `serve` runs. Each SQL text is
// compiled once and kept (see store_stmt.h), under the same mutex.
//
// SQLite failures are not request outcomes: they throw StoreError, which
// the HTTP layer turns into a 500 and the CLI into exit code 1.
#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "crypto_util.h"

namespace vtoken::service {

struct StoreError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Account {
  std::int64_t id = 0;
  std::string email;
  std::string phone;
  std::string password_hash;
  Bytes totp_sealed;  // AES-256-GCM under the master key, AAD "totp:" + email
  int totp_period = 30;
  std::int64_t totp_last_step = -1;
  int totp_failures = 0;
  bool totp_blocked = false;
  std::int64_t created = 0;
};

struct Credential {
  std::string id;
  std::int64_t account_id = 0;
  std::string key_type;  // rsa2048 rsa3072 rsa4096 p256 p384
  int scal = 1;
  int multisign = 1;
  int quota_total = 200;
  int quota_used = 0;
  std::string label;
  Bytes cert_der;
  std::int64_t not_before = 0;
  std::int64_t not_after = 0;
  bool revoked = false;
  std::int64_t created = 0;
};

struct TokenRow {
  std::string kind;  // "access" or "refresh"
  std::int64_t account_id = 0;
  Bytes parent;      // for access tokens from a refresh token: that token's hash
  std::int64_t expires = 0;
  bool revoked = false;
};

struct SadRow {
  std::int64_t account_id = 0;
  std::string credential_id;
  int remaining = 0;
  std::int64_t expires = 0;
  std::string hash_oid;                 // set when hashes are bound
  std::vector<std::string> bound_hex;   // hashes still allowed (each once)
};

struct AuditEntry {
  std::int64_t time = 0;
  std::string event;
  std::string account;
  std::string credential;
  std::string hash_hex;
  std::string sign_algo;
  std::string client_addr;
  std::string user_agent;
  std::string detail;
};

class Stmt;

// A compiled statement the Store keeps; see store_stmt.h.
struct CachedStmt {
  sqlite3_stmt* stmt = nullptr;
  bool in_use = false;
};

class Store {
 public:
  static std::unique_ptr<Store> Open(const std::filesystem::path& file);
  ~Store();

  // Typed access; only reachable inside Tx, so every use is in a transaction.
  class Txn {
   public:
    std::optional<Account> AccountByEmail(const std::string& email);
    std::optional<Account> AccountById(std::int64_t id);
    std::vector<Account> Accounts();
    std::int64_t InsertAccount(const Account& a);
    void UpdateTotpState(std::int64_t id, std::int64_t last_step, int failures, bool blocked);
    void UpdateTotpSecret(std::int64_t id, const Bytes& sealed);
    void DeleteAccount(std::int64_t id);

    void InsertCredential(const Credential& c);
    std::optional<Credential> CredentialById(const std::string& id);
    std::vector<Credential> Credentials(std::optional<std::int64_t> account_id);
    void AddQuotaUsed(const std::string& id, int delta);
    void RevokeCredential(const std::string& id);

    void InsertToken(const Bytes& hash, const TokenRow& t);
    std::optional<TokenRow> TokenByHash(const Bytes& hash);
    void RevokeToken(const Bytes& hash);
    void RevokeTokensWithParent(const Bytes& parent);

    void InsertSad(const Bytes& hash, const SadRow& s);
    std::optional<SadRow> SadByHash(const Bytes& hash);
    void UpdateSad(const Bytes& hash, const SadRow& s);

    void InsertAudit(const AuditEntry& e);
    std::vector<AuditEntry> Audit(int limit);

   private:
    friend class Store;
    explicit Txn(Store& store) : store_(store), db_(store.db_) {}
    Stmt Prepare(std::string_view sql);
    Store& store_;
    sqlite3* db_;
  };

  template <class F>
  auto Tx(F&& f) {
    std::lock_guard lock(mutex_);
    Run("BEGIN IMMEDIATE");
    Txn txn(*this);
    try {
      auto result = f(txn);
      Run("COMMIT");
      return result;
    } catch (...) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  }

 private:
  struct SqlHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  explicit Store(sqlite3* db) : db_(db) {}
  void Exec(const char* sql);
  void Run(std::string_view sql);  // one cached statement without rows
  // The compiled statement for `sql`, compiled on first use; mutex_ held.
  CachedStmt& Cached(std::string_view sql);
  std::mutex mutex_;
  sqlite3* db_;
  std::unordered_map<std::string, CachedStmt, SqlHash, std::equal_to<>> statements_;
};

}  // namespace vtoken::service
