// A PKCS#11 module loaded with dlopen, and the few look-ups the benchmark
// needs (slot by token label, key by label or type).
#pragma once

#include <p11-kit/pkcs11.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace vtoken::bench {

struct P11Error : std::runtime_error {
  P11Error(const std::string& what, CK_RV rv);
  CK_RV rv;
};

// Throws P11Error unless rv == CKR_OK.
void Check(const char* what, CK_RV rv);

class Module {
 public:
  explicit Module(const std::string& path);  // dlopen + C_GetFunctionList
  ~Module();
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  CK_FUNCTION_LIST& p11() { return *p11_; }
  void Initialize();
  void Finalize();

  // Slot whose initialized token has this label; throws if none.
  CK_SLOT_ID SlotByLabel(const std::string& label);
  // A slot with no token initialized on it; throws if none.
  CK_SLOT_ID FreeSlot();
  // A private key by CKA_LABEL; throws if none (login first).
  CK_OBJECT_HANDLE PrivateKey(CK_SESSION_HANDLE s, const std::string& label);

 private:
  void* lib_ = nullptr;
  CK_FUNCTION_LIST* p11_ = nullptr;
  bool initialized_ = false;
};

}  // namespace vtoken::bench
