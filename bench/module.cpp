#include "bench/module.h"

#include <dlfcn.h>

#include <cstdio>

namespace vtoken::bench {

P11Error::P11Error(const std::string& what, CK_RV rv_in)
    : std::runtime_error([&] {
        char buf[32];
        std::snprintf(buf, sizeof buf, "0x%lx", rv_in);
        return what + " failed: CKR " + buf;
      }()),
      rv(rv_in) {}

void Check(const char* what, CK_RV rv) {
  if (rv != CKR_OK) throw P11Error(what, rv);
}

Module::Module(const std::string& path) {
  lib_ = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib_) throw std::runtime_error("cannot load " + path + ": " + ::dlerror());
  auto get = reinterpret_cast<CK_RV (*)(CK_FUNCTION_LIST**)>(::dlsym(lib_, "C_GetFunctionList"));
  if (!get) throw std::runtime_error(path + " exports no C_GetFunctionList");
  Check("C_GetFunctionList", get(&p11_));
}

Module::~Module() {
  if (initialized_) p11_->C_Finalize(nullptr);
  // Not dlclose'd: a module may leave threads or atexit handlers behind.
}

void Module::Initialize() {
  CK_C_INITIALIZE_ARGS args{};
  args.flags = CKF_OS_LOCKING_OK;
  Check("C_Initialize", p11_->C_Initialize(&args));
  initialized_ = true;
}

void Module::Finalize() {
  if (initialized_) p11_->C_Finalize(nullptr);
  initialized_ = false;
}

namespace {
std::string Trim(const unsigned char* p, std::size_t n) {
  std::string s(reinterpret_cast<const char*>(p), n);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}
}  // namespace

CK_SLOT_ID Module::SlotByLabel(const std::string& label) {
  CK_ULONG n = 0;
  Check("C_GetSlotList", p11_->C_GetSlotList(CK_TRUE, nullptr, &n));
  std::vector<CK_SLOT_ID> slots(n);
  Check("C_GetSlotList", p11_->C_GetSlotList(CK_TRUE, slots.data(), &n));
  for (CK_ULONG i = 0; i < n; ++i) {
    CK_TOKEN_INFO info{};
    if (p11_->C_GetTokenInfo(slots[i], &info) == CKR_OK && (info.flags & CKF_TOKEN_INITIALIZED) &&
        Trim(info.label, sizeof info.label) == label)
      return slots[i];
  }
  throw std::runtime_error("no token labelled '" + label + "'");
}

CK_SLOT_ID Module::FreeSlot() {
  CK_ULONG n = 0;
  Check("C_GetSlotList", p11_->C_GetSlotList(CK_FALSE, nullptr, &n));
  std::vector<CK_SLOT_ID> slots(n);
  Check("C_GetSlotList", p11_->C_GetSlotList(CK_FALSE, slots.data(), &n));
  for (CK_ULONG i = 0; i < n; ++i) {
    CK_TOKEN_INFO info{};
    if (p11_->C_GetTokenInfo(slots[i], &info) == CKR_OK && !(info.flags & CKF_TOKEN_INITIALIZED)) return slots[i];
  }
  throw std::runtime_error("no free (uninitialized) slot");
}

CK_OBJECT_HANDLE Module::PrivateKey(CK_SESSION_HANDLE s, const std::string& label) {
  CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
  CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_LABEL, const_cast<char*>(label.data()), label.size()}};
  Check("C_FindObjectsInit", p11_->C_FindObjectsInit(s, t, 2));
  CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
  CK_ULONG n = 0;
  CK_RV rv = p11_->C_FindObjects(s, &h, 1, &n);
  p11_->C_FindObjectsFinal(s);
  Check("C_FindObjects", rv);
  if (n != 1) throw std::runtime_error("no private key labelled '" + label + "' (did provisioning run?)");
  return h;
}

}  // namespace vtoken::bench
