// vtoken login, vtoken logout, and the cloud part of vtoken status.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <p11-kit/pkcs11.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

#include "remote-client/oauth.h"
#include "tokend/cli/call.h"
#include "tokend/cli/cli_cloud.h"
#include "tokend/cli/prompt.h"
#include "tokend/cloud/code_source.h"
#include "tokend/unique_fd.h"

extern char** environ;

namespace vtoken::agent::cli {
namespace {

using wire::Json;
using Clock = std::chrono::steady_clock;

void OpenBrowser(const std::string& browser, const std::string& url) {
  const std::string program = browser.empty() ? "xdg-open" : browser;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  const std::string script = program + " \"$1\"";
  const char* argv[] = {"/bin/sh", "-c", script.c_str(), "vtoken-browser", url.c_str(), nullptr};
  pid_t pid = -1;
  if (::posix_spawn(&pid, "/bin/sh", &fa, nullptr, const_cast<char**>(argv), environ) != 0)
    std::fprintf(stderr, "vtoken: could not start %s; open the address above yourself\n", program.c_str());
  posix_spawn_file_actions_destroy(&fa);
  // The browser command may stay (a new browser window): not waited for.
}

void Respond(int fd, const char* status, const std::string& text) {
  const std::string body = "<!doctype html><meta charset=utf-8><title>vtoken</title><p>" + text + "</p>\n";
  const std::string reply = std::string("HTTP/1.1 ") + status + "\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: " +
                            std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  [[maybe_unused]] auto w = ::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
}

// The OAuth2 authorization code flow with PKCE (RFC 8252): the service's
// login page in the browser, the code back on a loopback redirect.
Result<Json> BrowserLogin(Context& ctx, const std::string& service, const LoginOptions& options) {
  UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (!listener || ::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener.get(), 8) != 0 || ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    return Fail(CKR_FUNCTION_FAILED, "cannot listen on a loopback port for the login redirect");
  const std::string redirect_uri = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/callback";
  auto pkce = VT_TRY(csc::MakePkce());
  csc::AuthorizeUrlParams params;
  params.oauth_base = service;
  params.client_id = "vtoken";
  params.redirect_uri = redirect_uri;
  const std::string url = csc::BuildAuthorizeUrl(params, pkce);
  std::printf("Log in to %s in your browser:\n  %s\n", service.c_str(), url.c_str());
  std::fflush(stdout);
  OpenBrowser(ctx.config.GetString("cloud.browser"), url);

  const auto deadline = Clock::now() + std::chrono::seconds(options.timeout_seconds);
  while (Clock::now() < deadline) {
    pollfd p{listener.get(), POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (::poll(&p, 1, static_cast<int>(std::max<long long>(left, 1))) <= 0) continue;
    UniqueFd conn(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn) continue;
    timeval tv{5, 0};
    ::setsockopt(conn.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    SecureString request;
    char buf[2048];
    while (request.find("\r\n") == SecureString::npos && request.size() < 16384) {
      const ssize_t n = ::recv(conn.get(), buf, sizeof buf, 0);
      if (n <= 0) break;
      request.append(buf, static_cast<std::size_t>(n));
    }
    WipeMemory(buf, sizeof buf);
    // "GET /callback?code=...&state=... HTTP/1.1"
    const auto line_end = request.find("\r\n");
    std::string_view line(request.data(), line_end == SecureString::npos ? request.size() : line_end);
    if (!line.starts_with("GET /callback")) {
      Respond(conn.get(), "404 Not Found", "Not here.");
      continue;
    }
    auto q = line.find('?');
    auto sp = line.rfind(' ');
    std::string_view query = q == std::string_view::npos || sp <= q ? std::string_view() : line.substr(q + 1, sp - q - 1);
    auto code = csc::CodeFromRedirect(query, pkce.state);
    WipeMemory(request.data(), request.size());
    if (!code) {
      Respond(conn.get(), "400 Bad Request", "The login did not succeed: " + code.error().message + ". You may close this window.");
      return std::unexpected(code.error());
    }
    Respond(conn.get(), "200 OK", "vtoken is logged in. You may close this window.");
    int exit_code = kExitOk;
    Json req{{"op", "cloud_login"}, {"service", service}, {"code", wire::Binary(*code)},
             {"verifier", wire::Binary(pkce.verifier)}, {"redirect_uri", redirect_uri}};
    if (!options.email.empty()) req["email"] = options.email;
    auto reply = Call(ctx, std::move(req), exit_code);
    if (!reply) return Fail(CKR_FUNCTION_FAILED, "");  // already printed
    return reply;
  }
  return Fail(CKR_FUNCTION_CANCELED, "no login arrived from the browser within " + std::to_string(options.timeout_seconds) + " s");
}

Result<Json> PasswordLogin(Context& ctx, const std::string& service, const LoginOptions& options) {
  std::string email = options.email;
  if (email.empty()) {
    auto typed = PromptLine("Email: ");
    if (!typed || typed->empty()) return Fail(CKR_ARGUMENTS_BAD, "no email address: use --email");
    email = *typed;
  }
  std::optional<Secret> password = options.password_stdin ? ReadSecretLine() : PromptSecret("Password for " + email + ": ");
  if (!password || password->empty())
    return Fail(CKR_ARGUMENTS_BAD, options.password_stdin ? "--password-stdin: no password on stdin" : "no password was entered");
  std::optional<Secret> otp;
  if (!options.otp.empty()) otp = Secret(options.otp);
  else if (!options.otp_command.empty()) {
    // The agent's own runner: a deadline, and the output wiped after use.
    otp = VT_TRY(cloud::RunCodeCommand(options.otp_command, std::chrono::seconds(60), "--otp-command"));
  } else {
    otp = PromptSecret("Authenticator code: ");
  }
  if (!otp || otp->empty()) return Fail(CKR_ARGUMENTS_BAD, "no authenticator code: use --otp or --otp-command");
  int exit_code = kExitOk;
  auto reply = Call(ctx, Json{{"op", "cloud_login"}, {"service", service}, {"email", email},
                              {"password", wire::Binary(*password)}, {"otp", wire::Binary(*otp)}},
                    exit_code);
  if (!reply) return Fail(CKR_FUNCTION_FAILED, "");  // already printed
  return reply;
}

std::string Date(std::int64_t unix_seconds) {
  if (unix_seconds <= 0) return "?";
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

}  // namespace

int Login(Context& ctx, const LoginOptions& options) {
  std::string service = options.service.empty() ? ctx.config.GetString("cloud.service_url") : options.service;
  while (service.ends_with('/')) service.pop_back();
  if (!service.starts_with("https://")) return Complain("the service URL must start with https://", kExitUsage);
  auto reply = options.no_browser ? PasswordLogin(ctx, service, options) : BrowserLogin(ctx, service, options);
  if (!reply) {
    if (reply.error().message.empty()) return kExitFailed;  // the agent's error was printed
    return Complain(reply.error().message, kExitFailed);
  }
  std::printf("Logged in to %s as %s: cloud token in slot %llu with %llu key(s).\n", service.c_str(),
              reply->value("account", "").c_str(), static_cast<unsigned long long>(reply->value("slot_id", 0ULL)),
              static_cast<unsigned long long>(reply->value("keys", 0ULL)));
  return kExitOk;
}

int Logout(Context& ctx, const std::string& account) {
  int code = kExitOk;
  Json req{{"op", "cloud_logout"}};
  if (!account.empty()) req["account"] = account;
  auto reply = Call(ctx, std::move(req), code, /*autostart=*/false);
  if (!reply) return code;
  const Json gone = reply->value("logged_out", Json::array());
  if (gone.empty()) {
    std::printf(account.empty() ? "No cloud account was logged in.\n" : "Account %s was not logged in.\n", account.c_str());
    return kExitOk;
  }
  for (const auto& g : gone)
    std::printf("Logged out %s (%s)%s.\n", g.value("account", "").c_str(), g.value("service", "").c_str(),
                g.value("revoked", false) ? "" : "; the service could not be told, the session was dropped here");
  return kExitOk;
}

void PrintCloudStatus(Context& ctx) {
  int code = kExitOk;
  auto reply = Call(ctx, Json{{"op", "cloud_status"}}, code, /*autostart=*/false);
  if (!reply) return;
  const Json accounts = reply->value("accounts", Json::array());
  std::printf("cloud:        %s (codes by %s, SCAL1 window %lld s)\n", reply->value("service_url", "").c_str(),
              reply->value("authorization", "").c_str(), static_cast<long long>(reply->value("scal1_window_seconds", 0LL)));
  if (accounts.empty()) std::printf("  not logged in (vtoken login)\n");
  for (const auto& a : accounts) {
    const bool present = a.value("present", false);
    std::printf("  slot %llu  %s at %s: %s\n", static_cast<unsigned long long>(a.value("slot_id", 0ULL)),
                a.value("account", "").c_str(), a.value("service", "").c_str(), present ? "logged in" : "logged out");
    if (!present) continue;
    const long long expires = a.value("session_expires_in", -1LL);
    if (expires >= 0)
      std::printf("    session: access token for %lld s more%s\n", expires,
                  a.value("refreshable", false) ? ", renewed automatically" : "");
    for (const auto& c : a.value("credentials", Json::array())) {
      const long long days = c.value("days_left", 0LL);
      std::printf("    certificate %s  (%s, SCAL%d, up to %u per code)\n", c.value("label", "").c_str(),
                  c.value("key", "").c_str(), c.value("scal", 1), c.value("multisign", 1u));
      std::printf("      credential: %s\n", c.value("credential_id", "").c_str());
      std::printf("      subject:    %s\n", c.value("subject", "").c_str());
      std::printf("      issuer:     %s\n", c.value("issuer", "").c_str());
      const std::string cert_status = c.value("cert_status", std::string("valid"));
      std::string state;
      if (cert_status == "expired" || (cert_status == "valid" && c.value("valid_to", 0LL) > 0 && days < 0))
        state = "EXPIRED: it cannot sign; ask the signing service for a new certificate";
      else if (cert_status != "valid")
        state = cert_status + ": it cannot sign";
      else
        state = std::to_string(days) + " days left" +
                (c.value("expiry_warning", false) ? "  WARNING: expires within 45 days, renew it soon" : "");
      std::printf("      valid:      %s to %s, %s\n", Date(c.value("valid_from", 0LL)).c_str(),
                  Date(c.value("valid_to", 0LL)).c_str(), state.c_str());
      const long long left = c.value("signatures_left", -1LL);
      if (left >= 0) std::printf("      signatures: %lld left%s\n", left, left == 0 ? " (quota used up)" : "");
      std::printf("      authorization: %s\n", c.value("authorization", "").c_str());
    }
  }
}

}  // namespace vtoken::agent::cli
