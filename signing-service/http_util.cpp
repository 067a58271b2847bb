#include "http_util.h"

namespace vtoken::service {
namespace {

std::unexpected<ApiError> Missing(const char* type, const char* name) {
  return BadRequest(std::string("Missing (or invalid type) ") + type + " parameter " + name);
}

}  // namespace

ClientInfo ClientOf(const httplib::Request& req) {
  return {req.remote_addr, req.get_header_value("User-Agent")};
}

void SendJson(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void SendError(httplib::Response& res, const ApiError& e) {
  SendJson(res, e.status, json{{"error", e.error}, {"error_description", e.description}});
}

ApiResult<json> ParseBody(const httplib::Request& req) {
  if (req.body.empty()) return json::object();
  // Depth is bounded by the 1 MiB body cap; nlohmann's parser is recursive,
  // so refuse absurd nesting before parsing.
  int depth = 0, max_depth = 0;
  bool in_string = false, escaped = false;
  for (char c : req.body) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{' || c == '[') max_depth = std::max(max_depth, ++depth);
    else if (c == '}' || c == ']') --depth;
  }
  if (max_depth > 32) return BadRequest("Malformed JSON body");
  json j = json::parse(req.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return BadRequest("Malformed JSON body");
  return j;
}

ApiResult<std::optional<std::string>> OptString(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (!it->is_string() || it->get_ref<const std::string&>().size() > kMaxString)
    return Missing("string", name);
  return it->get<std::string>();
}

ApiResult<std::string> ReqString(const json& j, const char* name) {
  auto v = API_TRY(OptString(j, name));
  if (!v || v->empty()) return Missing("string", name);
  return *v;
}

ApiResult<std::optional<bool>> OptBool(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) return Missing("boolean", name);
  return it->get<bool>();
}

ApiResult<std::optional<std::int64_t>> OptInt(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer()) return Missing("integer", name);
  return it->get<std::int64_t>();
}

ApiResult<std::optional<std::vector<std::string>>> OptStringArray(const json& j, const char* name,
                                                                 std::size_t max_items) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (!it->is_array() || it->size() > max_items) return Missing("array", name);
  std::vector<std::string> out;
  for (auto& v : *it) {
    if (!v.is_string() || v.get_ref<const std::string&>().size() > kMaxString) return Missing("array", name);
    out.push_back(v.get<std::string>());
  }
  return out;
}

httplib::Params ParseForm(const httplib::Request& req) {
  httplib::Params p;
  httplib::detail::parse_query_text(req.body, p);
  return p;
}

std::string FormValue(const httplib::Params& p, const char* name) {
  auto it = p.find(name);
  return it == p.end() ? std::string() : it->second;
}

}  // namespace vtoken::service
