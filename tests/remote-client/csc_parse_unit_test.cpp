// credentials/info parsing: every member, and what is refused.
#include <catch2/catch.hpp>

#include "remote-client/csc_client.h"
#include "test_keys.h"

using namespace vtoken;
using namespace vtoken::csc;
using nlohmann::json;

namespace {

using test::Rsa;
using test::P384;

json FullRsa() {
  return json::parse(R"({
    "description": "label",
    "signatureQualifier": "eu_eidas_qes",
    "key": {"status": "enabled", "algo": ["1.2.840.113549.1.1.1", "1.2.840.113549.1.1.10"], "len": 2048},
    "cert": {"status": "valid", "issuerDN": "CN=CA", "serialNumber": "5AAC", "subjectDN": "CN=alice",
             "validFrom": "20261123100000Z", "validTo": "20271123100000Z"},
    "auth": {"mode": "explicit", "expression": "otp",
             "objects": [{"type": "Password", "id": "otp", "format": "N", "generator": "totp",
                          "label": "Authenticator code", "description": "Enter the code", "digits": 6, "period": 30}]},
    "SCAL": "2", "multisign": 10, "lang": "en-US", "quota": {"total": 200, "used": 3}})");
}

Result<CredentialInfo> Parse(const json& j) { return ParseCredentialInfo("credentials/info", j, "id-1"); }

}  // namespace

TEST_CASE("credentials/info: a full RSA answer") {
  json j = FullRsa();
  j["cert"]["certificates"] = {Rsa().base64, Rsa().base64};
  const auto info = Parse(j);
  REQUIRE(info);
  CHECK(info->id == "id-1");
  CHECK(info->description == "label");
  CHECK(info->key.type == KeyType::Rsa);
  CHECK(info->key.bits == 2048);
  CHECK(info->key.SignatureSize() == 256);
  CHECK(info->key.enabled);
  CHECK(info->cert_status == "valid");
  CHECK(info->certificates.size() == 2);
  CHECK(info->certificates[0] == Rsa().der);
  CHECK(info->subject_dn == "CN=alice");
  CHECK(info->serial_number == "5AAC");
  REQUIRE(info->valid_from);
  CHECK(std::chrono::duration_cast<std::chrono::seconds>(info->valid_from->time_since_epoch()).count() == 1795428000);
  REQUIRE(info->auth_objects.size() == 1);
  CHECK(info->auth_objects[0].id == "otp");
  CHECK(info->auth_objects[0].digits == 6);
  CHECK(info->auth_objects[0].period == 30);
  CHECK(info->scal == 2);
  CHECK(info->multisign == 10);
  REQUIRE(info->quota);
  CHECK(info->quota->total == 200);
  CHECK(info->quota->used == 3);
}

TEST_CASE("credentials/info: EC keys, SCAL as a number, minimal answer") {
  const json j = {{"key", {{"algo", {"1.2.840.10045.2.1", "1.2.840.10045.4.3.3"}}, {"len", 384}, {"curve", "1.3.132.0.34"}}},
                  {"cert", {{"certificates", {P384().base64}}}},
                  {"SCAL", 1}};
  const auto info = Parse(j);
  REQUIRE(info);
  CHECK(info->key.type == KeyType::Ec);
  CHECK(info->key.EcFieldBytes() == 48);
  CHECK(info->key.SignatureSize() == 96);
  CHECK(info->multisign == 1);
  const json bare = {{"key", {{"algo", {"1.2.840.10045.2.1"}}, {"len", 256}, {"status", "disabled"}}}};
  const auto b = Parse(bare);
  REQUIRE(b);
  CHECK(b->key.curve == "1.2.840.10045.3.1.7");
  CHECK_FALSE(b->key.enabled);
}

TEST_CASE("credentials/info: malformed answers are BadResponse") {
  std::vector<std::pair<std::string, json>> cases;
  auto with = [&](std::string name, auto edit) {
    json j = FullRsa();
    j["cert"]["certificates"] = {Rsa().base64};
    edit(j);
    cases.emplace_back(std::move(name), std::move(j));
  };
  with("no key", [](json& j) { j.erase("key"); });
  with("len string", [](json& j) { j["key"]["len"] = "2048"; });
  with("len huge", [](json& j) { j["key"]["len"] = 100000; });
  with("unknown algo", [](json& j) { j["key"]["algo"] = {"1.2.3"}; });
  with("curve mismatch", [](json& j) { j["key"]["algo"] = {"1.2.840.10045.2.1"}; j["key"]["curve"] = "1.3.132.0.34"; j["key"]["len"] = 256; });
  with("cert not base64", [](json& j) { j["cert"]["certificates"] = {"!!!"}; });
  with("cert not X.509", [](json& j) { j["cert"]["certificates"] = {"AAECAwQ="}; });
  with("cert trailing bytes", [](json& j) {
    Bytes der = Rsa().der;
    der.push_back(0);
    j["cert"]["certificates"] = {Base64Encode(der)};
  });
  with("cert key mismatch", [](json& j) { j["cert"]["certificates"] = {P384().base64}; });
  with("chain too long", [](json& j) { j["cert"]["certificates"] = json(std::vector<std::string>(11, Rsa().base64)); });
  with("cert huge", [](json& j) { j["cert"]["certificates"] = {std::string(30000, 'A')}; });
  with("bad time", [](json& j) { j["cert"]["validTo"] = "2027-11-23"; });
  with("bad month", [](json& j) { j["cert"]["validTo"] = "20271323100000Z"; });
  with("SCAL 3", [](json& j) { j["SCAL"] = "3"; });
  with("SCAL word", [](json& j) { j["SCAL"] = "two"; });
  with("multisign 0", [](json& j) { j["multisign"] = 0; });
  with("multisign negative", [](json& j) { j["multisign"] = -5; });
  with("objects not array", [](json& j) { j["auth"]["objects"] = "otp"; });
  with("object without id", [](json& j) { j["auth"]["objects"][0].erase("id"); });
  with("description huge", [](json& j) { j["description"] = std::string(5000, 'x'); });
  with("description control", [](json& j) { j["description"] = "a\x1b[31m"; });
  with("quota negative", [](json& j) { j["quota"]["used"] = -1; });
  for (const auto& [name, j] : cases) {
    CAPTURE(name);
    const auto r = Parse(j);
    REQUIRE_FALSE(r);
    CHECK(KindOf(r.error()) == CscErrorKind::BadResponse);
    CHECK(r.error().message.starts_with("csc:bad_response: credentials/info: "));
  }
}

TEST_CASE("GeneralizedTime parsing") {
  auto t = ParseGeneralizedTime("19700101000001Z");
  REQUIRE(t);
  CHECK(t->time_since_epoch() == std::chrono::seconds(1));
  CHECK(ParseGeneralizedTime("20240229235959Z"));
  CHECK_FALSE(ParseGeneralizedTime("20230229000000Z"));
  CHECK_FALSE(ParseGeneralizedTime("20230101000000"));
  CHECK_FALSE(ParseGeneralizedTime("2023010100000aZ"));
}
