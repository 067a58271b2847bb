#pragma once
// The few DER structures the client writes or reads itself: RSASSA-PSS
// parameters (RFC 4055) for signAlgoParams, and ECDSA signatures, which
// PKCS#11 wants as raw r||s while X.509 and most services use DER.
#include <optional>
#include <span>

#include "remote-client/csc_types.h"

namespace vtoken::csc {

// DER RSASSA-PSS-params with explicit hash, MGF1 hash and salt length
// (trailerField left at its default).
Bytes EncodePssParams(const PssParams& params);

// ECDSA-Sig-Value (DER) -> r||s, each left-padded to field_bytes. nullopt if
// the input is not exactly one strict DER signature or r/s do not fit.
std::optional<Bytes> EcdsaDerToRaw(std::span<const std::uint8_t> der, std::size_t field_bytes);
// r||s -> DER (tests and verification).
std::optional<Bytes> EcdsaRawToDer(std::span<const std::uint8_t> raw);

}  // namespace vtoken::csc
