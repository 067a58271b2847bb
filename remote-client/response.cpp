#include "remote-client/response.h"

#include "remote-client/csc_error.h"

namespace vtoken::csc {
namespace {

constexpr std::size_t kMaxDepth = 8;

bool Utf8Valid(std::string_view s) {
  // nlohmann already rejects invalid UTF-8 while parsing; this is for
  // control characters, which have no place in the values we keep.
  for (const char c : s)
    if (static_cast<unsigned char>(c) < 0x20) return false;
  return true;
}

}  // namespace

std::string Printable(std::string_view text, std::size_t max) {
  std::string out;
  for (const char c : text) {
    if (out.size() >= max) {
      out += "...";
      break;
    }
    out += static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? '?' : c;
  }
  return out;
}

Result<Json> ParseObject(std::string_view endpoint, std::string_view body) {
  std::size_t depth = 0;
  bool too_deep = false;
  // The callback sees every nesting step; refusing deep input keeps a hostile
  // body from costing stack or memory.
  auto limit = [&](int d, Json::parse_event_t event, Json&) {
    if ((event == Json::parse_event_t::object_start || event == Json::parse_event_t::array_start) &&
        static_cast<std::size_t>(d) >= kMaxDepth) {
      too_deep = true;
    }
    depth = std::max<std::size_t>(depth, static_cast<std::size_t>(d));
    return !too_deep;
  };
  Json parsed = Json::parse(body.begin(), body.end(), limit, /*allow_exceptions=*/false);
  if (too_deep)
    return CscFail(CscErrorKind::BadResponse, std::string(endpoint) + ": response nested too deeply");
  if (parsed.is_discarded())
    return CscFail(CscErrorKind::BadResponse, std::string(endpoint) + ": response is not valid JSON");
  if (!parsed.is_object())
    return CscFail(CscErrorKind::BadResponse, std::string(endpoint) + ": response is not a JSON object");
  return parsed;
}

Reader::Reader(std::string_view endpoint, const Json& object, std::string path)
    : endpoint_(endpoint), object_(&object), path_(std::move(path)) {}

std::string Reader::Where(const char* key) const { return path_.empty() ? key : path_ + "." + key; }

Error Reader::Bad(std::string_view what) const {
  return MakeError(CscErrorKind::BadResponse, endpoint_ + ": " + std::string(what));
}

const Json* Reader::Get(const char* key) const {
  const auto it = object_->find(key);
  if (it == object_->end() || it->is_null()) return nullptr;
  return &*it;
}

Result<std::optional<std::string>> Reader::OptString(const char* key, std::size_t max) const {
  const Json* v = Get(key);
  if (v == nullptr) return std::optional<std::string>();
  if (!v->is_string()) return std::unexpected(Bad("'" + Where(key) + "' is not a string"));
  const auto& s = v->get_ref<const std::string&>();
  if (s.size() > max)
    return std::unexpected(Bad("'" + Where(key) + "' is longer than " + std::to_string(max) + " bytes"));
  if (!Utf8Valid(s)) return std::unexpected(Bad("'" + Where(key) + "' contains control characters"));
  return std::optional<std::string>(s);
}

Result<std::string> Reader::String(const char* key, std::size_t max) const {
  auto v = VT_TRY(OptString(key, max));
  if (!v) return std::unexpected(Bad("'" + Where(key) + "' is missing"));
  return std::move(*v);
}

Result<std::optional<std::int64_t>> Reader::OptInt(const char* key, std::int64_t min,
                                                   std::int64_t max, bool allow_string) const {
  const Json* v = Get(key);
  if (v == nullptr) return std::optional<std::int64_t>();
  std::int64_t n = 0;
  if (v->is_number_unsigned()) {
    const auto u = v->get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(max)) return std::unexpected(Bad("'" + Where(key) + "' is out of range"));
    n = static_cast<std::int64_t>(u);
  } else if (v->is_number_integer()) {
    n = v->get<std::int64_t>();
  } else if (allow_string && v->is_string()) {
    const auto& s = v->get_ref<const std::string&>();
    if (s.empty() || s.size() > 18 || s.find_first_not_of("0123456789") != std::string::npos)
      return std::unexpected(Bad("'" + Where(key) + "' is not an integer"));
    n = std::stoll(s);
  } else {
    return std::unexpected(Bad("'" + Where(key) + "' is not an integer"));
  }
  if (n < min || n > max) return std::unexpected(Bad("'" + Where(key) + "' is out of range"));
  return std::optional<std::int64_t>(n);
}

Result<std::int64_t> Reader::Int(const char* key, std::int64_t min, std::int64_t max) const {
  auto v = VT_TRY(OptInt(key, min, max));
  if (!v) return std::unexpected(Bad("'" + Where(key) + "' is missing"));
  return *v;
}

Result<std::optional<bool>> Reader::OptBool(const char* key) const {
  const Json* v = Get(key);
  if (v == nullptr) return std::optional<bool>();
  if (!v->is_boolean()) return std::unexpected(Bad("'" + Where(key) + "' is not a boolean"));
  return std::optional<bool>(v->get<bool>());
}

Result<std::vector<std::string>> Reader::Strings(const char* key, std::size_t max_items,
                                                 std::size_t max_len, bool required) const {
  std::vector<std::string> out;
  const Json* v = Get(key);
  if (v == nullptr) {
    if (required) return std::unexpected(Bad("'" + Where(key) + "' is missing"));
    return out;
  }
  if (!v->is_array()) return std::unexpected(Bad("'" + Where(key) + "' is not an array"));
  if (v->size() > max_items)
    return std::unexpected(Bad("'" + Where(key) + "' has more than " + std::to_string(max_items) + " items"));
  for (std::size_t i = 0; i < v->size(); ++i) {
    const Json& item = (*v)[i];
    const std::string where = Where(key) + "[" + std::to_string(i) + "]";
    if (!item.is_string()) return std::unexpected(Bad("'" + where + "' is not a string"));
    const auto& s = item.get_ref<const std::string&>();
    if (s.size() > max_len) return std::unexpected(Bad("'" + where + "' is too long"));
    if (!Utf8Valid(s)) return std::unexpected(Bad("'" + where + "' contains control characters"));
    out.push_back(s);
  }
  return out;
}

Result<std::vector<Bytes>> Reader::Base64Array(const char* key, std::size_t max_items,
                                               std::size_t max_bytes, bool required) const {
  const auto texts = VT_TRY(Strings(key, max_items, (max_bytes + 2) / 3 * 4, required));
  std::vector<Bytes> out;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    auto bytes = Base64Decode(texts[i], max_bytes);
    if (!bytes || bytes->empty())
      return std::unexpected(Bad("'" + Where(key) + "[" + std::to_string(i) + "]' is not valid base64"));
    out.push_back(std::move(*bytes));
  }
  return out;
}

Result<std::optional<Reader>> Reader::OptObject(const char* key) const {
  const Json* v = Get(key);
  if (v == nullptr) return std::optional<Reader>();
  if (!v->is_object()) return std::unexpected(Bad("'" + Where(key) + "' is not an object"));
  return std::optional<Reader>(Reader(endpoint_, *v, Where(key)));
}

Result<std::vector<Reader>> Reader::Objects(const char* key, std::size_t max_items, bool required) const {
  std::vector<Reader> out;
  const Json* v = Get(key);
  if (v == nullptr) {
    if (required) return std::unexpected(Bad("'" + Where(key) + "' is missing"));
    return out;
  }
  if (!v->is_array()) return std::unexpected(Bad("'" + Where(key) + "' is not an array"));
  if (v->size() > max_items) return std::unexpected(Bad("'" + Where(key) + "' has too many items"));
  for (std::size_t i = 0; i < v->size(); ++i) {
    const std::string where = Where(key) + "[" + std::to_string(i) + "]";
    if (!(*v)[i].is_object()) return std::unexpected(Bad("'" + where + "' is not an object"));
    out.emplace_back(endpoint_, (*v)[i], where);
  }
  return out;
}

Result<Secret> Reader::TakeSecret(std::string_view endpoint, Json& object, const char* key,
                                  std::size_t max) {
  const auto it = object.find(key);
  auto bad = [&](std::string_view what) {
    return CscFail(CscErrorKind::BadResponse, std::string(endpoint) + ": '" + key + "' " + std::string(what));
  };
  if (it == object.end() || it->is_null()) return bad("is missing");
  if (!it->is_string()) return bad("is not a string");
  auto& s = it->get_ref<std::string&>();
  Secret secret(s);
  WipeMemory(s.data(), s.size());
  if (secret.empty()) return bad("is empty");
  if (secret.size() > max) return bad("is too long");
  if (!Utf8Valid(secret.view())) return bad("contains control characters");
  return secret;
}

}  // namespace vtoken::csc
