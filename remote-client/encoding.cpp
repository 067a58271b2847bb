#include "remote-client/encoding.h"

#include <cstdio>

namespace vtoken::csc {

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
