#pragma once
// Detached CAdES-BES signatures (CMS SignedData, RFC 5652, with the signed
// attributes of ETSI EN 319 122-1 baseline B: contentType, signingTime,
// messageDigest, signingCertificateV2), built around a signature that is made
// somewhere else — by the cloud token, in one batch for many documents.
//
// The signature covers the DER of the signed attributes, so a document is
// signed in two steps: PendingSignature::Create builds the SignerInfo with
// every signed attribute and gives the hash to sign (attributes_hash(), or
// sign_input() for the raw PKCS#11 mechanism); Finish() takes the signature
// the key made over it, checks it against the certificate's public key and
// returns the DER ContentInfo (the .p7s). OpenSSL encodes the CMS; no
// private key is needed here, and the document itself is only hashed.
#include <openssl/cms.h>

#include <cstdint>
#include <ctime>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/ossl.h"

namespace vtoken::agent::cms {

using Bytes = std::vector<std::uint8_t>;

enum class Scheme { kRsaPkcs1, kRsaPss, kEcdsa };
enum class Hash { kSha256, kSha384, kSha512 };

const EVP_MD* HashMd(Hash h);
std::size_t HashSize(Hash h);
const char* HashName(Hash h);  // "SHA-256"

// The signer: end-entity certificate, the CA certificates that go with it
// into the SignedData, the hash and the signature scheme.
struct Signer {
  ossl::X509Ptr certificate;
  std::vector<ossl::X509Ptr> chain;
  Hash hash = Hash::kSha256;
  Scheme scheme = Scheme::kRsaPkcs1;

  // From DER certificates. The scheme follows the key: ECDSA for EC keys,
  // PKCS#1 v1.5 for RSA keys, or RSASSA-PSS (salt = hash length, MGF1 with
  // the same hash) when `pss` is set.
  static Result<Signer> FromDer(std::span<const std::uint8_t> certificate, const std::vector<Bytes>& chain, Hash hash,
                                bool pss);
  std::string Describe() const;  // "RSA-2048 PKCS#1 v1.5 with SHA-256"
};

// The digest of a file's content with `hash`, read in chunks (any size).
Result<Bytes> DigestFile(const std::filesystem::path& file, Hash hash);

// DER DigestInfo { AlgorithmIdentifier(hash, NULL), OCTET STRING digest }.
Bytes DigestInfo(Hash hash, std::span<const std::uint8_t> digest);

class PendingSignature {
 public:
  // The SignedData for one document whose content digest (with
  // signer.hash) is `content_digest`, signed at `signing_time`.
  static Result<PendingSignature> Create(const Signer& signer, std::span<const std::uint8_t> content_digest,
                                         std::time_t signing_time);

  // The hash of the DER-encoded signed attributes: what the key signs.
  const Bytes& attributes_hash() const { return attributes_hash_; }
  // What a raw PKCS#11 mechanism takes: the DigestInfo of that hash for
  // PKCS#1 v1.5 (CKM_RSA_PKCS), the hash itself for PSS and ECDSA.
  Bytes sign_input() const;

  // Places `signature` — as PKCS#11 returns it: RSA big-endian of the
  // modulus size, ECDSA raw r||s — after checking it with the certificate's
  // key; returns the DER ContentInfo.
  Result<Bytes> Finish(std::span<const std::uint8_t> signature);

 private:
  struct CmsFree {
    void operator()(CMS_ContentInfo* p) const noexcept { CMS_ContentInfo_free(p); }
  };
  PendingSignature() = default;
  Result<void> Verify(std::span<const std::uint8_t> signature_value) const;

  std::unique_ptr<CMS_ContentInfo, CmsFree> cms_;
  CMS_SignerInfo* signer_info_ = nullptr;  // owned by cms_
  EVP_PKEY* public_key_ = nullptr;         // owned by the certificate in cms_
  Hash hash_ = Hash::kSha256;
  Scheme scheme_ = Scheme::kRsaPkcs1;
  Bytes attributes_hash_;
};

}  // namespace vtoken::agent::cms
