#include "algorithms.h"

#include <openssl/asn1.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <memory>

#include "common/der.h"
#include "common/ossl.h"

namespace vtoken::service {
namespace {

struct HashInfo {
  HashAlg alg;
  const char* oid;
  std::size_t len;
  const char* name;
};
constexpr HashInfo kHashes[] = {
    {HashAlg::kSha256, "2.16.840.1.101.3.4.2.1", 32, "SHA256"},
    {HashAlg::kSha384, "2.16.840.1.101.3.4.2.2", 48, "SHA384"},
    {HashAlg::kSha512, "2.16.840.1.101.3.4.2.3", 64, "SHA512"},
};
const HashInfo& Info(HashAlg h) { return kHashes[static_cast<int>(h)]; }

der::Hash ToDer(HashAlg h) {
  switch (h) {
    case HashAlg::kSha256: return der::Hash::kSha256;
    case HashAlg::kSha384: return der::Hash::kSha384;
    case HashAlg::kSha512: return der::Hash::kSha512;
  }
  return der::Hash::kSha256;
}

std::optional<HashAlg> HashFromAlgor(const X509_ALGOR* a) {
  if (!a) return std::nullopt;
  const ASN1_OBJECT* obj = nullptr;
  X509_ALGOR_get0(&obj, nullptr, nullptr, a);
  char buf[64];
  if (!obj || OBJ_obj2txt(buf, sizeof buf, obj, 1) <= 0) return std::nullopt;
  return HashFromOid(buf);
}

}  // namespace

std::optional<HashAlg> HashFromOid(std::string_view oid) {
  for (auto& h : kHashes)
    if (oid == h.oid) return h.alg;
  return std::nullopt;
}
std::string HashOid(HashAlg h) { return Info(h).oid; }
std::size_t HashLength(HashAlg h) { return Info(h).len; }
const char* HashName(HashAlg h) { return Info(h).name; }

Bytes DigestInfo(HashAlg h, const Bytes& digest) { return der::DigestInfo(ToDer(h), digest); }

std::optional<KeyType> KeyTypeFromName(std::string_view n) {
  if (n == "rsa2048") return KeyType::kRsa2048;
  if (n == "rsa3072") return KeyType::kRsa3072;
  if (n == "rsa4096") return KeyType::kRsa4096;
  if (n == "p256") return KeyType::kP256;
  if (n == "p384") return KeyType::kP384;
  return std::nullopt;
}

std::string KeyTypeName(KeyType t) {
  switch (t) {
    case KeyType::kRsa2048: return "rsa2048";
    case KeyType::kRsa3072: return "rsa3072";
    case KeyType::kRsa4096: return "rsa4096";
    case KeyType::kP256: return "p256";
    case KeyType::kP384: return "p384";
  }
  return "";
}

bool IsRsa(KeyType t) { return t == KeyType::kRsa2048 || t == KeyType::kRsa3072 || t == KeyType::kRsa4096; }

int KeyBits(KeyType t) {
  switch (t) {
    case KeyType::kRsa2048: return 2048;
    case KeyType::kRsa3072: return 3072;
    case KeyType::kRsa4096: return 4096;
    case KeyType::kP256: return 256;
    case KeyType::kP384: return 384;
  }
  return 0;
}

std::string CurveOid(KeyType t) {
  return t == KeyType::kP256 ? "1.2.840.10045.3.1.7" : t == KeyType::kP384 ? "1.3.132.0.34" : "";
}

std::size_t EcFieldBytes(KeyType t) { return t == KeyType::kP384 ? 48 : 32; }

std::vector<std::string> SignAlgosFor(KeyType t) {
  if (IsRsa(t))
    return {kOidRsaEncryption, kOidRsaPss, "1.2.840.113549.1.1.11", "1.2.840.113549.1.1.12",
            "1.2.840.113549.1.1.13"};
  return {kOidEcPublicKey, "1.2.840.10045.4.3.2", "1.2.840.10045.4.3.3", "1.2.840.10045.4.3.4"};
}

std::vector<std::string> AllSignAlgos() {
  auto a = SignAlgosFor(KeyType::kRsa2048);
  auto b = SignAlgosFor(KeyType::kP256);
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::optional<std::pair<SignPlan::Kind, HashAlg>> ImpliedHashAlgo(std::string_view oid) {
  using K = SignPlan::Kind;
  if (oid == "1.2.840.113549.1.1.11") return std::pair{K::kRsaPkcs1, HashAlg::kSha256};
  if (oid == "1.2.840.113549.1.1.12") return std::pair{K::kRsaPkcs1, HashAlg::kSha384};
  if (oid == "1.2.840.113549.1.1.13") return std::pair{K::kRsaPkcs1, HashAlg::kSha512};
  if (oid == "1.2.840.10045.4.3.2") return std::pair{K::kEcdsa, HashAlg::kSha256};
  if (oid == "1.2.840.10045.4.3.3") return std::pair{K::kEcdsa, HashAlg::kSha384};
  if (oid == "1.2.840.10045.4.3.4") return std::pair{K::kEcdsa, HashAlg::kSha512};
  return std::nullopt;
}

std::optional<PssParams> ParsePssParams(const Bytes& der) {
  using PssPtr = std::unique_ptr<RSA_PSS_PARAMS, ossl::Deleter<RSA_PSS_PARAMS, RSA_PSS_PARAMS_free>>;
  using AlgorPtr = std::unique_ptr<X509_ALGOR, ossl::Deleter<X509_ALGOR, X509_ALGOR_free>>;
  if (der.empty() || der.size() > 512) return std::nullopt;
  const unsigned char* p = der.data();
  PssPtr pss(d2i_RSA_PSS_PARAMS(nullptr, &p, static_cast<long>(der.size())));
  if (!pss || p != der.data() + der.size()) return std::nullopt;
  PssParams out;
  // Absent fields take the DER defaults: SHA-1, MGF1(SHA-1), 20, 1. SHA-1 is
  // refused (CSC §5: at least SHA-256), so hash and MGF must be explicit.
  if (!pss->hashAlgorithm || !pss->maskGenAlgorithm) return std::nullopt;
  auto hash = HashFromAlgor(pss->hashAlgorithm);
  if (!hash) return std::nullopt;
  out.hash = *hash;
  const ASN1_OBJECT* mgf_obj = nullptr;
  int ptype = 0;
  const void* pval = nullptr;
  X509_ALGOR_get0(&mgf_obj, &ptype, &pval, pss->maskGenAlgorithm);
  if (OBJ_obj2nid(mgf_obj) != NID_mgf1 || ptype != V_ASN1_SEQUENCE) return std::nullopt;
  auto* seq = static_cast<const ASN1_STRING*>(pval);
  const unsigned char* q = ASN1_STRING_get0_data(seq);
  AlgorPtr mgf_hash(d2i_X509_ALGOR(nullptr, &q, ASN1_STRING_length(seq)));
  auto mh = HashFromAlgor(mgf_hash.get());
  if (!mh) return std::nullopt;
  out.mgf1_hash = *mh;
  if (pss->saltLength) {
    long salt = ASN1_INTEGER_get(pss->saltLength);
    if (salt < 0 || salt > 1024) return std::nullopt;
    out.salt_length = static_cast<std::size_t>(salt);
  }
  if (pss->trailerField && ASN1_INTEGER_get(pss->trailerField) != 1) return std::nullopt;
  return out;
}

Bytes EncodePssParams(const PssParams& prm) {
  return der::RsaPssParams(ToDer(prm.hash), ToDer(prm.mgf1_hash), prm.salt_length);
}

}  // namespace vtoken::service
