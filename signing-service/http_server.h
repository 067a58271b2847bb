#pragma once
// The HTTPS server: httplib's SSLServer with a thread pool, body/header
// caps, CSC-shaped errors for everything httplib answers itself, the test
// fault switch, and clean shutdown on SIGTERM/SIGINT or after idling.
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
};

bool IsLoopbackHost(const std::string& host);

// Blocks until stopped. Returns a process exit code.
int RunServer(Context& ctx, const ServeOptions& opts);

}  // namespace vtoken::service
