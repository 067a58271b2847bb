#include "remote-client/encoding.h"

#include <array>
#include <cstdio>

namespace vtoken::csc {
namespace {

constexpr char kStd[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kUrl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string Encode(std::span<const std::uint8_t> data, const char* alphabet, bool pad) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const std::uint32_t v = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  const std::size_t rest = data.size() - i;
  if (rest > 0) {
    std::uint32_t v = data[i] << 16;
    if (rest == 2) v |= data[i + 1] << 8;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    if (rest == 2) out += alphabet[(v >> 6) & 63];
    if (pad) out.append(rest == 1 ? "==" : "=");
  }
  return out;
}

int Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

std::string Base64Encode(std::span<const std::uint8_t> data) { return Encode(data, kStd, true); }
std::string Base64UrlEncode(std::span<const std::uint8_t> data) { return Encode(data, kUrl, false); }

std::optional<Bytes> Base64Decode(std::string_view text, std::size_t max_bytes) {
  if (text.size() % 4 != 0) return std::nullopt;
  if (text.size() / 4 * 3 > max_bytes + 2) return std::nullopt;
  Bytes out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = text[i + k];
      if (c == '=' && last && k >= 2) {
        v[k] = 0;
        ++pad;
        continue;
      }
      if (pad > 0) return std::nullopt;  // data after padding
      v[k] = Value(c);
      if (v[k] < 0) return std::nullopt;
    }
    const std::uint32_t n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out.push_back(static_cast<std::uint8_t>(n >> 16));
    if (pad < 2) out.push_back(static_cast<std::uint8_t>(n >> 8));
    if (pad < 1) out.push_back(static_cast<std::uint8_t>(n));
    // Non-canonical encodings (stray bits under the padding) are refused.
    if (pad == 1 && (v[2] & 0x3) != 0) return std::nullopt;
    if (pad == 2 && (v[1] & 0xf) != 0) return std::nullopt;
  }
  if (out.size() > max_bytes) return std::nullopt;
  return out;
}

void AppendJsonString(SecureString& out, std::string_view value) {
  out += '"';
  for (const char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

SecretJsonBody::SecretJsonBody(std::string plain) {
  // `plain` is "{...}" from nlohmann::json::dump(); reopen it.
  text_.assign(plain.begin(), plain.end());
  empty_ = plain == "{}";
  if (!text_.empty() && text_.back() == '}') text_.pop_back();
}

void SecretJsonBody::AddSecret(std::string_view key, std::string_view secret_value) {
  if (!empty_) text_ += ',';
  empty_ = false;
  AppendJsonString(text_, key);
  text_ += ':';
  AppendJsonString(text_, secret_value);
}

void SecretJsonBody::AddRaw(std::string_view key, const SecureString& json_value) {
  if (!empty_) text_ += ',';
  empty_ = false;
  AppendJsonString(text_, key);
  text_ += ':';
  text_.append(json_value);
}

SecureBytes SecretJsonBody::Finish() {
  text_ += '}';
  SecureBytes out(text_.begin(), text_.end());
  WipeMemory(text_.data(), text_.size());
  text_.clear();
  return out;
}

}  // namespace vtoken::csc
