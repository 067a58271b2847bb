#pragma once
// The HTTP transport under the CSC client: one interface, libcurl in
// production (curl_transport.h), an in-memory script in unit tests
// (memory_transport.h). Request and response bodies live in wiping buffers
// because they carry passwords, codes, SADs and tokens.
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"
#include "common/secure.h"

namespace vtoken::csc {

using Clock = std::chrono::steady_clock;

// The moment by which a whole operation (all attempts of a call, or several
// calls) must be finished.
struct Deadline {
  Clock::time_point at;
  static Deadline In(std::chrono::milliseconds d) { return {Clock::now() + d}; }
  std::chrono::milliseconds Remaining() const {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(at - Clock::now());
    return left.count() > 0 ? left : std::chrono::milliseconds(0);
  }
  bool Passed() const { return Clock::now() >= at; }
};

struct HttpRequest {
  std::string method = "POST";  // "GET" or "POST"
  std::string url;              // absolute https:// URL
  std::string content_type;     // for POST; empty for GET
  // Authorization header value ("Bearer ...", "Basic ..."): a secret.
  Secret authorization;
  SecureBytes body;
  // Time allowed for this one attempt; the transport also honours the
  // Deadline passed to Send, whichever comes first.
  std::chrono::milliseconds timeout{10000};
};

struct HttpResponse {
  long status = 0;
  std::string content_type;
  std::string location;  // Location of a 3xx (never followed)
  SecureBytes body;

  std::string_view BodyView() const {
    return {reinterpret_cast<const char*>(body.data()), body.size()};
  }
};

class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  // Performs one request. Transport failures come back as CSC errors
  // (Unreachable, Timeout, TlsFailure, BadResponse for an oversized body);
  // any HTTP status, including 4xx/5xx, is a successful HttpResponse.
  virtual Result<HttpResponse> Send(const HttpRequest& request, Deadline deadline) = 0;
};

// Bodies larger than this are refused (the transport aborts the transfer).
constexpr std::size_t kMaxResponseBytes = 1u << 20;

}  // namespace vtoken::csc
