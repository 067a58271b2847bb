#pragma once
// Helpers shared by the Windows tests: the function table, status names.
#include <string>
#include <vector>

#include "cng-provider/src/ksp_abi.h"

namespace vtoken::ksp::test {

inline std::string Nte(SECURITY_STATUS s) {
  switch (static_cast<unsigned long>(s)) {
    case 0: return "ERROR_SUCCESS";
    case 0x80090009: return "NTE_BAD_FLAGS";
    case 0x8009000A: return "NTE_BAD_TYPE";
    case 0x80090010: return "NTE_PERM";
    case 0x80090011: return "NTE_NOT_FOUND";
    case 0x80090016: return "NTE_BAD_KEYSET";
    case 0x80090022: return "NTE_SILENT_CONTEXT";
    case 0x80090026: return "NTE_INVALID_HANDLE";
    case 0x80090027: return "NTE_INVALID_PARAMETER";
    case 0x80090028: return "NTE_BUFFER_TOO_SMALL";
    case 0x80090029: return "NTE_NOT_SUPPORTED";
    case 0x8009002A: return "NTE_NO_MORE_ITEMS";
    case 0x8009002D: return "NTE_INTERNAL_ERROR";
    case 0x80090030: return "NTE_DEVICE_NOT_READY";
    case 0x8010006B: return "SCARD_W_WRONG_CHV";
    case 0x8010006C: return "SCARD_W_CHV_BLOCKED";
  }
  char buf[32];
  snprintf(buf, sizeof buf, "0x%08lx", static_cast<unsigned long>(s));
  return buf;
}

// NTE names compare readably in Catch's output: REQUIRE(Nte(x) == Nte(NTE_...)).
#define REQUIRE_NTE(expr, expected) REQUIRE(::vtoken::ksp::test::Nte(expr) == ::vtoken::ksp::test::Nte(expected))
#define CHECK_NTE(expr, expected) CHECK(::vtoken::ksp::test::Nte(expr) == ::vtoken::ksp::test::Nte(expected))

inline std::wstring WideFrom(const std::vector<unsigned char>& bytes) {
  std::wstring s(reinterpret_cast<const wchar_t*>(bytes.data()), bytes.size() / sizeof(wchar_t));
  while (!s.empty() && s.back() == L'\0') s.pop_back();
  return s;
}

}  // namespace vtoken::ksp::test
