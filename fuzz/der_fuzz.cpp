// libFuzzer target: the DER parsers the agent and the module run on what
// applications hand them (DigestInfo for CKM_RSA_PKCS, ECDSA signatures).
// Each parse either fails or gives a value that encodes back to the input.
#include <cstdint>
#include <algorithm>
#include <cstdlib>
#include <span>

#include "common/der.h"

namespace {
namespace der = vtoken::der;
bool Same(const der::Bytes& a, std::span<const std::uint8_t> b) { return std::equal(a.begin(), a.end(), b.begin(), b.end()); }
der::Bytes DigestInfoWith(der::Hash h, const der::Bytes& digest, bool null_parameters) {
  der::Bytes body = der::HashAlgorithmId(h, null_parameters);
  der::Bytes octets = der::Tlv(0x04, digest);
  body.insert(body.end(), octets.begin(), octets.end());
  return der::Tlv(0x30, body);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> in(data, size);
  if (auto info = der::ParseDigestInfo(in)) {
    if (info->digest.size() != der::HashLength(info->hash)) std::abort();
    if (!Same(DigestInfoWith(info->hash, info->digest, true), in) &&
        !Same(DigestInfoWith(info->hash, info->digest, false), in))
      std::abort();
  }
  for (std::size_t field : {32u, 48u, 66u}) {
    auto raw = der::EcdsaDerToRaw(in, field);
    if (!raw) continue;
    if (raw->size() != 2 * field) std::abort();
    auto back = der::EcdsaRawToDer(*raw);
    if (!back || !Same(*back, in)) std::abort();  // strict DER: one encoding per value
  }
  if (size % 2 == 0) (void)der::EcdsaRawToDer(in);
  return 0;
}
