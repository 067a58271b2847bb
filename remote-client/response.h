#pragma once
// Validated reading of CSC response bodies. The service is trusted only as far
// as it is checked: every member is type-checked and length-capped here, and
// anything else ends in a BadResponse error naming the endpoint and member.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/secure.h"
#include "remote-client/encoding.h"

namespace vtoken::csc {

using Json = nlohmann::json;

constexpr std::size_t kMaxTextBytes = 4096;       // names, DNs, descriptions
constexpr std::size_t kMaxIdBytes = 1024;         // credential IDs
constexpr std::size_t kMaxTokenBytes = 8192;      // access/refresh tokens, SAD
constexpr std::size_t kMaxCredentials = 1000;     // credentials/list
constexpr std::size_t kMaxChainLength = 10;       // certificates per chain
constexpr std::size_t kMaxCertificateBytes = 16384;
constexpr std::size_t kMaxSignatureBytes = 1024;  // RSA 8192 bits
constexpr std::size_t kMaxSmallArray = 64;        // algo, authType, objects, ...

// Parses a response body that must be one JSON object. Nesting deeper than a
// few levels is refused (CSC responses are shallow).
Result<Json> ParseObject(std::string_view endpoint, std::string_view body);

class Reader {
 public:
  Reader(std::string_view endpoint, const Json& object, std::string path = "");

  Result<std::string> String(const char* key, std::size_t max = kMaxTextBytes) const;
  Result<std::optional<std::string>> OptString(const char* key, std::size_t max = kMaxTextBytes) const;
  Result<std::int64_t> Int(const char* key, std::int64_t min, std::int64_t max) const;
  // allow_string: also accept a string of decimal digits (CSC's "SCAL": "2").
  Result<std::optional<std::int64_t>> OptInt(const char* key, std::int64_t min, std::int64_t max,
                                             bool allow_string = false) const;
  Result<std::optional<bool>> OptBool(const char* key) const;
  Result<std::vector<std::string>> Strings(const char* key, std::size_t max_items,
                                           std::size_t max_len, bool required) const;
  // An array of base64 values, each decoding to at most max_bytes.
  Result<std::vector<Bytes>> Base64Array(const char* key, std::size_t max_items,
                                         std::size_t max_bytes, bool required) const;
  Result<std::optional<Reader>> OptObject(const char* key) const;
  Result<std::vector<Reader>> Objects(const char* key, std::size_t max_items, bool required) const;
  // A secret string member, copied to a Secret; the copy inside `object` is
  // wiped in place (hence the non-const JSON).
  static Result<Secret> TakeSecret(std::string_view endpoint, Json& object, const char* key,
                                   std::size_t max = kMaxTokenBytes);

  Error Bad(std::string_view what) const;
  std::string Where(const char* key) const;

 private:
  const Json* Get(const char* key) const;  // nullptr if absent or null

  std::string endpoint_;
  const Json* object_;
  std::string path_;
};

// Removes control characters and caps the text of a service message before
// it goes into an error (errors are logged).
std::string Printable(std::string_view text, std::size_t max = 300);

}  // namespace vtoken::csc
