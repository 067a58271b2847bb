#pragma once
// A scripted HttpTransport for unit tests: answers queued responses (or
// errors) in order and records every request it was given.
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "remote-client/http_transport.h"

namespace vtoken::csc {

class MemoryTransport : public HttpTransport {
 public:
  struct Recorded {
    std::string method;
    std::string url;
    std::string content_type;
    std::string authorization;  // tests only: a copy of the secret header
    std::string body;
    std::chrono::milliseconds timeout{0};
  };

  // Queues a response with this status and body (JSON by default).
  void Respond(long status, std::string body, std::string content_type = "application/json");
  // Queues a transport failure (e.g. a CscFail(Unreachable, ...) error).
  void Fail(Error error);
  // Computes the answer from the request (after the queue is empty).
  void SetHandler(std::function<Result<HttpResponse>(const HttpRequest&)> handler);

  Result<HttpResponse> Send(const HttpRequest& request, Deadline deadline) override;

  std::vector<Recorded> requests() const;
  std::size_t pending() const;

 private:
  mutable std::mutex mutex_;
  std::deque<Result<HttpResponse>> queue_;
  std::function<Result<HttpResponse>(const HttpRequest&)> handler_;
  std::vector<Recorded> requests_;
};

}  // namespace vtoken::csc
