#pragma once
#include <optional>
#include <string_view>

namespace vtoken {
// "CKR_PIN_INCORRECT" for 0xA0; "CKR_VENDOR_DEFINED" for unknown values.
std::string_view CkrName(unsigned long rv);
std::optional<unsigned long> CkrFromName(std::string_view name);
}  // namespace vtoken
