#pragma once
// The barrier between the C ABI and C++ (bridge.cpp). Guard runs one
// implementation and turns whatever comes out of it into a CK_RV.
#include <p11-kit/pkcs11.h>

#include "common/error.h"

namespace vtoken::pkcs11 {

CK_RV ResolveResult(const char* name, const Result<void>& result) noexcept;
// Called inside a catch block: maps the current exception to a CK_RV.
CK_RV ResolveException(const char* name) noexcept;

template <class F>
CK_RV Guard(const char* name, F&& body) noexcept {
  try {
    return ResolveResult(name, body());
  } catch (...) {
    return ResolveException(name);
  }
}

}  // namespace vtoken::pkcs11
