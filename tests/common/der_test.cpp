// common/der.h and common/encoding.h, checked against OpenSSL's own DER
// decoders (so the hand-written encoder is held to a real parser).
#include "common/der.h"

#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <catch2/catch.hpp>

#include "common/encoding.h"

using vtoken::der::Bytes;
using vtoken::der::Hash;
namespace der = vtoken::der;

namespace {

Bytes Hex(const char* hex) { return vtoken::HexDecode(hex).value(); }

}  // namespace

TEST_CASE("DigestInfo matches the RFC 8017 prefixes and parses back") {
  const Bytes sha256_prefix = Hex("3031300d060960864801650304020105000420");
  const Bytes digest(32, 0xab);
  Bytes expected = sha256_prefix;
  expected.insert(expected.end(), digest.begin(), digest.end());
  CHECK(der::DigestInfo(Hash::kSha256, digest) == expected);
  CHECK(der::DigestInfo(Hash::kSha1, Bytes(20, 1)).size() == 15 + 20);
  const Bytes sha512 = der::DigestInfo(Hash::kSha512, Bytes(64, 1));
  CHECK(Bytes(sha512.begin(), sha512.begin() + 19) == Hex("3051300d060960864801650304020305000440"));

  for (Hash h : {Hash::kMd5, Hash::kSha1, Hash::kSha224, Hash::kSha256, Hash::kSha384, Hash::kSha512}) {
    const Bytes d(der::HashLength(h), 0x5a);
    auto parsed = der::ParseDigestInfo(der::DigestInfo(h, d));
    REQUIRE(parsed);
    CHECK(parsed->hash == h);
    CHECK(parsed->digest == d);
  }
  // Absent parameters (RFC 5754) are read too.
  Bytes absent = der::Tlv(0x30, [] {
    Bytes body = der::HashAlgorithmId(Hash::kSha384, false);
    Bytes os = der::Tlv(0x04, Bytes(48, 3));
    body.insert(body.end(), os.begin(), os.end());
    return body;
  }());
  auto parsed = der::ParseDigestInfo(absent);
  REQUIRE(parsed);
  CHECK(parsed->hash == Hash::kSha384);
}

TEST_CASE("DigestInfo parsing refuses what is not exactly one DigestInfo") {
  Bytes good = der::DigestInfo(Hash::kSha256, Bytes(32, 1));
  Bytes trailing = good;
  trailing.push_back(0);
  CHECK_FALSE(der::ParseDigestInfo(trailing));
  CHECK_FALSE(der::ParseDigestInfo(Bytes(good.begin(), good.end() - 1)));
  CHECK_FALSE(der::ParseDigestInfo(der::DigestInfo(Hash::kSha256, Bytes(31, 1))));  // wrong digest length
  CHECK_FALSE(der::ParseDigestInfo(Bytes(32, 1)));                                   // a bare hash
  CHECK_FALSE(der::ParseDigestInfo({}));
  Bytes unknown = good;
  unknown[14] = 0x09;  // 2.16.840.1.101.3.4.2.9: not a hash we know
  CHECK_FALSE(der::ParseDigestInfo(unknown));
}

TEST_CASE("RSASSA-PSS-params are read back by OpenSSL") {
  for (bool null_parameters : {true, false}) {
    const Bytes encoded = der::RsaPssParams(Hash::kSha384, Hash::kSha256, 300, null_parameters);
    const unsigned char* p = encoded.data();
    RSA_PSS_PARAMS* params = d2i_RSA_PSS_PARAMS(nullptr, &p, static_cast<long>(encoded.size()));
    REQUIRE(params != nullptr);
    CHECK(p == encoded.data() + encoded.size());
    CHECK(OBJ_obj2nid(params->hashAlgorithm->algorithm) == NID_sha384);
    CHECK(OBJ_obj2nid(params->maskGenAlgorithm->algorithm) == NID_mgf1);
    CHECK(ASN1_INTEGER_get(params->saltLength) == 300);
    CHECK(params->trailerField == nullptr);
    RSA_PSS_PARAMS_free(params);
  }
}

TEST_CASE("ECDSA signatures convert between r||s and DER both ways, as OpenSSL reads them") {
  Bytes raw(64);
  for (std::size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<std::uint8_t>(0x80 + i);  // high bits: leading 00 in DER
  auto encoded = der::EcdsaRawToDer(raw);
  REQUIRE(encoded);
  const unsigned char* p = encoded->data();
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(encoded->size()));
  REQUIRE(sig != nullptr);
  unsigned char* again = nullptr;
  const int n = i2d_ECDSA_SIG(sig, &again);
  CHECK(Bytes(again, again + n) == *encoded);  // what OpenSSL writes is what we write
  OPENSSL_free(again);
  ECDSA_SIG_free(sig);
  CHECK(der::EcdsaDerToRaw(*encoded, 32) == raw);

  Bytes small(64, 0);
  small[31] = 1;
  small[63] = 2;
  auto small_der = der::EcdsaRawToDer(small);
  REQUIRE(small_der);
  CHECK(*small_der == Hex("3006020101020102"));
  CHECK(der::EcdsaDerToRaw(*small_der, 32) == small);

  CHECK_FALSE(der::EcdsaRawToDer(Bytes(63, 1)));
  CHECK_FALSE(der::EcdsaRawToDer({}));
  CHECK_FALSE(der::EcdsaDerToRaw(*encoded, 16));                                    // does not fit
  CHECK_FALSE(der::EcdsaDerToRaw(Hex("3006020100020102"), 32));                     // r = 0
  CHECK_FALSE(der::EcdsaDerToRaw(Hex("300702020001020102"), 32));                   // not minimal
  CHECK_FALSE(der::EcdsaDerToRaw(Hex("30060201ff020102"), 32));                     // negative
  CHECK_FALSE(der::EcdsaDerToRaw(Hex("308106020101020102"), 32));                  // long form for a short length
  Bytes trailing = *small_der;
  trailing.push_back(0);
  CHECK_FALSE(der::EcdsaDerToRaw(trailing, 32));
}

TEST_CASE("hex: lowercase out, either case in, nothing else") {
  CHECK(vtoken::HexEncode(Bytes{0x00, 0xab, 0xff}) == "00abff");
  CHECK(vtoken::HexDecode("00abFF") == Bytes{0x00, 0xab, 0xff});
  CHECK(vtoken::HexDecode("") == Bytes{});
  CHECK_FALSE(vtoken::HexDecode("abc"));   // odd length
  CHECK_FALSE(vtoken::HexDecode("0g"));    // not a digit
  CHECK_FALSE(vtoken::HexDecode("+1"));    // from_chars-style signs are not digits either
}

TEST_CASE("base64 is strict and base64url has no padding") {
  const Bytes foob{'f', 'o', 'o', 'b'};
  CHECK(vtoken::Base64Encode(foob) == "Zm9vYg==");
  CHECK(vtoken::Base64Decode("Zm9vYg==") == foob);
  CHECK(vtoken::Base64Encode({}) == "");
  CHECK(vtoken::Base64Decode("") == Bytes{});
  CHECK(vtoken::Base64UrlEncode(Bytes{0xfb, 0xff}) == "-_8");
  CHECK_FALSE(vtoken::Base64Decode("Zm9vYg="));    // length
  CHECK_FALSE(vtoken::Base64Decode("Zm9v\nYg=="));  // whitespace
  CHECK_FALSE(vtoken::Base64Decode("Zm9vYh=="));   // stray bits under the padding
  CHECK_FALSE(vtoken::Base64Decode("Zm=vYg=="));   // data after padding
  CHECK_FALSE(vtoken::Base64Decode("-_8="));       // url alphabet
  CHECK(vtoken::Base64Decode("Zm9vYg==", 4) == foob);
  CHECK_FALSE(vtoken::Base64Decode("Zm9vYg==", 3));  // over the cap
}
