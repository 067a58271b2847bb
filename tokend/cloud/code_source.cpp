#include "tokend/cloud/code_source.h"

#include <fcntl.h>
#include <p11-kit/pkcs11.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "tokend/log.h"

extern char** environ;

namespace vtoken::agent::cloud {
namespace {

using Clock = std::chrono::steady_clock;

// A child with a pipe to its stdin and one from its stdout (stderr goes to
// /dev/null). Killed and reaped on destruction if still running.
class Child {
 public:
  static Result<Child> Spawn(const std::vector<std::string>& argv) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0) return Fail(CKR_DEVICE_ERROR, std::string("pipe: ") + std::strerror(errno));
    if (::pipe2(out, O_CLOEXEC) != 0) {
      ::close(in[0]);
      ::close(in[1]);
      return Fail(CKR_DEVICE_ERROR, std::string("pipe: ") + std::strerror(errno));
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);  // the agent blocks SIGTERM/SIGINT; the child must not inherit that
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = -1;
    const int rc = ::posix_spawnp(&pid, args[0], &fa, &attr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    ::close(in[0]);
    ::close(out[1]);
    if (rc != 0) {
      ::close(in[1]);
      ::close(out[0]);
      return Fail(CKR_DEVICE_ERROR, "cannot run " + argv[0] + ": " + std::strerror(rc));
    }
    return Child(pid, in[1], out[0]);
  }

  Child(Child&& o) noexcept : pid_(o.pid_), in_(o.in_), out_(o.out_), buffer_(std::move(o.buffer_)) {
    o.pid_ = -1;
    o.in_ = o.out_ = -1;
  }
  ~Child() {
    if (in_ >= 0) ::close(in_);
    if (out_ >= 0) ::close(out_);
    if (pid_ > 0) {
      int status;
      if (::waitpid(pid_, &status, WNOHANG) == 0) {
        ::kill(-pid_, SIGKILL);  // its process group: a shell's children too
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
      }
    }
    WipeMemory(buffer_.data(), buffer_.size());
  }

  Result<void> Write(const std::string& line) {
    std::size_t done = 0;
    while (done < line.size()) {
      ssize_t w = ::write(in_, line.data() + done, line.size() - done);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return Fail(CKR_DEVICE_ERROR, std::string("the prompt program went away: ") + std::strerror(errno));
      done += static_cast<std::size_t>(w);
    }
    return {};
  }
  void CloseInput() {
    if (in_ >= 0) ::close(in_);
    in_ = -1;
  }

  // One line (without '\n') into `line`; false at end of output; a timeout
  // error when `deadline` passes.
  Result<bool> ReadLine(SecureString& line, Clock::time_point deadline) {
    for (;;) {
      if (auto nl = std::find(buffer_.begin(), buffer_.end(), '\n'); nl != buffer_.end()) {
        line.assign(buffer_.begin(), nl);
        const auto n = static_cast<std::size_t>(nl - buffer_.begin()) + 1;
        WipeMemory(buffer_.data(), n);
        buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(n));
        return true;
      }
      if (buffer_.size() > 64 * 1024) return Fail(CKR_DEVICE_ERROR, "the program wrote a line over 64 KiB");
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return Fail(CKR_FUNCTION_CANCELED, "timeout");
      pollfd p{out_, POLLIN, 0};
      const int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000)));
      if (r < 0 && errno != EINTR) return Fail(CKR_DEVICE_ERROR, std::string("poll: ") + std::strerror(errno));
      if (r <= 0) continue;
      char chunk[512];
      const ssize_t n = ::read(out_, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        if (buffer_.empty()) return false;
        line.assign(buffer_.begin(), buffer_.end());
        WipeMemory(buffer_.data(), buffer_.size());
        buffer_.clear();
        return true;
      }
      buffer_.insert(buffer_.end(), chunk, chunk + n);
      WipeMemory(chunk, sizeof chunk);
    }
  }

  // Exit status after the output ended (waits up to `deadline`).
  int Wait(Clock::time_point deadline) {
    int status = 0;
    while (Clock::now() < deadline) {
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      ::usleep(5000);
    }
    return -1;
  }

 private:
  Child(pid_t pid, int in, int out) : pid_(pid), in_(in), out_(out) {}
  pid_t pid_;
  int in_, out_;
  SecureBytes buffer_;
};

void Trim(SecureString& s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  s.erase(0, i);
}

// Percent-decoding of an Assuan data line into `out`.
void AssuanUnescape(std::string_view in, SecureString& out) {
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size()) {
      auto hex = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; };
      const int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(in[i]);
  }
}

// Reads until OK (true) or ERR (false, with the error text).
Result<bool> Expect(Child& child, Clock::time_point deadline, SecureString* data, std::string* err) {
  SecureString line;
  for (;;) {
    const bool got = VT_TRY(child.ReadLine(line, deadline));
    if (!got) return Fail(CKR_FUNCTION_CANCELED, "the prompt program ended without an answer");
    std::string_view v(line.data(), line.size());
    if (v == "OK" || v.starts_with("OK ")) return true;
    if (v.starts_with("ERR")) {
      if (err) *err = std::string(v.substr(0, 200));
      return false;
    }
    if (v.starts_with("D ") && data) AssuanUnescape(v.substr(2), *data);
    // S (status) and # (comment) lines are skipped; INQUIRE is not expected from a pinentry.
    if (v.starts_with("INQUIRE")) VT_CHECK(child.Write("CAN\n"));
  }
}

}  // namespace

std::string AssuanEscape(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (c == '%' || c < 0x20) {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

Result<Secret> AskPinentry(const std::string& program, const PromptText& text, std::chrono::seconds timeout) {
  const auto deadline = Clock::now() + timeout + std::chrono::seconds(5);
  Child child = VT_TRY(Child::Spawn({program}));
  auto command = [&](const std::string& line) -> Result<void> {
    VT_CHECK(child.Write(line + "\n"));
    std::string err;
    if (!VT_TRY(Expect(child, deadline, nullptr, &err)))
      LogDebug("pinentry: '" + line.substr(0, line.find(' ')) + "' refused: " + err);
    return {};
  };
  std::string greeting_err;
  if (!VT_TRY(Expect(child, deadline, nullptr, &greeting_err)))
    return Fail(CKR_DEVICE_ERROR, "the pinentry program " + program + " refused to start: " + greeting_err);
  if (const char* tty = std::getenv("GPG_TTY"); tty && *tty) VT_CHECK(command(std::string("OPTION ttyname=") + tty));
  if (const char* term = std::getenv("TERM"); term && *term) VT_CHECK(command(std::string("OPTION ttytype=") + term));
  VT_CHECK(command("SETTIMEOUT " + std::to_string(timeout.count())));
  VT_CHECK(command("SETTITLE " + AssuanEscape(text.title)));
  VT_CHECK(command("SETDESC " + AssuanEscape(text.description)));
  VT_CHECK(command("SETPROMPT " + AssuanEscape(text.prompt)));
  if (!text.error.empty()) VT_CHECK(command("SETERROR " + AssuanEscape(text.error)));
  VT_CHECK(child.Write("GETPIN\n"));
  SecureString data;
  std::string err;
  auto answered = Expect(child, deadline, &data, &err);
  if (!answered) {
    if (answered.error().rv == CKR_FUNCTION_CANCELED)
      return Fail(CKR_FUNCTION_CANCELED, "no code was entered within " + std::to_string(timeout.count()) + " s");
    return std::unexpected(answered.error());
  }
  (void)child.Write("BYE\n");
  child.CloseInput();
  if (!*answered) {
    // 83886179 = GPG_ERR_CANCELED from pinentry's source; 83886142 = timeout.
    return Fail(CKR_FUNCTION_CANCELED, "the prompt was cancelled (" + err + ")");
  }
  Trim(data);
  if (data.empty()) return Fail(CKR_FUNCTION_CANCELED, "no code was entered");
  Secret code(std::string_view(data.data(), data.size()));
  WipeMemory(data.data(), data.size());
  return code;
}

Result<Secret> RunCodeCommand(const std::string& command, std::chrono::seconds timeout, const std::string& setting) {
  const auto deadline = Clock::now() + timeout;
  Child child = VT_TRY(Child::Spawn({"/bin/sh", "-c", command}));
  child.CloseInput();
  SecureString line;
  auto got = child.ReadLine(line, deadline);
  if (!got) return Fail(CKR_FUNCTION_FAILED, setting + " gave no code within " + std::to_string(timeout.count()) + " s");
  // Drain the rest so the command can finish, then look at its status.
  SecureString rest;
  while (true) {
    auto more = child.ReadLine(rest, deadline);
    if (!more || !*more) break;
  }
  WipeMemory(rest.data(), rest.size());
  const int status = child.Wait(deadline);
  if (status != 0) {
    WipeMemory(line.data(), line.size());
    return Fail(CKR_FUNCTION_FAILED, setting + " failed (exit status " + std::to_string(status) + ")");
  }
  Trim(line);
  if (!*got || line.empty()) return Fail(CKR_FUNCTION_FAILED, setting + " printed no code");
  Secret code(std::string_view(line.data(), line.size()));
  WipeMemory(line.data(), line.size());
  return code;
}

}  // namespace vtoken::agent::cloud
