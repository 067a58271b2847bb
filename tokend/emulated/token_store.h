#pragma once
// The SQLite database of one emulated token (rollback journal,
// synchronous=FULL: a committed transaction is on disk). Tables:
//   token        one row: name, label, serial, slot id, policy, PIN state flags
//   counters     one row: PIN and PUK tries left, the oid high-water mark
//   wrapped_keys the token key sealed under the PIN- and the PUK-derived key
//   objects      token objects: attribute blob, sealed PKCS#8 for private keys
// Callers group writes with Transaction; nothing here caches state.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/wire.h"
#include "tokend/emulated/emulated_token.h"
#include "tokend/emulated/token_crypto.h"

struct sqlite3;

namespace vtoken::agent {

struct TokenMeta {
  std::string name, label, serial;
  std::uint64_t slot_id = 0;
  TokenPolicy policy;
  bool pin_initialized = false;
  bool pin_to_be_changed = false;
};

struct TokenCounters {
  int pin_tries = 0;
  int puk_tries = 0;
  std::uint64_t oid_reserved = 0;  // every oid handed out is below this
};

struct WrappedKey {
  KdfParams kdf;
  wire::Bytes sealed;
};

struct StoredObject {
  std::uint64_t oid = 0;
  wire::Bytes attrs;       // EncodeAttrBlob
  wire::Bytes sealed_key;  // empty unless a private key
};

class Store {
 public:
  // A new database file (mode 0600); fails if the file exists.
  static Result<std::unique_ptr<Store>> Create(const std::filesystem::path& path);
  static Result<std::unique_ptr<Store>> Open(const std::filesystem::path& path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  Result<void> Exec(const char* sql);

  Result<TokenMeta> LoadMeta();
  Result<void> SaveMeta(const TokenMeta& meta);
  Result<TokenCounters> LoadCounters();
  Result<void> SaveCounters(const TokenCounters& counters);
  Result<std::optional<WrappedKey>> LoadWrapped(const std::string& role);
  Result<void> SaveWrapped(const std::string& role, const WrappedKey& key);
  Result<void> DeleteWrapped(const std::string& role);
  Result<std::vector<StoredObject>> LoadObjects();
  Result<void> PutObject(const StoredObject& object);
  Result<void> DeleteObject(std::uint64_t oid);
  Result<void> DeleteAllObjects();

 private:
  explicit Store(sqlite3* db) : db_(db) {}
  Result<void> Configure();
  sqlite3* db_;
};

// BEGIN IMMEDIATE ... COMMIT; rolls back in the destructor unless committed.
class Transaction {
 public:
  static Result<Transaction> Begin(Store& store);
  Transaction(Transaction&& o) noexcept : store_(o.store_) { o.store_ = nullptr; }
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();
  Result<void> Commit();

 private:
  explicit Transaction(Store* store) : store_(store) {}
  Store* store_;
};

// Attribute blob format: repeated (u64 type LE, u32 length LE, bytes).
wire::Bytes EncodeAttrBlob(const wire::Attributes& attrs);
Result<wire::Attributes> DecodeAttrBlob(const wire::Bytes& blob);

}  // namespace vtoken::agent
