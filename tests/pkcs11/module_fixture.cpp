#include "module_fixture.h"

#include <dlfcn.h>
#include <openssl/evp.h>
#include <stdlib.h>

#include <fstream>
#include <stdexcept>

#include "pkcs11/crypto.h"

namespace vtoken::pkcs11::test {

CK_FUNCTION_LIST* P11() {
  static CK_FUNCTION_LIST* list = [] {
    void* handle = dlopen(VTOKEN_P11_MODULE, RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) throw std::runtime_error(std::string("dlopen: ") + dlerror());
    auto get = reinterpret_cast<CK_C_GetFunctionList>(dlsym(handle, "C_GetFunctionList"));
    if (get == nullptr) throw std::runtime_error("no C_GetFunctionList");
    CK_FUNCTION_LIST* l = nullptr;
    if (get(&l) != CKR_OK || l == nullptr) throw std::runtime_error("C_GetFunctionList failed");
    return l;
  }();
  return list;
}

Sandbox::Sandbox(const std::string& config_text) {
  char tmpl[] = "/tmp/p11t-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  std::filesystem::create_directories(dir_ / "run");
  std::filesystem::create_directories(dir_ / "data");
  std::filesystem::create_directories(dir_ / "config" / "vtoken");
  const std::filesystem::path config = dir_ / "config" / "vtoken" / "vtoken.conf";
  std::ofstream(config) << config_text;
  for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{
           {"XDG_RUNTIME_DIR", (dir_ / "run").string()},
           {"XDG_DATA_HOME", (dir_ / "data").string()},
           {"XDG_CONFIG_HOME", (dir_ / "config").string()},
           {"VTOKEN_CONFIG", config.string()}}) {
    const char* old = getenv(name.c_str());
    saved_.emplace_back(name, old ? old : std::string("\x01"));
    setenv(name.c_str(), value.c_str(), 1);
  }
}

Sandbox::~Sandbox() {
  for (const auto& [name, value] : saved_) {
    if (value == "\x01") unsetenv(name.c_str());
    else setenv(name.c_str(), value.c_str(), 1);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::filesystem::path Sandbox::socket() const { return dir_ / "run" / "vtoken" / "agent.sock"; }

// The longest agent timeout the schema allows: a call that hangs instead of
// failing at once outlives CTest's timeout and fails the test, with no clock
// in the assertions.
std::string NoAutostartConfig() { return "[agent]\nautostart = false\ntimeout_ms = 3600000\n"; }

std::string Unpad(const unsigned char* p, std::size_t n) {
  std::string s(reinterpret_cast<const char*>(p), n);
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

std::vector<CK_BYTE> Hash(CK_MECHANISM_TYPE hash, const std::vector<CK_BYTE>& data) {
  std::vector<CK_BYTE> out(EVP_MAX_MD_SIZE);
  unsigned n = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &n, DigestFor(hash), nullptr);
  out.resize(n);
  return out;
}

}  // namespace vtoken::pkcs11::test
