#include "remote-client/der.h"

#include "common/der.h"

namespace vtoken::csc {
namespace {

der::Hash ToDer(HashAlgo h) {
  switch (h) {
    case HashAlgo::Sha224: return der::Hash::kSha224;
    case HashAlgo::Sha256: return der::Hash::kSha256;
    case HashAlgo::Sha384: return der::Hash::kSha384;
    case HashAlgo::Sha512: return der::Hash::kSha512;
  }
  return der::Hash::kSha256;
}

}  // namespace

// Hash AlgorithmIdentifiers without parameters (RFC 5754), as the client has always sent them.
Bytes EncodePssParams(const PssParams& params) {
  return der::RsaPssParams(ToDer(params.hash), ToDer(params.mgf1_hash), params.salt_length, false);
}

std::optional<Bytes> EcdsaDerToRaw(std::span<const std::uint8_t> der, std::size_t field_bytes) {
  return der::EcdsaDerToRaw(der, field_bytes);
}

std::optional<Bytes> EcdsaRawToDer(std::span<const std::uint8_t> raw) { return der::EcdsaRawToDer(raw); }

}  // namespace vtoken::csc
