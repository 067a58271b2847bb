#pragma once
// Byte encodings, OpenSSL-free (the Windows provider builds this too).
// Base64 (RFC 4648): the standard alphabet with padding, as CSC carries
// hashes, signatures and certificates, and base64url without padding (PKCE,
// OAuth2 state). Decoding is strict: no whitespace, required padding, no
// stray bits under the padding. Hex: lowercase out, either case in.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vtoken {

std::string Base64Encode(std::span<const std::uint8_t> data);
std::string Base64UrlEncode(std::span<const std::uint8_t> data);  // no padding
// nullopt if malformed or if the decoded size would exceed max_bytes.
std::optional<std::vector<std::uint8_t>> Base64Decode(std::string_view text,
                                                      std::size_t max_bytes = std::numeric_limits<std::size_t>::max());

std::string HexEncode(std::span<const std::uint8_t> data);
// nullopt for an odd length or a character that is not a hex digit.
std::optional<std::vector<std::uint8_t>> HexDecode(std::string_view text);

}  // namespace vtoken
