#include "test_support.h"

#include <openssl/ecdsa.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <cstring>
#include <random>
#include <stdexcept>

namespace vtoken::agent::test {

TempDir::TempDir() {
  std::random_device rd;
  path = std::filesystem::temp_directory_path() / ("vtoken-emulated-" + std::to_string(rd()) + std::to_string(rd()));
  std::filesystem::create_directories(path);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

TokenPolicy CheapPolicy() {
  TokenPolicy p;
  p.kdf_cost = 1;
  return p;
}

std::unique_ptr<EmulatedToken> NewToken(const TempDir& dir, const TokenPolicy& policy, bool with_pin) {
  std::optional<Secret> pin;
  if (with_pin) pin = Secret(kPin);
  auto t = EmulatedToken::Create(dir.db(), 7, "work", "Work token", Secret(kPuk), pin, policy);
  if (!t) throw std::runtime_error(Describe(t.error()));
  return std::move(*t);
}

Bytes Ulong(unsigned long v) {
  Bytes b(sizeof v);
  std::memcpy(b.data(), &v, sizeof v);
  return b;
}
Bytes Bool(bool v) { return Bytes{static_cast<std::uint8_t>(v)}; }
Bytes Str(const std::string& s) { return Bytes(s.begin(), s.end()); }

const Bytes* Find(const ObjectView& o, unsigned long type) {
  for (const auto& [t, v] : o.attrs)
    if (t == type) return &v;
  return nullptr;
}
std::optional<unsigned long> FindUlong(const ObjectView& o, unsigned long type) {
  auto v = Find(o, type);
  if (!v || v->size() != sizeof(unsigned long)) return std::nullopt;
  unsigned long out;
  std::memcpy(&out, v->data(), sizeof out);
  return out;
}
std::optional<bool> FindBool(const ObjectView& o, unsigned long type) {
  auto v = Find(o, type);
  if (!v || v->size() != 1) return std::nullopt;
  return (*v)[0] != 0;
}
bool IsSensitive(const ObjectView& o, unsigned long type) {
  for (auto t : o.sensitive)
    if (t == type) return true;
  return false;
}

Bytes EcParams(const char* curve) {
  ASN1_OBJECT* obj = OBJ_nid2obj(OBJ_sn2nid(curve));
  Bytes out(i2d_ASN1_OBJECT(obj, nullptr));
  unsigned char* p = out.data();
  i2d_ASN1_OBJECT(obj, &p);
  return out;
}

Attributes RsaPublicTemplate(unsigned long bits, bool token) {
  return {{CKA_TOKEN, Bool(token)}, {CKA_LABEL, Str("rsa key")}, {CKA_ID, Bytes{0x42}},
          {CKA_MODULUS_BITS, Ulong(bits)}, {CKA_VERIFY, Bool(true)}, {CKA_ENCRYPT, Bool(true)}};
}
Attributes EcPublicTemplate(const char* curve, bool token) {
  return {{CKA_TOKEN, Bool(token)}, {CKA_LABEL, Str("ec key")}, {CKA_EC_PARAMS, EcParams(curve)},
          {CKA_VERIFY, Bool(true)}};
}
Attributes PrivateTemplate(bool token) {
  return {{CKA_TOKEN, Bool(token)}, {CKA_PRIVATE, Bool(true)}, {CKA_SENSITIVE, Bool(true)}, {CKA_SIGN, Bool(true)}};
}

ossl::PKey PublicKeyOf(const ObjectView& o) {
  const Bytes* spki = Find(o, CKA_PUBLIC_KEY_INFO);
  if (!spki) return nullptr;
  const unsigned char* p = spki->data();
  return ossl::PKey(d2i_PUBKEY(nullptr, &p, static_cast<long>(spki->size())));
}

Bytes MakeCertificate(EVP_PKEY* key, const std::string& cn, long serial) {
  ossl::X509Ptr x(X509_new());
  X509_set_version(x.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), 86400);
  X509_NAME* name = X509_get_subject_name(x.get());
  X509_NAME_add_entry_by_txt(name, "C", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("RO"), -1, -1, 0);
  X509_NAME_add_entry_by_NID(name, NID_commonName, V_ASN1_UTF8STRING,
                             reinterpret_cast<const unsigned char*>(cn.data()), static_cast<int>(cn.size()), -1, 0);
  X509_set_issuer_name(x.get(), name);
  X509_set_pubkey(x.get(), key);
  X509_sign(x.get(), key, EVP_sha256());
  Bytes out(i2d_X509(x.get(), nullptr));
  unsigned char* p = out.data();
  i2d_X509(x.get(), &p);
  return out;
}

namespace {
// One DER TLV at `pos`: returns its total length, sets header length.
std::size_t Tlv(const Bytes& d, std::size_t pos, std::size_t& header) {
  std::size_t len = d.at(pos + 1);
  header = 2;
  if (len & 0x80) {
    std::size_t k = len & 0x7f;
    len = 0;
    for (std::size_t i = 0; i < k; ++i) len = (len << 8) | d.at(pos + 2 + i);
    header += k;
  }
  return header + len;
}
}  // namespace

TbsFields WalkCertificate(const Bytes& der) {
  std::size_t h;
  Tlv(der, 0, h);
  std::size_t tbs = h;  // tbsCertificate
  Tlv(der, tbs, h);
  std::size_t pos = tbs + h;
  if (der.at(pos) == 0xa0) pos += Tlv(der, pos, h);  // [0] version
  auto take = [&](Bytes& out) {
    std::size_t n = Tlv(der, pos, h);
    out.assign(der.begin() + pos, der.begin() + pos + n);
    pos += n;
  };
  TbsFields f;
  Bytes skip;
  take(f.serial);
  take(skip);  // signature algorithm
  take(f.issuer);
  take(skip);  // validity
  take(f.subject);
  return f;
}

bool VerifyRsaPkcs1(EVP_PKEY* pub, const Bytes& data, const Bytes& sig) {
  ossl::PKeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pub, nullptr));
  return EVP_PKEY_verify_init(ctx.get()) == 1 && EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) == 1 &&
         EVP_PKEY_verify(ctx.get(), sig.data(), sig.size(), data.data(), data.size()) == 1;
}

bool VerifyRsaPss(EVP_PKEY* pub, const EVP_MD* md, int salt_len, const Bytes& hash, const Bytes& sig) {
  ossl::PKeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pub, nullptr));
  return EVP_PKEY_verify_init(ctx.get()) == 1 &&
         EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_signature_md(ctx.get(), md) == 1 && EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), md) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx.get(), salt_len) == 1 &&
         EVP_PKEY_verify(ctx.get(), sig.data(), sig.size(), hash.data(), hash.size()) == 1;
}

bool VerifyEcdsaRaw(EVP_PKEY* pub, const Bytes& hash, const Bytes& sig) {
  const std::size_t n = sig.size() / 2;
  ECDSA_SIG* s = ECDSA_SIG_new();
  ECDSA_SIG_set0(s, BN_bin2bn(sig.data(), static_cast<int>(n), nullptr),
                 BN_bin2bn(sig.data() + n, static_cast<int>(n), nullptr));
  unsigned char* der = nullptr;
  int len = i2d_ECDSA_SIG(s, &der);
  ECDSA_SIG_free(s);
  ossl::PKeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pub, nullptr));
  bool ok = EVP_PKEY_verify_init(ctx.get()) == 1 &&
            EVP_PKEY_verify(ctx.get(), der, static_cast<std::size_t>(len), hash.data(), hash.size()) == 1;
  OPENSSL_free(der);
  return ok;
}

Bytes RsaEncrypt(EVP_PKEY* pub, int padding, const Bytes& plain, const EVP_MD* oaep_md, const Bytes& label) {
  ossl::PKeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pub, nullptr));
  EVP_PKEY_encrypt_init(ctx.get());
  EVP_PKEY_CTX_set_rsa_padding(ctx.get(), padding);
  if (oaep_md) {
    EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), oaep_md);
    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), oaep_md);
    if (!label.empty())
      EVP_PKEY_CTX_set0_rsa_oaep_label(ctx.get(), OPENSSL_memdup(label.data(), label.size()),
                                       static_cast<int>(label.size()));
  }
  Bytes out(EVP_PKEY_get_size(pub));
  std::size_t len = out.size();
  if (EVP_PKEY_encrypt(ctx.get(), out.data(), &len, plain.data(), plain.size()) != 1) return {};
  out.resize(len);
  return out;
}

Bytes Sha256(const Bytes& data) {
  Bytes out(SHA256_DIGEST_LENGTH);
  SHA256(data.data(), data.size(), out.data());
  return out;
}
Bytes Sha384(const Bytes& data) {
  Bytes out(SHA384_DIGEST_LENGTH);
  SHA384(data.data(), data.size(), out.data());
  return out;
}

}  // namespace vtoken::agent::test
