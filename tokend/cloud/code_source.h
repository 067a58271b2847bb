#pragma once
// Where the TOTP code that authorizes a cloud signature comes from, when the
// application did not give one (C_Login): a pinentry prompt shown by the
// agent (the Assuan protocol GnuPG's pinentry programs speak), or a
// configured command that prints the code (automation; it weakens
// two-factor authorization, since whoever can run the command can sign).
// Both run as child processes with a deadline; a cancelled or timed-out
// prompt is CKR_FUNCTION_CANCELED.
#include <chrono>
#include <string>

#include "common/error.h"
#include "common/secure.h"

namespace vtoken::agent::cloud {

struct PromptText {
  std::string title;        // SETTITLE
  std::string description;  // SETDESC: application, certificate, what is signed
  std::string prompt;       // SETPROMPT
  std::string error;        // SETERROR (empty: none)
};

// Runs `program` (a pinentry) and asks for one code. CANCEL or a closed
// window: CKR_FUNCTION_CANCELED; no answer within `timeout`: the child is
// killed, CKR_FUNCTION_CANCELED; a program that cannot run: CKR_DEVICE_ERROR.
Result<Secret> AskPinentry(const std::string& program, const PromptText& text, std::chrono::seconds timeout);

// Runs `command` with /bin/sh -c and takes the first line of its output
// (surrounding blanks dropped) as the code. Fails (CKR_FUNCTION_FAILED with
// the exit status) on a non-zero exit, no output, or no result in `timeout`;
// the messages name the command by `setting` (a config key or CLI option).
Result<Secret> RunCodeCommand(const std::string& command, std::chrono::seconds timeout,
                              const std::string& setting = "cloud.otp_command");

// Assuan percent-escaping of a parameter (%, CR, LF and control characters).
std::string AssuanEscape(const std::string& text);

}  // namespace vtoken::agent::cloud
