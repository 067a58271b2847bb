// The vtoken commands.
#include <p11-kit/pkcs11.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>

#include <cstdio>
#include <string>
#include <vector>

#include "tokend/cli/cli.h"
#include "tokend/cli/call.h"
#include "tokend/cli/cli_cloud.h"
#include "tokend/cli/prompt.h"

namespace vtoken::agent::cli {
namespace {

using wire::Json;

Json SecretJson(const Secret& s) { return wire::Binary(s); }

// Two secrets: from stdin (one per line) or from the terminal, the second
// typed twice when it is a new PIN.
Result<std::pair<Secret, Secret>> TwoSecrets(bool from_stdin, const std::string& first_prompt) {
  if (from_stdin) {
    auto a = ReadSecretLine();
    auto b = a ? ReadSecretLine() : std::nullopt;
    if (!a || !b) return Fail(CKR_ARGUMENTS_BAD, "--pin-stdin needs two lines on stdin");
    return std::pair{std::move(*a), std::move(*b)};
  }
  auto a = PromptSecret(first_prompt);
  if (!a) return Fail(CKR_ARGUMENTS_BAD, "no terminal to ask for the PIN: use --pin-stdin");
  auto b = PromptSecret("New PIN: ");
  auto again = b ? PromptSecret("New PIN again: ") : std::nullopt;
  if (!b || !again) return Fail(CKR_ARGUMENTS_BAD, "no PIN was entered");
  if (!(*b == *again)) return Fail(CKR_ARGUMENTS_BAD, "the two new PINs differ; nothing was changed");
  return std::pair{std::move(*a), std::move(*b)};
}

std::string PinState(unsigned long flags) {
  if (flags & CKF_SO_PIN_LOCKED) return "blocked (PUK locked)";
  if (flags & CKF_USER_PIN_LOCKED) return "locked";
  if (!(flags & CKF_USER_PIN_INITIALIZED)) return "not set";
  if (flags & CKF_USER_PIN_FINAL_TRY) return "final try";
  if (flags & CKF_USER_PIN_COUNT_LOW) return "count low";
  if (flags & CKF_USER_PIN_TO_BE_CHANGED) return "to be changed";
  return "ok";
}

void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width;
  for (const auto& row : rows)
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], row[i].size());
    }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    std::printf("%s\n", line.c_str());
  }
}

}  // namespace

int Complain(const std::string& message, int code) {
  std::fprintf(stderr, "vtoken: %s\n", message.c_str());
  return code;
}

int Failed(const Error& e, const AgentClient* client) {
  const bool unreachable = client ? client->unreachable() : e.rv == CKR_DEVICE_ERROR;
  return Complain(e.message, unreachable ? kExitUnreachable : kExitFailed);
}

// Runs one request on a fresh connection (starting the agent when allowed).
Result<Json> Call(Context& ctx, Json request, int& code, bool autostart) {
  AgentLaunch launch = ctx.launch;
  launch.autostart = autostart && ctx.config.GetBool("agent.autostart");
  auto client = AgentClient::ConnectOrStart(launch, "vtoken");
  if (!client) {
    code = Failed(client.error(), nullptr);
    return std::unexpected(client.error());
  }
  auto reply = client->Call(std::move(request));
  if (!reply) code = Failed(reply.error(), &*client);
  return reply;
}

int TokenCreate(Context& ctx, const CreateOptions& options) {
  Json request{{"op", "token_create"}, {"name", options.name}};
  if (!options.label.empty()) request["label"] = options.label;
  if (options.pin) request["pin"] = SecretJson(Secret(*options.pin));
  if (options.puk) request["puk"] = SecretJson(Secret(*options.puk));
  int code = kExitOk;
  auto reply = Call(ctx, std::move(request), code);
  if (!reply) return code;
  wire::WipeSecretsOnExit wipe(*reply);
  std::printf("Token '%s' created in slot %llu.\n", options.name.c_str(),
              static_cast<unsigned long long>(reply->value("slot_id", 0ULL)));
  // Printed from the reply itself: value() would leave unwiped copies.
  const Json* pin = wire::Find(*reply, "pin");
  const Json* puk = wire::Find(*reply, "puk");
  if (!options.pin && pin && pin->is_string()) std::printf("  PIN: %s\n", pin->get_ref<const std::string&>().c_str());
  if (!options.puk && puk && puk->is_string()) std::printf("  PUK: %s\n", puk->get_ref<const std::string&>().c_str());
  if (!options.pin || !options.puk)
    std::printf("Write these down now: they are not shown again. The PUK unblocks a locked PIN.\n");
  std::printf("Change the initial PIN with: vtoken token change-pin %s\n", options.name.c_str());
  return kExitOk;
}

int TokenList(Context& ctx) {
  int code = kExitOk;
  auto reply = Call(ctx, Json{{"op", "token_list"}}, code);
  if (!reply) return code;
  const Json& tokens = (*reply)["tokens"];
  if (!tokens.is_array() || tokens.empty()) {
    std::printf("No tokens. Create one with: vtoken token create NAME\n");
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows{{"NAME", "SLOT", "LABEL", "SERIAL", "PLUGGED", "PIN", "KEYS"}};
  for (const auto& t : tokens) {
    const unsigned long flags = t.value("flags", 0UL);
    std::string pin = PinState(flags);
    if (pin == "count low" || pin == "final try") pin += " (" + std::to_string(t.value("pin_tries_left", 0)) + " left)";
    rows.push_back({t.value("name", ""), std::to_string(t.value("slot_id", 0ULL)), t.value("label", ""),
                    t.value("serial", ""), t.value("plugged", false) ? "yes" : "no", pin,
                    std::to_string(t.value("key_count", 0ULL))});
  }
  PrintTable(rows);
  return kExitOk;
}

int TokenDelete(Context& ctx, const std::string& name, bool yes) {
  if (!yes) {
    auto answer = PromptLine("Delete token '" + name + "' and every key on it, for good? Type its name to confirm: ");
    if (!answer) return Complain("refusing to delete token '" + name + "' without --yes (no terminal to ask)", kExitUsage);
    if (*answer != name) return Complain("not confirmed; token '" + name + "' was kept", kExitFailed);
  }
  int code = kExitOk;
  if (!Call(ctx, Json{{"op", "token_delete"}, {"name", name}}, code)) return code;
  std::printf("Token '%s' deleted.\n", name.c_str());
  return kExitOk;
}

int TokenChangePin(Context& ctx, const std::string& name, bool pin_stdin) {
  auto secrets = TwoSecrets(pin_stdin, "Current PIN of token '" + name + "': ");
  if (!secrets) return Complain(secrets.error().message, kExitUsage);
  int code = kExitOk;
  Json request{{"op", "token_change_pin"}, {"name", name}, {"old_pin", SecretJson(secrets->first)},
               {"new_pin", SecretJson(secrets->second)}};
  if (!Call(ctx, std::move(request), code)) return code;
  std::printf("PIN of token '%s' changed.\n", name.c_str());
  return kExitOk;
}

int TokenUnblock(Context& ctx, const std::string& name, bool pin_stdin) {
  auto secrets = TwoSecrets(pin_stdin, "PUK of token '" + name + "': ");
  if (!secrets) return Complain(secrets.error().message, kExitUsage);
  int code = kExitOk;
  Json request{{"op", "token_unblock"}, {"name", name}, {"puk", SecretJson(secrets->first)},
               {"new_pin", SecretJson(secrets->second)}};
  if (!Call(ctx, std::move(request), code)) return code;
  std::printf("PIN of token '%s' reset; it can log in again.\n", name.c_str());
  return kExitOk;
}

int TokenPlug(Context& ctx, const std::string& name, bool plug) {
  int code = kExitOk;
  auto reply = Call(ctx, Json{{"op", plug ? "token_plug" : "token_unplug"}, {"name", name}}, code);
  if (!reply) return code;
  const bool changed = reply->value("changed", true);
  std::printf("Token '%s' %s%s.\n", name.c_str(), changed ? "" : "was already ", plug ? "plugged in" : "unplugged");
  return kExitOk;
}

int Status(Context& ctx) {
  int code = kExitOk;
  auto reply = Call(ctx, Json{{"op", "status"}}, code);
  if (!reply) return code;
  std::printf("agent:        %s (pid %llu)\n", reply->value("agent", "").c_str(),
              static_cast<unsigned long long>(reply->value("pid", 0ULL)));
  std::printf("socket:       %s\n", ctx.launch.socket.c_str());
  std::printf("uptime:       %llu s\n", static_cast<unsigned long long>(reply->value("uptime_s", 0ULL)));
  std::printf("connections:  %llu (this one included)\n", static_cast<unsigned long long>(reply->value("connections", 0ULL)));
  std::printf("slots:\n");
  for (const auto& s : (*reply)["slots"]) {
    const std::string kind = s.value("kind", "");
    if (kind == "free") {
      std::printf("  %4llu  (free slot: C_InitToken creates a token here)\n",
                  static_cast<unsigned long long>(s.value("slot_id", 0ULL)));
      continue;
    }
    const Json token = s.value("token", Json::object());
    std::printf("  %4llu  %-16s %-9s %-10s label '%s', PIN %s\n", static_cast<unsigned long long>(s.value("slot_id", 0ULL)),
                s.value("name", "").c_str(), kind.c_str(), s.value("present", false) ? "present" : "unplugged",
                token.value("label", "").c_str(), PinState(token.value("flags", 0UL)).c_str());
  }
  PrintCloudStatus(ctx);
  return kExitOk;
}

int AgentStop(Context& ctx) {
  auto client = AgentClient::Connect(ctx.launch.socket, "vtoken");
  if (!client) {
    if (client.error().rv == CKR_DEVICE_ERROR) {
      std::printf("No agent is running.\n");
      return kExitOk;
    }
    return Failed(client.error(), nullptr);
  }
  const int fd = client->fd();
  auto status = client->Call(Json{{"op", "status"}});
  if (!status) return Failed(status.error(), &*client);
  const auto pid = static_cast<pid_t>(status->value("pid", 0ULL));
  auto reply = client->Call(Json{{"op", "shutdown"}});
  if (!reply) return Failed(reply.error(), &*client);
  // Wait (up to 5 s) until the agent has closed our connection: it is then gone.
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  char byte;
  while (::recv(fd, &byte, 1, 0) > 0) {
  }
  // And until the process is gone, so that a new agent can start at once.
  for (int i = 0; i < 500 && pid > 0 && ::kill(pid, 0) == 0; ++i) ::usleep(10000);
  std::printf("Agent stopped.\n");
  return kExitOk;
}

}  // namespace vtoken::agent::cli
