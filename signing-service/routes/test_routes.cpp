// Test-mode endpoints (API.md "Test endpoints"): the fault switch and the
// service clock. Registered only with `serve --test-mode`.
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <chrono>
#include <mutex>
#include <thread>

#include "routes/routes.h"

namespace vtoken::service {

struct FaultSwitch {
  std::mutex mutex;
  int delay_ms = 0;
  int status = 0;
  bool drop = false;
  int count = 0;  // -1: until cleared
  std::string path;
};

std::shared_ptr<FaultSwitch> NewFaultSwitch() { return std::make_shared<FaultSwitch>(); }

namespace {

// httplib does not hand handlers their socket, so find the connection by
// its peer address among our descriptors and shut it down: the client sees
// the connection close with no response, and httplib's own close follows.
void DropConnection(const httplib::Request& req) {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return;
  while (dirent* e = readdir(dir)) {
    int fd = std::atoi(e->d_name);
    struct stat st{};
    if (fd <= 2 || fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) continue;
    char host[INET6_ADDRSTRLEN] = {};
    int port = -1;
    if (peer.ss_family == AF_INET) {
      auto* a = reinterpret_cast<sockaddr_in*>(&peer);
      inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
      port = ntohs(a->sin_port);
    } else if (peer.ss_family == AF_INET6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&peer);
      inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
      port = ntohs(a->sin6_port);
    }
    if (port == req.remote_port && req.remote_addr == host) {
      shutdown(fd, SHUT_RDWR);
      break;
    }
  }
  closedir(dir);
}

}  // namespace

bool ApplyFault(FaultSwitch& f, const httplib::Request& req, httplib::Response& res) {
  if (req.path.rfind("/test/", 0) == 0) return false;
  int delay, status;
  bool drop;
  {
    std::lock_guard lock(f.mutex);
    if (f.count == 0 || (!f.path.empty() && f.path != req.path)) return false;
    if (f.count > 0) --f.count;
    delay = f.delay_ms;
    status = f.status;
    drop = f.drop;
  }
  if (delay > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay));
  if (drop) {
    DropConnection(req);
    res.status = 500;
    res.set_header("Connection", "close");
    return true;
  }
  if (status) {
    SendError(res, {status, "temporarily_unavailable", "Injected fault"});
    // The request body is still unread (this runs before routing): close the
    // connection, or the body would be parsed as the next request.
    res.set_header("Connection", "close");
    return true;
  }
  return false;
}

void RegisterTestRoutes(httplib::Server& s, Context& ctx, std::shared_ptr<FaultSwitch> faults) {
  s.Post("/test/fault", [faults](const httplib::Request& req, httplib::Response& res) {
    Respond(res, [&]() -> ApiResult<std::optional<json>> {
      json body = API_TRY(ParseBody(req));
      auto delay = API_TRY(OptInt(body, "delay_ms")).value_or(0);
      auto status = API_TRY(OptInt(body, "status")).value_or(0);
      auto drop = API_TRY(OptBool(body, "drop")).value_or(false);
      auto count = API_TRY(OptInt(body, "count")).value_or(1);
      auto path = API_TRY(OptString(body, "path")).value_or("");
      if (delay < 0 || delay > 60000) return BadRequest("Invalid parameter delay_ms");
      if (status != 0 && (status < 400 || status > 599)) return BadRequest("Invalid parameter status");
      if (count < -1 || count > 1000000) return BadRequest("Invalid parameter count");
      std::lock_guard lock(faults->mutex);
      bool armed = delay || status || drop;
      faults->delay_ms = static_cast<int>(delay);
      faults->status = static_cast<int>(status);
      faults->drop = drop;
      faults->count = armed ? static_cast<int>(count) : 0;
      faults->path = path;
      return std::nullopt;
    });
  });
  s.Post("/test/clock", [&ctx](const httplib::Request& req, httplib::Response& res) {
    Respond(res, [&]() -> ApiResult<std::optional<json>> {
      json body = API_TRY(ParseBody(req));
      auto offset = API_TRY(OptInt(body, "offset_seconds"));
      if (!offset || *offset < -(100ll * 365 * 86400) || *offset > 100ll * 365 * 86400)
        return BadRequest("Missing (or invalid type) integer parameter offset_seconds");
      ctx.clock.SetOffset(*offset);
      return std::nullopt;
    });
  });
}

}  // namespace vtoken::service
