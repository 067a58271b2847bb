#include "data_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "crypto_util.h"

namespace vtoken::service {
namespace fs = std::filesystem;
namespace {

constexpr const char* kDefaultToken = "vtoken-service";

// flock held for the lifetime of the object.
class SetupLock {
 public:
  explicit SetupLock(const fs::path& p) : fd_(::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600)) {
    if (fd_ >= 0) ::flock(fd_, LOCK_EX);
  }
  ~SetupLock() {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  int fd_;
};

std::string RandomPin() {
  auto b = RandomBytes(12);
  return HexEncode(b);
}

}  // namespace

fs::path DataDir::Default() {
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) return fs::path(x) / "vtoken-signing-service";
  const char* home = std::getenv("HOME");
  return fs::path(home ? home : "/tmp") / ".local/share/vtoken-signing-service";
}

Result<Secret> ReadSecretFile(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Fail(CKR_GENERAL_ERROR, "cannot read " + path.string());
  std::ostringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  Secret out(s);
  WipeMemory(s.data(), s.size());
  return out;
}

Result<void> WriteSecretFile(const fs::path& path, std::string_view data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Fail(CKR_GENERAL_ERROR, "cannot write " + path.string());
  bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  ::close(fd);
  if (!ok) return Fail(CKR_GENERAL_ERROR, "cannot write " + path.string());
  return {};
}

Result<DataDir> DataDir::Open(const fs::path& root) {
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return Fail(CKR_GENERAL_ERROR, "cannot create " + root.string() + ": " + ec.message());
  fs::permissions(root, fs::perms::owner_all, ec);
  SetupLock lock(root / "setup.lock");
  DataDir d;
  d.root_ = root;
  auto key_path = root / "master.key";
  if (!fs::exists(key_path)) {
    auto k = RandomBytes(32);
    VT_CHECK(WriteSecretFile(key_path, std::string_view(reinterpret_cast<char*>(k.data()), k.size())));
    WipeMemory(k.data(), k.size());
  }
  std::ifstream f(key_path, std::ios::binary);
  d.master_key_.resize(32);
  if (!f.read(reinterpret_cast<char*>(d.master_key_.data()), 32))
    return Fail(CKR_GENERAL_ERROR, "bad master key " + key_path.string());
  return d;
}

std::unique_ptr<Store> DataDir::OpenStore() const { return Store::Open(root_ / "service.db"); }

Result<Ca> DataDir::OpenCa() const {
  SetupLock lock(root_ / "setup.lock");
  auto ca = VT_TRY(Ca::LoadOrCreate(root_, master_key_));
  VT_CHECK(ca.EnsureServerCert(root_));
  return ca;
}

Result<std::unique_ptr<Hsm>> DataDir::OpenHsm(const HsmOptions& opts) const {
  std::string label = opts.token_label.empty() ? kDefaultToken : opts.token_label;
  if (!opts.module.empty()) {
    if (opts.pin_file.empty()) return Fail(CKR_GENERAL_ERROR, "--hsm-module needs --hsm-pin-file");
    auto pin = VT_TRY(ReadSecretFile(opts.pin_file));
    return Hsm::Open(opts.module, label, pin);
  }
  SetupLock lock(root_ / "setup.lock");
  auto conf = root_ / "softhsm2.conf";
  auto tokens = root_ / "softhsm";
  auto pin_path = opts.pin_file.empty() ? root_ / "hsm-pin" : opts.pin_file;
  if (!fs::exists(conf)) {
    fs::create_directories(tokens);
    fs::permissions(tokens, fs::perms::owner_all);
    std::ofstream(conf) << "directories.tokendir = " << tokens.string() << "\n"
                        << "objectstore.backend = file\n"
                        << "log.level = ERROR\n"
                        << "slots.removable = false\n";
  }
  ::setenv("SOFTHSM2_CONF", conf.c_str(), 1);
  if (!fs::exists(pin_path)) {
    std::string so = RandomPin(), user = RandomPin();
    VT_CHECK(WriteSecretFile(root_ / "hsm-so-pin", so));
    VT_CHECK(WriteSecretFile(pin_path, user));
    VT_CHECK(Hsm::InitToken(VTOKEN_SOFTHSM_MODULE, label, Secret(so), Secret(user)));
    WipeMemory(so.data(), so.size());
    WipeMemory(user.data(), user.size());
  }
  auto pin = VT_TRY(ReadSecretFile(pin_path));
  return Hsm::Open(VTOKEN_SOFTHSM_MODULE, label, pin);
}

}  // namespace vtoken::service
