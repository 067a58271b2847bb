#include <catch2/catch.hpp>

#include <string>

#include "oauth_pending.h"

using namespace vtoken::service;

namespace {
PendingSignIn From(const std::string& address, std::int64_t expires = 1000) {
  PendingSignIn p;
  p.client_id = "app";
  p.address = address;
  p.expires = expires;
  return p;
}

void SignIn(PendingSignIns& table, const std::string& id) {
  auto* p = table.Find(id);
  REQUIRE(p != nullptr);
  p->account = 1;
}
}  // namespace

TEST_CASE("pending sign-ins: an address over its limit loses its own oldest", "[oauth]") {
  PendingSignIns table(10, 3);
  REQUIRE(table.Add("other", From("10.0.0.2")));
  for (int i = 0; i < 3; ++i) REQUIRE(table.Add("a" + std::to_string(i), From("10.0.0.1")));
  SignIn(table, "a0");  // signed in or not, the flooder's oldest goes first
  REQUIRE(table.Add("a3", From("10.0.0.1")));
  CHECK(table.Find("a0") == nullptr);
  CHECK(table.Find("a1") != nullptr);
  CHECK(table.Find("a3") != nullptr);
  CHECK(table.Find("other") != nullptr);
  CHECK(table.size() == 4);
}

TEST_CASE("pending sign-ins: a full table pushes out the oldest not signed in", "[oauth]") {
  PendingSignIns table(4, 4);
  REQUIRE(table.Add("s0", From("10.0.0.1")));
  REQUIRE(table.Add("s1", From("10.0.0.2")));
  REQUIRE(table.Add("s2", From("10.0.0.3")));
  REQUIRE(table.Add("s3", From("10.0.0.4")));
  SignIn(table, "s0");
  REQUIRE(table.Add("s4", From("10.0.0.5")));
  CHECK(table.Find("s0") != nullptr);  // a person waiting for consent stays
  CHECK(table.Find("s1") == nullptr);  // the oldest nobody signed in to goes
  CHECK(table.Find("s4") != nullptr);
  CHECK(table.size() == 4);
}

TEST_CASE("pending sign-ins: a table full of signed-in sign-ins refuses and keeps them all", "[oauth]") {
  PendingSignIns table;  // the service's limits: 1000 in all, 64 per address
  for (int i = 0; i < 1000; ++i) {
    const std::string id = "s" + std::to_string(i);
    REQUIRE(table.Add(id, From("10.0." + std::to_string(i / 64) + ".1")));
    SignIn(table, id);
  }
  CHECK_FALSE(table.Add("late", From("10.9.9.9")));
  CHECK(table.Find("late") == nullptr);
  CHECK(table.size() == 1000);
  for (int i = 0; i < 1000; ++i) CHECK(table.Find("s" + std::to_string(i)) != nullptr);
  // Once one of them finishes (consent erases it), there is room again.
  table.Erase("s500");
  CHECK(table.Add("late", From("10.9.9.9")));
}

TEST_CASE("pending sign-ins: expiry removes what is due and nothing else", "[oauth]") {
  PendingSignIns table;
  REQUIRE(table.Add("early", From("10.0.0.1", 100)));
  REQUIRE(table.Add("late", From("10.0.0.1", 200)));
  table.Expire(99);
  CHECK(table.size() == 2);
  table.Expire(100);
  CHECK(table.Find("early") == nullptr);
  CHECK(table.Find("late") != nullptr);
}
