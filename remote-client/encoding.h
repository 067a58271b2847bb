#pragma once
// Byte encodings used on the CSC wire: strict base64 (standard alphabet with
// padding, as CSC hashes, signatures and certificates use), base64url without
// padding (PKCE), and JSON string escaping into wiping buffers for bodies that
// carry secrets.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/secure.h"

namespace vtoken::csc {

using Bytes = std::vector<std::uint8_t>;

std::string Base64Encode(std::span<const std::uint8_t> data);
// Strict: standard alphabet, required padding, no whitespace. nullopt if
// malformed or if the decoded size would exceed max_bytes.
std::optional<Bytes> Base64Decode(std::string_view text, std::size_t max_bytes);

std::string Base64UrlEncode(std::span<const std::uint8_t> data);  // no padding

// Appends `value` as a quoted JSON string to `out`.
void AppendJsonString(SecureString& out, std::string_view value);

// A JSON object body whose secret members never pass through an unwiped
// std::string: the plain members come from nlohmann's dump of `plain` (an
// object), the secret ones are appended by hand.
class SecretJsonBody {
 public:
  explicit SecretJsonBody(std::string plain_object_dump);
  void AddSecret(std::string_view key, std::string_view secret_value);
  // Appends a raw JSON fragment (already encoded) as the value of `key`.
  void AddRaw(std::string_view key, const SecureString& json_value);
  SecureBytes Finish();

 private:
  SecureString text_;
  bool empty_;
};

}  // namespace vtoken::csc
