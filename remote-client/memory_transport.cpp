#include "remote-client/memory_transport.h"

#include "remote-client/csc_error.h"

namespace vtoken::csc {

void MemoryTransport::Respond(long status, std::string body, std::string content_type) {
  HttpResponse r;
  r.status = status;
  r.content_type = std::move(content_type);
  r.body.assign(body.begin(), body.end());
  std::lock_guard lock(mutex_);
  queue_.push_back(std::move(r));
}

void MemoryTransport::Fail(Error error) {
  std::lock_guard lock(mutex_);
  queue_.push_back(std::unexpected(std::move(error)));
}

void MemoryTransport::SetHandler(std::function<Result<HttpResponse>(const HttpRequest&)> handler) {
  std::lock_guard lock(mutex_);
  handler_ = std::move(handler);
}

Result<HttpResponse> MemoryTransport::Send(const HttpRequest& request, Deadline deadline) {
  std::lock_guard lock(mutex_);
  requests_.push_back({request.method, request.url, request.content_type,
                       std::string(request.authorization.view()),
                       std::string(request.body.begin(), request.body.end()), request.timeout});
  if (deadline.Passed()) return CscFail(CscErrorKind::Timeout, "deadline passed before the request");
  if (!queue_.empty()) {
    auto next = std::move(queue_.front());
    queue_.pop_front();
    return next;
  }
  if (handler_) return handler_(request);
  return CscFail(CscErrorKind::Unreachable, "memory transport: no scripted response left");
}

std::vector<MemoryTransport::Recorded> MemoryTransport::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

std::size_t MemoryTransport::pending() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

}  // namespace vtoken::csc
