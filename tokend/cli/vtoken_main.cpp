// vtoken: manage the emulated tokens held by the agent vtokend.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "common/paths.h"
#include "tokend/cli/cli.h"
#include "tokend/cli/cli_cloud.h"
#include "tokend/cli/cli_sign.h"

using namespace vtoken;
using namespace vtoken::agent;

int main(int argc, char** argv) {
  CLI::App app{"vtoken: manage the virtual tokens held by the agent vtokend"};
  app.require_subcommand(1);
  std::string socket_option, config_option;
  app.add_option("--socket", socket_option, "agent socket (default: agent.socket or $XDG_RUNTIME_DIR/vtoken/agent.sock)");
  app.add_option("--config", config_option, "configuration file (default: $VTOKEN_CONFIG or ~/.config/vtoken/vtoken.conf)");
  app.set_version_flag("--version", "vtoken " VTOKEN_VERSION_STRING);

  int code = cli::kExitOk;
  cli::Context ctx;
  auto with_context = [&](auto command) {
    return [&, command] {
      auto config = config_option.empty() ? Config::LoadDefault() : Config::Load(config_option);
      if (!config) {
        std::fprintf(stderr, "vtoken: configuration error: %s\n", config.error().message.c_str());
        code = cli::kExitUsage;
        return;
      }
      ctx.config = std::move(*config);
      ctx.launch.configured_program = ctx.config.GetString("agent.program");
      ctx.launch.socket = socket_option;
      if (!socket_option.empty()) ctx.launch.agent_args = {"--socket", std::filesystem::absolute(socket_option).string()};
      if (!socket_option.empty()) ctx.launch.socket = std::filesystem::absolute(socket_option);
      if (ctx.launch.socket.empty()) ctx.launch.socket = ctx.config.GetString("agent.socket");
      if (ctx.launch.socket.empty()) ctx.launch.socket = paths::AgentSocket();
      if (!config_option.empty()) {
        ctx.launch.agent_args.push_back("--config");
        ctx.launch.agent_args.push_back(std::filesystem::absolute(config_option).string());
      }
      code = command();
    };
  };

  auto* token = app.add_subcommand("token", "create, list, delete, plug and unplug emulated tokens; change and unblock PINs");
  token->require_subcommand(1);

  cli::CreateOptions create;
  std::string pin_value, puk_value;
  auto* c = token->add_subcommand("create", "create an emulated USB token (prints the initial PIN and PUK once)");
  c->add_option("name", create.name, "the token's name for vtoken commands (letters, digits, . _ -)")->required();
  c->add_option("--label", create.label, "the token label applications show (default: the name; at most 32 bytes)");
  auto* pin_opt = c->add_option("--pin", pin_value, "initial user PIN (default: 6 random digits)");
  auto* puk_opt = c->add_option("--puk", puk_value, "PUK, the SO PIN (default: 8 random digits)");
  c->callback(with_context([&] {
    if (*pin_opt) create.pin = pin_value;
    if (*puk_opt) create.puk = puk_value;
    return cli::TokenCreate(ctx, create);
  }));

  token->add_subcommand("list", "list the tokens: slot, label, serial, plugged, PIN state, keys")
      ->callback(with_context([&] { return cli::TokenList(ctx); }));

  std::string name;
  bool yes = false, pin_stdin = false;
  auto* d = token->add_subcommand("delete", "delete a token and every key on it, for good");
  d->add_option("name", name, "token name")->required();
  d->add_flag("--yes,-y", yes, "do not ask for confirmation");
  d->callback(with_context([&] { return cli::TokenDelete(ctx, name, yes); }));

  auto* cp = token->add_subcommand("change-pin", "change the user PIN (asks for the current and the new PIN)");
  cp->add_option("name", name, "token name")->required();
  cp->add_flag("--pin-stdin", pin_stdin, "read the current and the new PIN from stdin, one per line");
  cp->callback(with_context([&] { return cli::TokenChangePin(ctx, name, pin_stdin); }));

  auto* ub = token->add_subcommand("unblock", "set a new user PIN with the PUK (after the PIN locked)");
  ub->add_option("name", name, "token name")->required();
  ub->add_flag("--pin-stdin", pin_stdin, "read the PUK and the new PIN from stdin, one per line");
  ub->callback(with_context([&] { return cli::TokenUnblock(ctx, name, pin_stdin); }));

  auto* plug = token->add_subcommand("plug", "insert an unplugged token again");
  plug->add_option("name", name, "token name")->required();
  plug->callback(with_context([&] { return cli::TokenPlug(ctx, name, true); }));
  auto* unplug = token->add_subcommand("unplug", "pull the token out, as from a USB port: logins and sessions end");
  unplug->add_option("name", name, "token name")->required();
  unplug->callback(with_context([&] { return cli::TokenPlug(ctx, name, false); }));

  app.add_subcommand("status", "show the agent: pid, uptime, connections, slots")
      ->callback(with_context([&] { return cli::Status(ctx); }));

  cli::RegisterOptions reg;
  auto* r = app.add_subcommand("register",
                               "make the module visible to applications: p11-kit module file, ~/.pki/nssdb "
                               "(created if missing), Firefox profiles; prints what it changed");
  r->add_option("--module", reg.module, "the PKCS#11 module to register (default: the one beside vtoken, else the installed one)");
  r->callback([&] { code = cli::Register(reg); });
  app.add_subcommand("unregister", "remove the module from everywhere `vtoken register` put it")
      ->callback([&] { code = cli::Unregister(); });

  cli::LoginOptions login;
  auto* li = app.add_subcommand("login", "log the agent in to a CSC signing service: its credentials appear as a cloud token");
  li->add_option("--service", login.service, "service URL (default: cloud.service_url)");
  li->add_flag("--no-browser", login.no_browser, "log in with email, password and authenticator code instead of the browser");
  li->add_option("--email", login.email, "account email (asked for when needed)");
  li->add_flag("--password-stdin", login.password_stdin, "--no-browser: read the password from the first line of stdin");
  auto* otp_opt = li->add_option("--otp", login.otp, "--no-browser: the authenticator code");
  li->add_option("--otp-command", login.otp_command, "--no-browser: a command that prints the code")->excludes(otp_opt);
  li->add_option("--timeout", login.timeout_seconds, "browser login: seconds to wait for the redirect")->check(CLI::Range(5, 3600));
  li->callback(with_context([&] { return cli::Login(ctx, login); }));
  std::string logout_account;
  auto* lo = app.add_subcommand("logout", "revoke the cloud session and remove the cloud token (all accounts by default)");
  lo->add_option("account", logout_account, "only this account");
  lo->callback(with_context([&] { return cli::Logout(ctx, logout_account); }));

  cli::SignOptions sign;
  auto* sg = app.add_subcommand("sign", "sign files with the cloud token, one code for all: detached CAdES/CMS (FILE.p7s); "
                                        "only hashes leave this machine");
  sg->add_option("files", sign.files, "the files to sign")->required();
  sg->add_option("--key", sign.key, "the credential: its ID or label (needed when the account has several)");
  sg->add_option("--out", sign.out_dir, "write the .p7s files into this directory (default: beside each file)");
  sg->add_option("--hash", sign.hash, "sha256 (default), sha384 or sha512");
  sg->add_flag("--pss", sign.pss, "RSA keys: sign with RSASSA-PSS instead of PKCS#1 v1.5");
  sg->add_flag("!--no-progress", sign.progress, "no progress bar (it is shown only on a terminal anyway)");
  sg->callback(with_context([&] { return cli::Sign(ctx, sign); }));

  auto* agent = app.add_subcommand("agent", "control the agent process");
  agent->require_subcommand(1);
  agent->add_subcommand("stop", "stop the running agent (logins end)")
      ->callback(with_context([&] { return cli::AgentStop(ctx); }));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int r = app.exit(e);
    return r == 0 ? cli::kExitOk : cli::kExitUsage;
  }
  return code;
}
