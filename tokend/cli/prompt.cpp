#include "tokend/cli/prompt.h"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>

#include "tokend/unique_fd.h"

namespace vtoken::agent::cli {
namespace {

// Reads up to a newline from fd into a wiped buffer.
std::optional<Secret> ReadLineFrom(int fd) {
  SecureString line;
  line.reserve(256);
  char c;
  bool any = false;
  for (;;) {
    ssize_t r = ::read(fd, &c, 1);
    if (r <= 0) break;
    any = true;
    if (c == '\n') break;
    if (line.size() < 4096) line.push_back(c);
  }
  if (!any) return std::nullopt;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  Secret out(std::string_view(line.data(), line.size()));
  WipeMemory(line.data(), line.size());
  return out;
}

}  // namespace

std::optional<Secret> PromptSecret(const std::string& prompt) {
  UniqueFd tty(::open("/dev/tty", O_RDWR | O_CLOEXEC));
  if (!tty) return std::nullopt;
  [[maybe_unused]] auto w = ::write(tty.get(), prompt.data(), prompt.size());
  termios old{};
  const bool have_termios = ::tcgetattr(tty.get(), &old) == 0;
  if (have_termios) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;
    ::tcsetattr(tty.get(), TCSAFLUSH, &quiet);
  }
  auto secret = ReadLineFrom(tty.get());
  if (have_termios) ::tcsetattr(tty.get(), TCSAFLUSH, &old);
  return secret;
}

std::optional<Secret> ReadSecretLine() { return ReadLineFrom(STDIN_FILENO); }

std::optional<std::string> PromptLine(const std::string& prompt) {
  UniqueFd tty(::open("/dev/tty", O_RDWR | O_CLOEXEC));
  if (!tty) return std::nullopt;
  [[maybe_unused]] auto w = ::write(tty.get(), prompt.data(), prompt.size());
  auto line = ReadLineFrom(tty.get());
  if (!line) return std::nullopt;
  return std::string(line->view());
}

}  // namespace vtoken::agent::cli
