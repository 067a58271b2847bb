#pragma once
// The C++ side of every implemented C_* function: C_Name forwards to Name,
// which returns Result<void> (the bridge turns an Error into its CK_RV).
// Generated from functions.h so the two never drift apart.
#include "common/error.h"
#include "pkcs11/functions.h"

namespace vtoken::pkcs11 {

#define VTOKEN_P11_DECLARE_IMPL(name, params) Result<void> name params;
#define VTOKEN_P11_DECLARE_UNSUP(name, params)
#define VTOKEN_P11_DECLARE_NOTPAR(name, params)
#define VTOKEN_P11_DECLARE(name, kind, params, args) VTOKEN_P11_DECLARE_##kind(name, params)
VTOKEN_PKCS11_FUNCTIONS(VTOKEN_P11_DECLARE)
#undef VTOKEN_P11_DECLARE

// The static function list (bridge.cpp).
CK_FUNCTION_LIST* FunctionList();

}  // namespace vtoken::pkcs11
