// WipeSecrets zeroes the secret fields of a message in place. Every check reads
// the bytes through the message's own buffers while the message still lives
// (reading them after the free would be undefined behaviour).
#include <catch2/catch.hpp>

#include <algorithm>

#include "common/wire.h"

using vtoken::Secret;
using namespace vtoken::wire;

namespace {

bool AllZero(const std::uint8_t* p, std::size_t n) { return std::all_of(p, p + n, [](std::uint8_t b) { return b == 0; }); }
bool AllZero(const Json& v) {
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    return AllZero(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
  }
  const auto& b = v.get_binary();
  return AllZero(b.data(), b.size());
}

}  // namespace

TEST_CASE("WipeSecrets zeroes secret byte and text fields in place and leaves the rest") {
  Json m{{"id", 3u},
         {"op", "set_pin"},
         {"name", "work"},
         {"data", Binary(Bytes{1, 2, 3})},
         {"old_pin", Binary(Secret("123456"))},
         {"new_pin", "a new PIN longer than the small-string buffer"},
         {"puk", "12345678"}};
  const std::uint8_t* old_pin = m["old_pin"].get_binary().data();
  const std::string& new_pin = m["new_pin"].get_ref<const std::string&>();
  const char* new_pin_bytes = new_pin.data();
  const char* puk_bytes = m["puk"].get_ref<const std::string&>().data();

  WipeSecrets(m);

  // Same buffers, same lengths, zero bytes: wiped where they live.
  CHECK(m["old_pin"].get_binary().data() == old_pin);
  CHECK(m["old_pin"].get_binary().size() == 6);
  CHECK(AllZero(old_pin, 6));
  CHECK(new_pin.data() == new_pin_bytes);
  CHECK(new_pin.size() == 45);
  CHECK(AllZero(reinterpret_cast<const std::uint8_t*>(new_pin_bytes), 45));
  CHECK(AllZero(reinterpret_cast<const std::uint8_t*>(puk_bytes), 8));
  // Everything else as it was.
  CHECK(*GetUint(m, "id") == 3u);
  CHECK(*GetString(m, "op") == "set_pin");
  CHECK(*GetString(m, "name") == "work");
  CHECK(*GetBytes(m, "data") == Bytes{1, 2, 3});
}

TEST_CASE("WipeSecrets finds secret fields in nested maps and lists") {
  Json m{{"op", "cloud_login"},
         {"params", {{"password", "hunter2"}, {"label", "kept"}}},
         {"list", Json::array({Json{{"otp", Binary(Bytes{9, 9, 9})}, {"hash", Binary(Bytes{7})}}})},
         // Everything inside a secret field is secret, however it is shaped.
         {"code", Json::array({"123456", Json{{"inner", Binary(Bytes{5, 5})}}})}};
  WipeSecrets(m);
  CHECK(AllZero(m["params"]["password"]));
  CHECK(m["params"]["password"].get_ref<const std::string&>().size() == 7);
  CHECK(*GetString(m["params"], "label") == "kept");
  CHECK(AllZero(m["list"][0]["otp"]));
  CHECK(*GetBytes(m["list"][0], "hash") == Bytes{7});
  CHECK(AllZero(m["code"][0]));
  CHECK(AllZero(m["code"][1]["inner"]));
  CHECK(*GetString(m, "op") == "cloud_login");
}

TEST_CASE("WipeSecrets leaves absent, null and non-text secret fields alone") {
  Json m{{"pin", nullptr}, {"code", 42u}, {"otp", true}, {"op", "login"}};
  const Json before = m;
  WipeSecrets(m);
  CHECK(m == before);

  Json empty = Json::object();
  WipeSecrets(empty);
  CHECK(empty == Json::object());

  // Not a map: a bare string is not under any secret field.
  Json text = "pin";
  WipeSecrets(text);
  CHECK(text == "pin");
  Json list = Json::array({"a", Binary(Bytes{1})});
  WipeSecrets(list);
  CHECK(list[0] == "a");
  CHECK(list[1].get_binary()[0] == 1);
}

TEST_CASE("WipeSecrets stops at kMaxNesting") {
  Json m{{"pin", "1234"}};
  Json* deep = &m;
  for (int i = 0; i < 10000; ++i) deep = &((*deep)["n"] = Json::object());
  (*deep)["pin"] = "5678";  // below the cap: left as it is
  WipeSecrets(m);
  CHECK(AllZero(m["pin"]));
  CHECK(*deep == Json{{"pin", "5678"}});
}

TEST_CASE("WipeSecretsOnExit wipes on the way out of a scope") {
  Json reply{{"slot_id", 2u}, {"pin", SecretText(Secret("246810"))}, {"puk", SecretText(Secret("13579135"))}};
  CHECK(reply["pin"] == "246810");
  CHECK(reply["puk"] == "13579135");
  {
    WipeSecretsOnExit wipe(reply);
    CHECK(reply["pin"] == "246810");  // still readable inside the scope
  }
  CHECK(AllZero(reply["pin"]));
  CHECK(AllZero(reply["puk"]));
  CHECK(reply["slot_id"] == 2u);
}

TEST_CASE("a frame encoded before the wipe still carries the secret") {
  Json request{{"id", 1u}, {"op", "login"}, {"pin", Binary(Secret("1234"))}};
  Bytes frame = EncodeFrame(request);
  WipeSecrets(request);
  FrameReader reader;
  reader.Feed(frame);
  auto got = reader.Next();
  REQUIRE(got.has_value());
  REQUIRE(*got);
  CHECK(*GetBytes(**got, "pin") == Bytes{'1', '2', '3', '4'});
  CHECK(AllZero(request["pin"]));
}
