#pragma once
// What run-wine-tests.sh hands the Windows test program, and the loaded DLL.
#include <cstdlib>
#include <string>
#include <vector>

#include "cng-provider/src/ksp_abi.h"

namespace vtoken::ksp::test {

inline std::wstring Env(const wchar_t* name) {
  const wchar_t* v = _wgetenv(name);
  return v ? v : L"";
}

// LoadLibrary + GetKeyStorageInterface on the built DLL (VTOKEN_KSP_DLL).
NCRYPT_KEY_STORAGE_FUNCTION_TABLE* LoadedTable();

struct TokenKey {
  std::wstring name, algorithm;
};
// The keys the agent shows, through EnumKeys of the loaded DLL.
std::vector<TokenKey> EnumeratedKeys();
// Those not on the emulated token (VTOKEN_KSP_TEST_EMULATED_SERIAL): the cloud token's.
std::vector<TokenKey> CloudKeys();

}  // namespace vtoken::ksp::test
