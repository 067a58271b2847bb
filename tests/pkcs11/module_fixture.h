#pragma once
// Helpers for tests that load the built module with dlopen and use only its
// function list, in an isolated XDG environment (a fresh temporary directory).
#include <p11-kit/pkcs11.h>

#include <filesystem>
#include <string>
#include <vector>

namespace vtoken::pkcs11::test {

// The module, loaded once per process (never unloaded: a forked child test
// relies on its atfork handler staying mapped).
CK_FUNCTION_LIST* P11();

// A temporary directory with XDG_RUNTIME_DIR/XDG_DATA_HOME/XDG_CONFIG_HOME and
// VTOKEN_CONFIG pointed into it for its lifetime.
class Sandbox {
 public:
  explicit Sandbox(const std::string& config_text = "");
  ~Sandbox();
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;
  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path socket() const;  // where the module looks for the agent

 private:
  std::filesystem::path dir_;
  std::vector<std::pair<std::string, std::string>> saved_;
};

// Config text that never starts an agent and gives up quickly.
std::string NoAutostartConfig();

// The digest of data with a CKM_SHA* mechanism, computed by OpenSSL.
std::vector<CK_BYTE> Hash(CK_MECHANISM_TYPE hash, const std::vector<CK_BYTE>& data);

// Blank-padded PKCS#11 text field to std::string without the padding.
std::string Unpad(const unsigned char* p, std::size_t n);

}  // namespace vtoken::pkcs11::test
