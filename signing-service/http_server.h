#pragma once
// The HTTPS server: httplib's SSLServer with a thread pool, body/header
// caps, CSC-shaped errors for everything httplib answers itself, the test
// fault switch, and clean shutdown on SIGTERM/SIGINT or after idling.
#include <atomic>
#include <cstdint>
#include <string>

#include "http_util.h"

namespace vtoken::service {

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 8443;
  std::string cert_file;
  std::string key_file;
  std::string port_file;
  bool test_mode = false;
  int exit_after_idle = 0;  // seconds; 0 = never
  int threads = 16;
  bool access_log = true;  // one line per request on stderr: method, path, status
};

bool IsLoopbackHost(const std::string& host);

// Everything `serve` sets on a server before it listens: caps and timeouts,
// CSC-shaped errors, the exception barrier, the access log, the routes (and
// the test routes in test mode). Each request stores the time in
// last_activity. The service fuzz target sets up its plain-HTTP server with it.
void ConfigureServer(httplib::Server& svr, Context& ctx, const ServeOptions& opts,
                     std::atomic<std::int64_t>& last_activity);

// Blocks until stopped. Returns a process exit code.
int RunServer(Context& ctx, const ServeOptions& opts);

}  // namespace vtoken::service
