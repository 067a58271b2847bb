#pragma once
// Reading PINs for the vtoken CLI: from the terminal with echo off, or one
// per line from stdin (--pin-stdin, for scripts).
#include <optional>
#include <string>

#include "common/secure.h"

namespace vtoken::agent::cli {

// Prompts on /dev/tty with echo off; nullopt when there is no terminal.
std::optional<Secret> PromptSecret(const std::string& prompt);
// One line from stdin without its newline; nullopt at end of input.
std::optional<Secret> ReadSecretLine();
// A line of plain text from the terminal (confirmations); nullopt without one.
std::optional<std::string> PromptLine(const std::string& prompt);

}  // namespace vtoken::agent::cli
