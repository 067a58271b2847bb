#pragma once
// A cloud token: one logged-in account of a CSC API v2 signing service,
// shown as a PKCS#11 token. It owns the csc::Client (and so the session:
// access and refresh tokens as Secrets, in memory only), a cache of the
// account's credentials and of the objects built from them, and the SADs of
// SCAL1 windows. Nothing that lists objects or slots touches the network:
// Objects() and Info() read the cache; Refresh() (called after login and by
// the dispatcher's background thread) replaces it.
//
// Signing (Sign, SignBatch): the input is mapped to a CSC signHash
// (CKM_RSA_PKCS with a SHA-2 DigestInfo, CKM_RSA_PKCS_PSS with the hash,
// CKM_ECDSA with the hash), authorized with a TOTP code from the caller
// (C_Login) or from the configured source (pinentry or a command).
// SCAL2: one credentials/authorize per signature, bound to its hash. SCAL1:
// one code authorizes up to `multisign` signatures for `scal1_window`,
// shared by the following signatures with that credential (not for keys
// with CKA_ALWAYS_AUTHENTICATE, which need a code each time).
//
// When the service says the session is gone (401: expired or revoked token,
// refused refresh) the token marks itself dead(); the dispatcher then
// removes it from its slot.
//
// Thread safety: every public member may be called from any thread.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/error.h"
#include "common/secure.h"
#include "common/wire.h"
#include "remote-client/csc_client.h"
#include "tokend/cloud/cloud_objects.h"
#include "tokend/emulated/emulated_token.h"

namespace vtoken::agent::cloud {

enum class AuthSource { kPrompt, kCommand };

struct CloudSettings {
  std::string service_url = "https://127.0.0.1:8443";
  std::filesystem::path ca_file;           // empty: the system store
  AuthSource source = AuthSource::kPrompt;
  std::string otp_command;                 // AuthSource::kCommand
  std::string pinentry = "pinentry";       // AuthSource::kPrompt
  std::chrono::seconds scal1_window{300};  // 0: no reuse of a SCAL1 authorization
  std::chrono::milliseconds timeout{20000};  // each call to the service
  std::chrono::seconds prompt_timeout{120};
  std::chrono::seconds refresh_interval{300};  // credentials cache
  ObjectOptions objects;
};

// The [cloud] section of the configuration (common/config.cpp). An empty
// cloud.ca_file falls back to the reference service's development CA
// ($XDG_DATA_HOME/vtoken-signing-service/ca.pem) when that file exists.
CloudSettings SettingsFromConfig(const Config& config);

// Who asks for a signature: named in the prompt and the log.
struct Requester {
  std::string app;
  std::uint64_t pid = 0;
};

struct SignRequest {
  std::uint64_t oid = 0;          // a private key object, or:
  std::string credential_id;      // a credential (batch only)
  unsigned long mechanism = 0;    // CKM_RSA_PKCS, CKM_RSA_PKCS_PSS, CKM_ECDSA
  MechanismParams params;         // PSS
  std::vector<wire::Bytes> inputs;  // DigestInfos (RSA PKCS#1) or hashes
  std::optional<Secret> code;     // from the application; otherwise the configured source
  bool single_use_code = false;   // the code came from a context-specific login: no SCAL1 window
  bool no_prompt = false;         // nobody may be asked: a code that needs a person fails with kCkrPromptRequired
  Requester who;
};

class CloudToken {
 public:
  CloudToken(std::uint64_t slot_id, std::string service_url, std::string account,
             std::shared_ptr<csc::Client> client, CloudSettings settings);

  // credentials/list with infos; replaces the cache. Objects keep their oid
  // across refreshes as long as their credential stays. Returns true when
  // the objects changed.
  Result<bool> Refresh();

  std::vector<ObjectView> Objects(bool user) const;
  std::uint64_t generation() const;
  TokenInfo Info() const;
  const std::string& service_url() const { return service_url_; }
  const std::string& account() const { return account_; }
  std::uint64_t slot_id() const { return slot_id_; }
  bool RequiresContextLogin(std::uint64_t oid) const;

  // One signature per input; SignBatch authorizes all of them with one code.
  Result<wire::Bytes> Sign(const SignRequest& request);
  Result<std::vector<wire::Bytes>> SignBatch(const SignRequest& request);

  // auth/revoke; the local session is dropped in any case.
  Result<void> Revoke();

  // The session is gone (the token must be removed); why, for the log.
  bool dead() const { return dead_; }
  std::string dead_reason() const;
  // A service error: marks the token dead when it says the session is gone.
  Error Note(const Error& e);

  // For `vtoken status` (cloud_status).
  wire::Json Status() const;
  std::optional<std::chrono::steady_clock::time_point> SessionExpires() const { return client_->SessionExpires(); }

 private:
  struct Credential {
    csc::CredentialInfo info;
    std::uint64_t private_oid = 0;
  };
  struct Window {  // a SCAL1 SAD shared by the following signatures
    std::shared_ptr<csc::Sad> sad;
    unsigned left = 0;
    std::chrono::steady_clock::time_point until;
  };
  struct Mapped {
    wire::Bytes hash;
    csc::HashAlgo hash_algo;
    csc::SignAlgo algo;
  };

  Result<Credential> CredentialFor(const SignRequest& request) const;
  // Refuses, before anyone is asked for a code, what the cached state says
  // the service would refuse: an expired or revoked certificate, a quota
  // with fewer than `count` signatures left.
  Result<void> CheckUsable(const Credential& c, std::size_t count) const;
  // After a service answer about credential `id`: counts `signed_now`
  // signatures against the cached quota, or records what an error says
  // (certificate expired/revoked, quota used up, wrong code for the next
  // prompt) and logs it with what the person can do. Returns the error.
  void Account(const std::string& id, std::size_t signed_now);
  Error Learn(const std::string& id, const Error& e);
  Result<Mapped> Map(const Credential& c, unsigned long mechanism, const MechanismParams& params,
                     const wire::Bytes& input) const;
  // The caller's code, else one from the configured source (for `count`
  // signatures); with no_prompt, a source that needs a person is not asked.
  Result<Secret> Code(const Credential& c, const SignRequest& request, std::size_t count);
  Result<wire::Bytes> SignOnce(const Credential& c, const Mapped& m, const SignRequest& request, bool allow_window);
  csc::Deadline CallDeadline() const { return csc::Deadline::In(settings_.timeout); }
  std::shared_ptr<std::mutex> CredentialMutex(const std::string& id);

  const std::uint64_t slot_id_;
  const std::string service_url_, account_;
  const std::shared_ptr<csc::Client> client_;
  const CloudSettings settings_;
  const std::string serial_;

  mutable std::mutex mu_;  // everything below
  std::map<std::string, Credential> credentials_;
  std::vector<std::pair<std::string, ObjectView>> objects_;  // (stable key, object with oid)
  std::map<std::string, std::uint64_t> oids_;                // stable key -> oid, for the token's life
  std::uint64_t next_oid_ = 1;
  std::uint64_t generation_ = 1;
  std::map<std::string, Window> windows_;
  std::map<std::string, std::shared_ptr<std::mutex>> credential_mutexes_;
  std::string dead_reason_;
  std::string prompt_note_;  // shown (SETERROR) by the next prompt: why the last code did not work
  std::atomic<bool> dead_{false};
};

}  // namespace vtoken::agent::cloud
