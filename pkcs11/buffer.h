#pragma once
// The PKCS#11 output-buffer convention, written once:
//  - NULL buffer: a length query; *len receives the size, CKR_OK.
//  - buffer too small: *len receives the size, CKR_BUFFER_TOO_SMALL.
// Neither ends an active operation (callers check ErrorEndsOperation).
#include <p11-kit/pkcs11.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#include "common/error.h"

namespace vtoken::pkcs11 {

enum class Output { kLengthQuery, kFits };

// Checks an output buffer against the size a result will have, before the
// result is computed (so no signature is made only to be thrown away).
inline Result<Output> CheckOutput(CK_ULONG needed, const CK_BYTE* out, CK_ULONG_PTR out_len) {
  if (out_len == nullptr) return Fail(CKR_ARGUMENTS_BAD, "length pointer is NULL");
  if (out == nullptr) {
    *out_len = needed;
    return Output::kLengthQuery;
  }
  if (*out_len < needed) {
    *out_len = needed;
    return Fail(CKR_BUFFER_TOO_SMALL, "output buffer too small");
  }
  return Output::kFits;
}

// Copies a finished result out under the same convention.
inline Result<Output> CopyOutput(std::span<const std::uint8_t> data, CK_BYTE_PTR out, CK_ULONG_PTR out_len) {
  auto check = VT_TRY(CheckOutput(data.size(), out, out_len));
  if (check == Output::kFits) {
    if (!data.empty() && out != nullptr) std::memcpy(out, data.data(), data.size());
    *out_len = data.size();
  }
  return check;
}

// Whether an error ends the active operation (PKCS#11 v2.40 §5.2: all but the
// two buffer cases do).
inline bool ErrorEndsOperation(const Error& e) { return e.rv != CKR_BUFFER_TOO_SMALL; }

// Blank-padded, not NUL-terminated fixed-size text fields (labels, ids).
// Text longer than the field is cut at a UTF-8 character boundary.
template <std::size_t N>
void PadString(CK_UTF8CHAR (&field)[N], std::string_view text) {
  std::memset(field, ' ', N);
  std::size_t n = std::min(N, text.size());
  if (n < text.size())
    while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  std::memcpy(field, text.data(), n);
}

// Trailing blanks of a fixed-size field removed (C_InitToken's label).
inline std::string_view TrimPadded(const CK_UTF8CHAR* field, std::size_t n) {
  std::string_view s(reinterpret_cast<const char*>(field), n);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.remove_suffix(1);
  return s;
}

// Input pointers: NULL is allowed only for an empty input.
inline Result<std::span<const std::uint8_t>> InputBytes(const CK_BYTE* p, CK_ULONG n, const char* what) {
  if (p == nullptr && n != 0) return Fail(CKR_ARGUMENTS_BAD, std::string(what) + " is NULL");
  if (p == nullptr) return std::span<const std::uint8_t>{};
  return std::span<const std::uint8_t>(p, n);
}

}  // namespace vtoken::pkcs11
