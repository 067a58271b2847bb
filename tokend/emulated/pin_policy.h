#pragma once
// Rules a new PIN or PUK must meet, and the rules for token labels and names.
#include <string>

#include "common/error.h"
#include "common/secure.h"

namespace vtoken::agent {

struct TokenPolicy;

// CKR_PIN_LEN_RANGE outside [pin_min, pin_max]; CKR_PIN_INVALID for a NUL or
// control character, or a non-digit under pin_digits_only.
Result<void> CheckPinPolicy(const TokenPolicy& policy, const Secret& pin);
// The policy itself must make sense (CKR_ARGUMENTS_BAD otherwise).
Result<void> CheckPolicy(const TokenPolicy& policy);
// Token label: at most 32 bytes, no NUL, no ':' (CKR_ARGUMENTS_BAD).
Result<void> CheckTokenLabel(const std::string& label);
// Token name (a file name): 1..64 bytes, no NUL, '/', '\\', not "." or "..".
Result<void> CheckTokenName(const std::string& name);

}  // namespace vtoken::agent
