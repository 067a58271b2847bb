#include "pkcs11/crypto.h"

#include <openssl/core_names.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <memory>

#include "common/der.h"

namespace vtoken::pkcs11 {
namespace {

struct HashInfo {
  CK_MECHANISM_TYPE mech;
  CK_RSA_PKCS_MGF_TYPE mgf;
  const EVP_MD* (*md)();
  CK_ULONG length;
  der::Hash der;
};

const HashInfo kHashes[] = {
    {CKM_SHA_1, CKG_MGF1_SHA1, EVP_sha1, 20, der::Hash::kSha1},
    {CKM_SHA224, CKG_MGF1_SHA224, EVP_sha224, 28, der::Hash::kSha224},
    {CKM_SHA256, CKG_MGF1_SHA256, EVP_sha256, 32, der::Hash::kSha256},
    {CKM_SHA384, CKG_MGF1_SHA384, EVP_sha384, 48, der::Hash::kSha384},
    {CKM_SHA512, CKG_MGF1_SHA512, EVP_sha512, 64, der::Hash::kSha512},
};

const HashInfo* Hash(CK_MECHANISM_TYPE mech) {
  for (const auto& h : kHashes)
    if (h.mech == mech) return &h;
  return nullptr;
}

CK_ULONG SignificantBits(const wire::Bytes& big_endian) {
  std::size_t i = 0;
  while (i < big_endian.size() && big_endian[i] == 0) ++i;
  if (i == big_endian.size()) return 0;
  CK_ULONG bits = (big_endian.size() - i - 1) * 8;
  for (std::uint8_t b = big_endian[i]; b; b >>= 1) ++bits;
  return bits;
}

// The curve named by DER ECParameters (a namedCurve OID), as an OpenSSL NID.
int CurveNid(const wire::Bytes& params) {
  const unsigned char* p = params.data();
  ASN1_OBJECT* oid = d2i_ASN1_OBJECT(nullptr, &p, static_cast<long>(params.size()));
  if (oid == nullptr) return NID_undef;
  const int nid = OBJ_obj2nid(oid);
  ASN1_OBJECT_free(oid);
  return nid;
}

CK_ULONG CurveBits(int nid) {
  switch (nid) {
    case NID_X9_62_prime256v1:
    case NID_secp256k1:
      return 256;
    case NID_secp384r1:
      return 384;
    case NID_secp521r1:
      return 521;
    default:
      return 0;
  }
}

// CKA_EC_POINT is a DER OCTET STRING around the point; accept a bare point too.
wire::Bytes UnwrapPoint(const wire::Bytes& v) {
  const unsigned char* p = v.data();
  ASN1_OCTET_STRING* os = d2i_ASN1_OCTET_STRING(nullptr, &p, static_cast<long>(v.size()));
  if (os == nullptr || p != v.data() + v.size()) {
    ASN1_OCTET_STRING_free(os);
    return v;
  }
  wire::Bytes out(os->data, os->data + os->length);
  ASN1_OCTET_STRING_free(os);
  return out;
}

using ParamBld = std::unique_ptr<OSSL_PARAM_BLD, ossl::Deleter<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
using Params = std::unique_ptr<OSSL_PARAM, ossl::Deleter<OSSL_PARAM, OSSL_PARAM_free>>;

Result<ossl::PKey> FromData(const char* type, OSSL_PARAM* params) {
  ossl::PKeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* key = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params) <= 0)
    return Fail(CKR_KEY_TYPE_INCONSISTENT, "cannot rebuild the public key from its attributes");
  return ossl::PKey(key);
}

}  // namespace

const EVP_MD* DigestFor(CK_MECHANISM_TYPE hash) {
  const HashInfo* h = Hash(hash);
  return h ? h->md() : nullptr;
}

CK_ULONG DigestLength(CK_MECHANISM_TYPE hash) {
  const HashInfo* h = Hash(hash);
  return h ? h->length : 0;
}

CK_RSA_PKCS_MGF_TYPE MgfFor(CK_MECHANISM_TYPE hash) {
  const HashInfo* h = Hash(hash);
  return h ? h->mgf : 0;
}

CK_MECHANISM_TYPE HashOfMgf(CK_RSA_PKCS_MGF_TYPE mgf) {
  for (const auto& h : kHashes)
    if (h.mgf == mgf) return h.mech;
  return CKM_VENDOR_DEFINED;
}

Result<ossl::MdCtx> NewDigest(CK_MECHANISM_TYPE hash) {
  const EVP_MD* md = DigestFor(hash);
  if (md == nullptr) return Fail(CKR_MECHANISM_INVALID, "unsupported hash");
  ossl::MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1) return Fail(CKR_HOST_MEMORY, "EVP_DigestInit failed");
  return ctx;
}

Result<wire::Bytes> FinishDigest(EVP_MD_CTX* ctx) {
  wire::Bytes out(EVP_MAX_MD_SIZE);
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(ctx, out.data(), &n) != 1) return Fail(CKR_FUNCTION_FAILED, "EVP_DigestFinal failed");
  out.resize(n);
  return out;
}

wire::Bytes DigestInfo(CK_MECHANISM_TYPE hash, std::span<const std::uint8_t> digest) {
  const HashInfo* h = Hash(hash);
  return der::DigestInfo(h->der, digest);
}

Result<KeyShape> ShapeOf(const Object& key) {
  KeyShape shape;
  shape.type = key.KeyType();
  if (shape.type == CKK_RSA) {
    if (auto bits = key.Ulong(CKA_MODULUS_BITS)) shape.bits = *bits;
    else if (const auto* n = key.Find(CKA_MODULUS)) shape.bits = SignificantBits(*n);
    if (shape.bits == 0) {
      if (auto pk = PublicKeyOf(key)) shape.bits = static_cast<CK_ULONG>(EVP_PKEY_get_bits(pk->get()));
    }
    if (shape.bits == 0) return Fail(CKR_KEY_TYPE_INCONSISTENT, "RSA key without modulus size");
    shape.signature_length = (shape.bits + 7) / 8;
    return shape;
  }
  if (shape.type == CKK_EC) {
    if (const auto* params = key.Find(CKA_EC_PARAMS)) shape.bits = CurveBits(CurveNid(*params));
    if (shape.bits == 0) return Fail(CKR_KEY_TYPE_INCONSISTENT, "EC key on an unknown curve");
    shape.signature_length = 2 * ((shape.bits + 7) / 8);
    return shape;
  }
  return Fail(CKR_KEY_TYPE_INCONSISTENT, "key type not supported");
}

Result<ossl::PKey> PublicKeyOf(const Object& key) {
  if (const auto* spki = key.Find(CKA_PUBLIC_KEY_INFO); spki && !spki->empty()) {
    const unsigned char* p = spki->data();
    EVP_PKEY* pk = d2i_PUBKEY(nullptr, &p, static_cast<long>(spki->size()));
    if (pk) return ossl::PKey(pk);
  }
  if (key.KeyType() == CKK_RSA) {
    const auto* n = key.Find(CKA_MODULUS);
    const auto* e = key.Find(CKA_PUBLIC_EXPONENT);
    if (!n || !e) return Fail(CKR_KEY_TYPE_INCONSISTENT, "RSA key without public components");
    ossl::Bignum bn_n(BN_bin2bn(n->data(), static_cast<int>(n->size()), nullptr));
    ossl::Bignum bn_e(BN_bin2bn(e->data(), static_cast<int>(e->size()), nullptr));
    ParamBld bld(OSSL_PARAM_BLD_new());
    if (!bn_n || !bn_e || !bld || !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) ||
        !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()))
      return Fail(CKR_HOST_MEMORY, "OSSL_PARAM_BLD failed");
    Params params(OSSL_PARAM_BLD_to_param(bld.get()));
    if (!params) return Fail(CKR_HOST_MEMORY, "OSSL_PARAM_BLD failed");
    return FromData("RSA", params.get());
  }
  if (key.KeyType() == CKK_EC) {
    const auto* ec_params = key.Find(CKA_EC_PARAMS);
    const auto* point = key.Find(CKA_EC_POINT);
    if (!ec_params || !point) return Fail(CKR_KEY_TYPE_INCONSISTENT, "EC key without public point");
    const int nid = CurveNid(*ec_params);
    const char* group = OBJ_nid2sn(nid);
    if (nid == NID_undef || group == nullptr) return Fail(CKR_KEY_TYPE_INCONSISTENT, "EC key on an unknown curve");
    wire::Bytes raw = UnwrapPoint(*point);
    ParamBld bld(OSSL_PARAM_BLD_new());
    if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, raw.data(), raw.size()))
      return Fail(CKR_HOST_MEMORY, "OSSL_PARAM_BLD failed");
    Params params(OSSL_PARAM_BLD_to_param(bld.get()));
    if (!params) return Fail(CKR_HOST_MEMORY, "OSSL_PARAM_BLD failed");
    return FromData("EC", params.get());
  }
  return Fail(CKR_KEY_TYPE_INCONSISTENT, "key type not supported");
}

Result<void> VerifyRaw(EVP_PKEY* key, CK_MECHANISM_TYPE raw, const std::optional<PssParams>& pss,
                       std::span<const std::uint8_t> tbs, std::span<const std::uint8_t> signature,
                       CK_ULONG signature_length) {
  if (signature.size() != signature_length) return Fail(CKR_SIGNATURE_LEN_RANGE, "signature has the wrong length");
  ossl::PKeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
  if (!ctx || EVP_PKEY_verify_init(ctx.get()) <= 0) return Fail(CKR_FUNCTION_FAILED, "EVP_PKEY_verify_init failed");
  wire::Bytes der_signature;
  std::span<const std::uint8_t> sig = signature;
  if (raw == CKM_RSA_PKCS) {
    if (EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) <= 0)
      return Fail(CKR_FUNCTION_FAILED, "cannot set PKCS#1 padding");
  } else if (raw == CKM_RSA_PKCS_PSS) {
    if (!pss || EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PSS_PADDING) <= 0 ||
        EVP_PKEY_CTX_set_signature_md(ctx.get(), DigestFor(pss->hash)) <= 0 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), DigestFor(HashOfMgf(pss->mgf))) <= 0 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx.get(), static_cast<int>(pss->salt_len)) <= 0)
      return Fail(CKR_MECHANISM_PARAM_INVALID, "cannot set PSS parameters");
  } else if (raw == CKM_ECDSA) {
    auto encoded = der::EcdsaRawToDer(signature);
    if (!encoded) return Fail(CKR_SIGNATURE_INVALID, "an ECDSA signature is r||s, two equal halves");
    der_signature = std::move(*encoded);
    sig = der_signature;
  } else {
    return Fail(CKR_MECHANISM_INVALID, "mechanism cannot verify");
  }
  const int rc = EVP_PKEY_verify(ctx.get(), sig.data(), sig.size(), tbs.data(), tbs.size());
  if (rc != 1) return Fail(CKR_SIGNATURE_INVALID, "signature does not verify");
  return {};
}

}  // namespace vtoken::pkcs11
