#pragma once
// Byte encodings used on the CSC wire: base64 (from common/) and JSON string
// escaping into wiping buffers for bodies that carry secrets.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/encoding.h"
#include "common/secure.h"

namespace vtoken::csc {

using Bytes = std::vector<std::uint8_t>;

// Strict base64 and base64url: common/encoding.h.
using vtoken::Base64Decode;
using vtoken::Base64Encode;
using vtoken::Base64UrlEncode;

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
