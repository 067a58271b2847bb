#pragma once
// vtoken login / logout and the cloud part of vtoken status. The agent holds
// the session: the CLI only collects the credentials (or the OAuth2
// authorization code) and hands them over the socket (cloud_login).
#include <string>

#include "tokend/cli/cli.h"

namespace vtoken::agent::cli {

struct LoginOptions {
  std::string service;      // empty: cloud.service_url
  std::string email;
  bool no_browser = false;  // auth/login with password + code instead of OAuth2 in a browser
  bool password_stdin = false;
  std::string otp;          // the code; or:
  std::string otp_command;  // a command printing it
  int timeout_seconds = 300;  // browser flow: how long to wait for the redirect
};

int Login(Context& ctx, const LoginOptions& options);
int Logout(Context& ctx, const std::string& account);
// Prints the cloud accounts and their certificates (part of vtoken status).
void PrintCloudStatus(Context& ctx);

}  // namespace vtoken::agent::cli
