#pragma once
// Shell commands for tests, benchmarks and fuzz targets (the service's CLI,
// oathtool): quoting, and a command's output and exit status.
#include <sys/wait.h>

#include <cstdio>
#include <stdexcept>
#include <string>

namespace vtoken::test {

// One shell word, in single quotes: safe for every byte but NUL.
inline std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct CommandOutput {
  int rc = -1;  // the exit status; -1 when a signal ended the command
  std::string out;
};

// Runs `cmd` with /bin/sh, standard output captured. Throws only when the
// command cannot be started.
inline CommandOutput RunCommand(const std::string& cmd) {
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) throw std::runtime_error("cannot run: " + cmd);
  CommandOutput result;
  char buf[4096];
  while (const std::size_t n = std::fread(buf, 1, sizeof buf, p)) result.out.append(buf, n);
  const int status = pclose(p);
  result.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// The TOTP code oathtool computes for a base32 secret at a Unix time.
inline std::string OathtoolCode(const std::string& secret, long long at) {
  CommandOutput r = RunCommand("oathtool --totp -b " + ShellQuote(secret) + " --now " + ShellQuote("@" + std::to_string(at)));
  while (!r.out.empty() && (r.out.back() == '\n' || r.out.back() == '\r')) r.out.pop_back();
  if (r.rc != 0 || r.out.size() != 6) throw std::runtime_error("oathtool failed: " + r.out);
  return r.out;
}

}  // namespace vtoken::test
