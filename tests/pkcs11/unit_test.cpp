// Unit tests of the module's internals (no agent, no dlopen).
#include <catch2/catch.hpp>

#include <cstring>
#include <new>
#include <stdexcept>
#include <atomic>
#include <thread>

#include "pkcs11/bridge.h"
#include "pkcs11/buffer.h"
#include "pkcs11/crypto.h"
#include "pkcs11/handle_map.h"
#include "pkcs11/mechanisms.h"
#include "pkcs11/object.h"
#include "pkcs11/object_cache.h"
#include "pkcs11/slot_cache.h"

using namespace vtoken;
using namespace vtoken::pkcs11;

namespace {
wire::Bytes Ulong(CK_ULONG v) {
  wire::Bytes b(sizeof v);
  std::memcpy(b.data(), &v, sizeof v);
  return b;
}
wire::Bytes Bool(bool v) { return wire::Bytes{static_cast<std::uint8_t>(v ? 1 : 0)}; }
wire::Bytes Text(const char* s) { return wire::Bytes(s, s + std::strlen(s)); }
}  // namespace

TEST_CASE("the bridge barrier turns exceptions and errors into CK_RV") {
  CHECK(Guard("C_Test", [] { return Result<void>{}; }) == CKR_OK);
  CHECK(Guard("C_Test", [] { return Result<void>(Fail(CKR_PIN_INCORRECT, "wrong")); }) == CKR_PIN_INCORRECT);
  CHECK(Guard("C_Test", []() -> Result<void> { throw std::bad_alloc(); }) == CKR_HOST_MEMORY);
  CHECK(Guard("C_Test", []() -> Result<void> { throw std::runtime_error("boom"); }) == CKR_GENERAL_ERROR);
  CHECK(Guard("C_Test", []() -> Result<void> { throw 42; }) == CKR_GENERAL_ERROR);
  // An Error that claims CKR_OK is still a failure.
  CHECK(Guard("C_Test", [] { return Result<void>(Fail(CKR_OK, "confused")); }) == CKR_GENERAL_ERROR);
}

TEST_CASE("the output buffer convention") {
  const wire::Bytes data{1, 2, 3, 4};
  CK_ULONG len = 0;
  SECTION("NULL buffer is a length query") {
    auto r = CopyOutput(data, nullptr, &len);
    REQUIRE(r);
    CHECK(*r == Output::kLengthQuery);
    CHECK(len == 4);
  }
  SECTION("too small reports the needed length") {
    CK_BYTE out[2];
    len = sizeof out;
    auto r = CopyOutput(data, out, &len);
    REQUIRE_FALSE(r);
    CHECK(r.error().rv == CKR_BUFFER_TOO_SMALL);
    CHECK(len == 4);
    CHECK_FALSE(ErrorEndsOperation(r.error()));
  }
  SECTION("big enough copies and sets the length") {
    CK_BYTE out[10] = {};
    len = sizeof out;
    auto r = CopyOutput(data, out, &len);
    REQUIRE(r);
    CHECK(*r == Output::kFits);
    CHECK(len == 4);
    CHECK(out[3] == 4);
  }
  SECTION("NULL length pointer") {
    auto r = CopyOutput(data, nullptr, nullptr);
    REQUIRE_FALSE(r);
    CHECK(r.error().rv == CKR_ARGUMENTS_BAD);
  }
  CHECK(ErrorEndsOperation(Error{CKR_DATA_LEN_RANGE, ""}));
}

TEST_CASE("blank padding of fixed-size text fields") {
  CK_UTF8CHAR label[32];
  PadString(label, "work");
  CHECK(std::string(reinterpret_cast<char*>(label), 32) == "work" + std::string(28, ' '));
  PadString(label, std::string(40, 'x'));
  CHECK(std::string(reinterpret_cast<char*>(label), 32) == std::string(32, 'x'));
  CHECK(TrimPadded(label, 32).size() == 32);
  CK_UTF8CHAR small[4];
  PadString(small, "ab\xc3\xa9z");  // "abéz": é must not be cut in half
  CHECK(std::string(reinterpret_cast<char*>(small), 4) == "ab\xc3\xa9");
  PadString(small, "abc\xc3\xa9");
  CHECK(std::string(reinterpret_cast<char*>(small), 4) == "abc ");
  CK_UTF8CHAR padded[8] = {'a', 'b', ' ', ' ', ' ', ' ', ' ', ' '};
  CHECK(TrimPadded(padded, 8) == "ab");
}

TEST_CASE("handle map hands out unique, never reused handles") {
  HandleMap<int> map;
  const CK_ULONG a = map.Add(std::make_shared<int>(1));
  const CK_ULONG b = map.Add(std::make_shared<int>(2));
  CHECK(a != CK_INVALID_HANDLE);
  CHECK(a != b);
  CHECK(*map.Get(a) == 1);
  CHECK(map.Get(12345) == nullptr);
  CHECK(map.Remove(a) != nullptr);
  CHECK(map.Get(a) == nullptr);
  CHECK(map.Remove(a) == nullptr);
  const CK_ULONG c = map.Add(std::make_shared<int>(3));
  CHECK(c != a);
  CHECK(map.Count([](const int& v) { return v > 1; }) == 2);
  auto removed = map.RemoveIf([](const int& v) { return v == 3; });
  CHECK(removed.size() == 1);
  CHECK(map.size() == 1);
}

TEST_CASE("handle map is safe from many threads") {
  HandleMap<int> map;
  std::atomic<int> missing{0};  // Catch assertions are not thread-safe: count, check after
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        auto h = map.Add(std::make_shared<int>(i));
        if (map.Get(h) == nullptr) ++missing;
        map.Remove(h);
      }
    });
  for (auto& t : threads) t.join();
  CHECK(missing == 0);
  CHECK(map.size() == 0);
}

TEST_CASE("templates are copied with their NULL rules") {
  CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
  CK_ATTRIBUTE ok[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_LABEL, nullptr, 0}};
  auto copied = CopyTemplate(ok, 2);
  REQUIRE(copied);
  CHECK(copied->size() == 2);
  CHECK(FindIn(*copied, CKA_CLASS)->size() == sizeof(CK_ULONG));
  CHECK(FindIn(*copied, CKA_LABEL)->empty());
  CHECK(CopyTemplate(nullptr, 0));
  CHECK(CopyTemplate(nullptr, 1).error().rv == CKR_ARGUMENTS_BAD);
  CK_ATTRIBUTE bad[] = {{CKA_LABEL, nullptr, 5}};
  CHECK(CopyTemplate(bad, 1).error().rv == CKR_ARGUMENTS_BAD);
}

TEST_CASE("C_GetAttributeValue rules: every attribute processed, SoftHSMv2 precedence") {
  Object o;
  o.attrs[CKA_CLASS] = Ulong(CKO_PRIVATE_KEY);
  o.attrs[CKA_LABEL] = Text("key");
  o.attrs[CKA_SIGN] = Bool(true);
  o.sensitive.insert(CKA_PRIVATE_EXPONENT);

  SECTION("length query for all") {
    CK_ATTRIBUTE t[] = {{CKA_CLASS, nullptr, 0}, {CKA_LABEL, nullptr, 0}};
    REQUIRE(ReadAttributes(o, t, 2));
    CHECK(t[0].ulValueLen == sizeof(CK_ULONG));
    CHECK(t[1].ulValueLen == 3);
  }
  SECTION("sensitive wins over invalid and too small, and the rest is still filled") {
    char small[1];
    CK_BBOOL sign = CK_FALSE;
    CK_ATTRIBUTE t[] = {{CKA_LABEL, small, sizeof small},
                        {CKA_VALUE, nullptr, 0},
                        {CKA_PRIVATE_EXPONENT, nullptr, 0},
                        {CKA_SIGN, &sign, sizeof sign}};
    auto r = ReadAttributes(o, t, 4);
    REQUIRE_FALSE(r);
    CHECK(r.error().rv == CKR_ATTRIBUTE_SENSITIVE);
    CHECK(t[0].ulValueLen == CK_UNAVAILABLE_INFORMATION);
    CHECK(t[1].ulValueLen == CK_UNAVAILABLE_INFORMATION);
    CHECK(t[2].ulValueLen == CK_UNAVAILABLE_INFORMATION);
    CHECK(t[3].ulValueLen == 1);
    CHECK(sign == CK_TRUE);
  }
  SECTION("type invalid wins over buffer too small") {
    char small[1];
    CK_ATTRIBUTE t[] = {{CKA_LABEL, small, sizeof small}, {CKA_VALUE, nullptr, 0}};
    CHECK(ReadAttributes(o, t, 2).error().rv == CKR_ATTRIBUTE_TYPE_INVALID);
  }
  SECTION("buffer too small alone") {
    char small[1];
    CK_ATTRIBUTE t[] = {{CKA_LABEL, small, sizeof small}};
    CHECK(ReadAttributes(o, t, 1).error().rv == CKR_BUFFER_TOO_SMALL);
    CHECK(t[0].ulValueLen == CK_UNAVAILABLE_INFORMATION);
  }
  SECTION("matching a find template") {
    CHECK(Matches(o, {{CKA_CLASS, Ulong(CKO_PRIVATE_KEY)}}));
    CHECK_FALSE(Matches(o, {{CKA_CLASS, Ulong(CKO_PUBLIC_KEY)}}));
    CHECK_FALSE(Matches(o, {{CKA_PRIVATE_EXPONENT, Text("x")}}));  // withheld values never match
    CHECK(Matches(o, {}));
  }
}

TEST_CASE("a sensitive value sent by the agent is never served") {
  wire::Json j{{"oid", 7u},
               {"attrs", wire::EncodeAttributes({{CKA_VALUE, Text("secret")}, {CKA_LABEL, Text("l")}})},
               {"sensitive", wire::Json::array({CKA_VALUE})}};
  auto o = ParseObject(1, j);
  REQUIRE(o);
  CHECK((*o)->Find(CKA_VALUE) == nullptr);
  CHECK((*o)->sensitive.contains(CKA_VALUE));
  CHECK_FALSE(ParseObject(1, wire::Json{{"attrs", 1}}));
}

TEST_CASE("mechanism table advertises what is implemented") {
  CK_ULONG n = 0;
  REQUIRE(MechanismList(nullptr, &n));
  CHECK(n == Mechanisms().size());
  std::vector<CK_MECHANISM_TYPE> list(n - 1);
  CK_ULONG small = n - 1;
  CHECK(MechanismList(list.data(), &small).error().rv == CKR_BUFFER_TOO_SMALL);
  CHECK(small == n);
  CK_MECHANISM_INFO info{};
  REQUIRE(MechanismInfo(CKM_SHA256_RSA_PKCS, &info));
  CHECK(info.ulMinKeySize == 2048);
  CHECK(info.ulMaxKeySize == 4096);
  CHECK(info.flags == (CKF_SIGN | CKF_VERIFY));
  REQUIRE(MechanismInfo(CKM_ECDSA, &info));
  CHECK(info.ulMinKeySize == 256);
  CHECK(info.ulMaxKeySize == 384);
  CHECK((info.flags & (CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS)) != 0);
  CHECK_FALSE(info.flags & CKF_HW);
  REQUIRE(MechanismInfo(CKM_RSA_PKCS, &info));
  CHECK_FALSE(info.flags & CKF_ENCRYPT);  // C_Encrypt is not implemented
  REQUIRE(MechanismInfo(CKM_SHA384, &info));
  CHECK(info.flags == CKF_DIGEST);
  CHECK(MechanismInfo(CKM_MD5, &info).error().rv == CKR_MECHANISM_INVALID);
  CHECK(MechanismInfo(CKM_SHA256_RSA_PKCS, nullptr).error().rv == CKR_ARGUMENTS_BAD);
  for (const auto& m : Mechanisms())
    if (m.hash != 0 && m.raw != 0) CHECK(DigestFor(m.hash) != nullptr);
}

TEST_CASE("DigestInfo encoding matches OpenSSL's") {
  wire::Bytes digest(32, 0xab);
  wire::Bytes info = DigestInfo(CKM_SHA256, digest);
  CHECK(info.size() == 19 + 32);
  CHECK(info[0] == 0x30);
  CHECK(info[1] == 0x31);
  CHECK(DigestInfo(CKM_SHA_1, wire::Bytes(20)).size() == 35);
}

TEST_CASE("slot entries are parsed into blank-padded info structs") {
  wire::Json j{{"slot_id", 3u},
               {"kind", "emulated"},
               {"description", "vtoken emulated USB token"},
               {"present", true},
               {"generation", 5u},
               {"token",
                {{"label", "work"},
                 {"manufacturer", "vtoken"},
                 {"model", "Emulated USB"},
                 {"serial", "4f1c0a2b9e3d7a10"},
                 {"flags", CKF_TOKEN_INITIALIZED | CKF_LOGIN_REQUIRED},
                 {"min_pin", 4u},
                 {"max_pin", 16u},
                 {"firmware", {0, 2}},
                 {"hardware", {1, 0}}}}};
  auto s = ParseSlot(j);
  REQUIRE(s);
  CHECK(s->id == 3);
  CHECK(s->slot_info.flags == (CKF_TOKEN_PRESENT | CKF_REMOVABLE_DEVICE | CKF_HW_SLOT));
  CHECK(std::string(reinterpret_cast<char*>(s->slot_info.slotDescription), 64) ==
        "vtoken emulated USB token" + std::string(64 - 25, ' '));
  CHECK(std::string(reinterpret_cast<char*>(s->token_info.label), 32) == "work" + std::string(28, ' '));
  CHECK(std::string(reinterpret_cast<char*>(s->token_info.model), 16) == "Emulated USB    ");
  CHECK(std::string(reinterpret_cast<char*>(s->token_info.serialNumber), 16) == "4f1c0a2b9e3d7a10");
  CHECK(s->token_info.ulMinPinLen == 4);
  CHECK(s->token_info.firmwareVersion.minor == 2);
  CHECK(s->token_info.ulTotalPublicMemory == CK_UNAVAILABLE_INFORMATION);
  CHECK_FALSE(ParseSlot(wire::Json{{"present", true}}));
}

TEST_CASE("slot snapshots queue presence events and report removed tokens") {
  SlotCache cache;
  auto snapshot = [](bool present, const char* serial) {
    return wire::Json{{"slots", wire::Json::array({wire::Json{{"slot_id", 1u},
                                                              {"present", present},
                                                              {"generation", 1u},
                                                              {"token", {{"serial", serial}}}}})}};
  };
  auto first = cache.Apply(snapshot(true, "a"));
  REQUIRE(first);
  CHECK(first->events.empty());  // the first snapshot is not an event
  auto change = cache.Apply(snapshot(false, "a"));
  REQUIRE(change);
  CHECK(change->gone == std::vector<CK_SLOT_ID>{1});
  CHECK_FALSE(cache.TakeEvent());  // nothing is raised before Publish
  cache.Publish(change->events);
  cache.Publish(change->events);  // queued once
  CHECK(cache.TakeEvent() == std::optional<CK_SLOT_ID>(1));
  CHECK_FALSE(cache.TakeEvent());
  CHECK(cache.List(true).empty());
  CHECK(cache.List(false).size() == 1);
  CHECK(cache.Token(1).error().rv == CKR_TOKEN_NOT_PRESENT);
  CHECK(cache.Get(99).error().rv == CKR_SLOT_ID_INVALID);
  auto back = cache.Apply(snapshot(true, "b"));
  REQUIRE(back);
  cache.Publish(back->events);
  CHECK(cache.TakeEvent() == std::optional<CK_SLOT_ID>(1));
  auto replaced = cache.Apply(snapshot(true, "c"));  // another token in the same slot
  CHECK(replaced->gone == std::vector<CK_SLOT_ID>{1});
}

TEST_CASE("object cache keeps handles across refetches and refetches when stale") {
  int fetches = 0;
  std::vector<std::uint64_t> oids{1, 2};
  ObjectCache cache([&](CK_SLOT_ID) -> Result<wire::Json> {
    ++fetches;
    wire::Json list = wire::Json::array();
    for (auto oid : oids)
      list.push_back({{"oid", oid}, {"attrs", wire::EncodeAttributes({{CKA_CLASS, Ulong(CKO_DATA)}})}});
    return wire::Json{{"objects", list}};
  });
  auto first = cache.List(1);
  REQUIRE(first);
  REQUIRE(first->size() == 2);
  CHECK(fetches == 1);
  REQUIRE(cache.List(1));
  CHECK(fetches == 1);  // from memory
  const CK_OBJECT_HANDLE h2 = (*first)[1].first;
  cache.NoteGeneration(1, 9);
  oids = {2, 3};
  auto second = cache.List(1);
  CHECK(fetches == 2);
  REQUIRE(second->size() == 2);
  CHECK((*second)[0].first == h2);  // oid 2 kept its handle
  CHECK(cache.Get(1, (*first)[0].first, CKR_OBJECT_HANDLE_INVALID).error().rv == CKR_OBJECT_HANDLE_INVALID);
  CHECK(cache.Get(2, h2, CKR_KEY_HANDLE_INVALID).error().rv == CKR_KEY_HANDLE_INVALID);  // wrong slot
  CHECK(cache.Get(1, h2, CKR_OBJECT_HANDLE_INVALID));
  CHECK(cache.Get(1, 0, CKR_OBJECT_HANDLE_INVALID).error().rv == CKR_OBJECT_HANDLE_INVALID);
}
