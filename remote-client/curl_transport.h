#pragma once
// HttpTransport on libcurl. One easy handle per transport, reused under a
// mutex so consecutive calls share one kept-alive TLS connection; HTTPS only,
// no redirects, peer and host verified against the system store or a CA file,
// optional public-key pin, bodies capped at kMaxResponseBytes, no signals.
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <curl/curl.h>

#include "remote-client/http_transport.h"

namespace vtoken::csc {

struct TlsOptions {
  // PEM bundle of trusted CAs; empty = the system store.
  std::filesystem::path ca_file{};
  // "sha256//<base64>;sha256//<base64>": the server's public key must match
  // one (CURLOPT_PINNEDPUBLICKEY). Empty = no pin.
  std::string pinned_public_key{};
  // Tests only: plain http:// allowed as well as https://.
  bool allow_plain_http = false;
  // Open a new connection after a 5xx answer instead of reusing that one
  // (off only in the test that shows why it is on).
  bool fresh_connection_after_5xx = true;
};

struct CurlEasyDeleter {
  void operator()(CURL* handle) const noexcept { curl_easy_cleanup(handle); }
};
using CurlEasy = std::unique_ptr<CURL, CurlEasyDeleter>;

class CurlTransport : public HttpTransport {
 public:
  // Fails only when libcurl cannot be initialised.
  static Result<std::unique_ptr<CurlTransport>> Create(TlsOptions tls);

  Result<HttpResponse> Send(const HttpRequest& request, Deadline deadline) override;

  // Connections opened since creation (CURLINFO_NUM_CONNECTS summed): 1 after
  // many calls means keep-alive worked.
  long connections_opened() const;

 private:
  explicit CurlTransport(TlsOptions tls, CurlEasy easy);
  Result<HttpResponse> Perform(const HttpRequest& request, std::chrono::milliseconds timeout);

  TlsOptions tls_;
  mutable std::mutex mutex_;  // guards easy_ and connections_
  CurlEasy easy_;
  long connections_ = 0;
  bool fresh_next_ = false;  // the last answer was a 5xx: do not reuse its connection
};

// Maps a libcurl result to a CSC error kind (timeouts, TLS, reachability).
Error CurlError(CURLcode code, const char* detail);

}  // namespace vtoken::csc
