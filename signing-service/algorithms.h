#pragma once
// The algorithm vocabulary of the CSC API: hash and signature OIDs, key
// types, PSS parameters, DigestInfo and the ECDSA signature encodings.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/der.h"
#include "crypto_util.h"

namespace vtoken::service {

enum class HashAlg { kSha256, kSha384, kSha512 };

std::optional<HashAlg> HashFromOid(std::string_view oid);
std::string HashOid(HashAlg h);
std::size_t HashLength(HashAlg h);
const char* HashName(HashAlg h);  // "SHA256"... (OpenSSL names)
// DER DigestInfo { AlgorithmIdentifier(hash, NULL), OCTET STRING digest }.
Bytes DigestInfo(HashAlg h, const Bytes& digest);

enum class KeyType { kRsa2048, kRsa3072, kRsa4096, kP256, kP384 };
std::optional<KeyType> KeyTypeFromName(std::string_view name);
std::string KeyTypeName(KeyType t);
bool IsRsa(KeyType t);
int KeyBits(KeyType t);          // modulus or field size
std::string CurveOid(KeyType t);  // EC only
std::size_t EcFieldBytes(KeyType t);

// The signAlgo values offered for a key (credentials/info key.algo).
std::vector<std::string> SignAlgosFor(KeyType t);
std::vector<std::string> AllSignAlgos();

constexpr const char* kOidRsaEncryption = "1.2.840.113549.1.1.1";
constexpr const char* kOidRsaPss = "1.2.840.113549.1.1.10";
constexpr const char* kOidEcPublicKey = "1.2.840.10045.2.1";

struct PssParams {
  HashAlg hash = HashAlg::kSha256;
  HashAlg mgf1_hash = HashAlg::kSha256;
  std::size_t salt_length = 20;
};
// RSASSA-PSS-params (RFC 8017 A.2.3), DER. Only SHA-2 hashes and MGF1 are accepted.
std::optional<PssParams> ParsePssParams(const Bytes& der);
Bytes EncodePssParams(const PssParams& p);

// What signatures/signHash will do, from signAlgo (+ hashAlgorithmOID, + params).
struct SignPlan {
  enum class Kind { kRsaPkcs1, kRsaPss, kEcdsa } kind = Kind::kRsaPkcs1;
  HashAlg hash = HashAlg::kSha256;
  PssParams pss;
};
// Resolves an algorithm OID that implies its hash (sha256WithRSAEncryption,
// ecdsa-with-SHA256 ...). nullopt for rsaEncryption/ecPublicKey/PSS.
std::optional<std::pair<SignPlan::Kind, HashAlg>> ImpliedHashAlgo(std::string_view oid);

// ECDSA: raw r||s (PKCS#11) <-> DER ECDSA-Sig-Value.
using der::EcdsaDerToRaw;
using der::EcdsaRawToDer;

}  // namespace vtoken::service
