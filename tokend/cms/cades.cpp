#include "tokend/cms/cades.h"

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <p11-kit/pkcs11.h>

#include <algorithm>
#include <fstream>

#include "common/der.h"

namespace vtoken::agent::cms {
namespace {

struct X509StackFree {  // frees the stack only: the certificates belong to the Signer
  void operator()(STACK_OF(X509) * s) const noexcept { sk_X509_free(s); }
};
using X509Stack = std::unique_ptr<STACK_OF(X509), X509StackFree>;
using Asn1Time = std::unique_ptr<ASN1_TIME, ossl::Deleter<ASN1_TIME, ASN1_TIME_free>>;
using Asn1String = std::unique_ptr<ASN1_STRING, ossl::Deleter<ASN1_STRING, ASN1_STRING_free>>;

// The OpenSSL error queue as text (and emptied), for messages.
std::string OpensslError(const std::string& what) {
  std::string out = what;
  unsigned long e;
  char buf[256];
  while ((e = ERR_get_error()) != 0) {
    ERR_error_string_n(e, buf, sizeof buf);
    out += out == what ? ": " : "; ";
    out += buf;
  }
  return out;
}

Result<ossl::X509Ptr> ParseCertificate(std::span<const std::uint8_t> der, const char* what) {
  const unsigned char* p = der.data();
  ossl::X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert || p != der.data() + der.size())
    return Fail(CKR_DATA_INVALID, OpensslError(std::string("cannot read the ") + what + " (not one DER X.509 certificate)"));
  return cert;
}

Bytes Digest(Hash h, std::span<const std::uint8_t> data) {
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, HashMd(h), nullptr);
  out.resize(len);
  return out;
}

der::Hash DerHash(Hash h) {
  switch (h) {
    case Hash::kSha384: return der::Hash::kSha384;
    case Hash::kSha512: return der::Hash::kSha512;
    default: return der::Hash::kSha256;
  }
}

// DER of the signed attributes as the signature covers them (RFC 5652
// §5.4): a SET OF Attribute (universal tag, not the [0] of SignerInfo), its
// elements sorted by their encodings as DER requires. OpenSSL sorts them the
// same way when it writes the SignerInfo.
Result<Bytes> SignedAttributesDer(CMS_SignerInfo* si) {
  std::vector<Bytes> elements;
  const int count = CMS_signed_get_attr_count(si);
  for (int i = 0; i < count; ++i) {
    X509_ATTRIBUTE* attr = CMS_signed_get_attr(si, i);
    unsigned char* der = nullptr;
    const int len = i2d_X509_ATTRIBUTE(attr, &der);
    if (len <= 0) return Fail(CKR_FUNCTION_FAILED, OpensslError("encoding a signed attribute failed"));
    elements.emplace_back(der, der + len);
    OPENSSL_free(der);
  }
  std::sort(elements.begin(), elements.end());  // lexicographic: X.690 §11.6
  int content = 0;
  for (const auto& e : elements) content += static_cast<int>(e.size());
  Bytes out(static_cast<std::size_t>(ASN1_object_size(1, content, V_ASN1_SET)));
  unsigned char* p = out.data();
  ASN1_put_object(&p, 1, content, V_ASN1_SET, V_ASN1_UNIVERSAL);
  for (const auto& e : elements) p = std::copy(e.begin(), e.end(), p);
  return out;
}

Result<void> AddAttribute(CMS_SignerInfo* si, int nid, int type, const void* value, int len, const char* what) {
  if (CMS_signed_add1_attr_by_NID(si, nid, type, value, len) <= 0)
    return Fail(CKR_FUNCTION_FAILED, OpensslError(std::string("adding the ") + what + " attribute failed"));
  return {};
}

}  // namespace

const EVP_MD* HashMd(Hash h) {
  switch (h) {
    case Hash::kSha384: return EVP_sha384();
    case Hash::kSha512: return EVP_sha512();
    default: return EVP_sha256();
  }
}

std::size_t HashSize(Hash h) { return static_cast<std::size_t>(EVP_MD_get_size(HashMd(h))); }

const char* HashName(Hash h) {
  switch (h) {
    case Hash::kSha384: return "SHA-384";
    case Hash::kSha512: return "SHA-512";
    default: return "SHA-256";
  }
}

Result<Signer> Signer::FromDer(std::span<const std::uint8_t> certificate, const std::vector<Bytes>& chain, Hash hash,
                               bool pss) {
  Signer s;
  s.certificate = VT_TRY(ParseCertificate(certificate, "signer's certificate"));
  for (const auto& der : chain) s.chain.push_back(VT_TRY(ParseCertificate(der, "CA certificate")));
  s.hash = hash;
  EVP_PKEY* key = X509_get0_pubkey(s.certificate.get());
  if (!key) return Fail(CKR_DATA_INVALID, OpensslError("the signer's certificate has no usable public key"));
  if (EVP_PKEY_is_a(key, "RSA")) {
    s.scheme = pss ? Scheme::kRsaPss : Scheme::kRsaPkcs1;
  } else if (EVP_PKEY_is_a(key, "EC")) {
    if (pss) return Fail(CKR_KEY_TYPE_INCONSISTENT, "RSASSA-PSS needs an RSA key; this certificate has an EC key");
    s.scheme = Scheme::kEcdsa;
  } else {
    return Fail(CKR_KEY_TYPE_INCONSISTENT, "the signer's key is neither RSA nor EC");
  }
  return s;
}

std::string Signer::Describe() const {
  EVP_PKEY* key = X509_get0_pubkey(certificate.get());
  const std::string bits = key ? std::to_string(EVP_PKEY_get_bits(key)) : "?";
  switch (scheme) {
    case Scheme::kRsaPss: return "RSA-" + bits + " RSASSA-PSS with " + HashName(hash);
    case Scheme::kEcdsa: return "EC " + bits + "-bit ECDSA with " + HashName(hash);
    default: return "RSA-" + bits + " PKCS#1 v1.5 with " + HashName(hash);
  }
}

Result<Bytes> DigestFile(const std::filesystem::path& file, Hash hash) {
  std::error_code ec;
  if (std::filesystem::is_directory(file, ec)) return Fail(CKR_ARGUMENTS_BAD, "is a directory");
  std::ifstream in(file, std::ios::binary);
  if (!in) return Fail(CKR_ARGUMENTS_BAD, "cannot open it for reading");
  ossl::MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), HashMd(hash), nullptr) != 1) return Fail(CKR_HOST_MEMORY, "EVP_DigestInit failed");
  std::vector<char> buf(1 << 16);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0) EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<std::size_t>(in.gcount()));
  }
  if (in.bad()) return Fail(CKR_FUNCTION_FAILED, "reading it failed");
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), out.data(), &len);
  out.resize(len);
  return out;
}

Bytes DigestInfo(Hash hash, std::span<const std::uint8_t> digest) { return der::DigestInfo(DerHash(hash), digest); }

Result<PendingSignature> PendingSignature::Create(const Signer& signer, std::span<const std::uint8_t> content_digest,
                                                  std::time_t signing_time) {
  if (content_digest.size() != HashSize(signer.hash))
    return Fail(CKR_ARGUMENTS_BAD, "the content digest is not a " + std::string(HashName(signer.hash)) + " digest");
  X509Stack chain(sk_X509_new_null());
  for (const auto& ca : signer.chain) sk_X509_push(chain.get(), ca.get());  // CMS_sign takes its own references

  PendingSignature p;
  p.hash_ = signer.hash;
  p.scheme_ = signer.scheme;
  // Detached SignedData of id-data, not finished: the content is never given.
  p.cms_.reset(CMS_sign(nullptr, nullptr, chain.get(), nullptr, CMS_DETACHED | CMS_PARTIAL | CMS_BINARY));
  if (!p.cms_) return Fail(CKR_FUNCTION_FAILED, OpensslError("CMS_sign failed"));
  // The certificate's public key stands in for the private key: OpenSSL
  // checks that it matches the certificate and uses it to choose the
  // signature algorithm; nothing is signed here (CMS_PARTIAL). CMS_CADES
  // adds signingCertificateV2 (ESS, the certificate's hash with the chosen
  // digest); no S/MIME capabilities, which CAdES does not need.
  EVP_PKEY* public_key = X509_get0_pubkey(signer.certificate.get());
  p.signer_info_ = CMS_add1_signer(p.cms_.get(), signer.certificate.get(), public_key, HashMd(signer.hash),
                                   CMS_PARTIAL | CMS_BINARY | CMS_CADES | CMS_NOSMIMECAP);
  if (!p.signer_info_) return Fail(CKR_FUNCTION_FAILED, OpensslError("CMS_add1_signer failed"));
  CMS_SignerInfo_get0_algs(p.signer_info_, &p.public_key_, nullptr, nullptr, nullptr);

  if (signer.scheme == Scheme::kRsaPss) {
    // OpenSSL picked rsaEncryption from the key; PSS is set explicitly:
    // salt of the hash's length, MGF1 with the same hash (RFC 4055).
    const der::Hash h = DerHash(signer.hash);
    const Bytes params = der::RsaPssParams(h, h, HashSize(signer.hash), /*null_parameters=*/false);  // RFC 5754
    Asn1String seq(ASN1_STRING_new());
    if (!seq || !ASN1_STRING_set(seq.get(), params.data(), static_cast<int>(params.size())))
      return Fail(CKR_HOST_MEMORY, "ASN1_STRING_set failed");
    X509_ALGOR* sig_alg = nullptr;
    CMS_SignerInfo_get0_algs(p.signer_info_, nullptr, nullptr, nullptr, &sig_alg);
    if (!X509_ALGOR_set0(sig_alg, OBJ_nid2obj(NID_rsassaPss), V_ASN1_SEQUENCE, seq.get()))
      return Fail(CKR_FUNCTION_FAILED, OpensslError("setting the RSASSA-PSS algorithm failed"));
    seq.release();  // owned by the algorithm identifier now
  }

  Asn1Time when(ASN1_TIME_adj(nullptr, signing_time, 0, 0));  // UTCTime until 2049, as RFC 5652 wants
  if (!when) return Fail(CKR_FUNCTION_FAILED, "the signing time cannot be encoded");
  VT_CHECK(AddAttribute(p.signer_info_, NID_pkcs9_signingTime, when->type, when.get(), -1, "signingTime"));
  VT_CHECK(AddAttribute(p.signer_info_, NID_pkcs9_messageDigest, V_ASN1_OCTET_STRING, content_digest.data(),
                        static_cast<int>(content_digest.size()), "messageDigest"));
  VT_CHECK(AddAttribute(p.signer_info_, NID_pkcs9_contentType, V_ASN1_OBJECT, CMS_get0_eContentType(p.cms_.get()), -1,
                        "contentType"));
  const Bytes attributes = VT_TRY(SignedAttributesDer(p.signer_info_));
  p.attributes_hash_ = Digest(signer.hash, attributes);
  return p;
}

Bytes PendingSignature::sign_input() const {
  return scheme_ == Scheme::kRsaPkcs1 ? DigestInfo(hash_, attributes_hash_) : attributes_hash_;
}

Result<void> PendingSignature::Verify(std::span<const std::uint8_t> value) const {
  ossl::PKeyCtx ctx(EVP_PKEY_CTX_new(public_key_, nullptr));
  if (!ctx || EVP_PKEY_verify_init(ctx.get()) != 1 || EVP_PKEY_CTX_set_signature_md(ctx.get(), HashMd(hash_)) != 1)
    return Fail(CKR_FUNCTION_FAILED, OpensslError("cannot set up the signature check"));
  if (scheme_ == Scheme::kRsaPss &&
      (EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PSS_PADDING) != 1 ||
       EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), HashMd(hash_)) != 1 ||
       EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx.get(), static_cast<int>(HashSize(hash_))) != 1))
    return Fail(CKR_FUNCTION_FAILED, OpensslError("cannot set up the PSS check"));
  if (scheme_ == Scheme::kRsaPkcs1 && EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) != 1)
    return Fail(CKR_FUNCTION_FAILED, OpensslError("cannot set up the PKCS#1 check"));
  const int ok = EVP_PKEY_verify(ctx.get(), value.data(), value.size(), attributes_hash_.data(), attributes_hash_.size());
  ERR_clear_error();
  if (ok != 1)
    return Fail(CKR_SIGNATURE_INVALID, "the signature returned for this document does not verify with the certificate's key");
  return {};
}

Result<Bytes> PendingSignature::Finish(std::span<const std::uint8_t> signature) {
  if (!cms_) return Fail(CKR_OPERATION_NOT_INITIALIZED, "this signature was already finished");
  Bytes value(signature.begin(), signature.end());
  if (scheme_ == Scheme::kEcdsa) {  // PKCS#11 gives r||s; CMS wants ECDSA-Sig-Value
    auto encoded = der::EcdsaRawToDer(signature);
    if (!encoded) return Fail(CKR_SIGNATURE_INVALID, "the ECDSA signature is not r||s of the key's size");
    value = std::move(*encoded);
  }
  VT_CHECK(Verify(value));
  if (!ASN1_STRING_set(CMS_SignerInfo_get0_signature(signer_info_), value.data(), static_cast<int>(value.size())))
    return Fail(CKR_HOST_MEMORY, "ASN1_STRING_set failed");
  unsigned char* der = nullptr;
  const int len = i2d_CMS_ContentInfo(cms_.get(), &der);
  if (len <= 0) return Fail(CKR_FUNCTION_FAILED, OpensslError("encoding the CMS failed"));
  Bytes out(der, der + len);
  OPENSSL_free(der);
  cms_.reset();
  signer_info_ = nullptr;
  public_key_ = nullptr;
  return out;
}

}  // namespace vtoken::agent::cms
