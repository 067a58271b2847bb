#pragma once
// RAII prepared statement used by store*.cpp only.
#include <sqlite3.h>

#include <cstdint>
#include <string>

#include "store.h"

namespace vtoken::service {

class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK)
      throw StoreError(std::string("prepare: ") + sqlite3_errmsg(db));
  }
  Stmt(Stmt&& o) noexcept : db_(o.db_), stmt_(o.stmt_), next_(o.next_) { o.stmt_ = nullptr; }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() { sqlite3_finalize(stmt_); }

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
  int next_ = 0;
};

}  // namespace vtoken::service
