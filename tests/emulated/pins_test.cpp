// PIN and PUK behaviour of the emulated token: counters and every flag after
// every attempt, lockout, unblock, change, policy, persistence, tearing.
#include <catch2/catch.hpp>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "test_support.h"

using namespace vtoken;
using namespace vtoken::agent;
using namespace vtoken::agent::test;

namespace {

constexpr unsigned long kUserCounterFlags = CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_LOCKED;
constexpr unsigned long kSoCounterFlags = CKF_SO_PIN_COUNT_LOW | CKF_SO_PIN_FINAL_TRY | CKF_SO_PIN_LOCKED;

}  // namespace

TEST_CASE("a new token reports its identity and initial flags") {
  TempDir dir;
  auto t = NewToken(dir);
  TokenInfo info = t->Info();
  CHECK(info.name == "work");
  CHECK(info.label == "Work token");
  CHECK(info.slot_id == 7);
  REQUIRE(info.serial.size() == 16);
  CHECK(info.serial.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(info.min_pin == 4);
  CHECK(info.max_pin == 16);
  CHECK(info.pin_tries_left == 3);
  CHECK(info.puk_tries_left == 10);
  CHECK(info.flags == (CKF_RNG | CKF_LOGIN_REQUIRED | CKF_TOKEN_INITIALIZED | CKF_USER_PIN_INITIALIZED |
                       CKF_USER_PIN_TO_BE_CHANGED));
  CHECK_FALSE(t->IsPinLocked());
  TempDir other;
  CHECK(NewToken(other)->Info().serial != info.serial);
}

TEST_CASE("every wrong PIN costs a try and sets the counter flags") {
  TempDir dir;
  auto t = NewToken(dir);
  CHECK(Rv(t->LoginUser(Secret("0000"))) == CKR_PIN_INCORRECT);
  CHECK(t->Info().pin_tries_left == 2);
  CHECK((t->Info().flags & kUserCounterFlags) == CKF_USER_PIN_COUNT_LOW);
  CHECK(Rv(t->LoginUser(Secret("0000"))) == CKR_PIN_INCORRECT);
  CHECK(t->Info().pin_tries_left == 1);
  CHECK((t->Info().flags & kUserCounterFlags) == (CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY));
  CHECK(Rv(t->LoginUser(Secret("0000"))) == CKR_PIN_INCORRECT);
  CHECK(t->Info().pin_tries_left == 0);
  CHECK((t->Info().flags & kUserCounterFlags) == (CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_LOCKED));
  CHECK(t->IsPinLocked());
  // Locked: even the right PIN is not checked, and costs nothing.
  CHECK(Rv(t->LoginUser(Secret(kPin))) == CKR_PIN_LOCKED);
  CHECK(Rv(t->ChangePin(Secret(kPin), Secret("5678"))) == CKR_PIN_LOCKED);
  CHECK(t->Info().pin_tries_left == 0);
  CHECK((t->Info().flags & kSoCounterFlags) == 0);
}

TEST_CASE("a right PIN restores the counter and clears the flags") {
  TempDir dir;
  auto t = NewToken(dir);
  CHECK(Rv(t->LoginUser(Secret("9999"))) == CKR_PIN_INCORRECT);
  CHECK(Rv(t->LoginUser(Secret("9999"))) == CKR_PIN_INCORRECT);
  CHECK(Rv(t->LoginUser(Secret(kPin))) == CKR_OK);
  CHECK(t->Info().pin_tries_left == 3);
  CHECK((t->Info().flags & kUserCounterFlags) == 0);
  // A PIN of a length the policy forbids is just a wrong PIN at login.
  CHECK(Rv(t->LoginUser(Secret("1"))) == CKR_PIN_INCORRECT);
  CHECK(t->Info().pin_tries_left == 2);
}

TEST_CASE("the PUK unblocks a locked PIN") {
  TempDir dir;
  auto t = NewToken(dir);
  for (int i = 0; i < 3; ++i) CHECK(Rv(t->LoginUser(Secret("0000"))) == CKR_PIN_INCORRECT);
  REQUIRE(t->IsPinLocked());
  CHECK(Rv(t->Unblock(Secret("11111111"), Secret("2468"))) == CKR_PIN_INCORRECT);
  CHECK(t->Info().puk_tries_left == 9);
  CHECK((t->Info().flags & kSoCounterFlags) == CKF_SO_PIN_COUNT_LOW);
  // A new PIN breaking the policy is refused before the PUK is tried.
  CHECK(Rv(t->Unblock(Secret(kPuk), Secret("12"))) == CKR_PIN_LEN_RANGE);
  CHECK(t->Info().puk_tries_left == 9);
  CHECK(Rv(t->Unblock(Secret(kPuk), Secret("2468"))) == CKR_OK);
  TokenInfo info = t->Info();
  CHECK(info.pin_tries_left == 3);
  CHECK(info.puk_tries_left == 10);
  CHECK((info.flags & (kUserCounterFlags | kSoCounterFlags | CKF_USER_PIN_TO_BE_CHANGED)) == 0);
  CHECK(info.flags & CKF_USER_PIN_INITIALIZED);
  CHECK(Rv(t->LoginUser(Secret(kPin))) == CKR_PIN_INCORRECT);
  CHECK(Rv(t->LoginUser(Secret("2468"))) == CKR_OK);
}

TEST_CASE("a locked PUK blocks the token for good") {
  TempDir dir;
  auto t = NewToken(dir);
  auto data = t->CreateObject({{CKA_CLASS, Ulong(CKO_DATA)}, {CKA_TOKEN, Bool(true)}, {CKA_VALUE, Str("x")}}, false, 1);
  REQUIRE(data);
  for (int i = 10; i > 0; --i) {
    CHECK(Rv(t->LoginSo(Secret("00000000"))) == CKR_PIN_INCORRECT);
    const TokenInfo info = t->Info();
    CHECK(info.puk_tries_left == i - 1);
    unsigned long want = CKF_SO_PIN_COUNT_LOW;
    if (i - 1 == 1) want |= CKF_SO_PIN_FINAL_TRY;
    if (i - 1 == 0) want |= CKF_SO_PIN_LOCKED;
    CHECK((info.flags & kSoCounterFlags) == want);
  }
  CHECK((t->Info().flags & CKF_USER_PIN_LOCKED) != 0);
  CHECK(t->IsPinLocked());
  CHECK(Rv(t->LoginSo(Secret(kPuk))) == CKR_PIN_LOCKED);
  CHECK(Rv(t->LoginUser(Secret(kPin))) == CKR_PIN_LOCKED);
  CHECK(Rv(t->Unblock(Secret(kPuk), Secret("2468"))) == CKR_PIN_LOCKED);
  CHECK(Rv(t->ChangePin(Secret(kPin), Secret("2468"))) == CKR_PIN_LOCKED);
  CHECK(Rv(t->ChangePuk(Secret(kPuk), Secret("12345678"))) == CKR_PIN_LOCKED);
  CHECK(Rv(t->Reinitialize(Secret(kPuk), "new")) == CKR_PIN_LOCKED);
  CHECK(t->Info().pin_tries_left == 3);
  // Public objects stay readable.
  CHECK(t->Objects(false, 1).size() == 1);
}

TEST_CASE("changing the PIN clears CKF_USER_PIN_TO_BE_CHANGED") {
  TempDir dir;
  auto t = NewToken(dir);
  CHECK(Rv(t->ChangePin(Secret("0000"), Secret("5678"))) == CKR_PIN_INCORRECT);
  CHECK(t->Info().pin_tries_left == 2);
  CHECK(Rv(t->ChangePin(Secret(kPin), Secret("5678"))) == CKR_OK);
  CHECK(t->Info().pin_tries_left == 3);
  CHECK((t->Info().flags & CKF_USER_PIN_TO_BE_CHANGED) == 0);
  CHECK(Rv(t->LoginUser(Secret(kPin))) == CKR_PIN_INCORRECT);
  CHECK(Rv(t->LoginUser(Secret("5678"))) == CKR_OK);
  CHECK(Rv(t->ChangePuk(Secret(kPuk), Secret("13572468"))) == CKR_OK);
  CHECK(Rv(t->LoginSo(Secret(kPuk))) == CKR_PIN_INCORRECT);
  CHECK(Rv(t->LoginSo(Secret("13572468"))) == CKR_OK);
}

TEST_CASE("a new PIN must meet the policy, and a refusal costs no try") {
  TempDir dir;
  TokenPolicy policy = CheapPolicy();
  policy.pin_digits_only = true;
  policy.pin_max = 8;
  auto t = NewToken(dir, policy);
  CHECK(Rv(t->ChangePin(Secret(kPin), Secret("123"))) == CKR_PIN_LEN_RANGE);
  CHECK(Rv(t->ChangePin(Secret(kPin), Secret("123456789"))) == CKR_PIN_LEN_RANGE);
  CHECK(Rv(t->ChangePin(Secret(kPin), Secret("12a4"))) == CKR_PIN_INVALID);
  CHECK(Rv(t->ChangePin(Secret(kPin), Secret(std::string("12\0" "4", 4)))) == CKR_PIN_INVALID);
  CHECK(t->Info().pin_tries_left == 3);
  CHECK(t->Info().flags & CKF_USER_PIN_TO_BE_CHANGED);

  TempDir dir2;
  auto t2 = NewToken(dir2);  // not digits-only: letters pass, control characters do not
  CHECK(Rv(t2->ChangePin(Secret(kPin), Secret("ab\tc"))) == CKR_PIN_INVALID);
  CHECK(Rv(t2->ChangePin(Secret(kPin), Secret("abcd"))) == CKR_OK);
}

TEST_CASE("creation checks the label, name, policy and secrets") {
  TempDir dir;
  auto create = [&](const std::string& label, const std::string& puk, const std::optional<Secret>& pin,
                    const std::string& file = "t.db", const std::string& name = "n") {
    auto r = EmulatedToken::Create(dir.db(file), 1, name, label, Secret(puk), pin, CheapPolicy());
    return r ? CKR_OK : r.error().rv;
  };
  CHECK(create(std::string(33, 'a'), kPuk, std::nullopt) == CKR_ARGUMENTS_BAD);
  CHECK(create("a:b", kPuk, std::nullopt) == CKR_ARGUMENTS_BAD);
  CHECK(create(std::string("a\0b", 3), kPuk, std::nullopt) == CKR_ARGUMENTS_BAD);
  CHECK(create("ok", kPuk, std::nullopt, "t.db", "a/b") == CKR_ARGUMENTS_BAD);
  CHECK(create("ok", "12", std::nullopt) == CKR_PIN_LEN_RANGE);
  CHECK(create("ok", kPuk, Secret("1")) == CKR_PIN_LEN_RANGE);
  CHECK_FALSE(std::filesystem::exists(dir.db("t.db")));
  CHECK(create(std::string(32, 'a'), kPuk, std::nullopt) == CKR_OK);
  CHECK(create("again", kPuk, std::nullopt) != CKR_OK);  // the database exists
  TokenPolicy bad = CheapPolicy();
  bad.kdf = "md5";
  CHECK_FALSE(EmulatedToken::Create(dir.db("x.db"), 1, "x", "x", Secret(kPuk), std::nullopt, bad));
  CHECK_FALSE(EmulatedToken::Open(dir.db("missing.db")));
}

TEST_CASE("a token without a user PIN needs C_InitPIN from the SO") {
  TempDir dir;
  auto t = NewToken(dir, CheapPolicy(), false);
  TokenInfo info = t->Info();
  CHECK((info.flags & (CKF_USER_PIN_INITIALIZED | CKF_USER_PIN_TO_BE_CHANGED | kUserCounterFlags)) == 0);
  CHECK(info.flags & CKF_TOKEN_INITIALIZED);
  CHECK(Rv(t->LoginUser(Secret(kPin))) == CKR_USER_PIN_NOT_INITIALIZED);
  CHECK(Rv(t->InitPin(Secret("2468"))) == CKR_USER_NOT_LOGGED_IN);
  REQUIRE(Rv(t->LoginSo(Secret(kPuk))) == CKR_OK);
  CHECK(Rv(t->InitPin(Secret("1"))) == CKR_PIN_LEN_RANGE);
  CHECK(Rv(t->InitPin(Secret("2468"))) == CKR_OK);
  t->Lock();
  info = t->Info();
  CHECK(info.flags & CKF_USER_PIN_INITIALIZED);
  CHECK((info.flags & CKF_USER_PIN_TO_BE_CHANGED) == 0);
  CHECK(Rv(t->LoginUser(Secret("2468"))) == CKR_OK);
}

TEST_CASE("reopening from disk keeps counters, flags, labels and objects") {
  TempDir dir;
  std::string serial;
  {
    auto t = NewToken(dir);
    serial = t->Info().serial;
    REQUIRE(Rv(t->LoginUser(Secret(kPin))) == CKR_OK);
    REQUIRE(t->GenerateKeyPair(CKM_EC_KEY_PAIR_GEN, EcPublicTemplate("prime256v1"), PrivateTemplate(), 1));
    CHECK(Rv(t->LoginUser(Secret("0000"))) == CKR_PIN_INCORRECT);
    CHECK(Rv(t->LoginSo(Secret("00000000"))) == CKR_PIN_INCORRECT);
  }
  auto t = EmulatedToken::Open(dir.db());
  REQUIRE(t);
  TokenInfo info = (*t)->Info();
  CHECK(info.serial == serial);
  CHECK(info.label == "Work token");
  CHECK(info.slot_id == 7);
  CHECK(info.pin_tries_left == 2);
  CHECK(info.puk_tries_left == 9);
  CHECK((info.flags & (kUserCounterFlags | kSoCounterFlags)) == (CKF_USER_PIN_COUNT_LOW | CKF_SO_PIN_COUNT_LOW));
  CHECK(info.flags & CKF_USER_PIN_TO_BE_CHANGED);
  CHECK((*t)->Objects(false, 1).size() == 1);  // the public key
  CHECK((*t)->Objects(true, 1).size() == 2);
}

TEST_CASE("the PUK resets the PIN without losing keys") {
  TempDir dir;
  auto t = NewToken(dir);
  REQUIRE(Rv(t->LoginUser(Secret(kPin))) == CKR_OK);
  auto pair = t->GenerateKeyPair(CKM_EC_KEY_PAIR_GEN, EcPublicTemplate("prime256v1"), PrivateTemplate(), 1);
  REQUIRE(pair);
  t->Lock();
  t.reset();
  auto reopened = EmulatedToken::Open(dir.db());
  REQUIRE(reopened);
  t = std::move(*reopened);
  for (int i = 0; i < 3; ++i) CHECK(Rv(t->LoginUser(Secret("0000"))) == CKR_PIN_INCORRECT);
  REQUIRE(Rv(t->Unblock(Secret(kPuk), Secret("97531"))) == CKR_OK);
  const Bytes hash = Sha256(Str("hello"));
  CHECK(t->Sign(pair->second.oid, CKM_ECDSA, {}, hash, 1).error().rv == CKR_USER_NOT_LOGGED_IN);
  REQUIRE(Rv(t->LoginUser(Secret("97531"))) == CKR_OK);
  auto sig = t->Sign(pair->second.oid, CKM_ECDSA, {}, hash, 1);
  REQUIRE(sig);
  CHECK(VerifyEcdsaRaw(PublicKeyOf(pair->first).get(), hash, *sig));
}

TEST_CASE("reinitializing checks the PUK and wipes the token") {
  TempDir dir;
  auto t = NewToken(dir);
  REQUIRE(Rv(t->LoginUser(Secret(kPin))) == CKR_OK);
  REQUIRE(t->GenerateKeyPair(CKM_EC_KEY_PAIR_GEN, EcPublicTemplate("prime256v1"), PrivateTemplate(), 1));
  REQUIRE(t->CreateObject({{CKA_CLASS, Ulong(CKO_DATA)}, {CKA_TOKEN, Bool(false)}}, true, 1));
  const auto gen = t->generation();
  CHECK(Rv(t->Reinitialize(Secret("00000000"), "fresh")) == CKR_PIN_INCORRECT);
  CHECK(t->Info().puk_tries_left == 9);
  CHECK(Rv(t->Reinitialize(Secret(kPuk), "bad:label")) == CKR_ARGUMENTS_BAD);
  CHECK(Rv(t->Reinitialize(Secret(kPuk), "fresh")) == CKR_OK);
  CHECK(t->generation() > gen);
  TokenInfo info = t->Info();
  CHECK(info.label == "fresh");
  CHECK(info.puk_tries_left == 10);
  CHECK((info.flags & (CKF_USER_PIN_INITIALIZED | CKF_USER_PIN_TO_BE_CHANGED)) == 0);
  CHECK(t->Objects(true, 1).empty());
  CHECK(Rv(t->LoginUser(Secret(kPin))) == CKR_USER_PIN_NOT_INITIALIZED);
  REQUIRE(Rv(t->LoginSo(Secret(kPuk))) == CKR_OK);
  CHECK(Rv(t->InitPin(Secret("1111"))) == CKR_OK);
  t.reset();
  auto reopened = EmulatedToken::Open(dir.db());
  REQUIRE(reopened);
  CHECK((*reopened)->Info().label == "fresh");
  CHECK((*reopened)->Objects(true, 1).empty());
  CHECK(Rv((*reopened)->LoginUser(Secret("1111"))) == CKR_OK);
}

TEST_CASE("PBKDF2 works as the alternative KDF") {
  TempDir dir;
  TokenPolicy policy = CheapPolicy();
  policy.kdf = "pbkdf2";
  policy.kdf_cost = 10;
  auto t = NewToken(dir, policy);
  CHECK(Rv(t->LoginUser(Secret("0000"))) == CKR_PIN_INCORRECT);
  CHECK(Rv(t->LoginUser(Secret(kPin))) == CKR_OK);
}

TEST_CASE("killing the agent during a PIN check never gives the try back") {
  TempDir dir;
  NewToken(dir).reset();
  // Make the KDF take very long (the stored cost no longer matches the
  // wrapping, so the check would fail anyway; what matters is the window).
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(dir.db().c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db, "UPDATE wrapped_keys SET kdf = 'pbkdf2', cost = 90000000 WHERE role = 'pin'", nullptr,
                       nullptr, nullptr) == SQLITE_OK);
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    auto t = EmulatedToken::Open(dir.db());
    if (t) (void)(*t)->LoginUser(Secret(kPin));
    _exit(0);
  }
  // Wait until the child has committed the decrement, then kill it mid-KDF.
  int tries = 3;
  for (int i = 0; i < 500 && tries == 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT pin_tries FROM counters", -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
      tries = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
  }
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  sqlite3_close(db);
  CHECK(WIFSIGNALED(status));
  auto t = EmulatedToken::Open(dir.db());
  REQUIRE(t);
  CHECK((*t)->Info().pin_tries_left == 2);
  CHECK((*t)->Info().flags & CKF_USER_PIN_COUNT_LOW);
}
