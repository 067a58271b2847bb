#pragma once
// HttpTransport on libcurl. A small pool of easy handles: consecutive calls
// reuse the last one and so share one kept-alive TLS connection; concurrent
// calls each take a handle (and its connection) and run in parallel; HTTPS only,
// no redirects, peer and host verified against the system store or a CA file,
// optional public-key pin, bodies capped at kMaxResponseBytes, no signals.
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

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
  struct Handle {
    CurlEasy easy;
    bool fresh_next = false;  // its last answer was a 5xx: do not reuse its connection
  };
  static constexpr std::size_t kMaxIdle = 4;  // handles (connections) kept between calls

  explicit CurlTransport(TlsOptions tls, CurlEasy easy);
  Result<HttpResponse> Perform(Handle& handle, const HttpRequest& request, std::chrono::milliseconds timeout,
                               long& opened);

  TlsOptions tls_;
  mutable std::mutex mutex_;  // guards idle_ and connections_ (not held during a transfer)
  std::vector<Handle> idle_;  // handles not in use; the last used at the back
  long connections_ = 0;
};

// Maps a libcurl result to a CSC error kind (timeouts, TLS, reachability).
Error CurlError(CURLcode code, const char* detail);

}  // namespace vtoken::csc
