// Objects of the emulated token: defaults and derived attributes, templates
// that must be refused, session objects, changes, persistence, imports.
#include <catch2/catch.hpp>
#include <openssl/core_names.h>
#include <openssl/sha.h>

#include "test_support.h"

using namespace vtoken;
using namespace vtoken::agent;
using namespace vtoken::agent::test;

namespace {

Bytes Sha1Of(const Bytes& b) {
  Bytes out(SHA_DIGEST_LENGTH);
  SHA1(b.data(), b.size(), out.data());
  return out;
}

Bytes BnParam(EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  EVP_PKEY_get_bn_param(key, name, &bn);
  Bytes out(BN_num_bytes(bn));
  BN_bn2bin(bn, out.data());
  BN_clear_free(bn);
  return out;
}

Bytes RawPoint(EVP_PKEY* key) {
  Bytes out(200);
  std::size_t len = 0;
  EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, out.data(), out.size(), &len);
  out.resize(len);
  return out;
}

Bytes Spki(EVP_PKEY* key) {
  Bytes out(i2d_PUBKEY(key, nullptr));
  unsigned char* p = out.data();
  i2d_PUBKEY(key, &p);
  return out;
}

Attributes CertTemplate(const Bytes& der) {
  return {{CKA_CLASS, Ulong(CKO_CERTIFICATE)}, {CKA_CERTIFICATE_TYPE, Ulong(CKC_X_509)},
          {CKA_TOKEN, Bool(true)},             {CKA_LABEL, Str("my cert")},
          {CKA_VALUE, der}};
}

Attributes With(Attributes a, unsigned long type, Bytes v) {
  a.emplace_back(type, std::move(v));
  return a;
}

}  // namespace

TEST_CASE("a certificate gets its attributes from its DER, byte for byte") {
  TempDir dir;
  auto t = NewToken(dir);
  ossl::PKey ec(EVP_EC_gen("prime256v1"));
  const Bytes der = MakeCertificate(ec.get(), "Ion Popescu \xc8\x98tefan", 0x1234567890L);
  auto cert = t->CreateObject(CertTemplate(der), false, 1);
  REQUIRE(cert);
  const TbsFields want = WalkCertificate(der);
  CHECK(*Find(*cert, CKA_SUBJECT) == want.subject);
  CHECK(*Find(*cert, CKA_ISSUER) == want.issuer);
  CHECK(*Find(*cert, CKA_SERIAL_NUMBER) == want.serial);
  CHECK(*Find(*cert, CKA_VALUE) == der);
  const Bytes sha = Sha1Of(der);
  CHECK(*Find(*cert, CKA_CHECK_VALUE) == Bytes(sha.begin(), sha.begin() + 3));
  CHECK(*Find(*cert, CKA_ID) == Sha1Of(RawPoint(ec.get())));
  CHECK(*Find(*cert, CKA_PUBLIC_KEY_INFO) == Spki(ec.get()));
  CHECK(FindUlong(*cert, CKA_CLASS) == CKO_CERTIFICATE);
  CHECK(FindUlong(*cert, CKA_CERTIFICATE_TYPE) == CKC_X_509);
  CHECK(FindUlong(*cert, CKA_CERTIFICATE_CATEGORY) == 0ul);
  CHECK(FindUlong(*cert, CKA_JAVA_MIDP_SECURITY_DOMAIN) == 0ul);
  CHECK(FindBool(*cert, CKA_TRUSTED) == false);
  CHECK(FindBool(*cert, CKA_PRIVATE) == false);
  CHECK(FindBool(*cert, CKA_TOKEN) == true);
  CHECK(FindBool(*cert, CKA_MODIFIABLE) == true);
  CHECK(*Find(*cert, CKA_LABEL) == Str("my cert"));
  for (auto type : {CKA_URL, CKA_HASH_OF_SUBJECT_PUBLIC_KEY, CKA_HASH_OF_ISSUER_PUBLIC_KEY, CKA_START_DATE,
                    CKA_END_DATE}) {
    REQUIRE(Find(*cert, type));
    CHECK(Find(*cert, type)->empty());
  }
  CHECK(cert->sensitive.empty());
  CHECK_FALSE(cert->is_private);
  CHECK(cert->is_token);
  // Visible without login, and after reopening.
  CHECK(t->Objects(false, 99).size() == 1);
  t.reset();
  auto reopened = EmulatedToken::Open(dir.db());
  REQUIRE(reopened);
  auto objects = (*reopened)->Objects(false, 1);
  REQUIRE(objects.size() == 1);
  CHECK(*Find(objects[0], CKA_SUBJECT) == want.subject);
}

TEST_CASE("an RSA certificate's default CKA_ID is the SHA-1 of its modulus; template values win") {
  TempDir dir;
  auto t = NewToken(dir);
  ossl::PKey rsa(EVP_RSA_gen(2048));
  const Bytes der = MakeCertificate(rsa.get(), "rsa", 1);
  auto cert = t->CreateObject(CertTemplate(der), false, 1);
  REQUIRE(cert);
  CHECK(*Find(*cert, CKA_ID) == Sha1Of(BnParam(rsa.get(), OSSL_PKEY_PARAM_RSA_N)));
  auto given = t->CreateObject(With(With(CertTemplate(der), CKA_ID, Bytes{1, 2}), CKA_SUBJECT, Bytes{0x30, 0}), false, 1);
  REQUIRE(given);
  CHECK(*Find(*given, CKA_ID) == Bytes{1, 2});
  CHECK(*Find(*given, CKA_SUBJECT) == Bytes{0x30, 0});
}

TEST_CASE("certificate templates that are refused") {
  TempDir dir;
  auto t = NewToken(dir);
  ossl::PKey ec(EVP_EC_gen("prime256v1"));
  const Bytes der = MakeCertificate(ec.get(), "x", 1);
  CHECK(Rv(t->CreateObject({{CKA_CLASS, Ulong(CKO_CERTIFICATE)}, {CKA_CERTIFICATE_TYPE, Ulong(CKC_X_509)}}, false,
                           1)) == CKR_TEMPLATE_INCOMPLETE);
  CHECK(Rv(t->CreateObject({{CKA_CLASS, Ulong(CKO_CERTIFICATE)}, {CKA_VALUE, der}}, false, 1)) ==
        CKR_TEMPLATE_INCOMPLETE);
  CHECK(Rv(t->CreateObject(
            {{CKA_CLASS, Ulong(CKO_CERTIFICATE)}, {CKA_CERTIFICATE_TYPE, Ulong(CKC_WTLS)}, {CKA_VALUE, der}}, false,
            1)) == CKR_ATTRIBUTE_VALUE_INVALID);
  CHECK(Rv(t->CreateObject(CertTemplate(Bytes{0x30, 0x03, 1, 2, 3}), false, 1)) == CKR_ATTRIBUTE_VALUE_INVALID);
  CHECK(Rv(t->CreateObject(With(CertTemplate(der), CKA_TRUSTED, Bool(true)), false, 1)) == CKR_ATTRIBUTE_READ_ONLY);
  CHECK(Rv(t->CreateObject(With(CertTemplate(der), CKA_CERTIFICATE_CATEGORY, Ulong(9)), false, 1)) ==
        CKR_ATTRIBUTE_VALUE_INVALID);
  CHECK(Rv(t->CreateObject(With(CertTemplate(der), CKA_PRIVATE, Bool(true)), false, 1)) == CKR_USER_NOT_LOGGED_IN);
  CHECK(t->Objects(true, 1).empty());
}

TEST_CASE("malformed templates are refused with the PKCS#11 error") {
  TempDir dir;
  auto t = NewToken(dir);
  const Attributes data = {{CKA_CLASS, Ulong(CKO_DATA)}};
  CHECK(Rv(t->CreateObject({{CKA_LABEL, Str("x")}}, false, 1)) == CKR_TEMPLATE_INCOMPLETE);
  CHECK(Rv(t->CreateObject({{CKA_CLASS, Ulong(CKO_SECRET_KEY)}}, false, 1)) == CKR_ATTRIBUTE_VALUE_INVALID);
  CHECK(Rv(t->CreateObject({{CKA_CLASS, Bytes{0, 0, 0, 0}}}, false, 1)) == CKR_ATTRIBUTE_VALUE_INVALID);
  CHECK(Rv(t->CreateObject(With(data, CKA_TOKEN, Bytes{1, 0}), false, 1)) == CKR_ATTRIBUTE_VALUE_INVALID);
  CHECK(Rv(t->CreateObject(With(data, CKA_START_DATE, Str("2024")), false, 1)) == CKR_ATTRIBUTE_VALUE_INVALID);
  CHECK(Rv(t->CreateObject(With(data, 0x7777, Bytes{1}), false, 1)) == CKR_ATTRIBUTE_TYPE_INVALID);
  CHECK(Rv(t->CreateObject(With(data, CKA_MODULUS, Bytes{1}), false, 1)) == CKR_ATTRIBUTE_TYPE_INVALID);
  CHECK(Rv(t->CreateObject(With(With(data, CKA_LABEL, Str("a")), CKA_LABEL, Str("b")), false, 1)) ==
        CKR_TEMPLATE_INCONSISTENT);
  CHECK(Rv(t->CreateObject({{CKA_CLASS, Ulong(CKO_PUBLIC_KEY)}, {CKA_LOCAL, Bool(true)}, {CKA_KEY_TYPE, Ulong(CKK_RSA)}},
                           false, 1)) == CKR_ATTRIBUTE_READ_ONLY);
  CHECK(Rv(t->CreateObject({{CKA_CLASS, Ulong(CKO_PUBLIC_KEY)}}, false, 1)) == CKR_TEMPLATE_INCOMPLETE);
  CHECK(Rv(t->CreateObject({{CKA_CLASS, Ulong(CKO_PUBLIC_KEY)}, {CKA_KEY_TYPE, Ulong(CKK_DSA)}}, false, 1)) ==
        CKR_ATTRIBUTE_VALUE_INVALID);
  CHECK(Rv(t->CreateObject({{CKA_CLASS, Ulong(CKO_PUBLIC_KEY)}, {CKA_KEY_TYPE, Ulong(CKK_RSA)}}, false, 1)) ==
        CKR_TEMPLATE_INCOMPLETE);
  CHECK(Rv(t->CreateObject(With(data, CKA_PRIVATE, Bool(true)), false, 1)) == CKR_USER_NOT_LOGGED_IN);
  // Vendor-defined attributes are kept as given.
  auto vendor = t->CreateObject(With(data, CKA_VENDOR_DEFINED | 0x1234, Bytes{9, 9}), false, 1);
  REQUIRE(vendor);
  CHECK(*Find(*vendor, CKA_VENDOR_DEFINED | 0x1234) == Bytes{9, 9});
}

TEST_CASE("data objects get their defaults; private ones need a user") {
  TempDir dir;
  auto t = NewToken(dir);
  auto d = t->CreateObject({{CKA_CLASS, Ulong(CKO_DATA)}, {CKA_VALUE, Str("payload")}}, false, 1);
  REQUIRE(d);
  CHECK(FindBool(*d, CKA_TOKEN) == false);  // PKCS#11 default: a session object
  CHECK(FindBool(*d, CKA_PRIVATE) == false);
  CHECK(Find(*d, CKA_APPLICATION)->empty());
  CHECK(Find(*d, CKA_OBJECT_ID)->empty());
  CHECK(*Find(*d, CKA_VALUE) == Str("payload"));
  CHECK(FindBool(*d, CKA_DESTROYABLE) == true);
  CHECK(FindBool(*d, CKA_COPYABLE) == true);
  CHECK_FALSE(d->is_token);
  auto p = t->CreateObject({{CKA_CLASS, Ulong(CKO_DATA)}, {CKA_TOKEN, Bool(true)}, {CKA_PRIVATE, Bool(true)},
                            {CKA_APPLICATION, Str("app")}},
                           true, 1);
  REQUIRE(p);
  CHECK(p->is_private);
  CHECK(t->Objects(false, 1).size() == 1);
  CHECK(t->Objects(true, 1).size() == 2);
  CHECK(Rv(t->DestroyObject(p->oid, false, 1)) == CKR_OBJECT_HANDLE_INVALID);
  CHECK(Rv(t->DestroyObject(p->oid, true, 1)) == CKR_OK);
}

TEST_CASE("session objects belong to their owner and never share an oid") {
  TempDir dir;
  std::uint64_t highest = 0;
  {
    auto t = NewToken(dir);
    const auto gen0 = t->generation();
    auto s1 = t->CreateObject({{CKA_CLASS, Ulong(CKO_DATA)}, {CKA_LABEL, Str("s1")}}, false, 1);
    auto tok = t->CreateObject({{CKA_CLASS, Ulong(CKO_DATA)}, {CKA_TOKEN, Bool(true)}}, false, 1);
    auto s2 = t->CreateObject({{CKA_CLASS, Ulong(CKO_DATA)}, {CKA_LABEL, Str("s2")}}, false, 2);
    REQUIRE((s1 && tok && s2));
    CHECK(t->generation() > gen0);
    CHECK(s1->oid != tok->oid);
    CHECK(tok->oid != s2->oid);
    CHECK(s1->oid != 0);
    CHECK(t->Objects(false, 1).size() == 2);  // s1 and the token object
    CHECK(t->Objects(false, 2).size() == 2);  // s2 and the token object
    CHECK(Rv(t->DestroyObject(s1->oid, true, 2)) == CKR_OBJECT_HANDLE_INVALID);
    CHECK(Rv(t->SetAttributes(s1->oid, {{CKA_LABEL, Str("x")}}, true, 2)) == CKR_OBJECT_HANDLE_INVALID);
    const auto gen1 = t->generation();
    t->DropSessionObjects(1);
    CHECK(t->generation() > gen1);
    CHECK(t->Objects(false, 1).size() == 1);
    CHECK(t->Objects(false, 2).size() == 2);
    auto s3 = t->CreateObject({{CKA_CLASS, Ulong(CKO_DATA)}}, false, 1);
    REQUIRE(s3);
    CHECK(s3->oid > s2->oid);  // never reused
    highest = s3->oid;
  }
  auto t = EmulatedToken::Open(dir.db());
  REQUIRE(t);
  CHECK((*t)->Objects(false, 1).size() == 1);  // session objects died with the process
  auto after = (*t)->CreateObject({{CKA_CLASS, Ulong(CKO_DATA)}}, false, 1);
  REQUIRE(after);
  CHECK(after->oid > highest);
}

TEST_CASE("attributes change only where PKCS#11 allows") {
  TempDir dir;
  auto t = NewToken(dir);
  REQUIRE(t->LoginUser(Secret(kPin)));
  auto pair = t->GenerateKeyPair(CKM_EC_KEY_PAIR_GEN, EcPublicTemplate("prime256v1"), PrivateTemplate(), 1);
  REQUIRE(pair);
  const auto priv = pair->second.oid;
  auto changed = t->SetAttributes(priv, {{CKA_LABEL, Str("renamed")}, {CKA_ID, Bytes{7}}}, true, 1);
  REQUIRE(changed);
  CHECK(*Find(*changed, CKA_LABEL) == Str("renamed"));
  CHECK(Rv(t->SetAttributes(priv, {{CKA_CLASS, Ulong(CKO_DATA)}}, true, 1)) == CKR_ATTRIBUTE_READ_ONLY);
  CHECK(Rv(t->SetAttributes(priv, {{CKA_TOKEN, Bool(false)}}, true, 1)) == CKR_ATTRIBUTE_READ_ONLY);
  CHECK(Rv(t->SetAttributes(priv, {{CKA_KEY_TYPE, Ulong(CKK_RSA)}}, true, 1)) == CKR_ATTRIBUTE_READ_ONLY);
  CHECK(Rv(t->SetAttributes(priv, {{CKA_SENSITIVE, Bool(false)}}, true, 1)) == CKR_ATTRIBUTE_READ_ONLY);
  CHECK(Rv(t->SetAttributes(priv, {{CKA_EXTRACTABLE, Bool(true)}}, true, 1)) == CKR_ATTRIBUTE_READ_ONLY);
  CHECK(Rv(t->SetAttributes(priv, {{CKA_VALUE, Bytes{1}}}, true, 1)) == CKR_ATTRIBUTE_READ_ONLY);
  CHECK(Rv(t->SetAttributes(priv, {{CKA_MODULUS, Bytes{1}}}, true, 1)) == CKR_ATTRIBUTE_TYPE_INVALID);
  CHECK(Rv(t->SetAttributes(priv, {{CKA_SIGN, Bytes{1, 1}}}, true, 1)) == CKR_ATTRIBUTE_VALUE_INVALID);
  CHECK(Rv(t->SetAttributes(priv, {{CKA_LABEL, Str("x")}}, false, 1)) == CKR_OBJECT_HANDLE_INVALID);
  auto frozen = t->CreateObject({{CKA_CLASS, Ulong(CKO_DATA)}, {CKA_TOKEN, Bool(true)}, {CKA_MODIFIABLE, Bool(false)},
                                 {CKA_DESTROYABLE, Bool(false)}},
                                false, 1);
  REQUIRE(frozen);
  CHECK(Rv(t->SetAttributes(frozen->oid, {{CKA_LABEL, Str("x")}}, false, 1)) == CKR_ACTION_PROHIBITED);
  CHECK(Rv(t->DestroyObject(frozen->oid, false, 1)) == CKR_ACTION_PROHIBITED);
  t.reset();
  auto reopened = EmulatedToken::Open(dir.db());
  REQUIRE(reopened);
  bool found = false;
  for (const auto& o : (*reopened)->Objects(true, 1))
    if (o.oid == priv) {
      found = true;
      CHECK(*Find(o, CKA_LABEL) == Str("renamed"));
      CHECK(*Find(o, CKA_ID) == Bytes{7});
    }
  CHECK(found);
}

TEST_CASE("destroyed token objects are gone from disk too") {
  TempDir dir;
  std::uint64_t oid = 0;
  {
    auto t = NewToken(dir);
    auto d = t->CreateObject({{CKA_CLASS, Ulong(CKO_DATA)}, {CKA_TOKEN, Bool(true)}}, false, 1);
    REQUIRE(d);
    oid = d->oid;
    CHECK(Rv(t->DestroyObject(oid, false, 1)) == CKR_OK);
    CHECK(Rv(t->DestroyObject(oid, false, 1)) == CKR_OBJECT_HANDLE_INVALID);
  }
  auto t = EmulatedToken::Open(dir.db());
  REQUIRE(t);
  CHECK((*t)->Objects(true, 1).empty());
}

TEST_CASE("an RSA private key imported from components signs, and stays sensitive") {
  TempDir dir;
  auto t = NewToken(dir);
  ossl::PKey rsa(EVP_RSA_gen(2048));
  Attributes tmpl = {{CKA_CLASS, Ulong(CKO_PRIVATE_KEY)}, {CKA_KEY_TYPE, Ulong(CKK_RSA)}, {CKA_TOKEN, Bool(true)},
                     {CKA_LABEL, Str("imported")}};
  for (auto [type, name] : std::initializer_list<std::pair<unsigned long, const char*>>{
           {CKA_MODULUS, OSSL_PKEY_PARAM_RSA_N},           {CKA_PUBLIC_EXPONENT, OSSL_PKEY_PARAM_RSA_E},
           {CKA_PRIVATE_EXPONENT, OSSL_PKEY_PARAM_RSA_D},  {CKA_PRIME_1, OSSL_PKEY_PARAM_RSA_FACTOR1},
           {CKA_PRIME_2, OSSL_PKEY_PARAM_RSA_FACTOR2},     {CKA_EXPONENT_1, OSSL_PKEY_PARAM_RSA_EXPONENT1},
           {CKA_EXPONENT_2, OSSL_PKEY_PARAM_RSA_EXPONENT2}, {CKA_COEFFICIENT, OSSL_PKEY_PARAM_RSA_COEFFICIENT1}})
    tmpl.emplace_back(type, BnParam(rsa.get(), name));
  CHECK(Rv(t->CreateObject(tmpl, false, 1)) == CKR_USER_NOT_LOGGED_IN);
  CHECK(Rv(t->CreateObject(tmpl, true, 1)) == CKR_USER_NOT_LOGGED_IN);  // token key still locked
  REQUIRE(t->LoginUser(Secret(kPin)));
  auto key = t->CreateObject(tmpl, true, 1);
  REQUIRE(key);
  CHECK(*Find(*key, CKA_MODULUS) == BnParam(rsa.get(), OSSL_PKEY_PARAM_RSA_N));
  CHECK(*Find(*key, CKA_PUBLIC_EXPONENT) == Bytes{1, 0, 1});
  CHECK(FindUlong(*key, CKA_MODULUS_BITS) == 2048ul);
  CHECK(*Find(*key, CKA_ID) == Sha1Of(BnParam(rsa.get(), OSSL_PKEY_PARAM_RSA_N)));
  CHECK(*Find(*key, CKA_PUBLIC_KEY_INFO) == Spki(rsa.get()));
  CHECK(FindBool(*key, CKA_SENSITIVE) == true);
  CHECK(FindBool(*key, CKA_EXTRACTABLE) == false);
  CHECK(FindBool(*key, CKA_ALWAYS_SENSITIVE) == false);  // it was known outside the token
  CHECK(FindBool(*key, CKA_NEVER_EXTRACTABLE) == false);
  CHECK(FindBool(*key, CKA_LOCAL) == false);
  CHECK(FindBool(*key, CKA_ALWAYS_AUTHENTICATE) == false);
  CHECK(FindUlong(*key, CKA_KEY_GEN_MECHANISM) == CK_UNAVAILABLE_INFORMATION);
  CHECK(FindBool(*key, CKA_PRIVATE) == true);
  for (auto type : {CKA_PRIVATE_EXPONENT, CKA_PRIME_1, CKA_PRIME_2, CKA_EXPONENT_1, CKA_EXPONENT_2, CKA_COEFFICIENT}) {
    CHECK(Find(*key, type) == nullptr);
    CHECK(IsSensitive(*key, type));
  }
  const Bytes data = Str("0123456789abcdef0123456789abcdef");
  auto sig = t->Sign(key->oid, CKM_RSA_PKCS, {}, data, 1);
  REQUIRE(sig);
  CHECK(VerifyRsaPkcs1(rsa.get(), data, *sig));
  // Inconsistent components are refused.
  Attributes bad = tmpl;
  for (auto& [type, value] : bad)
    if (type == CKA_PRIME_1) value.back() ^= 2;
  CHECK(Rv(t->CreateObject(bad, true, 1)) == CKR_ATTRIBUTE_VALUE_INVALID);
  CHECK(Rv(t->CreateObject(With(tmpl, CKA_SENSITIVE, Bool(false)), true, 1)) == CKR_ATTRIBUTE_VALUE_INVALID);
}

TEST_CASE("an EC private key imported from CKA_VALUE gets its public point") {
  TempDir dir;
  auto t = NewToken(dir);
  REQUIRE(t->LoginUser(Secret(kPin)));
  ossl::PKey ec(EVP_EC_gen("secp384r1"));
  Bytes d = BnParam(ec.get(), OSSL_PKEY_PARAM_PRIV_KEY);
  auto key = t->CreateObject({{CKA_CLASS, Ulong(CKO_PRIVATE_KEY)},
                              {CKA_KEY_TYPE, Ulong(CKK_EC)},
                              {CKA_TOKEN, Bool(false)},
                              {CKA_EC_PARAMS, EcParams("secp384r1")},
                              {CKA_VALUE, d}},
                             true, 5);
  REQUIRE(key);
  CHECK_FALSE(key->is_token);
  CHECK(*Find(*key, CKA_EC_PARAMS) == EcParams("secp384r1"));
  const Bytes point = RawPoint(ec.get());
  const Bytes* der_point = Find(*key, CKA_EC_POINT);
  REQUIRE(der_point);
  REQUIRE(der_point->size() == point.size() + 2);
  CHECK((*der_point)[0] == 0x04);
  CHECK((*der_point)[1] == point.size());
  CHECK(Bytes(der_point->begin() + 2, der_point->end()) == point);
  CHECK(*Find(*key, CKA_ID) == Sha1Of(point));
  CHECK(Find(*key, CKA_VALUE) == nullptr);
  CHECK(IsSensitive(*key, CKA_VALUE));
  const Bytes hash = Sha384(Str("msg"));
  auto sig = t->Sign(key->oid, CKM_ECDSA, {}, hash, 5);
  REQUIRE(sig);
  CHECK(sig->size() == 96);
  CHECK(VerifyEcdsaRaw(ec.get(), hash, *sig));
  CHECK(Rv(t->Sign(key->oid, CKM_ECDSA, {}, hash, 6)) == CKR_KEY_HANDLE_INVALID);
}

TEST_CASE("public keys import from components; a raw EC point is accepted") {
  TempDir dir;
  auto t = NewToken(dir);
  ossl::PKey rsa(EVP_RSA_gen(2048));
  auto pub = t->CreateObject({{CKA_CLASS, Ulong(CKO_PUBLIC_KEY)},
                              {CKA_KEY_TYPE, Ulong(CKK_RSA)},
                              {CKA_MODULUS, BnParam(rsa.get(), OSSL_PKEY_PARAM_RSA_N)},
                              {CKA_PUBLIC_EXPONENT, Bytes{1, 0, 1}},
                              {CKA_MODULUS_BITS, Ulong(2048)}},
                             false, 1);
  REQUIRE(pub);
  CHECK(*Find(*pub, CKA_PUBLIC_KEY_INFO) == Spki(rsa.get()));
  CHECK(FindBool(*pub, CKA_PRIVATE) == false);
  CHECK(FindBool(*pub, CKA_VERIFY) == true);
  CHECK(FindBool(*pub, CKA_ENCRYPT) == true);
  CHECK(Rv(t->CreateObject({{CKA_CLASS, Ulong(CKO_PUBLIC_KEY)},
                            {CKA_KEY_TYPE, Ulong(CKK_RSA)},
                            {CKA_MODULUS, BnParam(rsa.get(), OSSL_PKEY_PARAM_RSA_N)},
                            {CKA_PUBLIC_EXPONENT, Bytes{1, 0, 1}},
                            {CKA_MODULUS_BITS, Ulong(1024)}},
                           false, 1)) == CKR_TEMPLATE_INCONSISTENT);
  ossl::PKey ec(EVP_EC_gen("prime256v1"));
  auto ecpub = t->CreateObject({{CKA_CLASS, Ulong(CKO_PUBLIC_KEY)},
                                {CKA_KEY_TYPE, Ulong(CKK_EC)},
                                {CKA_EC_PARAMS, EcParams("prime256v1")},
                                {CKA_EC_POINT, RawPoint(ec.get())}},
                               false, 1);
  REQUIRE(ecpub);
  CHECK(Find(*ecpub, CKA_EC_POINT)->size() == 67);
  CHECK(FindBool(*ecpub, CKA_ENCRYPT) == false);
  CHECK(*Find(*ecpub, CKA_PUBLIC_KEY_INFO) == Spki(ec.get()));
  Bytes off_curve = RawPoint(ec.get());
  off_curve.back() ^= 1;
  CHECK(Rv(t->CreateObject({{CKA_CLASS, Ulong(CKO_PUBLIC_KEY)},
                            {CKA_KEY_TYPE, Ulong(CKK_EC)},
                            {CKA_EC_PARAMS, EcParams("prime256v1")},
                            {CKA_EC_POINT, off_curve}},
                           false, 1)) == CKR_ATTRIBUTE_VALUE_INVALID);
}
