#pragma once
// Prepared statements for store*.cpp only. The Store keeps one compiled
// statement per SQL text for the life of the connection (compiling costs
// more than running the short queries a request makes); a Stmt borrows it
// and resets it on scope exit, so it holds no lock or binding afterwards.
#include <sqlite3.h>

#include <cstdint>
#include <string>

#include "store.h"

namespace vtoken::service {

class Stmt {
 public:
  // Borrows `cached` (Store::Cached) until the end of the scope. The Txn
  // methods finish each query before returning, so a statement is never
  // borrowed twice; if that changes, it fails loudly here.
  Stmt(sqlite3* db, CachedStmt& cached) : db_(db), stmt_(cached.stmt), cached_(&cached) {
    if (cached.in_use) throw StoreError(std::string("statement borrowed twice: ") + sqlite3_sql(cached.stmt));
    cached.in_use = true;
  }
  Stmt(Stmt&& o) noexcept : db_(o.db_), stmt_(o.stmt_), cached_(o.cached_), next_(o.next_) {
    o.cached_ = nullptr;
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() {
    if (!cached_) return;  // moved from
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);  // no bound value outlives its query
    cached_->in_use = false;
  }

  Stmt& Bind(std::int64_t v) { Check(sqlite3_bind_int64(stmt_, ++next_, v)); return *this; }
  Stmt& Bind(int v) { return Bind(static_cast<std::int64_t>(v)); }
  Stmt& Bind(bool v) { return Bind(static_cast<std::int64_t>(v ? 1 : 0)); }
  Stmt& Bind(const std::string& v) {
    Check(sqlite3_bind_text(stmt_, ++next_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
    return *this;
  }
  Stmt& Bind(const char* v) { return Bind(std::string(v)); }
  Stmt& Bind(const Bytes& v) {
    Check(sqlite3_bind_blob(stmt_, ++next_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
    return *this;
  }
  template <class... T>
  Stmt& BindAll(const T&... v) {
    (Bind(v), ...);
    return *this;
  }

  // true while a row is available
  bool Step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw StoreError(std::string("step: ") + sqlite3_errmsg(db_));
  }
  void Run() { Step(); }

  std::int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::string Text(int col) const {
    auto p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, sqlite3_column_bytes(stmt_, col)) : std::string();
  }
  Bytes Blob(int col) const {
    auto p = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, col));
    int n = sqlite3_column_bytes(stmt_, col);
    return p ? Bytes(p, p + n) : Bytes();
  }

 private:
  void Check(int rc) {
    if (rc != SQLITE_OK) throw StoreError(std::string("bind: ") + sqlite3_errmsg(db_));
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  CachedStmt* cached_;
  int next_ = 0;
};

}  // namespace vtoken::service
