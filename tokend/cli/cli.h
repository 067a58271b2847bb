#pragma once
// The vtoken command-line tool: each command is one function that talks to
// the agent and returns the exit code.
//   0 done, 1 the operation failed (wrong PIN, no such token, ...),
//   2 usage or configuration error, 3 the agent cannot be reached.
#include <optional>
#include <string>

#include "common/config.h"
#include "tokend/agent_client.h"

namespace vtoken::agent::cli {

enum ExitCode { kExitOk = 0, kExitFailed = 1, kExitUsage = 2, kExitUnreachable = 3 };

struct Context {
  Config config;
  AgentLaunch launch;
};

struct CreateOptions {
  std::string name, label;
  std::optional<std::string> pin, puk;
};

int TokenCreate(Context& ctx, const CreateOptions& options);
int TokenList(Context& ctx);
int TokenDelete(Context& ctx, const std::string& name, bool yes);
int TokenChangePin(Context& ctx, const std::string& name, bool pin_stdin);
int TokenUnblock(Context& ctx, const std::string& name, bool pin_stdin);
int TokenPlug(Context& ctx, const std::string& name, bool plug);
int Status(Context& ctx);

struct RegisterOptions {
  std::string module;  // empty: the module beside this vtoken, else the installed one
};
// Registration needs no agent: p11-kit module file, ~/.pki/nssdb, Firefox profiles.
int Register(const RegisterOptions& options);
int Unregister();
int AgentStop(Context& ctx);

}  // namespace vtoken::agent::cli
