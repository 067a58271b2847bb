// serve: run the HTTPS CSC API.
#include <sys/prctl.h>

#include <csignal>
#include <iostream>

#include "cli/cli.h"
#include "http_server.h"

namespace vtoken::service::cli {
namespace {

struct ServeCli {
  std::string listen = "127.0.0.1:8443";
  std::string port_file;
  bool test_mode = false;
  bool allow_remote = false;
  std::string tls_cert, tls_key;
  int exit_after_idle = 0;
  bool exit_with_parent = false;
  int token_ttl = 3600;
  int sad_ttl = 300;
  int threads = 16;
};

int Serve(Globals& g, const ServeCli& o) {
  if (o.exit_with_parent) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() == 1) return Error("parent already gone");
  }
  auto colon = o.listen.rfind(':');
  if (colon == std::string::npos) return Error("--listen wants HOST:PORT", kUsage);
  std::string host = o.listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = 0;
  try {
    port = std::stoi(o.listen.substr(colon + 1));
  } catch (...) {
    return Error("bad port in --listen " + o.listen, kUsage);
  }
  if (port < 0 || port > 65535) return Error("bad port in --listen " + o.listen, kUsage);
  if (!IsLoopbackHost(host) && !o.allow_remote)
    return Error("refusing to listen on non-loopback " + host + " without --allow-remote", kUsage);
  if (o.tls_cert.empty() != o.tls_key.empty()) return Error("--tls-cert and --tls-key go together", kUsage);

  auto dir = OpenDataDir(g);
  if (!dir) return kFailure;
  auto store = dir->OpenStore();
  auto ca = dir->OpenCa();
  if (!ca) return Error(ca.error().message);
  auto hsm = dir->OpenHsm(g.hsm);
  if (!hsm) return Error("HSM: " + hsm.error().message);
  Clock clock;
  ServiceConfig cfg{o.token_ttl, 30 * 86400, o.sad_ttl, o.test_mode};
  Context ctx{*store, **hsm, *ca, dir->master_key(), clock, cfg};
  ServeOptions so;
  so.host = host;
  so.port = port;
  so.cert_file = o.tls_cert.empty() ? (dir->root() / "server.pem").string() : o.tls_cert;
  so.key_file = o.tls_key.empty() ? (dir->root() / "server-key.pem").string() : o.tls_key;
  so.port_file = o.port_file;
  so.test_mode = o.test_mode;
  so.exit_after_idle = o.exit_after_idle;
  so.threads = o.threads;
  if (o.test_mode) std::cerr << "TEST MODE: /test/fault and /test/clock are enabled\n";
  return RunServer(ctx, so);
}

}  // namespace

void AddServe(CLI::App& app, Globals& g) {
  auto* serve = app.add_subcommand("serve", "Run the HTTPS CSC API v2 service");
  auto o = std::make_shared<ServeCli>();
  serve->add_option("--listen", o->listen, "HOST:PORT; port 0 picks a free port");
  serve->add_option("--port-file", o->port_file, "Write the bound port to this file");
  serve->add_flag("--test-mode", o->test_mode, "Enable /test/fault and /test/clock (never in production)");
  serve->add_flag("--allow-remote", o->allow_remote, "Allow a non-loopback listen address");
  serve->add_option("--tls-cert", o->tls_cert, "Server certificate chain (PEM); default: the development CA's");
  serve->add_option("--tls-key", o->tls_key, "Server private key (PEM)");
  serve->add_option("--exit-after-idle", o->exit_after_idle, "Exit after this many seconds without requests")
      ->check(CLI::Range(0, 86400 * 365));
  serve->add_flag("--exit-with-parent", o->exit_with_parent, "Exit when the parent process dies (tests)");
  serve->add_option("--token-ttl", o->token_ttl, "Access token lifetime in seconds")->check(CLI::Range(10, 86400));
  serve->add_option("--sad-ttl", o->sad_ttl, "SAD lifetime in seconds")->check(CLI::Range(5, 3600));
  serve->add_option("--threads", o->threads, "Worker threads")->check(CLI::Range(1, 256));
  serve->callback([&g, o] { g.rc = Serve(g, *o); });
}

}  // namespace vtoken::service::cli
