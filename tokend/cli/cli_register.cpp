// vtoken register / unregister: make the module visible where applications
// look for PKCS#11 modules, and take it away again.
//   - p11-kit: $XDG_CONFIG_HOME/pkcs11/modules/vtoken.module (p11-kit-proxy,
//     GnuTLS, anything that asks p11-kit for the registered modules);
//   - the user's NSS database ~/.pki/nssdb (Chromium, pdfsig, NSS tools),
//     created when missing;
//   - every Firefox profile found (~/.mozilla/firefox/*, the snap's too).
// NSS databases are changed only through certutil/modutil, never by editing
// pkcs11.txt. Run as root on a home owned by someone else (plain `sudo`), the
// command first becomes that owner, so every file stays the user's.
#include <fcntl.h>
#include <grp.h>
#include <p11-kit/pkcs11.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tokend/cli/call.h"
#include "tokend/cli/cli.h"

#ifndef VTOKEN_INSTALLED_MODULE
#define VTOKEN_INSTALLED_MODULE "/usr/local/lib/libvtoken-pkcs11.so"
#endif

namespace vtoken::agent::cli {
namespace {

namespace fs = std::filesystem;
constexpr const char* kModuleName = "vtoken";

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v == '/' ? std::string(v) : fallback;
}

fs::path Home() {
  if (const char* h = std::getenv("HOME"); h && *h == '/') return h;
  if (const passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_dir) return pw->pw_dir;
  return "/";
}

fs::path P11KitModuleFile() {
  return fs::path(EnvOr("XDG_CONFIG_HOME", (Home() / ".config").string())) / "pkcs11" / "modules" / "vtoken.module";
}

// The module to register: --module, else the one beside this vtoken (build
// tree: build/bin/vtoken -> build/lib/), else the installed one.
Result<fs::path> ResolveModule(const std::string& option) {
  std::error_code ec;
  fs::path candidate;
  if (!option.empty()) {
    candidate = fs::absolute(option, ec);
  } else {
    auto self = fs::read_symlink("/proc/self/exe", ec);
    auto sibling = ec ? fs::path() : (self.parent_path() / ".." / "lib" / "libvtoken-pkcs11.so").lexically_normal();
    candidate = !sibling.empty() && fs::is_regular_file(sibling, ec) ? sibling : fs::path(VTOKEN_INSTALLED_MODULE);
  }
  if (!fs::is_regular_file(candidate, ec))
    return Fail(CKR_ARGUMENTS_BAD, "no PKCS#11 module at " + candidate.string() + " (give one with --module PATH)");
  return fs::canonical(candidate, ec);
}

// Root working on someone else's home (sudo keeps HOME): become that user, so
// that nothing under the home ends up owned by root.
Result<void> BecomeHomeOwner() {
  if (::geteuid() != 0) return {};
  struct stat st{};
  const fs::path home = Home();
  if (::stat(home.c_str(), &st) != 0 || st.st_uid == 0) return {};
  const passwd* pw = ::getpwuid(st.st_uid);
  const bool ok = (pw ? ::initgroups(pw->pw_name, st.st_gid) == 0 : ::setgroups(0, nullptr) == 0) &&
                  ::setgid(st.st_gid) == 0 && ::setuid(st.st_uid) == 0;
  if (!ok) return Fail(CKR_GENERAL_ERROR, "cannot become the owner of " + home.string() + ": " + std::strerror(errno));
  std::printf("Running as %s (uid %u), the owner of %s.\n", pw ? pw->pw_name : "?", static_cast<unsigned>(st.st_uid),
              home.c_str());
  return {};
}

struct RunResult {
  int status = -1;  // exit status; 127 when the program could not be run
  std::string output;
};

// Runs a program found on PATH, stdin from /dev/null, stdout and stderr
// captured. The CLI is single-threaded, so the child may allocate.
RunResult Run(const std::vector<std::string>& argv, const std::vector<std::pair<std::string, std::string>>& env = {}) {
  RunResult result;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return result;
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return result;
  }
  if (pid == 0) {
    const int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, 0);
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    std::fprintf(stderr, "%s: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(fds[1]);
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    if (result.output.size() < 65536) result.output.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

std::string FirstLine(const std::string& s) {
  auto line = s.substr(0, s.find('\n'));
  return line.empty() ? "(no output)" : line;
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The library path NSS has for our module in DIR/pkcs11.txt ("" if none).
std::string NssModuleLibrary(const fs::path& dir) {
  std::istringstream in(ReadFile(dir / "pkcs11.txt"));
  std::string line, library;
  while (std::getline(in, line)) {
    if (line.starts_with("library=")) library = line.substr(8);
    if (line == std::string("name=") + kModuleName) return library.empty() ? "?" : library;
    if (line.empty()) library.clear();
  }
  return "";
}

// NSS loads the module to add it. It must not start an agent for that (as
// the wrong user under sudo, or just as a side effect): autostart off.
class NoAutostartConfig {
 public:
  NoAutostartConfig() {
    std::error_code ec;
    std::string templ = (fs::temp_directory_path(ec) / "vtoken-register.XXXXXX").string();
    if (ec || ::mkdtemp(templ.data()) == nullptr) return;
    dir_ = templ;
    std::ofstream(dir_ / "vtoken.conf") << "[agent]\nautostart = false\n";
  }
  ~NoAutostartConfig() {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }
  std::vector<std::pair<std::string, std::string>> Env() const {
    if (dir_.empty()) return {};
    return {{"VTOKEN_CONFIG", (dir_ / "vtoken.conf").string()}};
  }

 private:
  fs::path dir_;
};

struct Report {
  int changed = 0, failed = 0;
  void Line(const char* where, const std::string& what) { std::printf("%-9s %s\n", where, what.c_str()); }
  void Fail(const char* where, const std::string& what) {
    std::fprintf(stderr, "vtoken: %s %s\n", where, what.c_str());
    ++failed;
  }
};

std::vector<fs::path> FirefoxProfiles() {
  std::vector<fs::path> out;
  const fs::path home = Home();
  for (const fs::path& root : {home / ".mozilla" / "firefox", home / "snap" / "firefox" / "common" / ".mozilla" / "firefox"}) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(root, ec)) {
      std::error_code e2;
      if (entry.is_directory(e2) && (fs::exists(entry.path() / "cert9.db", e2) || fs::exists(entry.path() / "pkcs11.txt", e2)))
        out.push_back(entry.path());
    }
  }
  return out;
}

fs::path UserNssDb() { return Home() / ".pki" / "nssdb"; }

void RegisterP11Kit(const fs::path& module, Report& report) {
  const fs::path file = P11KitModuleFile();
  const std::string content = "# Written by `vtoken register`; removed by `vtoken unregister`.\nmodule: " + module.string() + "\n";
  std::error_code ec;
  const bool existed = fs::exists(file, ec);
  if (existed && ReadFile(file) == content) {
    report.Line("p11-kit:", "already registered in " + file.string());
    return;
  }
  fs::create_directories(file.parent_path(), ec);
  const fs::path tmp = file.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out.flush()) return report.Fail("p11-kit:", "cannot write " + tmp.string());
  }
  fs::rename(tmp, file, ec);
  if (ec) return report.Fail("p11-kit:", "cannot write " + file.string() + ": " + ec.message());
  report.Line("p11-kit:", std::string(existed ? "updated " : "wrote ") + file.string() + " (module: " + module.string() + ")");
  ++report.changed;
}

void UnregisterP11Kit(Report& report) {
  const fs::path file = P11KitModuleFile();
  std::error_code ec;
  if (!fs::exists(file, ec)) return report.Line("p11-kit:", "not registered (no " + file.string() + ")");
  if (!fs::remove(file, ec)) return report.Fail("p11-kit:", "cannot remove " + file.string() + ": " + ec.message());
  report.Line("p11-kit:", "removed " + file.string());
  ++report.changed;
}

bool Modutil(const std::vector<std::string>& args, const fs::path& dir, const NoAutostartConfig& config, Report& report,
             const char* where) {
  std::vector<std::string> argv{"modutil", "-dbdir", "sql:" + dir.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("-force");
  auto r = Run(argv, config.Env());
  if (r.status == 0) return true;
  if (r.status == 127) report.Fail(where, "modutil not found: install libnss3-tools");
  else report.Fail(where, "modutil " + args.front() + " failed on " + dir.string() + ": " + FirstLine(r.output));
  return false;
}

void RegisterNss(const char* where, const fs::path& dir, bool create, const fs::path& module,
                 const NoAutostartConfig& config, Report& report) {
  std::error_code ec;
  std::string created;
  if (create && !fs::exists(dir / "cert9.db", ec)) {
    fs::create_directories(dir, ec);
    fs::permissions(dir, fs::perms::owner_all, ec);
    auto r = Run({"certutil", "-N", "-d", "sql:" + dir.string(), "--empty-password"});
    if (r.status != 0)
      return report.Fail(where, r.status == 127 ? "certutil not found: install libnss3-tools"
                                                : "certutil -N failed on " + dir.string() + ": " + FirstLine(r.output));
    created = " (created the database)";
    ++report.changed;
  }
  const std::string current = NssModuleLibrary(dir);
  if (current == module.string()) return report.Line(where, "already registered in " + dir.string() + created);
  if (!current.empty() && !Modutil({"-delete", kModuleName}, dir, config, report, where)) return;
  if (!Modutil({"-add", kModuleName, "-libfile", module.string()}, dir, config, report, where)) return;
  if (NssModuleLibrary(dir) != module.string())
    return report.Fail(where, "modutil succeeded but " + (dir / "pkcs11.txt").string() + " does not list the module");
  report.Line(where, std::string(current.empty() ? "added" : "updated") + " module '" + kModuleName + "' in " +
                         dir.string() + created);
  ++report.changed;
}

void UnregisterNss(const char* where, const fs::path& dir, const NoAutostartConfig& config, Report& report) {
  if (NssModuleLibrary(dir).empty()) return report.Line(where, "not registered in " + dir.string());
  if (!Modutil({"-delete", kModuleName}, dir, config, report, where)) return;
  report.Line(where, std::string("removed module '") + kModuleName + "' from " + dir.string());
  ++report.changed;
}

int Finish(const Report& report, const char* verb) {
  if (report.failed) {
    std::fprintf(stderr, "vtoken: %d place(s) could not be %s; see above.\n", report.failed, verb);
    return kExitFailed;
  }
  if (report.changed == 0) std::printf("Nothing to change: already %s everywhere.\n", verb);
  else std::printf("%d change(s). Restart running browsers so they see them.\n", report.changed);
  return kExitOk;
}

}  // namespace

int Register(const RegisterOptions& options) {
  auto module = ResolveModule(options.module);
  if (!module) return Complain(module.error().message, kExitUsage);
  if (auto r = BecomeHomeOwner(); !r) return Complain(r.error().message, kExitFailed);
  Report report;
  NoAutostartConfig config;
  RegisterP11Kit(*module, report);
  RegisterNss("NSS:", UserNssDb(), true, *module, config, report);
  for (const auto& profile : FirefoxProfiles()) RegisterNss("Firefox:", profile, false, *module, config, report);
  return Finish(report, "registered");
}

int Unregister() {
  if (auto r = BecomeHomeOwner(); !r) return Complain(r.error().message, kExitFailed);
  Report report;
  NoAutostartConfig config;
  UnregisterP11Kit(report);
  std::error_code ec;
  if (fs::exists(UserNssDb() / "pkcs11.txt", ec)) UnregisterNss("NSS:", UserNssDb(), config, report);
  else report.Line("NSS:", "not registered (no database at " + UserNssDb().string() + ")");
  for (const auto& profile : FirefoxProfiles()) UnregisterNss("Firefox:", profile, config, report);
  return Finish(report, "unregistered");
}

}  // namespace vtoken::agent::cli
