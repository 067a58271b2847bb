#pragma once
#include <optional>
#include <string_view>

namespace vtoken {
// vtoken's one vendor-defined CK_RV (agent protocol only, never returned by
// the PKCS#11 module): the request said `no_prompt` and the operation would
// have had to ask a person for a PIN or code (docs/agent-protocol.md).
inline constexpr unsigned long kCkrPromptRequired = 0x80000000UL | 0x56540001UL;  // CKR_VENDOR_DEFINED | "VT" 1

// "CKR_PIN_INCORRECT" for 0xA0; "CKR_VENDOR_DEFINED" for unknown values.
std::string_view CkrName(unsigned long rv);
std::optional<unsigned long> CkrFromName(std::string_view name);
}  // namespace vtoken
