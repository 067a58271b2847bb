#pragma once
// The service's PKCS#11 client for its HSM (SoftHSMv2 by default, any module
// by path). Keys are generated in the token as sensitive, non-extractable
// token objects and only ever used through C_Sign.
//
// Threads: the module is initialized with CKF_OS_LOCKING_OK; a pool of
// sessions (one borrowed per signing call) lets requests sign in parallel.
// PKCS#11 login state is per application, so one C_Login covers them all.
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <p11-kit/pkcs11.h>

#include "algorithms.h"
#include "common/error.h"
#include "common/ossl.h"
#include "common/secure.h"

namespace vtoken::service {

class Hsm {
 public:
  // Puts a fresh token with `label` into the first uninitialized slot and
  // sets its user PIN (what `softhsm2-util --init-token --free` does).
  static Result<void> InitToken(const std::string& module, const std::string& label,
                                const Secret& so_pin, const Secret& user_pin);
  static Result<std::unique_ptr<Hsm>> Open(const std::string& module, const std::string& label,
                                           const Secret& pin, std::size_t max_sessions = 32);
  ~Hsm();
  Hsm(const Hsm&) = delete;
  Hsm& operator=(const Hsm&) = delete;

  // CKA_ID = id; returns the public key.
  Result<ossl::PKey> GenerateKeyPair(KeyType type, const std::string& id, const std::string& label);
  Result<ossl::PKey> PublicKey(const std::string& id, KeyType type);
  // Signs one hash. RSA: raw signature; ECDSA: DER ECDSA-Sig-Value.
  Result<Bytes> Sign(const std::string& id, KeyType type, const SignPlan& plan, const Bytes& hash);
  Result<void> DestroyKeyPair(const std::string& id);

 struct Module;  // the loaded module; opaque

 private:
  class Lease;
  Hsm(std::shared_ptr<Module> module, CK_SLOT_ID slot, std::size_t max_sessions);
  Result<CK_SESSION_HANDLE> Acquire();
  void Release(CK_SESSION_HANDLE s, bool broken);
  Result<CK_OBJECT_HANDLE> FindKey(CK_SESSION_HANDLE s, const std::string& id, CK_OBJECT_CLASS cls);

  std::shared_ptr<Module> module_;
  CK_SLOT_ID slot_;
  std::size_t max_sessions_;
  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<CK_SESSION_HANDLE> idle_;
  std::size_t open_ = 0;
  std::map<std::string, CK_OBJECT_HANDLE> key_cache_;
};

}  // namespace vtoken::service
