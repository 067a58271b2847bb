// Key pair generation, signing and decryption of the emulated token,
// verified with OpenSSL from the public key objects.
#include <catch2/catch.hpp>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include <atomic>
#include <thread>

#include "test_support.h"

using namespace vtoken;
using namespace vtoken::agent;
using namespace vtoken::agent::test;

namespace {

// DigestInfo prefix of SHA-256 (RFC 8017 section 9.2, note 1).
const Bytes kSha256Prefix = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                             0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};

struct LoggedIn {
  TempDir dir;
  std::unique_ptr<EmulatedToken> token = NewToken(dir);
  LoggedIn() { REQUIRE(token->LoginUser(Secret(kPin))); }
};

MechanismParams Pss(unsigned long hash, unsigned long mgf, unsigned long salt) {
  MechanismParams p;
  p.hash = hash;
  p.mgf = mgf;
  p.salt_len = salt;
  return p;
}

}  // namespace

TEST_CASE("key pairs of all five kinds are generated with full attributes") {
  LoggedIn l;
  struct Kind {
    unsigned long mechanism;
    Attributes pub;
    unsigned long bits;  // modulus bits or order bits
  };
  const std::vector<Kind> kinds = {
      {CKM_RSA_PKCS_KEY_PAIR_GEN, RsaPublicTemplate(2048), 2048},
      {CKM_RSA_PKCS_KEY_PAIR_GEN, RsaPublicTemplate(3072), 3072},
      {CKM_RSA_PKCS_KEY_PAIR_GEN, RsaPublicTemplate(4096), 4096},
      {CKM_EC_KEY_PAIR_GEN, EcPublicTemplate("prime256v1"), 256},
      {CKM_EC_KEY_PAIR_GEN, EcPublicTemplate("secp384r1"), 384},
  };
  for (const auto& kind : kinds) {
    INFO("mechanism " << kind.mechanism << " bits " << kind.bits);
    auto pair = l.token->GenerateKeyPair(kind.mechanism, kind.pub, PrivateTemplate(), 1);
    REQUIRE(pair);
    const ObjectView& pub = pair->first;
    const ObjectView& priv = pair->second;
    const bool rsa = kind.mechanism == CKM_RSA_PKCS_KEY_PAIR_GEN;
    CHECK(FindUlong(pub, CKA_CLASS) == CKO_PUBLIC_KEY);
    CHECK(FindUlong(priv, CKA_CLASS) == CKO_PRIVATE_KEY);
    for (const ObjectView* o : {&pub, &priv}) {
      CHECK(FindUlong(*o, CKA_KEY_TYPE) == (rsa ? CKK_RSA : CKK_EC));
      CHECK(FindBool(*o, CKA_LOCAL) == true);
      CHECK(FindUlong(*o, CKA_KEY_GEN_MECHANISM) == kind.mechanism);
      CHECK(FindBool(*o, CKA_TOKEN) == true);
      CHECK(FindBool(*o, CKA_DERIVE) == false);
      CHECK(Find(*o, CKA_START_DATE)->empty());
      CHECK(Find(*o, CKA_END_DATE)->empty());
      CHECK(*Find(*o, CKA_PUBLIC_KEY_INFO) == *Find(pub, CKA_PUBLIC_KEY_INFO));
      if (rsa) {
        CHECK(FindUlong(*o, CKA_MODULUS_BITS) == kind.bits);
        CHECK(Find(*o, CKA_MODULUS)->size() == kind.bits / 8);
        CHECK(*Find(*o, CKA_PUBLIC_EXPONENT) == Bytes{1, 0, 1});
        CHECK(*Find(*o, CKA_ID) == Bytes{0x42});  // the public template's, copied to the private key
      } else {
        CHECK(*Find(*o, CKA_EC_PARAMS) == *Find(pub, CKA_EC_PARAMS));
        const Bytes& point = *Find(*o, CKA_EC_POINT);
        CHECK(point.size() == 2 * (kind.bits / 8) + 3);
        CHECK(point[0] == 0x04);
        CHECK(point[2] == 0x04);  // uncompressed
        CHECK(Find(*o, CKA_ID)->size() == 20);
      }
    }
    CHECK(FindBool(pub, CKA_PRIVATE) == false);
    CHECK(FindBool(pub, CKA_VERIFY) == true);
    CHECK(FindBool(priv, CKA_PRIVATE) == true);
    CHECK(FindBool(priv, CKA_SIGN) == true);
    CHECK(FindBool(priv, CKA_DECRYPT) == rsa);
    CHECK(FindBool(priv, CKA_SENSITIVE) == true);
    CHECK(FindBool(priv, CKA_ALWAYS_SENSITIVE) == true);
    CHECK(FindBool(priv, CKA_EXTRACTABLE) == false);
    CHECK(FindBool(priv, CKA_NEVER_EXTRACTABLE) == true);
    CHECK(FindBool(priv, CKA_ALWAYS_AUTHENTICATE) == false);
    CHECK(priv.is_private);
    CHECK(pub.sensitive.empty());
    CHECK(priv.sensitive.size() == (rsa ? 6u : 1u));
    CHECK(Find(priv, CKA_PRIVATE_EXPONENT) == nullptr);
    CHECK(Find(priv, CKA_VALUE) == nullptr);
    CHECK(PublicKeyOf(pub) != nullptr);
  }
}

TEST_CASE("key generation honours and checks its templates") {
  LoggedIn l;
  auto& t = *l.token;
  Attributes e3 = RsaPublicTemplate(2048);
  e3.emplace_back(CKA_PUBLIC_EXPONENT, Bytes{3});
  auto pair = t.GenerateKeyPair(CKM_RSA_PKCS_KEY_PAIR_GEN, e3, PrivateTemplate(), 1);
  REQUIRE(pair);
  CHECK(*Find(pair->second, CKA_PUBLIC_EXPONENT) == Bytes{3});
  // The curve by name, as a PrintableString.
  Bytes named = {0x13, 10};
  for (char c : std::string("prime256v1")) named.push_back(static_cast<std::uint8_t>(c));
  auto ec = t.GenerateKeyPair(CKM_EC_KEY_PAIR_GEN, {{CKA_EC_PARAMS, named}}, {}, 1);
  REQUIRE(ec);
  CHECK(*Find(ec->first, CKA_EC_PARAMS) == EcParams("prime256v1"));
  CHECK(FindBool(ec->first, CKA_TOKEN) == false);  // PKCS#11 default
  CHECK(*Find(ec->first, CKA_ID) == *Find(ec->second, CKA_ID));  // default ID from the point
  CHECK(Rv(t.GenerateKeyPair(CKM_RSA_PKCS_KEY_PAIR_GEN, RsaPublicTemplate(1024), PrivateTemplate(), 1)) ==
        CKR_ATTRIBUTE_VALUE_INVALID);
  CHECK(Rv(t.GenerateKeyPair(CKM_RSA_PKCS_KEY_PAIR_GEN, {{CKA_TOKEN, Bool(true)}}, PrivateTemplate(), 1)) ==
        CKR_TEMPLATE_INCOMPLETE);
  CHECK(Rv(t.GenerateKeyPair(CKM_EC_KEY_PAIR_GEN, EcPublicTemplate("secp521r1"), PrivateTemplate(), 1)) ==
        CKR_ATTRIBUTE_VALUE_INVALID);
  CHECK(Rv(t.GenerateKeyPair(CKM_EC_KEY_PAIR_GEN, {{CKA_EC_PARAMS, Bytes{6, 1}}}, {}, 1)) ==
        CKR_ATTRIBUTE_VALUE_INVALID);
  CHECK(Rv(t.GenerateKeyPair(CKM_EC_KEY_PAIR_GEN, {}, {}, 1)) == CKR_TEMPLATE_INCOMPLETE);
  CHECK(Rv(t.GenerateKeyPair(CKM_DSA_KEY_PAIR_GEN, {}, {}, 1)) == CKR_MECHANISM_INVALID);
  CHECK(Rv(t.GenerateKeyPair(CKM_EC_KEY_PAIR_GEN, EcPublicTemplate("prime256v1"),
                             {{CKA_SENSITIVE, Bool(false)}}, 1)) == CKR_ATTRIBUTE_VALUE_INVALID);
  CHECK(Rv(t.GenerateKeyPair(CKM_EC_KEY_PAIR_GEN, EcPublicTemplate("prime256v1"),
                             {{CKA_CLASS, Ulong(CKO_PUBLIC_KEY)}}, 1)) == CKR_TEMPLATE_INCONSISTENT);
  CHECK(Rv(t.GenerateKeyPair(CKM_EC_KEY_PAIR_GEN, EcPublicTemplate("prime256v1"), {{CKA_KEY_TYPE, Ulong(CKK_RSA)}},
                             1)) == CKR_TEMPLATE_INCONSISTENT);
  CHECK(Rv(t.GenerateKeyPair(CKM_EC_KEY_PAIR_GEN, EcPublicTemplate("prime256v1"), {{CKA_LOCAL, Bool(false)}}, 1)) ==
        CKR_ATTRIBUTE_READ_ONLY);
  t.Lock();
  CHECK(Rv(t.GenerateKeyPair(CKM_EC_KEY_PAIR_GEN, EcPublicTemplate("prime256v1"), PrivateTemplate(), 1)) ==
        CKR_USER_NOT_LOGGED_IN);
}

TEST_CASE("CKM_RSA_PKCS signs a DigestInfo, MD5||SHA-1 and anything up to k-11 bytes") {
  LoggedIn l;
  auto pair = l.token->GenerateKeyPair(CKM_RSA_PKCS_KEY_PAIR_GEN, RsaPublicTemplate(2048), PrivateTemplate(), 1);
  REQUIRE(pair);
  auto pub = PublicKeyOf(pair->first);
  const auto oid = pair->second.oid;
  Bytes digest_info = kSha256Prefix;
  const Bytes hash = Sha256(Str("document"));
  digest_info.insert(digest_info.end(), hash.begin(), hash.end());
  Bytes tls(36, 0xab);
  Bytes longest(256 - 11, 0x5a);
  for (const Bytes* data : {&digest_info, &tls, &longest}) {
    auto sig = l.token->Sign(oid, CKM_RSA_PKCS, {}, *data, 1);
    REQUIRE(sig);
    CHECK(sig->size() == 256);
    CHECK(VerifyRsaPkcs1(pub.get(), *data, *sig));
  }
  // With the standard hash-and-sign verification too.
  auto sig = l.token->Sign(oid, CKM_RSA_PKCS, {}, digest_info, 1);
  ossl::MdCtx md(EVP_MD_CTX_new());
  REQUIRE(EVP_DigestVerifyInit(md.get(), nullptr, EVP_sha256(), nullptr, pub.get()) == 1);
  CHECK(EVP_DigestVerify(md.get(), sig->data(), sig->size(), reinterpret_cast<const unsigned char*>("document"), 8) ==
        1);
  CHECK(Rv(l.token->Sign(oid, CKM_RSA_PKCS, {}, Bytes(256 - 10, 1), 1)) == CKR_DATA_LEN_RANGE);
}

TEST_CASE("CKM_RSA_PKCS_PSS signs a hash with the given parameters") {
  LoggedIn l;
  auto pair = l.token->GenerateKeyPair(CKM_RSA_PKCS_KEY_PAIR_GEN, RsaPublicTemplate(3072), PrivateTemplate(), 1);
  REQUIRE(pair);
  auto pub = PublicKeyOf(pair->first);
  const auto oid = pair->second.oid;
  const Bytes h256 = Sha256(Str("a")), h384 = Sha384(Str("a"));
  auto sig = l.token->Sign(oid, CKM_RSA_PKCS_PSS, Pss(CKM_SHA256, CKG_MGF1_SHA256, 32), h256, 1);
  REQUIRE(sig);
  CHECK(sig->size() == 384);
  CHECK(VerifyRsaPss(pub.get(), EVP_sha256(), 32, h256, *sig));
  sig = l.token->Sign(oid, CKM_RSA_PKCS_PSS, Pss(CKM_SHA384, CKG_MGF1_SHA384, 0), h384, 1);
  REQUIRE(sig);
  CHECK(VerifyRsaPss(pub.get(), EVP_sha384(), 0, h384, *sig));
  CHECK(Rv(l.token->Sign(oid, CKM_RSA_PKCS_PSS, Pss(CKM_SHA256, CKG_MGF1_SHA256, 32), h384, 1)) == CKR_DATA_LEN_RANGE);
  CHECK(Rv(l.token->Sign(oid, CKM_RSA_PKCS_PSS, Pss(CKM_SHA256, CKG_MGF1_SHA384, 32), h256, 1)) ==
        CKR_MECHANISM_PARAM_INVALID);
  CHECK(Rv(l.token->Sign(oid, CKM_RSA_PKCS_PSS, Pss(CKM_MD5, CKG_MGF1_SHA256, 32), h256, 1)) ==
        CKR_MECHANISM_PARAM_INVALID);
  CHECK(Rv(l.token->Sign(oid, CKM_RSA_PKCS_PSS, Pss(CKM_SHA256, CKG_MGF1_SHA256, 384), h256, 1)) ==
        CKR_MECHANISM_PARAM_INVALID);
}

TEST_CASE("CKM_ECDSA gives raw r||s of exactly 2n bytes for any hash length") {
  LoggedIn l;
  for (auto [curve, n] : {std::pair{"prime256v1", 32u}, std::pair{"secp384r1", 48u}}) {
    auto pair = l.token->GenerateKeyPair(CKM_EC_KEY_PAIR_GEN, EcPublicTemplate(curve), PrivateTemplate(), 1);
    REQUIRE(pair);
    auto pub = PublicKeyOf(pair->first);
    for (int i = 0; i < 40; ++i) {
      const Bytes msg = Str("message " + std::to_string(i));
      for (const Bytes& hash : {Sha256(msg), Sha384(msg), Bytes(20, static_cast<std::uint8_t>(i))}) {
        auto sig = l.token->Sign(pair->second.oid, CKM_ECDSA, {}, hash, 1);
        REQUIRE(sig);
        CHECK(sig->size() == 2 * n);
        CHECK(VerifyEcdsaRaw(pub.get(), hash, *sig));
      }
    }
  }
}

TEST_CASE("signing refuses wrong keys, mechanisms and a locked token") {
  LoggedIn l;
  auto& t = *l.token;
  auto rsa = t.GenerateKeyPair(CKM_RSA_PKCS_KEY_PAIR_GEN, RsaPublicTemplate(2048), PrivateTemplate(), 1);
  Attributes no_sign = PrivateTemplate();
  no_sign.back() = {CKA_SIGN, Bool(false)};
  auto ec = t.GenerateKeyPair(CKM_EC_KEY_PAIR_GEN, EcPublicTemplate("prime256v1"), no_sign, 1);
  auto data = t.CreateObject({{CKA_CLASS, Ulong(CKO_DATA)}}, true, 1);
  REQUIRE((rsa && ec && data));
  const Bytes hash = Sha256(Str("x"));
  CHECK(Rv(t.Sign(rsa->second.oid, CKM_ECDSA, {}, hash, 1)) == CKR_KEY_TYPE_INCONSISTENT);
  CHECK(Rv(t.Sign(rsa->second.oid, CKM_SHA256_RSA_PKCS, {}, hash, 1)) == CKR_MECHANISM_INVALID);
  CHECK(Rv(t.Sign(ec->second.oid, CKM_ECDSA, {}, hash, 1)) == CKR_KEY_FUNCTION_NOT_PERMITTED);
  CHECK(Rv(t.Sign(rsa->first.oid, CKM_RSA_PKCS, {}, hash, 1)) == CKR_KEY_FUNCTION_NOT_PERMITTED);
  CHECK(Rv(t.Sign(data->oid, CKM_RSA_PKCS, {}, hash, 1)) == CKR_KEY_HANDLE_INVALID);
  CHECK(Rv(t.Sign(987654, CKM_RSA_PKCS, {}, hash, 1)) == CKR_KEY_HANDLE_INVALID);
  CHECK(Rv(t.Sign(rsa->second.oid, CKM_RSA_PKCS, {}, {}, 1)) == CKR_DATA_LEN_RANGE);
  REQUIRE(t.SetAttributes(ec->second.oid, {{CKA_SIGN, Bool(true)}}, true, 1));
  CHECK(Rv(t.Sign(ec->second.oid, CKM_ECDSA, {}, hash, 1)) == CKR_OK);
  t.Lock();
  CHECK(Rv(t.Sign(rsa->second.oid, CKM_RSA_PKCS, {}, hash, 1)) == CKR_USER_NOT_LOGGED_IN);
  CHECK(Rv(t.Decrypt(rsa->second.oid, CKM_RSA_PKCS, {}, Bytes(256, 1), 1)) == CKR_USER_NOT_LOGGED_IN);
}

TEST_CASE("RSA decryption with PKCS#1 v1.5 and OAEP") {
  LoggedIn l;
  auto& t = *l.token;
  Attributes priv = PrivateTemplate();
  priv.emplace_back(CKA_DECRYPT, Bool(true));
  auto rsa = t.GenerateKeyPair(CKM_RSA_PKCS_KEY_PAIR_GEN, RsaPublicTemplate(2048), priv, 1);
  REQUIRE(rsa);
  auto pub = PublicKeyOf(rsa->first);
  const auto oid = rsa->second.oid;
  const Bytes secret = Str("a session key of 32 bytes.......");
  auto plain = t.Decrypt(oid, CKM_RSA_PKCS, {}, RsaEncrypt(pub.get(), RSA_PKCS1_PADDING, secret), 1);
  REQUIRE(plain);
  CHECK(Bytes(plain->begin(), plain->end()) == secret);
  MechanismParams oaep;
  oaep.hash = CKM_SHA256;
  oaep.mgf = CKG_MGF1_SHA256;
  oaep.oaep_label = Str("label");
  plain = t.Decrypt(oid, CKM_RSA_PKCS_OAEP, oaep,
                    RsaEncrypt(pub.get(), RSA_PKCS1_OAEP_PADDING, secret, EVP_sha256(), Str("label")), 1);
  REQUIRE(plain);
  CHECK(Bytes(plain->begin(), plain->end()) == secret);
  MechanismParams sha1;
  sha1.hash = CKM_SHA_1;
  sha1.mgf = CKG_MGF1_SHA1;
  plain = t.Decrypt(oid, CKM_RSA_PKCS_OAEP, sha1, RsaEncrypt(pub.get(), RSA_PKCS1_OAEP_PADDING, secret, EVP_sha1()), 1);
  REQUIRE(plain);
  CHECK(Bytes(plain->begin(), plain->end()) == secret);
  // A wrong label, a wrong length, garbage.
  CHECK(Rv(t.Decrypt(oid, CKM_RSA_PKCS_OAEP, oaep,
                     RsaEncrypt(pub.get(), RSA_PKCS1_OAEP_PADDING, secret, EVP_sha256(), Str("other")), 1)) ==
        CKR_ENCRYPTED_DATA_INVALID);
  CHECK(Rv(t.Decrypt(oid, CKM_RSA_PKCS, {}, Bytes(255, 1), 1)) == CKR_ENCRYPTED_DATA_LEN_RANGE);
  Bytes garbage = RsaEncrypt(pub.get(), RSA_NO_PADDING, Bytes(256, 0x11));
  REQUIRE(garbage.size() == 256);
  CHECK(Rv(t.Decrypt(oid, CKM_RSA_PKCS, {}, garbage, 1)) == CKR_ENCRYPTED_DATA_INVALID);
  CHECK(Rv(t.Decrypt(oid, CKM_RSA_PKCS_PSS, {}, garbage, 1)) == CKR_MECHANISM_INVALID);
  auto ec = t.GenerateKeyPair(CKM_EC_KEY_PAIR_GEN, EcPublicTemplate("prime256v1"), priv, 1);
  REQUIRE(ec);
  CHECK(Rv(t.Decrypt(ec->second.oid, CKM_RSA_PKCS, {}, garbage, 1)) == CKR_KEY_TYPE_INCONSISTENT);
  REQUIRE(t.SetAttributes(oid, {{CKA_DECRYPT, Bool(false)}}, true, 1));
  CHECK(Rv(t.Decrypt(oid, CKM_RSA_PKCS, {}, garbage, 1)) == CKR_KEY_FUNCTION_NOT_PERMITTED);
}

TEST_CASE("session key pairs belong to their owner") {
  LoggedIn l;
  auto& t = *l.token;
  auto pair = t.GenerateKeyPair(CKM_EC_KEY_PAIR_GEN, EcPublicTemplate("prime256v1", false), PrivateTemplate(false), 3);
  REQUIRE(pair);
  CHECK_FALSE(pair->second.is_token);
  const Bytes hash = Sha256(Str("s"));
  CHECK(Rv(t.Sign(pair->second.oid, CKM_ECDSA, {}, hash, 3)) == CKR_OK);
  CHECK(Rv(t.Sign(pair->second.oid, CKM_ECDSA, {}, hash, 4)) == CKR_KEY_HANDLE_INVALID);
  t.DropSessionObjects(3);
  CHECK(Rv(t.Sign(pair->second.oid, CKM_ECDSA, {}, hash, 3)) == CKR_KEY_HANDLE_INVALID);
  CHECK(t.Objects(true, 3).empty());
}

TEST_CASE("threads sign in parallel, and a Lock in between is safe") {
  LoggedIn l;
  auto& t = *l.token;
  auto rsa = t.GenerateKeyPair(CKM_RSA_PKCS_KEY_PAIR_GEN, RsaPublicTemplate(2048), PrivateTemplate(), 1);
  auto ec = t.GenerateKeyPair(CKM_EC_KEY_PAIR_GEN, EcPublicTemplate("prime256v1"), PrivateTemplate(), 1);
  REQUIRE((rsa && ec));
  auto rsa_pub = PublicKeyOf(rsa->first);
  auto ec_pub = PublicKeyOf(ec->first);
  Bytes digest_info = kSha256Prefix;
  const Bytes hash = Sha256(Str("parallel"));
  digest_info.insert(digest_info.end(), hash.begin(), hash.end());
  std::atomic<int> good{0}, bad{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      for (int j = 0; j < 25; ++j) {
        auto sig = (i % 2) ? t.Sign(rsa->second.oid, CKM_RSA_PKCS, {}, digest_info, 1)
                           : t.Sign(ec->second.oid, CKM_ECDSA, {}, hash, 1);
        bool ok = sig && ((i % 2) ? VerifyRsaPkcs1(rsa_pub.get(), digest_info, *sig)
                                  : VerifyEcdsaRaw(ec_pub.get(), hash, *sig));
        (ok ? good : bad)++;
      }
    });
  for (auto& th : threads) th.join();
  CHECK(good == 100);
  CHECK(bad == 0);
  // Lock and log in again while others sign: every call either signs or says
  // CKR_USER_NOT_LOGGED_IN.
  std::atomic<bool> stop{false};
  std::atomic<int> odd{0};
  std::thread signer([&] {
    while (!stop) {
      auto sig = t.Sign(rsa->second.oid, CKM_RSA_PKCS, {}, digest_info, 1);
      if (!sig && sig.error().rv != CKR_USER_NOT_LOGGED_IN) odd++;
    }
  });
  for (int i = 0; i < 5; ++i) {
    t.Lock();
    REQUIRE(t.LoginUser(Secret(kPin)));
  }
  stop = true;
  signer.join();
  CHECK(odd == 0);
}

