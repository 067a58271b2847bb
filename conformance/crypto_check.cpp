#include "conformance/crypto_check.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

namespace vtoken::conformance {
namespace {

struct CtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, CtxFree>;

struct BnFree {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
using Bn = std::unique_ptr<BIGNUM, BnFree>;

// CKA_EC_POINT is a DER OCTET STRING around the point; accept a bare point too.
Bytes UnwrapPoint(const Bytes& v) {
  if (v.size() > 2 && v[0] == 0x04) {
    std::size_t len = v[1], hdr = 2;
    if (len == 0x81 && v.size() > 3) len = v[2], hdr = 3;
    if (hdr + len == v.size() && len > 0 && (v[hdr] == 0x04 || v[hdr] == 0x02 || v[hdr] == 0x03))
      return Bytes(v.begin() + hdr, v.end());
  }
  return v;
}

Pkey FromParams(const char* type, OSSL_PARAM_BLD* bld) {
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* key = nullptr;
  if (params && ctx && EVP_PKEY_fromdata_init(ctx.get()) == 1)
    EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params);
  OSSL_PARAM_free(params);
  return Pkey(key);
}

const EVP_MD* Md(std::string_view md) { return EVP_get_digestbyname(std::string(md).c_str()); }

}  // namespace

Pkey PublicKeyOf(Context& ctx, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key) {
  Bytes type = ctx.Attr(s, key, CKA_KEY_TYPE, "", false);
  if (type.size() != sizeof(CK_KEY_TYPE)) return nullptr;
  CK_KEY_TYPE kt = *reinterpret_cast<CK_KEY_TYPE*>(type.data());
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  Pkey out;
  if (kt == CKK_RSA) {
    Bytes n = ctx.Attr(s, key, CKA_MODULUS, "", false), e = ctx.Attr(s, key, CKA_PUBLIC_EXPONENT, "", false);
    Bn bn(BN_bin2bn(n.data(), n.size(), nullptr)), be(BN_bin2bn(e.data(), e.size(), nullptr));
    if (!n.empty() && !e.empty()) {
      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn.get());
      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be.get());
      out = FromParams("RSA", bld);
    }
  } else if (kt == CKK_EC) {
    Bytes params = ctx.Attr(s, key, CKA_EC_PARAMS, "", false);
    Bytes point = UnwrapPoint(ctx.Attr(s, key, CKA_EC_POINT, "", false));
    const char* group = params == kOidP256 ? "prime256v1" : params == kOidP384 ? "secp384r1" : nullptr;
    if (group && !point.empty()) {
      OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
      OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
      out = FromParams("EC", bld);
    }
  }
  OSSL_PARAM_BLD_free(bld);
  return out;
}

Bytes Digest(std::string_view md, const Bytes& data) {
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, Md(md), nullptr);
  out.resize(len);
  return out;
}

Bytes DigestInfo(std::string_view md, const Bytes& hash) {
  static const std::pair<std::string_view, Bytes> kPrefixes[] = {
      {"SHA1", {0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14}},
      {"SHA224", {0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04, 0x05, 0x00, 0x04, 0x1c}},
      {"SHA256", {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}},
      {"SHA384", {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30}},
      {"SHA512", {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40}},
  };
  for (const auto& [name, prefix] : kPrefixes) {
    if (name != md) continue;
    Bytes out = prefix;
    out.insert(out.end(), hash.begin(), hash.end());
    return out;
  }
  return hash;  // MD5||SHA-1 and unknown: raw
}

std::string VerifyRsaPkcs1Raw(EVP_PKEY* key, const Bytes& input, const Bytes& sig) {
  if (!key) return "no-public-key";
  PkeyCtx ctx(EVP_PKEY_CTX_new(key, nullptr));
  Bytes out(EVP_PKEY_get_size(key));
  std::size_t len = out.size();
  if (EVP_PKEY_verify_recover_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) != 1 ||
      EVP_PKEY_verify_recover(ctx.get(), out.data(), &len, sig.data(), sig.size()) != 1)
    return "invalid";
  out.resize(len);
  return out == input ? "valid" : "invalid";
}

std::string VerifyRsaPkcs1(EVP_PKEY* key, std::string_view md, const Bytes& msg, const Bytes& sig) {
  if (!key) return "no-public-key";
  EVP_MD_CTX* mctx = EVP_MD_CTX_new();
  bool ok = EVP_DigestVerifyInit(mctx, nullptr, Md(md), nullptr, key) == 1 &&
            EVP_DigestVerify(mctx, sig.data(), sig.size(), msg.data(), msg.size()) == 1;
  EVP_MD_CTX_free(mctx);
  return ok ? "valid" : "invalid";
}

std::string VerifyRsaPss(EVP_PKEY* key, std::string_view md, const Bytes& hash, const Bytes& sig, int salt_len) {
  if (!key) return "no-public-key";
  PkeyCtx ctx(EVP_PKEY_CTX_new(key, nullptr));
  bool ok = EVP_PKEY_verify_init(ctx.get()) == 1 &&
            EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PSS_PADDING) == 1 &&
            EVP_PKEY_CTX_set_signature_md(ctx.get(), Md(md)) == 1 &&
            EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), Md(md)) == 1 &&
            EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx.get(), salt_len) == 1 &&
            EVP_PKEY_verify(ctx.get(), sig.data(), sig.size(), hash.data(), hash.size()) == 1;
  return ok ? "valid" : "invalid";
}

std::string VerifyEcdsaRaw(EVP_PKEY* key, const Bytes& hash, const Bytes& raw_sig) {
  if (!key) return "no-public-key";
  if (raw_sig.empty() || raw_sig.size() % 2) return "invalid";
  const std::size_t half = raw_sig.size() / 2;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  ECDSA_SIG_set0(sig, BN_bin2bn(raw_sig.data(), half, nullptr), BN_bin2bn(raw_sig.data() + half, half, nullptr));
  unsigned char* der = nullptr;
  int der_len = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  PkeyCtx ctx(EVP_PKEY_CTX_new(key, nullptr));
  bool ok = der_len > 0 && EVP_PKEY_verify_init(ctx.get()) == 1 &&
            EVP_PKEY_verify(ctx.get(), der, der_len, hash.data(), hash.size()) == 1;
  OPENSSL_free(der);
  return ok ? "valid" : "invalid";
}

Bytes RsaEncrypt(EVP_PKEY* key, std::string_view padding, std::string_view oaep_md, const Bytes& plain) {
  if (!key) return {};
  PkeyCtx ctx(EVP_PKEY_CTX_new(key, nullptr));
  if (EVP_PKEY_encrypt_init(ctx.get()) != 1) return {};
  if (padding == "oaep") {
    EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING);
    EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), Md(oaep_md));
    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), Md(oaep_md));
  } else {
    EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING);
  }
  std::size_t len = 0;
  if (EVP_PKEY_encrypt(ctx.get(), nullptr, &len, plain.data(), plain.size()) != 1) return {};
  Bytes out(len);
  if (EVP_PKEY_encrypt(ctx.get(), out.data(), &len, plain.data(), plain.size()) != 1) return {};
  out.resize(len);
  return out;
}

namespace {
template <typename T, typename F>
Bytes ToDer(T* obj, F i2d) {
  unsigned char* p = nullptr;
  int len = i2d(obj, &p);
  Bytes out(p, p + (len > 0 ? len : 0));
  OPENSSL_free(p);
  return out;
}
}  // namespace

Certificate MakeCertificate(std::string_view common_name) {
  Certificate c;
  EVP_PKEY* key = EVP_EC_gen("prime256v1");
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 0x1234567);
  X509_gmtime_adj(X509_getm_notBefore(x), 0);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600L * 24 * 365);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char*)"vtoken conformance", -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char*)std::string(common_name).c_str(), -1,
                             -1, 0);
  X509_set_issuer_name(x, name);
  X509_set_pubkey(x, key);
  X509_sign(x, key, EVP_sha256());
  c.der = ToDer(x, i2d_X509);
  c.subject = ToDer(X509_get_subject_name(x), i2d_X509_NAME);
  c.issuer = ToDer(X509_get_issuer_name(x), i2d_X509_NAME);
  c.serial = ToDer(X509_get_serialNumber(x), i2d_ASN1_INTEGER);
  X509_free(x);
  EVP_PKEY_free(key);
  return c;
}

}  // namespace vtoken::conformance
