#pragma once
// Request/response helpers shared by the route files: CSC errors, JSON body
// parsing with type checks, and the service context the handlers use.
#include <httplib.h>

#include <cstdint>
#include <expected>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "ca.h"
#include "clock.h"
#include "hsm.h"
#include "store.h"

namespace vtoken::service {

using nlohmann::json;

struct ApiError {
  int status = 400;
  std::string error;
  std::string description;
};
template <class T = void>
using ApiResult = std::expected<T, ApiError>;

inline std::unexpected<ApiError> ApiFail(int status, std::string error, std::string description) {
  return std::unexpected(ApiError{status, std::move(error), std::move(description)});
}
inline std::unexpected<ApiError> BadRequest(std::string description) {
  return ApiFail(400, "invalid_request", std::move(description));
}

// Like VT_TRY, for ApiResult.
#define API_TRY(expr)                                                               \
  ({                                                                                \
    auto&& api_try_result_ = (expr);                                                \
    if (!api_try_result_) return std::unexpected(std::move(api_try_result_).error()); \
    std::move(api_try_result_).value();                                             \
  })

struct ServiceConfig {
  int token_ttl = 3600;
  int refresh_ttl = 30 * 86400;
  int sad_ttl = 300;
  bool test_mode = false;
};

struct Context {
  Store& store;
  Hsm& hsm;
  const Ca& ca;
  const SecureBytes& master_key;
  Clock& clock;
  ServiceConfig cfg;
};

struct ClientInfo {
  std::string addr;
  std::string user_agent;
};
ClientInfo ClientOf(const httplib::Request& req);

void SendJson(httplib::Response& res, int status, const json& body);
void SendError(httplib::Response& res, const ApiError& e);
// Runs a handler body that yields JSON (or nullopt for 204) or an ApiError.
template <class F>
void Respond(httplib::Response& res, F&& f) {
  ApiResult<std::optional<json>> r = f();
  if (!r) return SendError(res, r.error());
  if (!*r) {
    res.status = 204;
    return;
  }
  SendJson(res, 200, **r);
}

constexpr std::size_t kMaxString = 4096;
constexpr std::size_t kMaxHashes = 64;

// The body as a JSON object; an empty body is {}.
ApiResult<json> ParseBody(const httplib::Request& req);
// JSON null counts as absent (CSC §7.1).
ApiResult<std::optional<std::string>> OptString(const json& j, const char* name);
ApiResult<std::string> ReqString(const json& j, const char* name);
ApiResult<std::optional<bool>> OptBool(const json& j, const char* name);
ApiResult<std::optional<std::int64_t>> OptInt(const json& j, const char* name);
ApiResult<std::optional<std::vector<std::string>>> OptStringArray(const json& j, const char* name,
                                                                 std::size_t max_items);

// application/x-www-form-urlencoded body (OAuth2 endpoints).
httplib::Params ParseForm(const httplib::Request& req);
std::string FormValue(const httplib::Params& p, const char* name);

}  // namespace vtoken::service
