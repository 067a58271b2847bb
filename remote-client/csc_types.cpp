#include "remote-client/csc_types.h"

namespace vtoken::csc {

std::string_view HashOid(HashAlgo h) {
  switch (h) {
    case HashAlgo::Sha224: return "2.16.840.1.101.3.4.2.4";
    case HashAlgo::Sha256: return "2.16.840.1.101.3.4.2.1";
    case HashAlgo::Sha384: return "2.16.840.1.101.3.4.2.2";
    case HashAlgo::Sha512: return "2.16.840.1.101.3.4.2.3";
  }
  return "";
}

std::size_t HashSize(HashAlgo h) {
  switch (h) {
    case HashAlgo::Sha224: return 28;
    case HashAlgo::Sha256: return 32;
    case HashAlgo::Sha384: return 48;
    case HashAlgo::Sha512: return 64;
  }
  return 0;
}

std::optional<HashAlgo> HashFromOid(std::string_view oid) {
  for (const auto h : {HashAlgo::Sha224, HashAlgo::Sha256, HashAlgo::Sha384, HashAlgo::Sha512})
    if (HashOid(h) == oid) return h;
  return std::nullopt;
}

std::size_t KeyInfo::EcFieldBytes() const {
  if (type != KeyType::Ec) return 0;
  if (curve == oid::kP256) return 32;
  if (curve == oid::kP384) return 48;
  if (curve == oid::kP521) return 66;
  return (bits + 7) / 8;
}

std::size_t KeyInfo::SignatureSize() const {
  return type == KeyType::Ec ? 2 * EcFieldBytes() : (bits + 7) / 8;
}

}  // namespace vtoken::csc
