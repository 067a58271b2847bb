#include <catch2/catch.hpp>
#include <p11-kit/pkcs11.h>

#include "common/wire.h"

using namespace vtoken::wire;

TEST_CASE("a message survives a frame round trip") {
  Json m{{"id", 7u}, {"op", "sign"}, {"data", Binary(Bytes{1, 2, 3})}};
  Bytes frame = EncodeFrame(m);
  REQUIRE(frame.size() > 4);
  FrameReader reader;
  // Feed one byte at a time: a stream may cut anywhere.
  std::optional<Json> got;
  for (auto b : frame) {
    reader.Feed(std::span(&b, 1));
    auto next = reader.Next();
    REQUIRE(next.has_value());
    if (*next) got = std::move(*next);
  }
  REQUIRE(got);
  CHECK(*GetUint(*got, "id") == 7u);
  CHECK(*GetString(*got, "op") == "sign");
  CHECK(*GetBytes(*got, "data") == Bytes{1, 2, 3});
}

TEST_CASE("garbage and oversized frames are refused") {
  FrameReader reader;
  Bytes oversized{0x7f, 0xff, 0xff, 0xff};
  reader.Feed(oversized);
  auto r = reader.Next();
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().rv == CKR_DATA_LEN_RANGE);

  FrameReader garbage;
  Bytes bad{0, 0, 0, 3, 0xff, 0xff, 0xff};
  garbage.Feed(bad);
  auto g = garbage.Next();
  REQUIRE_FALSE(g.has_value());

  // A valid CBOR value that is not a map.
  auto arr = DecodePayload(Json::to_cbor(Json::array({1, 2})));
  REQUIRE_FALSE(arr.has_value());
  CHECK(arr.error().rv == CKR_ARGUMENTS_BAD);
}

TEST_CASE("typed getters refuse wrong types and long values") {
  Json m{{"n", -1}, {"s", std::string(100, 'x')}, {"b", "not bytes"}};
  CHECK_FALSE(GetUint(m, "n").has_value());
  CHECK_FALSE(GetUint(m, "missing").has_value());
  CHECK_FALSE(GetString(m, "s", 10).has_value());
  CHECK(GetString(m, "s").has_value());
  CHECK_FALSE(GetBytes(m, "b").has_value());
  auto secret = GetOptionalSecret(m, "missing");
  REQUIRE(secret.has_value());
  CHECK_FALSE(secret->has_value());
}

TEST_CASE("attributes and errors round trip") {
  Attributes attrs{{CKA_LABEL, Bytes{'a', 'b'}}, {CKA_ID, Bytes{}}};
  Json m{{"attrs", EncodeAttributes(attrs)}};
  auto back = DecodeAttributes(m, "attrs");
  REQUIRE(back.has_value());
  CHECK(*back == attrs);

  Json reply = ErrorReply(3, vtoken::Error{CKR_PIN_INCORRECT, "wrong PIN"});
  CHECK(reply["error"] == "CKR_PIN_INCORRECT");
  auto e = ErrorFromReply(reply);
  CHECK(e.rv == CKR_PIN_INCORRECT);
  CHECK(e.message == "wrong PIN");
}

TEST_CASE("a frame nested deeper than kMaxNesting is refused, not recursed into") {
  // 100000 nested one-element arrays: enough to overflow a thread's stack in
  // nlohmann::json's recursive CBOR reader without the cap.
  auto nested = [](int depth) {
    Bytes payload{0xa1, 0x61, 'x'};  // {"x": [[[...{}...]]]}
    payload.insert(payload.end(), depth, 0x81);
    payload.push_back(0xa0);
    return payload;
  };
  auto deep = DecodePayload(nested(100000));
  REQUIRE_FALSE(deep.has_value());
  CHECK(deep.error().rv == CKR_ARGUMENTS_BAD);
  CHECK(deep.error().message == "frame nested too deeply");
  // At the cap (the outer map, kMaxNesting - 2 arrays, the inner map) it parses.
  auto at_cap = DecodePayload(nested(kMaxNesting - 2));
  REQUIRE(at_cap.has_value());
  CHECK(at_cap->contains("x"));
  CHECK_FALSE(DecodePayload(nested(kMaxNesting - 1)).has_value());
}

TEST_CASE("a map or array declaring more entries than a frame can hold is refused, not thrown") {
  // Found by fuzz/agent_dispatch_fuzz.cpp: nlohmann throws out_of_range for a
  // declared length over the container's max_size, which killed the agent.
  const Bytes huge_map{0xa1, 0x61, 'a', 0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb};    // {"a": map(0xbb..bb)}
  const Bytes huge_array{0xa1, 0x61, 'a', 0x9b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};  // {"a": array(2^63-1)}
  const Bytes huge_top{0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb};
  const Bytes just_over{0xa1, 0x61, 'a', 0x9a, 0x00, 0x10, 0x00, 0x01};  // array(kMaxFrameBytes + 1)
  for (const Bytes* payload : {&huge_map, &huge_array, &huge_top, &just_over}) {
    vtoken::Result<Json> decoded = Json();
    REQUIRE_NOTHROW(decoded = DecodePayload(*payload));
    REQUIRE_FALSE(decoded.has_value());
    CHECK(decoded.error().rv == CKR_ARGUMENTS_BAD);
    CHECK(decoded.error().message == "frame declares a map or array longer than any frame");
  }
  // A declared length the payload does not deliver is plain invalid CBOR
  // (2^64-1 is read as "indefinite": elements until a break that never comes).
  const Bytes short_array{0xa1, 0x61, 'a', 0x83, 0x01};
  const Bytes endless_array{0xa1, 0x61, 'a', 0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
  for (const Bytes* payload : {&short_array, &endless_array}) {
    auto truncated = DecodePayload(*payload);
    REQUIRE_FALSE(truncated.has_value());
    CHECK(truncated.error().message == "frame is not valid CBOR");
  }
}
