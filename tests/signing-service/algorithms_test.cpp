#include <catch2/catch.hpp>

#include "algorithms.h"

using namespace vtoken::service;

TEST_CASE("PSS parameters round-trip and match the usual DER", "[algorithms]") {
  // RSASSA-PSS-params for SHA-256, MGF1(SHA-256), salt 32 as every toolkit writes them.
  auto known = HexDecode(
      "3034a00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d0609608648016503040201"
      "0500a203020120");
  REQUIRE(known);
  CHECK(EncodePssParams({HashAlg::kSha256, HashAlg::kSha256, 32}) == *known);
  auto p = ParsePssParams(*known);
  REQUIRE(p);
  CHECK(p->hash == HashAlg::kSha256);
  CHECK(p->mgf1_hash == HashAlg::kSha256);
  CHECK(p->salt_length == 32);
  for (auto h : {HashAlg::kSha384, HashAlg::kSha512}) {
    auto q = ParsePssParams(EncodePssParams({h, HashAlg::kSha256, 200}));
    REQUIRE(q);
    CHECK(q->hash == h);
    CHECK(q->salt_length == 200);
  }
}

TEST_CASE("PSS parameters with SHA-1 defaults or garbage are refused", "[algorithms]") {
  CHECK_FALSE(ParsePssParams(Bytes{0x30, 0x00}));  // all defaults: SHA-1
  CHECK_FALSE(ParsePssParams(Bytes{}));
  CHECK_FALSE(ParsePssParams(Bytes{0x01, 0x02, 0x03}));
  auto good = EncodePssParams({HashAlg::kSha256, HashAlg::kSha256, 32});
  auto trailing = good;
  trailing.push_back(0);
  CHECK_FALSE(ParsePssParams(trailing));
  good.pop_back();
  CHECK_FALSE(ParsePssParams(good));
}

TEST_CASE("DigestInfo, hash OIDs and ECDSA encodings", "[algorithms]") {
  Bytes digest(32, 0xab);
  auto di = DigestInfo(HashAlg::kSha256, digest);
  auto prefix = HexDecode("3031300d060960864801650304020105000420");
  REQUIRE(di.size() == 51);
  CHECK(Bytes(di.begin(), di.begin() + 19) == *prefix);
  CHECK(HashFromOid("2.16.840.1.101.3.4.2.3") == HashAlg::kSha512);
  CHECK_FALSE(HashFromOid("1.3.14.3.2.26"));  // SHA-1 is not offered
  CHECK(HashLength(HashAlg::kSha384) == 48);

  Bytes raw(64);
  raw[0] = 0x80;  // r needs a leading zero in DER
  raw[63] = 1;
  auto der = EcdsaRawToDer(raw);
  REQUIRE(der);
  CHECK(EcdsaDerToRaw(*der, 32) == raw);
  CHECK_FALSE(EcdsaRawToDer(Bytes(63)));
}
