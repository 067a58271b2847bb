#pragma once
// UTF-16 (what NCrypt speaks) <-> UTF-8 (what the agent speaks).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/secure.h"

namespace vtoken::ksp {

std::wstring Widen(std::string_view utf8);
std::string Narrow(std::wstring_view utf16);
// A NUL-terminated UTF-16 string as bytes, terminator included (property values).
std::vector<std::uint8_t> WideBytes(std::wstring_view s);
// A PIN given as a property: UTF-16, NUL-terminated or not, cb bytes long.
Secret PinFromProperty(const std::uint8_t* p, std::size_t cb);

}  // namespace vtoken::ksp
