#include <catch2/catch.hpp>

#include <filesystem>

#include "store.h"

using namespace vtoken::service;
namespace fs = std::filesystem;

namespace {
struct TempDb {
  fs::path path;
  TempDb() {
    char tmpl[] = "/tmp/vtoken-store-test-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDb() { fs::remove_all(path); }
};
}  // namespace

TEST_CASE("Store keeps accounts, credentials, tokens, SADs and audit rows", "[store]") {
  TempDb tmp;
  auto store = Store::Open(tmp.path / "db");
  Account a;
  a.email = "alice@example.org";
  a.password_hash = "scrypt$x";
  a.totp_sealed = {1, 2, 3};
  a.created = 1;
  auto id = store->Tx([&](Store::Txn& t) { return t.InsertAccount(a); });
  CHECK_THROWS_AS(store->Tx([&](Store::Txn& t) { return t.InsertAccount(a); }), StoreError);  // unique email

  store->Tx([&](Store::Txn& t) {
    t.UpdateTotpState(id, 42, 3, true);
    Credential c;
    c.id = "vt-1";
    c.account_id = id;
    c.key_type = "p256";
    c.cert_der = {0x30};
    c.not_after = 100;
    t.InsertCredential(c);
    t.AddQuotaUsed("vt-1", 5);
    t.InsertToken({9, 9}, TokenRow{"refresh", id, {}, 50, false});
    t.InsertToken({8, 8}, TokenRow{"access", id, {9, 9}, 50, false});
    t.InsertSad({7}, SadRow{id, "vt-1", 2, 60, "2.16.840.1.101.3.4.2.1", {"aa", "bb"}});
    t.InsertAudit(AuditEntry{1, "sign", "alice@example.org", "vt-1", "aa", "1.2", "127.0.0.1", "ua", ""});
    return 0;
  });

  // A failing transaction leaves nothing behind.
  CHECK_THROWS(store->Tx([&](Store::Txn& t) -> int {
    t.AddQuotaUsed("vt-1", 100);
    throw StoreError("boom");
  }));

  store->Tx([&](Store::Txn& t) {
    auto acc = t.AccountByEmail("alice@example.org");
    REQUIRE(acc);
    CHECK(acc->totp_last_step == 42);
    CHECK(acc->totp_failures == 3);
    CHECK(acc->totp_blocked);
    auto c = t.CredentialById("vt-1");
    REQUIRE(c);
    CHECK(c->quota_used == 5);
    CHECK(t.Credentials(id).size() == 1);
    CHECK(t.Credentials(id + 1).empty());
    t.RevokeTokensWithParent({9, 9});
    CHECK(t.TokenByHash({8, 8})->revoked);
    CHECK_FALSE(t.TokenByHash({9, 9})->revoked);
    auto sad = t.SadByHash({7});
    REQUIRE(sad);
    CHECK(sad->bound_hex == std::vector<std::string>{"aa", "bb"});
    sad->remaining = 1;
    sad->bound_hex = {"bb"};
    t.UpdateSad({7}, *sad);
    CHECK(t.SadByHash({7})->bound_hex == std::vector<std::string>{"bb"});
    CHECK(t.Audit(10).size() == 1);
    t.DeleteAccount(id);
    CHECK_FALSE(t.CredentialById("vt-1"));  // cascades
    return 0;
  });
}

// Statements stay compiled between transactions; they must still read what
// another connection (the CLI beside `serve`) committed in between, e.g. a
// revocation, and hold no read snapshot that would hide it.
TEST_CASE("Store sees another connection's commits between its transactions", "[store]") {
  TempDb tmp;
  auto serve = Store::Open(tmp.path / "db");
  auto cli = Store::Open(tmp.path / "db");
  Account a;
  a.email = "bob@example.org";
  a.password_hash = "scrypt$x";
  a.totp_sealed = {1};
  a.created = 1;
  auto id = cli->Tx([&](Store::Txn& t) { return t.InsertAccount(a); });
  cli->Tx([&](Store::Txn& t) {
    Credential c;
    c.id = "vt-2";
    c.account_id = id;
    c.key_type = "p256";
    c.cert_der = {0x30};
    t.InsertCredential(c);
    return 0;
  });
  for (int round = 0; round < 3; ++round) {
    auto seen = serve->Tx([&](Store::Txn& t) { return t.CredentialById("vt-2"); });
    REQUIRE(seen);
    CHECK(seen->quota_used == round);
    CHECK(seen->revoked == (round == 2));
    CHECK(serve->Tx([&](Store::Txn& t) { return t.AccountById(id); })->totp_failures == round);
    cli->Tx([&](Store::Txn& t) {
      t.AddQuotaUsed("vt-2", 1);
      t.UpdateTotpState(id, -1, round + 1, false);
      if (round == 1) t.RevokeCredential("vt-2");
      return 0;
    });
  }
  // A failed transaction leaves its statements usable.
  CHECK_THROWS(serve->Tx([&](Store::Txn& t) -> int {
    t.CredentialById("vt-2");
    throw StoreError("boom");
  }));
  CHECK(serve->Tx([&](Store::Txn& t) { return t.CredentialById("vt-2"); })->quota_used == 3);
}
