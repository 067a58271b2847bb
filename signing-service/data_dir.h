#pragma once
// The service's data directory (default $XDG_DATA_HOME/vtoken-signing-service):
//   master.key      32 random bytes, 0600: seals TOTP secrets, derives the CA key passphrase
//   service.db      SQLite (accounts, credentials, tokens, SADs, audit)
//   ca.pem, ca-key.pem (encrypted), server.pem, server-key.pem (0600)
//   softhsm2.conf, softhsm/  the default HSM, token "vtoken-service"
//   hsm-pin, hsm-so-pin     its PINs, random, 0600
#include <filesystem>
#include <memory>
#include <string>

#include "ca.h"
#include "common/error.h"
#include "common/secure.h"
#include "hsm.h"
#include "store.h"

namespace vtoken::service {

struct HsmOptions {
  std::string module;       // empty: the built-in SoftHSMv2 token in the data dir
  std::string token_label;  // default "vtoken-service"
  std::filesystem::path pin_file;
};

class DataDir {
 public:
  static std::filesystem::path Default();
  // Creates the directory (0700) and the master key when missing. Holds an
  // flock on DATA_DIR/setup.lock while setting up, so two processes starting
  // at once do not both create a CA or a token.
  static Result<DataDir> Open(const std::filesystem::path& root);

  const std::filesystem::path& root() const { return root_; }
  const SecureBytes& master_key() const { return master_key_; }
  std::unique_ptr<Store> OpenStore() const;  // throws StoreError
  Result<Ca> OpenCa() const;
  Result<std::unique_ptr<Hsm>> OpenHsm(const HsmOptions& opts) const;

 private:
  std::filesystem::path root_;
  SecureBytes master_key_;
};

// Reads a small secret file (PIN, key); trailing newline dropped.
Result<Secret> ReadSecretFile(const std::filesystem::path& path);
Result<void> WriteSecretFile(const std::filesystem::path& path, std::string_view data);

}  // namespace vtoken::service
