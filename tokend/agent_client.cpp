#include "tokend/agent_client.h"

#include <fcntl.h>
#include <p11-kit/pkcs11.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace vtoken::agent {
namespace {

namespace fs = std::filesystem;
using wire::Json;

#ifndef VTOKEN_INSTALLED_AGENT
#define VTOKEN_INSTALLED_AGENT "/usr/local/bin/vtokend"
#endif

bool Executable(const fs::path& p) { return !p.empty() && ::access(p.c_str(), X_OK) == 0 && !fs::is_directory(p); }

}  // namespace

Result<AgentClient> AgentClient::Connect(const fs::path& socket, const std::string& app, bool events) {
  AgentClient client;
  client.unreachable_ = true;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket.native().size() >= sizeof addr.sun_path) return Fail(CKR_DEVICE_ERROR, "socket path too long: " + socket.string());
  std::memcpy(addr.sun_path, socket.c_str(), socket.native().size() + 1);
  client.fd_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!client.fd_ || ::connect(client.fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return Fail(CKR_DEVICE_ERROR, "no agent answers on " + socket.string() + " (" + std::strerror(errno) + ")");
  client.unreachable_ = false;
  Json hello{{"op", "hello"}, {"version", wire::kProtocolVersion}, {"client", "cli"}, {"app", app},
             {"pid", static_cast<std::uint64_t>(getpid())}, {"events", events}};
  VT_TRY(client.Call(std::move(hello)));
  return client;
}

Result<AgentClient> AgentClient::ConnectOrStart(const AgentLaunch& launch, const std::string& app) {
  auto first = Connect(launch.socket, app);
  if (first || first.error().rv != CKR_DEVICE_ERROR || !launch.autostart) return first;
  auto candidates = AgentCandidates(launch.configured_program);
  if (candidates.empty())
    return Fail(CKR_DEVICE_ERROR, "no agent is running and no vtokend was found to start (set agent.program or $VTOKEN_AGENT)");
  VT_CHECK(StartAgent(candidates.front(), launch.agent_args));
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::seconds(3);
  auto next_start = start + std::chrono::milliseconds(500);
  for (;;) {
    // An agent that was just stopping holds the lock for a moment, and the
    // one we started then exits quietly: start again now and then.
    if (std::chrono::steady_clock::now() > next_start) {
      VT_CHECK(StartAgent(candidates.front(), launch.agent_args));
      next_start += std::chrono::milliseconds(500);
    }
    auto client = Connect(launch.socket, app);
    if (client || std::chrono::steady_clock::now() > deadline) {
      if (!client)
        return Fail(CKR_DEVICE_ERROR, "started " + candidates.front().string() + " but it does not answer on " +
                                          launch.socket.string());
      return client;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

Result<Json> AgentClient::Call(Json request) {
  wire::WipeSecretsOnExit wipe(request);  // PINs, passwords: sent or refused, not kept
  if (unreachable_) return Fail(CKR_DEVICE_ERROR, "the connection to the agent is closed");
  const std::uint64_t id = next_id_++;
  request["id"] = id;
  if (auto w = wire::WriteFrame(fd_.get(), request); !w) {
    unreachable_ = true;
    return std::unexpected(w.error());
  }
  for (;;) {
    auto frame = wire::ReadFrame(fd_.get());
    if (!frame || !*frame) {
      unreachable_ = true;
      return Fail(CKR_DEVICE_ERROR, "the agent closed the connection");
    }
    Json reply = std::move(**frame);
    if (!reply.contains("id")) continue;  // an event
    if (auto rid = wire::GetUint(reply, "id"); !rid || *rid != id) continue;
    if (auto ok = wire::GetBool(reply, "ok"); ok && *ok) return reply;
    return std::unexpected(wire::ErrorFromReply(reply));
  }
}

std::vector<fs::path> AgentCandidates(const std::string& configured_program) {
  std::vector<fs::path> out;
  auto add = [&](const fs::path& p) {
    if (Executable(p)) out.push_back(p);
  };
  add(configured_program);
  if (const char* env = std::getenv("VTOKEN_AGENT"); env && *env) add(env);
  std::error_code ec;
  if (fs::path self = fs::read_symlink("/proc/self/exe", ec); !ec) add(self.parent_path() / "vtokend");
  add(VTOKEN_INSTALLED_AGENT);
  return out;
}

Result<void> StartAgent(const fs::path& program, const std::vector<std::string>& args) {
  int report[2];  // the grandchild writes errno here if exec fails; EOF means it ran
  if (::pipe2(report, O_CLOEXEC) != 0) return Fail(CKR_DEVICE_ERROR, std::string("pipe: ") + std::strerror(errno));
  UniqueFd read_end(report[0]), write_end(report[1]);
  std::vector<std::string> argv_storage{program.string()};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);

  const pid_t child = ::fork();
  if (child < 0) return Fail(CKR_DEVICE_ERROR, std::string("fork: ") + std::strerror(errno));
  if (child == 0) {
    ::setsid();
    if (::fork() != 0) ::_exit(0);  // the agent is reparented, never our zombie
    if (::chdir("/") != 0) ::_exit(127);  // holds no directory busy
    int null = ::open("/dev/null", O_RDWR);
    if (null >= 0) {
      ::dup2(null, 0);
      ::dup2(null, 1);
      ::dup2(null, 2);
    }
    ::execv(argv[0], argv.data());
    int err = errno;
    [[maybe_unused]] auto w = ::write(write_end.get(), &err, sizeof err);
    ::_exit(127);
  }
  write_end.reset();
  int status = 0;
  ::waitpid(child, &status, 0);
  int err = 0;
  ssize_t got;
  do got = ::read(read_end.get(), &err, sizeof err);
  while (got < 0 && errno == EINTR);
  if (got == sizeof err) return Fail(CKR_DEVICE_ERROR, "cannot start " + program.string() + ": " + std::strerror(err));
  return {};
}

}  // namespace vtoken::agent
