// PendingSignature (tokend/cms/cades.h) with local OpenSSL keys standing in
// for the cloud token: the "signer" below signs the raw mechanism input the
// way the agent's cloud_sign_batch does (CKM_RSA_PKCS over a DigestInfo,
// CKM_RSA_PKCS_PSS and CKM_ECDSA over the hash, ECDSA as raw r||s). Every
// result is checked by OpenSSL's own CMS_verify against the CA.
#include <openssl/cms.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <p11-kit/pkcs11.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <string>
#include <unistd.h>

#include "common/der.h"
#include "tokend/cms/cades.h"

using namespace vtoken;
using namespace vtoken::agent::cms;

namespace {

using Cms = std::unique_ptr<CMS_ContentInfo, ossl::Deleter<CMS_ContentInfo, CMS_ContentInfo_free>>;
using Store = std::unique_ptr<X509_STORE, ossl::Deleter<X509_STORE, X509_STORE_free>>;

ossl::PKey NewKey(const char* type) {
  if (std::string(type) == "RSA") return ossl::PKey(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048}));
  return ossl::PKey(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
}

void AddExt(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  REQUIRE(ext != nullptr);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A certificate for `key`, issued by (issuer, issuer_key) or self-signed.
ossl::X509Ptr MakeCert(EVP_PKEY* key, const char* cn, X509* issuer, EVP_PKEY* issuer_key, long serial) {
  ossl::X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("vtoken test"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
  X509_set_pubkey(cert.get(), key);
  if (!issuer) {
    AddExt(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE");
    AddExt(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    AddExt(cert.get(), issuer, NID_key_usage, "critical,digitalSignature,nonRepudiation");
  }
  REQUIRE(X509_sign(cert.get(), issuer_key ? issuer_key : key, EVP_sha256()) > 0);
  return cert;
}

Bytes Der(X509* cert) {
  unsigned char* der = nullptr;
  const int len = i2d_X509(cert, &der);
  Bytes out(der, der + len);
  OPENSSL_free(der);
  return out;
}

Bytes Sha(Hash h, const std::string& text) {
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), out.data(), &len, HashMd(h), nullptr);
  out.resize(len);
  return out;
}

// The cloud token's raw mechanisms, done with a local key.
Bytes RawSign(EVP_PKEY* key, Scheme scheme, Hash hash, const Bytes& input) {
  ossl::PKeyCtx ctx(EVP_PKEY_CTX_new(key, nullptr));
  REQUIRE(EVP_PKEY_sign_init(ctx.get()) == 1);
  if (scheme == Scheme::kRsaPkcs1) {
    REQUIRE(EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) == 1);  // over the DigestInfo as given
  } else if (scheme == Scheme::kRsaPss) {
    REQUIRE(EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PSS_PADDING) == 1);
    REQUIRE(EVP_PKEY_CTX_set_signature_md(ctx.get(), HashMd(hash)) == 1);
    REQUIRE(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), HashMd(hash)) == 1);
    REQUIRE(EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx.get(), static_cast<int>(HashSize(hash))) == 1);
  }
  size_t len = 0;
  REQUIRE(EVP_PKEY_sign(ctx.get(), nullptr, &len, input.data(), input.size()) == 1);
  Bytes sig(len);
  REQUIRE(EVP_PKEY_sign(ctx.get(), sig.data(), &len, input.data(), input.size()) == 1);
  sig.resize(len);
  if (scheme != Scheme::kEcdsa) return sig;
  auto raw = der::EcdsaDerToRaw(sig, 32);
  REQUIRE(raw);
  return *raw;
}

struct Pki {
  ossl::PKey ca_key = NewKey("EC");
  ossl::X509Ptr ca = MakeCert(ca_key.get(), "vtoken test CA", nullptr, nullptr, 1);
  ossl::PKey rsa_key = NewKey("RSA");
  ossl::X509Ptr rsa_cert = MakeCert(rsa_key.get(), "rsa signer", ca.get(), ca_key.get(), 2);
  ossl::PKey ec_key = NewKey("EC");
  ossl::X509Ptr ec_cert = MakeCert(ec_key.get(), "ec signer", ca.get(), ca_key.get(), 3);
};

Pki& TestPki() {
  static Pki pki;
  return pki;
}

Cms Parse(const Bytes& der) {
  const unsigned char* p = der.data();
  Cms cms(d2i_CMS_ContentInfo(nullptr, &p, static_cast<long>(der.size())));
  REQUIRE(cms);
  CHECK(p == der.data() + der.size());
  return cms;
}

// OpenSSL's verdict on a detached signature over `content`, chained to the CA.
bool OpensslVerifies(const Bytes& p7s, const std::string& content, std::string* error = nullptr) {
  Cms cms = Parse(p7s);
  Store store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), TestPki().ca.get());
  ossl::Bio in(BIO_new_mem_buf(content.data(), static_cast<int>(content.size())));
  const bool ok = CMS_verify(cms.get(), nullptr, store.get(), in.get(), nullptr, CMS_BINARY) == 1;
  if (!ok && error) {
    char buf[256];
    ERR_error_string_n(ERR_peek_last_error(), buf, sizeof buf);
    *error = buf;
  }
  ERR_clear_error();
  return ok;
}

Bytes SignDocument(const std::string& content, X509* cert, EVP_PKEY* key, Hash hash, bool pss, std::time_t when = 0) {
  auto signer = Signer::FromDer(Der(cert), {Der(TestPki().ca.get())}, hash, pss);
  REQUIRE(signer);
  auto pending = PendingSignature::Create(*signer, Sha(hash, content), when ? when : std::time(nullptr));
  REQUIRE(pending);
  CHECK(pending->attributes_hash().size() == HashSize(hash));
  auto p7s = pending->Finish(RawSign(key, signer->scheme, hash, pending->sign_input()));
  REQUIRE(p7s);
  return *p7s;
}

}  // namespace

TEST_CASE("CAdES: detached signatures OpenSSL verifies, for every scheme and hash", "[cms]") {
  Pki& pki = TestPki();
  const std::string doc = "I, the undersigned, agree.\n";
  struct Case {
    const char* name;
    X509* cert;
    EVP_PKEY* key;
    Hash hash;
    bool pss;
  } cases[] = {
      {"RSA PKCS#1 SHA-256", pki.rsa_cert.get(), pki.rsa_key.get(), Hash::kSha256, false},
      {"RSA PKCS#1 SHA-512", pki.rsa_cert.get(), pki.rsa_key.get(), Hash::kSha512, false},
      {"RSA-PSS SHA-256", pki.rsa_cert.get(), pki.rsa_key.get(), Hash::kSha256, true},
      {"RSA-PSS SHA-384", pki.rsa_cert.get(), pki.rsa_key.get(), Hash::kSha384, true},
      {"ECDSA SHA-256", pki.ec_cert.get(), pki.ec_key.get(), Hash::kSha256, false},
      {"ECDSA SHA-384", pki.ec_cert.get(), pki.ec_key.get(), Hash::kSha384, false},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    const Bytes p7s = SignDocument(doc, c.cert, c.key, c.hash, c.pss);
    std::string error;
    CHECK(OpensslVerifies(p7s, doc, &error));
    INFO(error);
    CHECK_FALSE(OpensslVerifies(p7s, doc + "tampered"));
  }
}

TEST_CASE("CAdES: the SignedData holds the CAdES-BES attributes, both certificates and no content", "[cms]") {
  Pki& pki = TestPki();
  const std::string doc = "contract";
  const std::time_t when = 1795000000;  // 2026-11-18
  const Bytes p7s = SignDocument(doc, pki.rsa_cert.get(), pki.rsa_key.get(), Hash::kSha256, true, when);
  Cms cms = Parse(p7s);
  CHECK(OBJ_obj2nid(CMS_get0_type(cms.get())) == NID_pkcs7_signed);
  CHECK(OBJ_obj2nid(CMS_get0_eContentType(cms.get())) == NID_pkcs7_data);
  CHECK(CMS_is_detached(cms.get()) == 1);
  STACK_OF(X509)* certs = CMS_get1_certs(cms.get());
  CHECK(sk_X509_num(certs) == 2);
  sk_X509_pop_free(certs, X509_free);

  STACK_OF(CMS_SignerInfo)* infos = CMS_get0_SignerInfos(cms.get());
  REQUIRE(sk_CMS_SignerInfo_num(infos) == 1);
  CMS_SignerInfo* si = sk_CMS_SignerInfo_value(infos, 0);
  CHECK(CMS_signed_get_attr_count(si) == 4);
  for (int nid : {NID_pkcs9_contentType, NID_pkcs9_signingTime, NID_pkcs9_messageDigest,
                  NID_id_smime_aa_signingCertificateV2})
    CHECK(CMS_signed_get_attr_by_NID(si, nid, -1) >= 0);
  auto* digest = static_cast<ASN1_OCTET_STRING*>(
      CMS_signed_get0_data_by_OBJ(si, OBJ_nid2obj(NID_pkcs9_messageDigest), -3, V_ASN1_OCTET_STRING));
  REQUIRE(digest);
  const Bytes expected = Sha(Hash::kSha256, doc);
  CHECK(Bytes(digest->data, digest->data + digest->length) == expected);
  auto* time = static_cast<ASN1_TIME*>(CMS_signed_get0_data_by_OBJ(si, OBJ_nid2obj(NID_pkcs9_signingTime), -3, V_ASN1_UTCTIME));
  REQUIRE(time);
  CHECK(ASN1_TIME_cmp_time_t(time, when) == 0);
  X509_ALGOR* sig_alg = nullptr;
  CMS_SignerInfo_get0_algs(si, nullptr, nullptr, nullptr, &sig_alg);
  CHECK(OBJ_obj2nid(sig_alg->algorithm) == NID_rsassaPss);
  CHECK(CMS_SignerInfo_cert_cmp(si, pki.rsa_cert.get()) == 0);
}

TEST_CASE("CAdES: a signature that does not match the certificate is refused, nothing is written", "[cms]") {
  Pki& pki = TestPki();
  auto signer = Signer::FromDer(Der(pki.ec_cert.get()), {}, Hash::kSha256, false);
  REQUIRE(signer);
  auto a = PendingSignature::Create(*signer, Sha(Hash::kSha256, "a"), std::time(nullptr));
  auto b = PendingSignature::Create(*signer, Sha(Hash::kSha256, "b"), std::time(nullptr));
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->attributes_hash() != b->attributes_hash());
  // b's signature placed on a (a batch answered out of order):
  const Bytes sig_b = RawSign(pki.ec_key.get(), Scheme::kEcdsa, Hash::kSha256, b->sign_input());
  auto wrong = a->Finish(sig_b);
  REQUIRE_FALSE(wrong);
  CHECK(wrong.error().rv == CKR_SIGNATURE_INVALID);
  // Another key's signature, and garbage of the wrong size:
  CHECK_FALSE(a->Finish(RawSign(NewKey("EC").get(), Scheme::kEcdsa, Hash::kSha256, a->sign_input())).has_value());
  CHECK_FALSE(a->Finish(Bytes(7, 1)).has_value());
  // The right one still works afterwards.
  auto right = a->Finish(RawSign(pki.ec_key.get(), Scheme::kEcdsa, Hash::kSha256, a->sign_input()));
  REQUIRE(right);
  CHECK(OpensslVerifies(*right, "a"));
  CHECK_FALSE(a->Finish(sig_b).has_value());  // finished once
  CHECK(b->Finish(sig_b).has_value());
}

TEST_CASE("CAdES: bad input is a clear error", "[cms]") {
  Pki& pki = TestPki();
  CHECK_FALSE(Signer::FromDer(Bytes{0x30, 0x03, 0x02, 0x01, 0x01}, {}, Hash::kSha256, false).has_value());
  Bytes der = Der(pki.rsa_cert.get());
  der.push_back(0);  // trailing byte
  CHECK_FALSE(Signer::FromDer(der, {}, Hash::kSha256, false).has_value());
  auto pss_on_ec = Signer::FromDer(Der(pki.ec_cert.get()), {}, Hash::kSha256, true);
  REQUIRE_FALSE(pss_on_ec);
  CHECK(pss_on_ec.error().message.find("RSA") != std::string::npos);
  auto signer = Signer::FromDer(Der(pki.rsa_cert.get()), {}, Hash::kSha384, false);
  REQUIRE(signer);
  CHECK(signer->Describe() == "RSA-2048 PKCS#1 v1.5 with SHA-384");
  CHECK_FALSE(PendingSignature::Create(*signer, Sha(Hash::kSha256, "x"), std::time(nullptr)).has_value());  // 32 bytes, not 48
}

TEST_CASE("CAdES: file digests and DigestInfo", "[cms]") {
  const std::string path = std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") + "/vtoken-cades-test-" +
                           std::to_string(::getpid());
  std::string content(200000, 'x');  // more than one read chunk
  content += "end";
  std::ofstream(path, std::ios::binary) << content;
  auto d = DigestFile(path, Hash::kSha384);
  std::remove(path.c_str());
  REQUIRE(d);
  CHECK(*d == Sha(Hash::kSha384, content));
  CHECK_FALSE(DigestFile(path, Hash::kSha256).has_value());  // gone
  CHECK_FALSE(DigestFile("/", Hash::kSha256).has_value());   // a directory

  const Bytes h = Sha(Hash::kSha256, "abc");
  const Bytes info = DigestInfo(Hash::kSha256, h);
  const Bytes prefix = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
                        0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};  // RFC 8017 §9.2 note 1
  REQUIRE(info.size() == prefix.size() + 32);
  CHECK(Bytes(info.begin(), info.begin() + 19) == prefix);
  CHECK(Bytes(info.begin() + 19, info.end()) == h);
}
