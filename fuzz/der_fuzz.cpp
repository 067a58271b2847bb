// libFuzzer target: the DER parsers the agent and the module run on what
// applications hand them (DigestInfo for CKM_RSA_PKCS, ECDSA signatures).
// Each parse either fails or gives a value that encodes back to the input.
#include <cstdint>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "common/der.h"

namespace {
namespace der = vtoken::der;
bool Same(const der::Bytes& a, std::span<const std::uint8_t> b) { return std::equal(a.begin(), a.end(), b.begin(), b.end()); }
[[noreturn]] void Die(const char* why) {
  std::fprintf(stderr, "der_fuzz: %s\n", why);
  std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> in(data, size);
  if (auto info = der::ParseDigestInfo(in)) {
    if (info->digest.size() != der::HashLength(info->hash)) Die("a DigestInfo parsed with a digest of the wrong length");
    if (!Same(der::DigestInfo(info->hash, info->digest, true), in) &&
        !Same(der::DigestInfo(info->hash, info->digest, false), in))
      Die("a parsed DigestInfo does not encode back to its input");
  }
  for (std::size_t field : {32u, 48u, 66u}) {
    auto raw = der::EcdsaDerToRaw(in, field);
    if (!raw) continue;
    if (raw->size() != 2 * field) Die("r||s of the wrong length");
    auto back = der::EcdsaRawToDer(*raw);
    if (!back || !Same(*back, in)) Die("an ECDSA signature does not encode back to its input");  // strict DER
  }
  if (size % 2 == 0) (void)der::EcdsaRawToDer(in);
  return 0;
}
