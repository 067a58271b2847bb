// vtoken-ksp-register: registers vtoken-ksp.dll with CNG, as the CNG SDK's
// sample provider does (administrator; the DLL in %SystemRoot%\System32):
//   vtoken-ksp-register            register "vtoken Key Storage Provider"
//   vtoken-ksp-register --remove   unregister it
// BCryptRegisterProvider and friends are declared in the CNG SDK's
// bcrypt_provider.h, which mingw-w64 lacks: they are looked up in bcrypt.dll.
#include <windows.h>
#include <bcrypt.h>
#include <ncrypt.h>

#include <cstdio>
#include <string>

namespace {

constexpr wchar_t kProvider[] = L"vtoken Key Storage Provider";
constexpr wchar_t kImage[] = L"vtoken-ksp.dll";
constexpr ULONG kKeyStorageInterface = 0x00010001;  // NCRYPT_KEY_STORAGE_INTERFACE

using RegisterFn = NTSTATUS(WINAPI*)(LPCWSTR, ULONG, PCRYPT_PROVIDER_REG);
using UnregisterFn = NTSTATUS(WINAPI*)(LPCWSTR);
using AddContextFn = NTSTATUS(WINAPI*)(ULONG, LPCWSTR, ULONG, LPCWSTR, LPCWSTR, ULONG);
using RemoveContextFn = NTSTATUS(WINAPI*)(ULONG, LPCWSTR, ULONG, LPCWSTR, LPCWSTR);

template <class F>
F Lookup(HMODULE dll, const char* name) {
  auto f = reinterpret_cast<F>(reinterpret_cast<void*>(GetProcAddress(dll, name)));
  if (!f) std::fprintf(stderr, "vtoken-ksp-register: bcrypt.dll has no %s\n", name);
  return f;
}

int Report(const char* what, NTSTATUS s) {
  std::printf("%s: 0x%08lx%s\n", what, static_cast<unsigned long>(s), s == 0 ? " (ok)" : "");
  return s == 0 ? 0 : 1;
}

}  // namespace

int wmain(int argc, wchar_t** argv) {
  const bool remove = argc > 1 && std::wstring(argv[1]) == L"--remove";
  if (argc > 2 || (argc == 2 && !remove)) {
    std::fprintf(stderr, "usage: vtoken-ksp-register [--remove]\n");
    return 2;
  }
  HMODULE bcrypt = LoadLibraryW(L"bcrypt.dll");
  if (!bcrypt) return 1;
  if (remove) {
    auto remove_context = Lookup<RemoveContextFn>(bcrypt, "BCryptRemoveContextFunctionProvider");
    auto unregister = Lookup<UnregisterFn>(bcrypt, "BCryptUnregisterProvider");
    if (!remove_context || !unregister) return 1;
    int rc = Report("BCryptRemoveContextFunctionProvider",
                    remove_context(CRYPT_LOCAL, nullptr, kKeyStorageInterface, NCRYPT_KEY_STORAGE_ALGORITHM, kProvider));
    return rc | Report("BCryptUnregisterProvider", unregister(kProvider));
  }
  auto register_provider = Lookup<RegisterFn>(bcrypt, "BCryptRegisterProvider");
  auto add_context = Lookup<AddContextFn>(bcrypt, "BCryptAddContextFunctionProvider");
  if (!register_provider || !add_context) return 1;
  PWSTR algorithms[] = {const_cast<PWSTR>(NCRYPT_KEY_STORAGE_ALGORITHM)};
  CRYPT_INTERFACE_REG key_storage{kKeyStorageInterface, CRYPT_LOCAL, 1, algorithms};
  PCRYPT_INTERFACE_REG interfaces[] = {&key_storage};
  CRYPT_IMAGE_REG image{const_cast<PWSTR>(kImage), 1, interfaces};
  CRYPT_PROVIDER_REG provider{0, nullptr, &image, nullptr};
  int rc = Report("BCryptRegisterProvider", register_provider(kProvider, 0, &provider));
  return rc | Report("BCryptAddContextFunctionProvider",
                     add_context(CRYPT_LOCAL, nullptr, kKeyStorageInterface, NCRYPT_KEY_STORAGE_ALGORITHM, kProvider,
                                 CRYPT_PRIORITY_BOTTOM));
}
