#pragma once
// Helpers shared by the vtoken commands (defined in cli_tokens.cpp).
#include <string>

#include "common/wire.h"
#include "tokend/cli/cli.h"

namespace vtoken::agent::cli {

// Prints "vtoken: message" on stderr and returns `code`.
int Complain(const std::string& message, int code);
// The exit code for a failed call (3 when the agent cannot be reached).
int Failed(const Error& e, const AgentClient* client);
// Runs one request on a fresh connection (starting the agent when allowed);
// on failure prints the error and sets `code`.
Result<wire::Json> Call(Context& ctx, wire::Json request, int& code, bool autostart = true);

}  // namespace vtoken::agent::cli
