// p11_watch MODULE TOKEN_LABEL [SECONDS]: an application that holds a
// logged-in session on a token while something else happens to it, for the
// integration scripts (pkcs11-tool cannot keep a session across commands).
// It opens a session on the token with that label, logs in with a NULL PIN
// (protected authentication path), finds a private key, prints "ready", then
// polls C_WaitForSlotEvent(CKF_DONT_BLOCK) until an event arrives (at most
// SECONDS, default 60) and reports what its session sees afterwards:
//
//   slot 3
//   login CKR_OK
//   key found
//   ready
//   event slot 3
//   token_present 0
//   token_info CKR_TOKEN_NOT_PRESENT
//   sign_init CKR_DEVICE_REMOVED
//   session_info CKR_SESSION_HANDLE_INVALID
//
// Exit status 0 when an event came, 1 when none came in time, 2 on a usage
// or set-up failure.
#include <dlfcn.h>
#include <p11-kit/pkcs11.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/ckr_names.h"

namespace {

std::string Trim(const CK_UTF8CHAR* text, std::size_t n) {
  std::string s(reinterpret_cast<const char*>(text), n);
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

void Report(const char* what, CK_RV rv) {
  std::printf("%s %s\n", what, std::string(vtoken::CkrName(rv)).c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: p11_watch MODULE TOKEN_LABEL [SECONDS]\n");
    return 2;
  }
  const std::string_view label = argv[2];
  const int seconds = argc > 3 ? std::atoi(argv[3]) : 60;
  void* lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    std::fprintf(stderr, "p11_watch: %s\n", dlerror());
    return 2;
  }
  auto get = reinterpret_cast<CK_C_GetFunctionList>(dlsym(lib, "C_GetFunctionList"));
  CK_FUNCTION_LIST* f = nullptr;
  if (!get || get(&f) != CKR_OK) return 2;
  CK_C_INITIALIZE_ARGS init{};
  init.flags = CKF_OS_LOCKING_OK;
  if (CK_RV rv = f->C_Initialize(&init); rv != CKR_OK) {
    Report("initialize", rv);
    return 2;
  }

  CK_ULONG n = 0;
  f->C_GetSlotList(CK_TRUE, nullptr, &n);
  std::vector<CK_SLOT_ID> slots(n);
  f->C_GetSlotList(CK_TRUE, slots.data(), &n);
  slots.resize(n);
  CK_SLOT_ID slot = CK_UNAVAILABLE_INFORMATION;
  for (CK_SLOT_ID s : slots) {
    CK_TOKEN_INFO ti;
    if (f->C_GetTokenInfo(s, &ti) == CKR_OK && Trim(ti.label, sizeof ti.label) == label) slot = s;
  }
  if (slot == CK_UNAVAILABLE_INFORMATION) {
    std::fprintf(stderr, "p11_watch: no token labelled '%s'\n", argv[2]);
    return 2;
  }
  std::printf("slot %lu\n", slot);

  CK_SESSION_HANDLE session = 0;
  if (CK_RV rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION, nullptr, nullptr, &session); rv != CKR_OK) {
    Report("open_session", rv);
    return 2;
  }
  Report("login", f->C_Login(session, CKU_USER, nullptr, 0));
  CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
  CK_ATTRIBUTE tmpl{CKA_CLASS, &cls, sizeof cls};
  CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
  CK_ULONG found = 0;
  f->C_FindObjectsInit(session, &tmpl, 1);
  f->C_FindObjects(session, &key, 1, &found);
  f->C_FindObjectsFinal(session);
  if (found != 1) {
    std::fprintf(stderr, "p11_watch: no private key on the token\n");
    return 2;
  }
  std::printf("key found\nready\n");
  std::fflush(stdout);

  // Events of the set-up itself (the agent's first snapshot) are not what we wait for.
  CK_SLOT_ID event_slot = 0;
  while (f->C_WaitForSlotEvent(CKF_DONT_BLOCK, &event_slot, nullptr) == CKR_OK) {
  }
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  CK_RV rv = CKR_NO_EVENT;
  while ((rv = f->C_WaitForSlotEvent(CKF_DONT_BLOCK, &event_slot, nullptr)) == CKR_NO_EVENT &&
         std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (rv != CKR_OK) {
    Report("no_event", rv);
    f->C_Finalize(nullptr);
    return 1;
  }
  std::printf("event slot %lu\n", event_slot);
  CK_SLOT_INFO si;
  if (f->C_GetSlotInfo(slot, &si) == CKR_OK) std::printf("token_present %d\n", (si.flags & CKF_TOKEN_PRESENT) ? 1 : 0);
  CK_TOKEN_INFO ti;
  Report("token_info", f->C_GetTokenInfo(slot, &ti));
  CK_MECHANISM mech{CKM_SHA256_RSA_PKCS, nullptr, 0};
  Report("sign_init", f->C_SignInit(session, &mech, key));
  CK_SESSION_INFO info;
  Report("session_info", f->C_GetSessionInfo(session, &info));
  f->C_Finalize(nullptr);
  return 0;
}
