#include "remote-client/curl_transport.h"

#include <algorithm>
#include <cstring>

#include "remote-client/csc_error.h"

namespace vtoken::csc {
namespace {

struct SlistDeleter {
  void operator()(curl_slist* list) const noexcept {
    // Headers carry the bearer token or Basic credentials: wipe our copies.
    for (curl_slist* p = list; p != nullptr; p = p->next)
      if (p->data != nullptr) WipeMemory(p->data, std::strlen(p->data));
    curl_slist_free_all(list);
  }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

struct Sink {
  HttpResponse* response;
  bool too_large = false;
};

size_t WriteBody(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const size_t n = size * count;
  if (sink->response->body.size() + n > kMaxResponseBytes) {
    sink->too_large = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  sink->response->body.insert(sink->response->body.end(), data, data + n);
  return n;
}

bool Append(Slist& list, const std::string_view header) {
  std::string line(header);
  curl_slist* next = curl_slist_append(list.get(), line.c_str());
  WipeMemory(line.data(), line.size());
  if (next == nullptr) return false;
  list.release();
  list.reset(next);
  return true;
}

void InitOnce() {
  static const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
  (void)rc;
}

}  // namespace

Error CurlError(CURLcode code, const char* detail) {
  std::string msg = curl_easy_strerror(code);
  if (detail != nullptr && *detail != '\0') msg += std::string(" (") + detail + ")";
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return MakeError(CscErrorKind::Timeout, "no answer in time: " + msg);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_USE_SSL_FAILED:
      return MakeError(CscErrorKind::TlsFailure, "TLS failure: " + msg);
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
      return MakeError(CscErrorKind::InvalidRequest, "bad service URL: " + msg);
    case CURLE_WRITE_ERROR:
    case CURLE_FILESIZE_EXCEEDED:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
      return MakeError(CscErrorKind::BadResponse, "unusable answer: " + msg);
    default:
      return MakeError(CscErrorKind::Unreachable, "service unreachable: " + msg);
  }
}

Result<std::unique_ptr<CurlTransport>> CurlTransport::Create(TlsOptions tls) {
  InitOnce();
  CurlEasy easy(curl_easy_init());
  if (!easy) return CscFail(CscErrorKind::Unreachable, "curl_easy_init failed");
  return std::unique_ptr<CurlTransport>(new CurlTransport(std::move(tls), std::move(easy)));
}

CurlTransport::CurlTransport(TlsOptions tls, CurlEasy easy) : tls_(std::move(tls)) {
  idle_.push_back(Handle{std::move(easy), false});
}

long CurlTransport::connections_opened() const {
  std::lock_guard lock(mutex_);
  return connections_;
}

Result<HttpResponse> CurlTransport::Send(const HttpRequest& request, Deadline deadline) {
  const auto left = deadline.Remaining();
  if (left.count() <= 0) return CscFail(CscErrorKind::Timeout, "deadline passed before the request");
  const auto timeout = std::min(request.timeout, left);
  Handle handle;
  {
    std::lock_guard lock(mutex_);
    if (!idle_.empty()) {
      handle = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  if (!handle.easy) {  // every kept handle is busy: another connection for this call
    handle.easy.reset(curl_easy_init());
    if (!handle.easy) return CscFail(CscErrorKind::Unreachable, "curl_easy_init failed");
  }
  long opened = 0;
  auto response = Perform(handle, request, timeout, opened);
  std::lock_guard lock(mutex_);
  connections_ += opened;
  if (idle_.size() < kMaxIdle) idle_.push_back(std::move(handle));
  return response;
}

Result<HttpResponse> CurlTransport::Perform(Handle& handle, const HttpRequest& request,
                                            std::chrono::milliseconds timeout, long& opened) {
  CURL* h = handle.easy.get();
  // Reset drops per-request options but keeps the connection cache, so the
  // kept-alive connection survives from one call to the next.
  curl_easy_reset(h);
  char error_buffer[CURL_ERROR_SIZE] = {0};
  HttpResponse response;
  Sink sink{&response};

  Slist headers;
  bool ok = Append(headers, "Accept: application/json") && Append(headers, "Expect:");
  if (!request.content_type.empty()) ok = ok && Append(headers, "Content-Type: " + request.content_type);
  if (!request.authorization.empty()) {
    SecureString line("Authorization: ");
    line.append(request.authorization.view());
    ok = ok && Append(headers, std::string_view(line.data(), line.size()));
    WipeMemory(line.data(), line.size());
  }
  if (!ok) return CscFail(CscErrorKind::Unreachable, "out of memory building headers");

  curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, tls_.allow_plain_http ? "https,http" : "https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(std::max<long>(1, timeout.count())));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::max<long>(1, timeout.count())));
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(h, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  if (!tls_.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, tls_.ca_file.c_str());
  if (!tls_.pinned_public_key.empty())
    curl_easy_setopt(h, CURLOPT_PINNEDPUBLICKEY, tls_.pinned_public_key.c_str());
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  // One cached connection: a fresh one replaces (and closes) the old one.
  curl_easy_setopt(h, CURLOPT_MAXCONNECTS, 1L);
  // After a 5xx the server may be in a bad state, or may have answered
  // without reading our body (the reference service's fault switch does):
  // the next request opens a new connection instead of reusing that one.
  if (handle.fresh_next && tls_.fresh_connection_after_5xx) curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
  curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(kMaxResponseBytes));
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &WriteBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "vtoken-csc/0.1");
  if (request.method == "GET") {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    // Not COPYPOSTFIELDS: libcurl reads our wiping buffer in place.
    // An empty body must still be a non-null pointer, or libcurl reads stdin.
    static const char kEmpty[] = "";
    curl_easy_setopt(h, CURLOPT_POSTFIELDS,
                     request.body.empty() ? kEmpty : reinterpret_cast<const char*>(request.body.data()));
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  }

  const CURLcode rc = curl_easy_perform(h);
  if (curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &opened) != CURLE_OK) opened = 0;
  // The handle must not keep pointers to our stack or to the request.
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, nullptr);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);

  handle.fresh_next = true;  // until a good answer says otherwise
  if (sink.too_large)
    return CscFail(CscErrorKind::BadResponse, "response body larger than " +
                                                  std::to_string(kMaxResponseBytes) + " bytes");
  if (rc != CURLE_OK) return std::unexpected(CurlError(rc, error_buffer));
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
  handle.fresh_next = response.status >= 500;
  const char* type = nullptr;
  if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &type) == CURLE_OK && type != nullptr)
    response.content_type = type;
  const char* location = nullptr;
  if (curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &location) == CURLE_OK && location != nullptr)
    response.location = location;
  return response;
}

}  // namespace vtoken::csc
