// The agent protocol without sockets: Dispatcher::Handle on real emulated
// tokens in a temp data directory.
#include <p11-kit/pkcs11.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>

#include "tests/agent/dispatcher_fixture.h"
#include "tokend/dispatcher.h"

using namespace vtoken;
using namespace vtoken::agent;
using wire::Json;

namespace {

using test::SecretBytes;

wire::Bytes Bool(bool v) { return {static_cast<std::uint8_t>(v)}; }

// The shared dispatcher fixture, plus emulated-token helpers.
struct Fixture : test::DispatcherFixture {
  std::uint64_t CreateToken(ConnectionState& c, const std::string& name, const std::string& pin = "1234",
                            const std::string& puk = "87654321") {
    Json reply = Call(c, {{"op", "token_create"}, {"name", name}, {"pin", SecretBytes(pin)}, {"puk", SecretBytes(puk)}});
    REQUIRE(reply["ok"].get<bool>());
    return reply["slot_id"].get<std::uint64_t>();
  }
  unsigned long Flags(std::uint64_t slot_id) { return Slot(slot_id)["token"]["flags"].get<unsigned long>(); }
};

Json LoginReq(std::uint64_t slot, unsigned long type, const std::string& pin) {
  return {{"op", "login"}, {"slot_id", slot}, {"user_type", type}, {"pin", SecretBytes(pin)}};
}

}  // namespace

TEST_CASE("hello must come first and its version must match", "[dispatcher]") {
  Fixture f;
  auto& c = f.Connect(false);
  CHECK(f.Rv(c, {{"op", "slots"}}) == "CKR_CRYPTOKI_NOT_INITIALIZED");
  CHECK(c.close_after_reply);

  auto& d = f.Connect(false);
  CHECK(f.Rv(d, {{"op", "hello"}, {"version", 2u}, {"client", "t"}, {"app", "t"}, {"pid", 1u}}) == "CKR_FUNCTION_FAILED");
  CHECK(d.close_after_reply);

  auto& e = f.Connect(true);
  CHECK_FALSE(e.close_after_reply);
  CHECK(f.Rv(e, {{"op", "hello"}, {"version", 1u}, {"client", "t"}, {"app", "t"}, {"pid", 1u}}) == "CKR_CRYPTOKI_ALREADY_INITIALIZED");
}

TEST_CASE("bad requests get CKR_ARGUMENTS_BAD and the connection stays", "[dispatcher]") {
  Fixture f;
  auto& c = f.Connect();
  CHECK(f.Rv(c, {{"op", "login"}, {"user_type", 1u}}) == "CKR_ARGUMENTS_BAD");  // no slot_id
  CHECK(f.Rv(c, {{"op", "login"}, {"slot_id", "one"}, {"user_type", 1u}}) == "CKR_ARGUMENTS_BAD");
  CHECK(f.Rv(c, {{"op", 7}}) == "CKR_ARGUMENTS_BAD");
  CHECK(f.Rv(c, {{"op", "no_such_op"}}) == "CKR_FUNCTION_NOT_SUPPORTED");
  Json no_id = f.dispatcher->Handle(c, {{"op", "slots"}});
  CHECK(no_id["error"] == "CKR_ARGUMENTS_BAD");
  CHECK_FALSE(c.close_after_reply);
  CHECK(f.Ok(c, {{"op", "slots"}}));
  CHECK(f.Rv(c, {{"op", "login"}, {"slot_id", 999u}, {"user_type", 1u}, {"pin", SecretBytes("1234")}}) == "CKR_SLOT_ID_INVALID");
}

TEST_CASE("slot snapshot: sorted by slot id, free slot last", "[dispatcher]") {
  Fixture f;
  auto& c = f.Connect(true, true);
  const auto a = f.CreateToken(c, "alpha");
  const auto b = f.CreateToken(c, "beta");
  Json slots = f.Call(c, {{"op", "slots"}})["slots"];
  REQUIRE(slots.size() == 3);
  CHECK(slots[0]["slot_id"] == a);
  CHECK(slots[1]["slot_id"] == b);
  CHECK(a < b);
  CHECK(slots[2]["kind"] == "free");
  CHECK(slots[0]["kind"] == "emulated");
  CHECK(slots[0]["name"] == "alpha");
  CHECK(slots[0]["present"] == true);
  CHECK((slots[0]["token"]["flags"].get<unsigned long>() & CKF_TOKEN_INITIALIZED));
  CHECK_FALSE((slots[2]["token"]["flags"].get<unsigned long>() & CKF_TOKEN_INITIALIZED));
  REQUIRE_FALSE(f.sink.broadcast.empty());
  CHECK(f.sink.broadcast.back()["event"] == "slots");
  CHECK(f.sink.broadcast.back()["slots"] == slots);
}

TEST_CASE("login states", "[dispatcher]") {
  Fixture f;
  auto& c = f.Connect();
  auto& other = f.Connect();
  const auto slot = f.CreateToken(c, "work");
  CHECK(f.Rv(c, {{"op", "logout"}, {"slot_id", slot}}) == "CKR_USER_NOT_LOGGED_IN");
  CHECK(f.Rv(c, LoginReq(slot, CKU_CONTEXT_SPECIFIC, "1234")) == "CKR_USER_NOT_LOGGED_IN");
  CHECK(f.Rv(c, LoginReq(slot, 7, "1234")) == "CKR_USER_TYPE_INVALID");
  // No PIN: the agent cannot ask for one; with no_prompt it says a prompt was needed.
  CHECK(f.Rv(c, {{"op", "login"}, {"slot_id", slot}, {"user_type", 1u}, {"pin", nullptr}}) == "CKR_ARGUMENTS_BAD");
  CHECK(f.Rv(c, {{"op", "login"}, {"slot_id", slot}, {"user_type", 1u}, {"pin", nullptr}, {"no_prompt", true}}) ==
        "CKR_VTOKEN_PROMPT_REQUIRED");
  CHECK(f.Rv(c, {{"op", "login"}, {"slot_id", slot}, {"user_type", 1u}, {"no_prompt", "yes"}}) == "CKR_ARGUMENTS_BAD");

  Json wrong = f.Call(c, LoginReq(slot, CKU_USER, "0000"));
  CHECK(wrong["error"] == "CKR_PIN_INCORRECT");
  CHECK(wrong["message"] == "wrong PIN for token 'work' (2 tries left)");
  CHECK((f.Flags(slot) & CKF_USER_PIN_COUNT_LOW));

  CHECK(f.Ok(c, LoginReq(slot, CKU_USER, "1234")));
  CHECK_FALSE((f.Flags(slot) & CKF_USER_PIN_COUNT_LOW));  // a success restores the counter
  CHECK(f.Rv(c, LoginReq(slot, CKU_USER, "1234")) == "CKR_USER_ALREADY_LOGGED_IN");
  CHECK(f.Rv(c, LoginReq(slot, CKU_SO, "87654321")) == "CKR_USER_ANOTHER_ALREADY_LOGGED_IN");
  // Login belongs to the connection: the other one is not logged in, and may log in as SO.
  CHECK(f.Rv(other, {{"op", "logout"}, {"slot_id", slot}}) == "CKR_USER_NOT_LOGGED_IN");
  CHECK(f.Ok(other, LoginReq(slot, CKU_SO, "87654321")));
  CHECK(f.Rv(other, LoginReq(slot, CKU_USER, "1234")) == "CKR_USER_ANOTHER_ALREADY_LOGGED_IN");
  CHECK(f.Ok(c, {{"op", "logout"}, {"slot_id", slot}}));
  CHECK(f.Ok(other, {{"op", "logout"}, {"slot_id", slot}}));

  SECTION("PIN lockout") {
    CHECK(f.Rv(c, LoginReq(slot, CKU_USER, "0000")) == "CKR_PIN_INCORRECT");
    Json last = f.Call(c, LoginReq(slot, CKU_USER, "0000"));
    CHECK(last["message"] == "wrong PIN for token 'work' (1 try left)");
    CHECK((f.Flags(slot) & CKF_USER_PIN_FINAL_TRY));
    CHECK(f.Rv(c, LoginReq(slot, CKU_USER, "0000")) == "CKR_PIN_INCORRECT");
    CHECK((f.Flags(slot) & CKF_USER_PIN_LOCKED));
    Json locked = f.Call(c, LoginReq(slot, CKU_USER, "1234"));
    CHECK(locked["error"] == "CKR_PIN_LOCKED");
    CHECK(locked["message"].get<std::string>().find("PUK") != std::string::npos);
  }
}

TEST_CASE("set_pin semantics", "[dispatcher]") {
  Fixture f;
  auto& c = f.Connect();
  const auto slot = f.CreateToken(c, "work");
  auto set_pin = [&](const std::string& old_pin, const std::string& new_pin) {
    return f.Rv(c, {{"op", "set_pin"}, {"slot_id", slot}, {"old_pin", SecretBytes(old_pin)}, {"new_pin", SecretBytes(new_pin)}});
  };
  CHECK((f.Flags(slot) & CKF_USER_PIN_TO_BE_CHANGED));
  // Not logged in, PIN not locked: old_pin is the user PIN.
  CHECK(set_pin("1234", "2345") == "CKR_OK");
  CHECK_FALSE((f.Flags(slot) & CKF_USER_PIN_TO_BE_CHANGED));
  CHECK(set_pin("87654321", "3456") == "CKR_PIN_INCORRECT");  // the PUK is not the PIN
  // User logged in: old_pin is the user PIN.
  REQUIRE(f.Ok(c, LoginReq(slot, CKU_USER, "2345")));
  CHECK(set_pin("2345", "3456") == "CKR_OK");
  REQUIRE(f.Ok(c, {{"op", "logout"}, {"slot_id", slot}}));
  // SO logged in: old_pin is the PUK and the PUK changes.
  REQUIRE(f.Ok(c, LoginReq(slot, CKU_SO, "87654321")));
  CHECK(set_pin("87654321", "11112222") == "CKR_OK");
  REQUIRE(f.Ok(c, {{"op", "logout"}, {"slot_id", slot}}));
  CHECK(f.Rv(c, LoginReq(slot, CKU_SO, "87654321")) == "CKR_PIN_INCORRECT");
  // Not logged in, PIN locked: old_pin is the PUK and the PIN is reset.
  for (int i = 0; i < 3; ++i) f.Call(c, LoginReq(slot, CKU_USER, "0000"));
  REQUIRE((f.Flags(slot) & CKF_USER_PIN_LOCKED));
  CHECK(set_pin("11112222", "4567") == "CKR_OK");
  CHECK_FALSE((f.Flags(slot) & CKF_USER_PIN_LOCKED));
  CHECK(f.Ok(c, LoginReq(slot, CKU_USER, "4567")));
}

TEST_CASE("unplug drops every login, plug brings the token back logged out", "[dispatcher]") {
  Fixture f;
  auto& c = f.Connect(true, true);
  auto& quiet = f.Connect(true, false);
  const auto slot = f.CreateToken(c, "usb");
  REQUIRE(f.Ok(c, LoginReq(slot, CKU_USER, "1234")));
  REQUIRE(f.Ok(quiet, LoginReq(slot, CKU_USER, "1234")));
  f.sink.broadcast.clear();
  f.sink.sent.clear();

  REQUIRE(f.Ok(c, {{"op", "token_unplug"}, {"name", "usb"}}));
  REQUIRE(f.sink.sent.size() == 1);  // only the connection that asked for events
  CHECK(f.sink.sent[0].first == c.id);
  CHECK(f.sink.sent[0].second == Json{{"event", "logged_out"}, {"slot_id", slot}});
  REQUIRE_FALSE(f.sink.broadcast.empty());
  CHECK(f.sink.broadcast.back()["event"] == "slots");
  CHECK(f.Slot(slot)["present"] == false);
  CHECK(f.Rv(c, LoginReq(slot, CKU_USER, "1234")) == "CKR_TOKEN_NOT_PRESENT");
  CHECK(f.Rv(c, {{"op", "objects"}, {"slot_id", slot}}) == "CKR_TOKEN_NOT_PRESENT");
  CHECK(f.Rv(c, {{"op", "token_change_pin"}, {"name", "usb"}, {"old_pin", SecretBytes("1234")}, {"new_pin", SecretBytes("4321")}}) ==
        "CKR_TOKEN_NOT_PRESENT");

  REQUIRE(f.Ok(c, {{"op", "token_plug"}, {"name", "usb"}}));
  CHECK(f.Slot(slot)["present"] == true);
  CHECK(f.Rv(c, {{"op", "logout"}, {"slot_id", slot}}) == "CKR_USER_NOT_LOGGED_IN");
  CHECK(f.Rv(quiet, {{"op", "logout"}, {"slot_id", slot}}) == "CKR_USER_NOT_LOGGED_IN");
  CHECK(f.Ok(c, LoginReq(slot, CKU_USER, "1234")));
}

TEST_CASE("unplugged state survives a registry reload", "[dispatcher]") {
  Fixture f;
  auto& c = f.Connect();
  const auto slot = f.CreateToken(c, "usb");
  REQUIRE(f.Ok(c, {{"op", "token_unplug"}, {"name", "usb"}}));
  auto again = Registry::Open(f.xdg.data(), TokenPolicy{});
  REQUIRE(again);
  CHECK((*again)->Present(slot).error().rv == CKR_TOKEN_NOT_PRESENT);
  CHECK((*again)->free_slot_id() == f.registry->free_slot_id());
}

TEST_CASE("free slot -> init_token -> a new free slot; slot ids never reused", "[dispatcher]") {
  Fixture f;
  auto& c = f.Connect(true, true);
  const auto free_slot = f.registry->free_slot_id();
  CHECK(f.Rv(c, LoginReq(free_slot, CKU_SO, "87654321")) == "CKR_TOKEN_NOT_RECOGNIZED");
  CHECK(f.Call(c, {{"op", "objects"}, {"slot_id", free_slot}})["objects"] == Json::array());

  REQUIRE(f.Ok(c, {{"op", "init_token"}, {"slot_id", free_slot}, {"so_pin", SecretBytes("87654321")},
                   {"label", "My token                        "}}));
  Json slot = f.Slot(free_slot);
  CHECK(slot["kind"] == "emulated");
  CHECK(slot["name"] == "My-token");
  CHECK(slot["token"]["label"] == "My token");
  CHECK_FALSE((slot["token"]["flags"].get<unsigned long>() & CKF_USER_PIN_INITIALIZED));
  const auto new_free = f.registry->free_slot_id();
  CHECK(new_free > free_slot);
  CHECK(f.registry->Snapshot().back()["slot_id"] == new_free);

  // The SO sets the user PIN.
  CHECK(f.Rv(c, {{"op", "init_pin"}, {"slot_id", free_slot}, {"pin", SecretBytes("1234")}}) == "CKR_USER_NOT_LOGGED_IN");
  REQUIRE(f.Ok(c, LoginReq(free_slot, CKU_SO, "87654321")));
  REQUIRE(f.Ok(c, {{"op", "init_pin"}, {"slot_id", free_slot}, {"pin", SecretBytes("1234")}}));
  REQUIRE(f.Ok(c, {{"op", "logout"}, {"slot_id", free_slot}}));
  CHECK(f.Ok(c, LoginReq(free_slot, CKU_USER, "1234")));

  // Delete it: its slot id is gone for good, new tokens get new ids.
  REQUIRE(f.Ok(c, {{"op", "token_delete"}, {"name", "My-token"}}));
  CHECK(f.Rv(c, {{"op", "slots"}}) == "CKR_OK");
  CHECK(f.Rv(c, LoginReq(free_slot, CKU_USER, "1234")) == "CKR_SLOT_ID_INVALID");
  const auto next = f.CreateToken(c, "next");
  CHECK(next > new_free);
}

TEST_CASE("keys with CKA_ALWAYS_AUTHENTICATE need a context-specific login before each signature", "[dispatcher]") {
  Fixture f;
  auto& c = f.Connect(true, true);
  const auto slot = f.CreateToken(c, "sig");
  const wire::Bytes p256{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
  wire::Attributes pub{{CKA_TOKEN, Bool(true)}, {CKA_EC_PARAMS, p256}, {CKA_VERIFY, Bool(true)}};
  wire::Attributes priv{{CKA_TOKEN, Bool(true)}, {CKA_SIGN, Bool(true)}, {CKA_PRIVATE, Bool(true)},
                        {CKA_SENSITIVE, Bool(true)}, {CKA_ALWAYS_AUTHENTICATE, Bool(true)}};
  Json gen{{"op", "generate_key_pair"}, {"slot_id", slot}, {"mechanism", CKM_EC_KEY_PAIR_GEN},
           {"public_attrs", wire::EncodeAttributes(pub)}, {"private_attrs", wire::EncodeAttributes(priv)}};
  CHECK(f.Rv(c, gen) == "CKR_USER_NOT_LOGGED_IN");
  REQUIRE(f.Ok(c, LoginReq(slot, CKU_USER, "1234")));
  f.sink.broadcast.clear();
  Json keys = f.Call(c, gen);
  REQUIRE(keys["ok"] == true);
  REQUIRE_FALSE(f.sink.broadcast.empty());
  CHECK(f.sink.broadcast.back()["event"] == "objects");
  const auto oid = keys["private"]["oid"].get<std::uint64_t>();
  const wire::Bytes hash(32, 0x5a);
  Json sign{{"op", "sign"}, {"slot_id", slot}, {"oid", oid}, {"mechanism", CKM_ECDSA}, {"data", wire::Binary(hash)}};

  CHECK(f.Rv(c, sign) == "CKR_USER_NOT_LOGGED_IN");
  CHECK(f.Rv(c, LoginReq(slot, CKU_CONTEXT_SPECIFIC, "0000")) == "CKR_PIN_INCORRECT");
  CHECK((f.Flags(slot) & CKF_USER_PIN_COUNT_LOW));  // counted like a user login
  REQUIRE(f.Ok(c, LoginReq(slot, CKU_CONTEXT_SPECIFIC, "1234")));
  Json signed_once = f.Call(c, sign);
  REQUIRE(signed_once["ok"] == true);
  CHECK(signed_once["signature"].get_binary().size() == 64);
  CHECK(f.Rv(c, sign) == "CKR_USER_NOT_LOGGED_IN");  // one login, one signature

  // A second connection sees the public key, not the private one, until it logs in.
  auto& other = f.Connect();
  Json objects = f.Call(other, {{"op", "objects"}, {"slot_id", slot}})["objects"];
  for (const auto& o : objects) CHECK(o["oid"] != oid);
  CHECK(f.Rv(other, sign) == "CKR_USER_NOT_LOGGED_IN");
}

TEST_CASE("token management ops", "[dispatcher]") {
  Fixture f;
  auto& c = f.Connect();
  Json created = f.Call(c, {{"op", "token_create"}, {"name", "gen"}});
  REQUIRE(created["ok"] == true);
  const std::string pin = created["pin"], puk = created["puk"];
  CHECK(pin.size() == 6);
  CHECK(puk.size() == 8);
  CHECK(pin.find_first_not_of("0123456789") == std::string::npos);
  CHECK(f.Rv(c, {{"op", "token_create"}, {"name", "gen"}}) == "CKR_ARGUMENTS_BAD");      // exists
  CHECK(f.Rv(c, {{"op", "token_create"}, {"name", "../x"}}) == "CKR_ARGUMENTS_BAD");     // not a name
  CHECK(f.Rv(c, {{"op", "token_delete"}, {"name", "nothing"}}) == "CKR_ARGUMENTS_BAD");

  Json wrong = f.Call(c, {{"op", "token_change_pin"}, {"name", "gen"}, {"old_pin", "999999"}, {"new_pin", "5678"}});
  CHECK(wrong["message"] == "wrong PIN for token 'gen' (2 tries left)");
  CHECK(f.Ok(c, {{"op", "token_change_pin"}, {"name", "gen"}, {"old_pin", pin}, {"new_pin", "5678"}}));
  CHECK(f.Ok(c, {{"op", "token_unblock"}, {"name", "gen"}, {"puk", puk}, {"new_pin", "6789"}}));
  CHECK(f.Ok(c, LoginReq(f.registry->ByName("gen")->slot_id, CKU_USER, "6789")));

  Json list = f.Call(c, {{"op", "token_list"}})["tokens"];
  REQUIRE(list.size() == 1);
  CHECK(list[0]["name"] == "gen");
  CHECK(list[0]["plugged"] == true);
  CHECK(list[0]["pin_tries_left"] == 3);
  CHECK(list[0]["key_count"] == 0);

  Json status = f.Call(c, {{"op", "status"}});
  CHECK(status["connections"] == 1);
  CHECK(status["slots"].size() == 2);
  CHECK(f.Rv(c, {{"op", "shutdown"}}) == "CKR_FUNCTION_NOT_SUPPORTED");  // no handler in tests
}
