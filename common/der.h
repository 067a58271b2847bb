#pragma once
// The few DER structures vtoken writes or reads by hand, in one place for
// the module, the agent, the CSC client, the signing service and the
// Windows provider (so no OpenSSL here: the provider is built without it).
//   - DigestInfo (RFC 8017 §9.2), built and parsed, for RSA PKCS#1 v1.5;
//   - RSASSA-PSS-params (RFC 4055), for CSC signAlgoParams;
//   - ECDSA-Sig-Value <-> raw r||s (PKCS#11, CNG and CSC disagree on the form).
// Everything is definite-length DER of at most 64 KiB.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace vtoken::der {

using Bytes = std::vector<std::uint8_t>;

enum class Hash { kMd5, kSha1, kSha224, kSha256, kSha384, kSha512 };  // MD5: only for CNG's legacy callers

std::size_t HashLength(Hash h);

// One TLV with a definite length.
Bytes Tlv(std::uint8_t tag, std::span<const std::uint8_t> content);

// AlgorithmIdentifier of a hash. PKCS#1 DigestInfo and most PSS encoders
// write NULL parameters; RFC 5754 prefers them absent. Both are read.
Bytes HashAlgorithmId(Hash h, bool null_parameters = true);

// DigestInfo; RSASSA-PKCS1-v1_5 requires NULL parameters.
Bytes DigestInfo(Hash h, std::span<const std::uint8_t> digest, bool null_parameters = true);
struct ParsedDigestInfo {
  Hash hash;
  Bytes digest;
};
// Accepts NULL or absent parameters; nullopt for anything else, a digest of
// the wrong length for its hash, or trailing bytes.
std::optional<ParsedDigestInfo> ParseDigestInfo(std::span<const std::uint8_t> der);

// RSASSA-PSS-params with explicit hash, MGF1 with its hash, and salt length
// (trailerField left at its default).
Bytes RsaPssParams(Hash hash, Hash mgf1_hash, std::size_t salt_length, bool null_parameters = true);

// ECDSA-Sig-Value (strict DER: minimal, positive integers) -> r||s, each
// left-padded to field_bytes; nullopt if malformed or r/s do not fit.
std::optional<Bytes> EcdsaDerToRaw(std::span<const std::uint8_t> der, std::size_t field_bytes);
// r||s (two equal halves) -> ECDSA-Sig-Value; nullopt for an odd or empty input.
std::optional<Bytes> EcdsaRawToDer(std::span<const std::uint8_t> raw);

}  // namespace vtoken::der
