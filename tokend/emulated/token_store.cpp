#include "tokend/emulated/token_store.h"

#include <fcntl.h>
#include <p11-kit/pkcs11.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vtoken::agent {
namespace {

constexpr int kSchemaVersion = 1;

constexpr const char* kSchema = R"sql(
CREATE TABLE token(
  id INTEGER PRIMARY KEY CHECK (id = 1),
  schema_version INTEGER NOT NULL,
  name TEXT NOT NULL, label TEXT NOT NULL, serial TEXT NOT NULL, slot_id INTEGER NOT NULL,
  pin_retries INTEGER NOT NULL, puk_retries INTEGER NOT NULL,
  pin_min INTEGER NOT NULL, pin_max INTEGER NOT NULL, pin_digits_only INTEGER NOT NULL,
  kdf TEXT NOT NULL, kdf_cost INTEGER NOT NULL,
  pin_initialized INTEGER NOT NULL, pin_to_be_changed INTEGER NOT NULL);
CREATE TABLE counters(
  id INTEGER PRIMARY KEY CHECK (id = 1),
  pin_tries INTEGER NOT NULL, puk_tries INTEGER NOT NULL, oid_reserved INTEGER NOT NULL);
CREATE TABLE wrapped_keys(
  role TEXT PRIMARY KEY, kdf TEXT NOT NULL, salt BLOB NOT NULL, cost INTEGER NOT NULL, sealed BLOB NOT NULL);
CREATE TABLE objects(oid INTEGER PRIMARY KEY, attrs BLOB NOT NULL, sealed_key BLOB);
)sql";

std::unexpected<Error> DbFail(sqlite3* db, const std::string& what,
                              std::source_location where = std::source_location::current()) {
  return Fail(CKR_DEVICE_ERROR, "token database: " + what + ": " + (db ? sqlite3_errmsg(db) : "no handle"), where);
}

// One prepared statement; finalized on scope exit.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) { ok_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) == SQLITE_OK; }
  ~Stmt() { sqlite3_finalize(stmt_); }
  bool ok() const { return ok_; }
  void Bind(int i, std::int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void Bind(int i, const std::string& v) { sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT); }
  void Bind(int i, const wire::Bytes& v) {
    if (v.empty())
      sqlite3_bind_zeroblob(stmt_, i, 0);
    else
      sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  int Step() { return sqlite3_step(stmt_); }
  std::int64_t Int(int i) { return sqlite3_column_int64(stmt_, i); }
  std::string Text(int i) {
    auto p = sqlite3_column_text(stmt_, i);
    return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(stmt_, i)) : std::string();
  }
  wire::Bytes Blob(int i) {
    auto p = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, i));
    return p ? wire::Bytes(p, p + sqlite3_column_bytes(stmt_, i)) : wire::Bytes();
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  bool ok_ = false;
};

// Runs a statement that returns no rows.
template <class BindFn>
Result<void> Run(sqlite3* db, const char* sql, BindFn bind, std::source_location where = std::source_location::current()) {
  Stmt s(db, sql);
  if (!s.ok()) return DbFail(db, "prepare", where);
  bind(s);
  if (s.Step() != SQLITE_DONE) return DbFail(db, "write", where);
  return {};
}

}  // namespace

Result<std::unique_ptr<Store>> Store::Create(const std::filesystem::path& path) {
  // O_EXCL: two creators never share a file; 0600: the journal inherits it.
  int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return Fail(CKR_ARGUMENTS_BAD, "token database already exists: " + path.string());
    return Fail(CKR_DEVICE_ERROR, "cannot create token database " + path.string() + ": " + std::strerror(errno));
  }
  ::close(fd);
  auto store = Open(path);
  if (!store) return store;
  if (auto r = (*store)->Exec(kSchema); !r) return std::unexpected(r.error());
  return store;
}

Result<std::unique_ptr<Store>> Store::Open(const std::filesystem::path& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, nullptr);
  std::unique_ptr<Store> store(new Store(db));
  if (rc != SQLITE_OK) return DbFail(db, "open " + path.string());
  VT_CHECK(store->Configure());
  return store;
}

Store::~Store() { sqlite3_close_v2(db_); }

Result<void> Store::Configure() {
  sqlite3_busy_timeout(db_, 5000);
  return Exec("PRAGMA journal_mode=DELETE; PRAGMA synchronous=FULL; PRAGMA secure_delete=ON;");
}

Result<void> Store::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return Fail(CKR_DEVICE_ERROR, "token database: " + msg);
  }
  return {};
}

Result<TokenMeta> Store::LoadMeta() {
  Stmt s(db_,
         "SELECT schema_version, name, label, serial, slot_id, pin_retries, puk_retries, pin_min, pin_max, "
         "pin_digits_only, kdf, kdf_cost, pin_initialized, pin_to_be_changed FROM token WHERE id = 1");
  if (!s.ok()) return DbFail(db_, "not a token database");
  if (s.Step() != SQLITE_ROW) return Fail(CKR_DEVICE_ERROR, "token database is incomplete (no token row)");
  if (s.Int(0) != kSchemaVersion) return Fail(CKR_DEVICE_ERROR, "token database has an unknown schema version");
  TokenMeta m;
  m.name = s.Text(1);
  m.label = s.Text(2);
  m.serial = s.Text(3);
  m.slot_id = static_cast<std::uint64_t>(s.Int(4));
  m.policy.pin_retries = static_cast<int>(s.Int(5));
  m.policy.puk_retries = static_cast<int>(s.Int(6));
  m.policy.pin_min = static_cast<std::size_t>(s.Int(7));
  m.policy.pin_max = static_cast<std::size_t>(s.Int(8));
  m.policy.pin_digits_only = s.Int(9) != 0;
  m.policy.kdf = s.Text(10);
  m.policy.kdf_cost = static_cast<std::uint64_t>(s.Int(11));
  m.pin_initialized = s.Int(12) != 0;
  m.pin_to_be_changed = s.Int(13) != 0;
  return m;
}

Result<void> Store::SaveMeta(const TokenMeta& m) {
  return Run(db_,
             "INSERT OR REPLACE INTO token(id, schema_version, name, label, serial, slot_id, pin_retries, "
             "puk_retries, pin_min, pin_max, pin_digits_only, kdf, kdf_cost, pin_initialized, pin_to_be_changed) "
             "VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
             [&](Stmt& s) {
               s.Bind(1, kSchemaVersion);
               s.Bind(2, m.name);
               s.Bind(3, m.label);
               s.Bind(4, m.serial);
               s.Bind(5, static_cast<std::int64_t>(m.slot_id));
               s.Bind(6, m.policy.pin_retries);
               s.Bind(7, m.policy.puk_retries);
               s.Bind(8, static_cast<std::int64_t>(m.policy.pin_min));
               s.Bind(9, static_cast<std::int64_t>(m.policy.pin_max));
               s.Bind(10, m.policy.pin_digits_only ? 1 : 0);
               s.Bind(11, m.policy.kdf);
               s.Bind(12, static_cast<std::int64_t>(m.policy.kdf_cost));
               s.Bind(13, m.pin_initialized ? 1 : 0);
               s.Bind(14, m.pin_to_be_changed ? 1 : 0);
             });
}

Result<TokenCounters> Store::LoadCounters() {
  Stmt s(db_, "SELECT pin_tries, puk_tries, oid_reserved FROM counters WHERE id = 1");
  if (!s.ok()) return DbFail(db_, "read counters");
  if (s.Step() != SQLITE_ROW) return Fail(CKR_DEVICE_ERROR, "token database is incomplete (no counters)");
  return TokenCounters{static_cast<int>(s.Int(0)), static_cast<int>(s.Int(1)), static_cast<std::uint64_t>(s.Int(2))};
}

Result<void> Store::SaveCounters(const TokenCounters& c) {
  return Run(db_, "INSERT OR REPLACE INTO counters(id, pin_tries, puk_tries, oid_reserved) VALUES (1, ?1, ?2, ?3)",
             [&](Stmt& s) {
               s.Bind(1, c.pin_tries);
               s.Bind(2, c.puk_tries);
               s.Bind(3, static_cast<std::int64_t>(c.oid_reserved));
             });
}

Result<std::optional<WrappedKey>> Store::LoadWrapped(const std::string& role) {
  Stmt s(db_, "SELECT kdf, salt, cost, sealed FROM wrapped_keys WHERE role = ?1");
  if (!s.ok()) return DbFail(db_, "read wrapped key");
  s.Bind(1, role);
  int rc = s.Step();
  if (rc == SQLITE_DONE) return std::optional<WrappedKey>();
  if (rc != SQLITE_ROW) return DbFail(db_, "read wrapped key");
  WrappedKey k;
  k.kdf.kdf = s.Text(0);
  k.kdf.salt = s.Blob(1);
  k.kdf.cost = static_cast<std::uint64_t>(s.Int(2));
  k.sealed = s.Blob(3);
  return std::optional<WrappedKey>(std::move(k));
}

Result<void> Store::SaveWrapped(const std::string& role, const WrappedKey& k) {
  return Run(db_, "INSERT OR REPLACE INTO wrapped_keys(role, kdf, salt, cost, sealed) VALUES (?1, ?2, ?3, ?4, ?5)",
             [&](Stmt& s) {
               s.Bind(1, role);
               s.Bind(2, k.kdf.kdf);
               s.Bind(3, k.kdf.salt);
               s.Bind(4, static_cast<std::int64_t>(k.kdf.cost));
               s.Bind(5, k.sealed);
             });
}

Result<void> Store::DeleteWrapped(const std::string& role) {
  return Run(db_, "DELETE FROM wrapped_keys WHERE role = ?1", [&](Stmt& s) { s.Bind(1, role); });
}

Result<std::vector<StoredObject>> Store::LoadObjects() {
  Stmt s(db_, "SELECT oid, attrs, sealed_key FROM objects ORDER BY oid");
  if (!s.ok()) return DbFail(db_, "read objects");
  std::vector<StoredObject> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW)
    out.push_back(StoredObject{static_cast<std::uint64_t>(s.Int(0)), s.Blob(1), s.Blob(2)});
  if (rc != SQLITE_DONE) return DbFail(db_, "read objects");
  return out;
}

Result<void> Store::PutObject(const StoredObject& o) {
  return Run(db_, "INSERT OR REPLACE INTO objects(oid, attrs, sealed_key) VALUES (?1, ?2, ?3)", [&](Stmt& s) {
    s.Bind(1, static_cast<std::int64_t>(o.oid));
    s.Bind(2, o.attrs);
    s.Bind(3, o.sealed_key);
  });
}

Result<void> Store::DeleteObject(std::uint64_t oid) {
  return Run(db_, "DELETE FROM objects WHERE oid = ?1", [&](Stmt& s) { s.Bind(1, static_cast<std::int64_t>(oid)); });
}

Result<void> Store::DeleteAllObjects() { return Exec("DELETE FROM objects"); }

Result<Transaction> Transaction::Begin(Store& store) {
  VT_CHECK(store.Exec("BEGIN IMMEDIATE"));
  return Transaction(&store);
}

Transaction::~Transaction() {
  if (store_) (void)store_->Exec("ROLLBACK");
}

Result<void> Transaction::Commit() {
  Store* s = store_;
  store_ = nullptr;
  if (!s) return Fail(CKR_GENERAL_ERROR, "transaction already finished");
  auto r = s->Exec("COMMIT");
  if (!r) (void)s->Exec("ROLLBACK");
  return r;
}

wire::Bytes EncodeAttrBlob(const wire::Attributes& attrs) {
  wire::Bytes out;
  for (const auto& [type, value] : attrs) {
    std::uint64_t t = type;
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(t >> (8 * i)));
    std::uint32_t n = static_cast<std::uint32_t>(value.size());
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(n >> (8 * i)));
    out.insert(out.end(), value.begin(), value.end());
  }
  return out;
}

Result<wire::Attributes> DecodeAttrBlob(const wire::Bytes& blob) {
  wire::Attributes out;
  std::size_t pos = 0;
  while (pos < blob.size()) {
    if (blob.size() - pos < 12) return Fail(CKR_DEVICE_ERROR, "corrupt attribute blob in token database");
    std::uint64_t t = 0;
    std::uint32_t n = 0;
    for (int i = 0; i < 8; ++i) t |= std::uint64_t{blob[pos + i]} << (8 * i);
    for (int i = 0; i < 4; ++i) n |= std::uint32_t{blob[pos + 8 + i]} << (8 * i);
    pos += 12;
    if (blob.size() - pos < n) return Fail(CKR_DEVICE_ERROR, "corrupt attribute blob in token database");
    out.emplace_back(static_cast<unsigned long>(t), wire::Bytes(blob.begin() + pos, blob.begin() + pos + n));
    pos += n;
  }
  return out;
}

}  // namespace vtoken::agent
