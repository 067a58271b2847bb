#include "tokend/emulated/key_material.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/x509.h>
#include <p11-kit/pkcs11.h>

#include <cstring>

#include "tokend/emulated/token_crypto.h"

namespace vtoken::agent {
namespace {

using ParamBld = std::unique_ptr<OSSL_PARAM_BLD, ossl::Deleter<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
using Params = std::unique_ptr<OSSL_PARAM, ossl::Deleter<OSSL_PARAM, OSSL_PARAM_free>>;
using Group = std::unique_ptr<EC_GROUP, ossl::Deleter<EC_GROUP, EC_GROUP_free>>;
using Point = std::unique_ptr<EC_POINT, ossl::Deleter<EC_POINT, EC_POINT_free>>;
using P8 = std::unique_ptr<PKCS8_PRIV_KEY_INFO, ossl::Deleter<PKCS8_PRIV_KEY_INFO, PKCS8_PRIV_KEY_INFO_free>>;

wire::Bytes BnBytes(const BIGNUM* bn) {
  wire::Bytes out(BN_num_bytes(bn));
  BN_bn2bin(bn, out.data());
  return out;
}

ossl::Bignum BnFrom(const wire::Bytes& b) { return ossl::Bignum(BN_bin2bn(b.data(), static_cast<int>(b.size()), nullptr)); }

wire::Bytes DerOctetString(const wire::Bytes& content) {
  wire::Bytes out{0x04};
  std::size_t n = content.size();
  if (n < 0x80) {
    out.push_back(static_cast<std::uint8_t>(n));
  } else {
    wire::Bytes len;
    for (std::size_t v = n; v; v >>= 8) len.insert(len.begin(), static_cast<std::uint8_t>(v));
    out.push_back(static_cast<std::uint8_t>(0x80 | len.size()));
    out.insert(out.end(), len.begin(), len.end());
  }
  out.insert(out.end(), content.begin(), content.end());
  return out;
}

// The content of a DER OCTET STRING, or nullopt if `der` is not exactly one.
std::optional<wire::Bytes> ParseDerOctetString(const wire::Bytes& der) {
  if (der.size() < 2 || der[0] != 0x04) return std::nullopt;
  std::size_t pos = 2, n = der[1];
  if (n & 0x80) {
    std::size_t k = n & 0x7f;
    if (k == 0 || k > 4 || der.size() < 2 + k) return std::nullopt;
    n = 0;
    for (std::size_t i = 0; i < k; ++i) n = (n << 8) | der[2 + i];
    pos = 2 + k;
  }
  if (der.size() - pos != n) return std::nullopt;
  return wire::Bytes(der.begin() + pos, der.end());
}

int CurveNid(const std::string& curve) {
  int nid = OBJ_sn2nid(curve.c_str());
  if (nid == NID_undef) nid = EC_curve_nist2nid(curve.c_str());
  return nid;
}

// The point re-encoded uncompressed, if it is a valid point of the curve.
std::optional<wire::Bytes> UncompressedPoint(const EC_GROUP* group, const wire::Bytes& encoded) {
  Point pt(EC_POINT_new(group));
  if (!pt || EC_POINT_oct2point(group, pt.get(), encoded.data(), encoded.size(), nullptr) != 1) return std::nullopt;
  wire::Bytes out(EC_POINT_point2oct(group, pt.get(), POINT_CONVERSION_UNCOMPRESSED, nullptr, 0, nullptr));
  if (out.empty() ||
      EC_POINT_point2oct(group, pt.get(), POINT_CONVERSION_UNCOMPRESSED, out.data(), out.size(), nullptr) != out.size())
    return std::nullopt;
  return out;
}

Result<ossl::PKey> FromData(const char* type, int selection, OSSL_PARAM_BLD* bld) {
  Params params(OSSL_PARAM_BLD_to_param(bld));
  ossl::PKeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* key = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &key, selection, params.get()) != 1)
    return Fail(CKR_ATTRIBUTE_VALUE_INVALID, std::string("the key components do not make a valid ") + type + " key");
  return ossl::PKey(key);
}

const wire::Bytes* Need(const AttrMap& attrs, unsigned long type, const char* name, Result<void>& status) {
  const wire::Bytes* v = GetValue(attrs, type);
  if ((!v || v->empty()) && status) status = Fail(CKR_TEMPLATE_INCOMPLETE, std::string("template lacks ") + name);
  return v;
}

}  // namespace

wire::Bytes UlongBytes(unsigned long v) {
  wire::Bytes out(sizeof v);
  std::memcpy(out.data(), &v, sizeof v);
  return out;
}

wire::Bytes BoolBytes(bool v) { return wire::Bytes{static_cast<std::uint8_t>(v ? 1 : 0)}; }

std::optional<unsigned long> GetUlong(const AttrMap& attrs, unsigned long type) {
  auto it = attrs.find(type);
  if (it == attrs.end() || it->second.size() != sizeof(unsigned long)) return std::nullopt;
  unsigned long v;
  std::memcpy(&v, it->second.data(), sizeof v);
  return v;
}

std::optional<bool> GetBool(const AttrMap& attrs, unsigned long type) {
  auto it = attrs.find(type);
  if (it == attrs.end() || it->second.size() != 1) return std::nullopt;
  return it->second[0] != 0;
}

const wire::Bytes* GetValue(const AttrMap& attrs, unsigned long type) {
  auto it = attrs.find(type);
  return it == attrs.end() ? nullptr : &it->second;
}

Result<unsigned long> KeyTypeOf(EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "RSA")) return CKK_RSA;
  if (EVP_PKEY_is_a(key, "EC")) return CKK_EC;
  return Fail(CKR_KEY_TYPE_INCONSISTENT, "unsupported key algorithm");
}

Result<std::string> CurveFromEcParams(const wire::Bytes& params) {
  if (params.size() > 2 && params[0] == 0x13 && params[1] == params.size() - 2) {  // PrintableString name
    std::string name(params.begin() + 2, params.end());
    int nid = CurveNid(name);
    if (nid == NID_undef) return Fail(CKR_ATTRIBUTE_VALUE_INVALID, "unknown curve name in CKA_EC_PARAMS");
    return std::string(OBJ_nid2sn(nid));
  }
  const unsigned char* p = params.data();
  ASN1_OBJECT* obj = d2i_ASN1_OBJECT(nullptr, &p, static_cast<long>(params.size()));
  if (!obj || p != params.data() + params.size()) {
    ASN1_OBJECT_free(obj);
    return Fail(CKR_ATTRIBUTE_VALUE_INVALID, "CKA_EC_PARAMS must be a named-curve OID in DER");
  }
  int nid = OBJ_obj2nid(obj);
  ASN1_OBJECT_free(obj);
  Group group(nid == NID_undef ? nullptr : EC_GROUP_new_by_curve_name(nid));
  if (!group) return Fail(CKR_ATTRIBUTE_VALUE_INVALID, "unsupported curve in CKA_EC_PARAMS");
  return std::string(OBJ_nid2sn(nid));
}

Result<AttrMap> PublicKeyAttributes(EVP_PKEY* key) {
  AttrMap out;
  const unsigned long type = VT_TRY(KeyTypeOf(key));
  if (type == CKK_RSA) {
    BIGNUM *n = nullptr, *e = nullptr;
    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n);
    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e);
    ossl::Bignum n_owner(n), e_owner(e);
    if (!n || !e) return Fail(CKR_GENERAL_ERROR, "cannot read the RSA public key");
    out[CKA_MODULUS] = BnBytes(n);
    out[CKA_PUBLIC_EXPONENT] = BnBytes(e);
    out[CKA_MODULUS_BITS] = UlongBytes(static_cast<unsigned long>(BN_num_bits(n)));
    out[CKA_ID] = Sha1(out[CKA_MODULUS]);
  } else {
    char name[80] = {};
    std::size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof name, &len) != 1)
      return Fail(CKR_CURVE_NOT_SUPPORTED, "EC key without a named curve");
    int nid = CurveNid(name);
    Group group(nid == NID_undef ? nullptr : EC_GROUP_new_by_curve_name(nid));
    if (!group) return Fail(CKR_CURVE_NOT_SUPPORTED, std::string("unsupported curve ") + name);
    wire::Bytes oid(i2d_ASN1_OBJECT(OBJ_nid2obj(nid), nullptr));
    unsigned char* p = oid.data();
    i2d_ASN1_OBJECT(OBJ_nid2obj(nid), &p);
    out[CKA_EC_PARAMS] = oid;
    wire::Bytes encoded(256);
    if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, encoded.data(), encoded.size(), &len) != 1)
      return Fail(CKR_GENERAL_ERROR, "cannot read the EC public point");
    encoded.resize(len);
    auto point = UncompressedPoint(group.get(), encoded);
    if (!point) return Fail(CKR_GENERAL_ERROR, "invalid EC public point");
    out[CKA_EC_POINT] = DerOctetString(*point);
    out[CKA_ID] = Sha1(*point);
  }
  int spki_len = i2d_PUBKEY(key, nullptr);
  if (spki_len <= 0) return Fail(CKR_GENERAL_ERROR, "cannot encode SubjectPublicKeyInfo");
  wire::Bytes spki(spki_len);
  unsigned char* p = spki.data();
  i2d_PUBKEY(key, &p);
  out[CKA_PUBLIC_KEY_INFO] = std::move(spki);
  return out;
}

Result<ossl::PKey> PublicKeyFromAttributes(unsigned long key_type, const AttrMap& attrs) {
  Result<void> status;
  ParamBld bld(OSSL_PARAM_BLD_new());
  if (!bld) return Fail(CKR_HOST_MEMORY, "OSSL_PARAM_BLD_new failed");
  if (key_type == CKK_RSA) {
    auto n = Need(attrs, CKA_MODULUS, "CKA_MODULUS", status);
    auto e = Need(attrs, CKA_PUBLIC_EXPONENT, "CKA_PUBLIC_EXPONENT", status);
    VT_CHECK(status);
    auto bn_n = BnFrom(*n), bn_e = BnFrom(*e);
    OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get());
    OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get());
    return FromData("RSA", EVP_PKEY_PUBLIC_KEY, bld.get());
  }
  auto params = Need(attrs, CKA_EC_PARAMS, "CKA_EC_PARAMS", status);
  auto ec_point = Need(attrs, CKA_EC_POINT, "CKA_EC_POINT", status);
  VT_CHECK(status);
  const std::string curve = VT_TRY(CurveFromEcParams(*params));
  Group group(EC_GROUP_new_by_curve_name(CurveNid(curve)));
  // CKA_EC_POINT should be a DER OCTET STRING; some tools send the raw point.
  std::optional<wire::Bytes> point;
  if (auto inner = ParseDerOctetString(*ec_point)) point = UncompressedPoint(group.get(), *inner);
  if (!point) point = UncompressedPoint(group.get(), *ec_point);
  if (!point) return Fail(CKR_ATTRIBUTE_VALUE_INVALID, "CKA_EC_POINT is not a point of the curve");
  OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, curve.c_str(), 0);
  OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point->data(), point->size());
  return FromData("EC", EVP_PKEY_PUBLIC_KEY, bld.get());
}

Result<ossl::PKey> PrivateKeyFromAttributes(unsigned long key_type, const AttrMap& attrs) {
  Result<void> status;
  ParamBld bld(OSSL_PARAM_BLD_new());
  if (!bld) return Fail(CKR_HOST_MEMORY, "OSSL_PARAM_BLD_new failed");
  if (key_type == CKK_RSA) {
    auto n = Need(attrs, CKA_MODULUS, "CKA_MODULUS", status);
    auto e = Need(attrs, CKA_PUBLIC_EXPONENT, "CKA_PUBLIC_EXPONENT", status);
    auto d = Need(attrs, CKA_PRIVATE_EXPONENT, "CKA_PRIVATE_EXPONENT", status);
    VT_CHECK(status);
    std::vector<ossl::Bignum> bns;
    auto push = [&](const char* name, const wire::Bytes& v) {
      bns.push_back(BnFrom(v));
      OSSL_PARAM_BLD_push_BN(bld.get(), name, bns.back().get());
    };
    push(OSSL_PKEY_PARAM_RSA_N, *n);
    push(OSSL_PKEY_PARAM_RSA_E, *e);
    push(OSSL_PKEY_PARAM_RSA_D, *d);
    static constexpr std::pair<unsigned long, const char*> kCrt[] = {
        {CKA_PRIME_1, OSSL_PKEY_PARAM_RSA_FACTOR1},       {CKA_PRIME_2, OSSL_PKEY_PARAM_RSA_FACTOR2},
        {CKA_EXPONENT_1, OSSL_PKEY_PARAM_RSA_EXPONENT1}, {CKA_EXPONENT_2, OSSL_PKEY_PARAM_RSA_EXPONENT2},
        {CKA_COEFFICIENT, OSSL_PKEY_PARAM_RSA_COEFFICIENT1}};
    bool crt = true;
    for (auto [type, name] : kCrt) crt = crt && GetValue(attrs, type) && !GetValue(attrs, type)->empty();
    if (crt)
      for (auto [type, name] : kCrt) push(name, *GetValue(attrs, type));
    auto key = VT_TRY(FromData("RSA", EVP_PKEY_KEYPAIR, bld.get()));
    if (crt) {
      ossl::PKeyCtx check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
      if (!check || EVP_PKEY_pairwise_check(check.get()) != 1)
        return Fail(CKR_ATTRIBUTE_VALUE_INVALID, "the RSA private key components are inconsistent");
    }
    return key;
  }
  auto params = Need(attrs, CKA_EC_PARAMS, "CKA_EC_PARAMS", status);
  auto value = Need(attrs, CKA_VALUE, "CKA_VALUE", status);
  VT_CHECK(status);
  const std::string curve = VT_TRY(CurveFromEcParams(*params));
  Group group(EC_GROUP_new_by_curve_name(CurveNid(curve)));
  ossl::Bignum d(BN_secure_new());
  Point pub(EC_POINT_new(group.get()));
  if (!d || !pub || !BN_bin2bn(value->data(), static_cast<int>(value->size()), d.get()))
    return Fail(CKR_HOST_MEMORY, "out of memory");
  if (BN_is_zero(d.get()) || BN_cmp(d.get(), EC_GROUP_get0_order(group.get())) >= 0)
    return Fail(CKR_ATTRIBUTE_VALUE_INVALID, "EC private value out of range");
  if (EC_POINT_mul(group.get(), pub.get(), d.get(), nullptr, nullptr, nullptr) != 1)
    return Fail(CKR_GENERAL_ERROR, "EC point multiplication failed");
  wire::Bytes point(EC_POINT_point2oct(group.get(), pub.get(), POINT_CONVERSION_UNCOMPRESSED, nullptr, 0, nullptr));
  EC_POINT_point2oct(group.get(), pub.get(), POINT_CONVERSION_UNCOMPRESSED, point.data(), point.size(), nullptr);
  OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, curve.c_str(), 0);
  OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, d.get());
  OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
  return FromData("EC", EVP_PKEY_KEYPAIR, bld.get());
}

Result<ossl::PKey> GenerateRsaKey(unsigned long bits, const wire::Bytes* public_exponent) {
  ossl::Bignum e(BN_new());
  if (!e) return Fail(CKR_HOST_MEMORY, "BN_new failed");
  if (public_exponent && !public_exponent->empty()) {
    BN_bin2bn(public_exponent->data(), static_cast<int>(public_exponent->size()), e.get());
    if (!BN_is_odd(e.get()) || BN_num_bits(e.get()) < 2 || BN_num_bits(e.get()) > 64)
      return Fail(CKR_ATTRIBUTE_VALUE_INVALID, "CKA_PUBLIC_EXPONENT must be odd, >= 3 and < 2^64");
  } else {
    BN_set_word(e.get(), 65537);
  }
  ossl::PKeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  EVP_PKEY* key = nullptr;
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), static_cast<int>(bits)) != 1 ||
      EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx.get(), e.get()) != 1 || EVP_PKEY_keygen(ctx.get(), &key) != 1)
    return Fail(CKR_FUNCTION_FAILED, "RSA key generation failed");
  return ossl::PKey(key);
}

Result<ossl::PKey> GenerateEcKey(const std::string& curve) {
  EVP_PKEY* key = EVP_EC_gen(curve.c_str());
  if (!key) return Fail(CKR_FUNCTION_FAILED, "EC key generation failed");
  return ossl::PKey(key);
}

Result<SecureBytes> PrivateKeyToPkcs8(EVP_PKEY* key) {
  P8 p8(EVP_PKEY2PKCS8(key));
  int len = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8.get(), nullptr) : 0;
  if (len <= 0) return Fail(CKR_GENERAL_ERROR, "cannot encode the private key");
  SecureBytes der(len);
  unsigned char* p = der.data();
  i2d_PKCS8_PRIV_KEY_INFO(p8.get(), &p);
  return der;
}

Result<ossl::PKey> PrivateKeyFromPkcs8(std::span<const std::uint8_t> der) {
  const unsigned char* p = der.data();
  P8 p8(d2i_PKCS8_PRIV_KEY_INFO(nullptr, &p, static_cast<long>(der.size())));
  ossl::PKey key(p8 ? EVP_PKCS82PKEY(p8.get()) : nullptr);
  if (!key) return Fail(CKR_GENERAL_ERROR, "stored private key does not decode");
  return key;
}

Result<CertificateFields> ParseCertificate(const wire::Bytes& der) {
  const unsigned char* p = der.data();
  ossl::X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert || p != der.data() + der.size())
    return Fail(CKR_ATTRIBUTE_VALUE_INVALID, "CKA_VALUE is not one DER X.509 certificate");
  CertificateFields out;
  // The decoder keeps each name's original encoding, so i2d gives it back byte for byte.
  auto encode = [](auto* obj, auto i2d) {
    int len = i2d(obj, nullptr);
    wire::Bytes b(len > 0 ? len : 0);
    unsigned char* q = b.data();
    if (len > 0) i2d(obj, &q);
    return b;
  };
  out.subject = encode(X509_get_subject_name(cert.get()), i2d_X509_NAME);
  out.issuer = encode(X509_get_issuer_name(cert.get()), i2d_X509_NAME);
  out.serial_number = encode(X509_get0_serialNumber(cert.get()), i2d_ASN1_INTEGER);
  out.public_key.reset(X509_get_pubkey(cert.get()));
  return out;
}

}  // namespace vtoken::agent
