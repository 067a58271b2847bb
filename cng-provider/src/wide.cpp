#include "cng-provider/src/wide.h"

#include <windows.h>

#include <cstring>

namespace vtoken::ksp {

std::wstring Widen(std::string_view utf8) {
  if (utf8.empty()) return {};
  const int n = MultiByteToWideChar(CP_UTF8, 0, utf8.data(), static_cast<int>(utf8.size()), nullptr, 0);
  std::wstring out(static_cast<std::size_t>(n > 0 ? n : 0), L'\0');
  if (n > 0) MultiByteToWideChar(CP_UTF8, 0, utf8.data(), static_cast<int>(utf8.size()), out.data(), n);
  return out;
}

std::string Narrow(std::wstring_view utf16) {
  if (utf16.empty()) return {};
  const int n = WideCharToMultiByte(CP_UTF8, 0, utf16.data(), static_cast<int>(utf16.size()), nullptr, 0, nullptr, nullptr);
  std::string out(static_cast<std::size_t>(n > 0 ? n : 0), '\0');
  if (n > 0) WideCharToMultiByte(CP_UTF8, 0, utf16.data(), static_cast<int>(utf16.size()), out.data(), n, nullptr, nullptr);
  return out;
}

std::vector<std::uint8_t> WideBytes(std::wstring_view s) {
  std::vector<std::uint8_t> out((s.size() + 1) * sizeof(wchar_t), 0);
  std::memcpy(out.data(), s.data(), s.size() * sizeof(wchar_t));
  return out;
}

Secret PinFromProperty(const std::uint8_t* p, std::size_t cb) {
  SecureBytes wide_buf(cb + sizeof(wchar_t), 0);  // aligned copy, NUL-terminated
  std::memcpy(wide_buf.data(), p, cb);
  const auto* w = reinterpret_cast<const wchar_t*>(wide_buf.data());
  std::size_t chars = 0;
  while (chars < cb / sizeof(wchar_t) && w[chars] != L'\0') ++chars;
  if (chars == 0) return Secret();
  const int n = WideCharToMultiByte(CP_UTF8, 0, w, static_cast<int>(chars), nullptr, 0, nullptr, nullptr);
  if (n <= 0) return Secret();
  SecureBytes utf8(static_cast<std::size_t>(n), 0);
  WideCharToMultiByte(CP_UTF8, 0, w, static_cast<int>(chars), reinterpret_cast<char*>(utf8.data()), n, nullptr, nullptr);
  return Secret(utf8.data(), utf8.size());
}

}  // namespace vtoken::ksp
