// vtokend: the per-user agent. Started by a systemd user socket unit, by the
// PKCS#11 module on demand (exec'd with no arguments), or by the vtoken CLI.
#include <p11-kit/pkcs11.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "common/config.h"
#include "common/paths.h"
#include "tokend/dispatcher.h"
#include "tokend/listener.h"
#include "tokend/log.h"
#include "tokend/registry.h"
#include "tokend/server.h"
#include "tokend/tcp_listener.h"

using namespace vtoken;
using namespace vtoken::agent;

int main(int argc, char** argv) {
  CLI::App app{"vtokend: the vtoken per-user agent (emulated tokens, cloud tokens, PINs)"};
  bool foreground = true;
  std::string socket_option, config_option, tcp_option;
  app.add_flag("--foreground,-f", foreground, "run in the foreground (the default; the agent never daemonizes itself)");
  app.add_option("--socket", socket_option, "listen here instead of agent.socket or $XDG_RUNTIME_DIR/vtoken/agent.sock");
  app.add_option("--config", config_option, "configuration file (default $VTOKEN_CONFIG or ~/.config/vtoken/vtoken.conf)");
  app.add_option("--tcp-listen", tcp_option,
                 "also listen on loopback TCP (PORT, 127.0.0.1:PORT; 0 = any) for Wine clients; the port and a "
                 "secret go to $XDG_RUNTIME_DIR/vtoken/agent-tcp.txt");
  app.set_version_flag("--version", "vtokend " VTOKEN_VERSION_STRING);
  app.footer(
      "Logs go to stderr (level: agent.log_level); set VTOKEN_AGENT_LOG=FILE to also append them to FILE.\n"
      "Another vtokend already serving the socket makes this one exit 0 at once.\n"
      "Stop it with SIGTERM or `vtoken agent stop`.");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  auto config = config_option.empty() ? Config::LoadDefault() : Config::Load(config_option);
  if (!config) {
    std::fprintf(stderr, "vtokend: configuration error: %s\n", config.error().message.c_str());
    return 2;
  }
  SetLogLevel(ParseLogLevel(config->GetString("agent.log_level")));
  if (const char* file = std::getenv("VTOKEN_AGENT_LOG"); file && *file) SetLogFile(file);

  std::filesystem::path socket_path = socket_option;
  if (socket_path.empty()) socket_path = config->GetString("agent.socket");
  if (socket_path.empty()) socket_path = paths::AgentSocket();

  // Signals are taken with signalfd by the server: block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  auto listener = OpenListener(socket_path);
  if (!listener) {
    LogError(listener.error().message);
    return 1;
  }
  if (listener->another_agent_runs) return 0;  // quietly: modules start us whenever they find no agent

  // Listening already (clients queue in the backlog); now load the tokens.
  TokenPolicy policy;
  policy.pin_retries = static_cast<int>(config->GetInt("token.pin_retries"));
  policy.puk_retries = static_cast<int>(config->GetInt("token.puk_retries"));
  policy.pin_min = static_cast<std::size_t>(config->GetInt("token.pin_min_length"));
  policy.pin_max = static_cast<std::size_t>(config->GetInt("token.pin_max_length"));
  policy.pin_digits_only = config->GetBool("token.pin_digits_only");
  policy.kdf = config->GetString("token.kdf");
  if (policy.pin_min > policy.pin_max) {
    std::fprintf(stderr, "vtokend: configuration error: token.pin_min_length is above token.pin_max_length\n");
    return 2;
  }
  auto registry = Registry::Open(paths::DataDir(), policy);
  if (!registry) {
    LogError("cannot load the tokens: " + Describe(registry.error()));
    if (listener->unlink_on_exit) ::unlink(socket_path.c_str());
    return 1;
  }

  // --tcp-listen wins over the config file's agent.tcp_listen.
  if (tcp_option.empty()) tcp_option = config->GetString("agent.tcp_listen");
  std::unique_ptr<TcpListener> tcp;
  if (!tcp_option.empty()) {
    auto port = ParseTcpListen(tcp_option);
    if (!port) {
      std::fprintf(stderr, "vtokend: %s\n", port.error().message.c_str());
      return 2;
    }
    if (*port) {
      TcpListenerOptions tcp_options;
      tcp_options.port = **port;
      auto opened = TcpListener::Open(tcp_options);
      if (!opened) {
        LogError("cannot listen on loopback TCP: " + Describe(opened.error()));
        return 1;
      }
      tcp = std::move(*opened);
      LogInfo("also listening on 127.0.0.1:" + std::to_string(tcp->port()) + " (endpoint " +
              tcp->endpoint_file().string() + ")");
    }
  }

  ServerOptions options;
  options.idle_exit_seconds = config->GetInt("agent.idle_exit_seconds");
  Server server(std::move(*listener), options, std::move(tcp));
  DispatcherOptions dispatcher_options;
  dispatcher_options.on_shutdown = [&server] { server.RequestStop(); };
  dispatcher_options.cloud = cloud::SettingsFromConfig(*config);
  Dispatcher dispatcher(**registry, server, dispatcher_options);
  LogInfo("vtokend " VTOKEN_VERSION_STRING " listening on " + socket_path.string() + " with " +
          std::to_string((*registry)->Tokens().size()) + " token(s)");
  server.Run(dispatcher);
  LogInfo("stopped");
  return 0;
}
