#include "remote-client/oauth.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <p11-kit/pkcs11.h>

#include "remote-client/csc_error.h"
#include "remote-client/encoding.h"
#include "remote-client/response.h"

namespace vtoken::csc {
namespace {

bool Unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes one query value into a wiping buffer; nullopt if malformed.
std::optional<SecureString> Unescape(std::string_view in) {
  SecureString out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out += ' ';
    } else if (in[i] == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      const int hi = HexValue(in[i + 1]);
      const int lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

}  // namespace

void AppendFormEscaped(SecureString& out, std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (const char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (Unreserved(c)) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
}

std::string FormEscape(std::string_view value) {
  SecureString tmp;
  AppendFormEscaped(tmp, value);
  return std::string(tmp.begin(), tmp.end());
}

std::string PkceChallenge(std::string_view verifier) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(verifier.data(), verifier.size(), digest, &len, EVP_sha256(), nullptr);
  return Base64UrlEncode({digest, len});
}

Result<PkceRequest> MakePkce() {
  unsigned char random[32 + 16];
  if (RAND_bytes(random, sizeof random) != 1)
    return std::unexpected(Error{CKR_FUNCTION_FAILED, "csc: no randomness for PKCE"});
  PkceRequest out;
  std::string verifier = Base64UrlEncode({random, 32});
  out.verifier = Secret(verifier);
  out.challenge = PkceChallenge(verifier);
  out.state = Base64UrlEncode({random + 32, 16});
  WipeMemory(verifier.data(), verifier.size());
  WipeMemory(random, sizeof random);
  return out;
}

std::string BuildAuthorizeUrl(const AuthorizeUrlParams& p, const PkceRequest& pkce) {
  std::string url = p.oauth_base;
  while (!url.empty() && url.back() == '/') url.pop_back();
  url += "/oauth2/authorize?response_type=code";
  url += "&client_id=" + FormEscape(p.client_id);
  url += "&redirect_uri=" + FormEscape(p.redirect_uri);
  url += "&scope=" + FormEscape(p.scope);
  url += "&code_challenge=" + pkce.challenge;
  url += "&code_challenge_method=S256";
  url += "&state=" + FormEscape(pkce.state);
  if (!p.credential_id.empty()) url += "&credentialID=" + FormEscape(p.credential_id);
  if (!p.lang.empty()) url += "&lang=" + FormEscape(p.lang);
  return url;
}

Result<Secret> CodeFromRedirect(std::string_view redirect, std::string_view expected_state) {
  if (const auto q = redirect.find('?'); q != std::string_view::npos) redirect.remove_prefix(q + 1);
  if (const auto h = redirect.find('#'); h != std::string_view::npos) redirect = redirect.substr(0, h);
  std::optional<SecureString> code, state, error, description;
  while (!redirect.empty()) {
    const auto amp = redirect.find('&');
    const std::string_view pair = redirect.substr(0, amp);
    redirect = amp == std::string_view::npos ? std::string_view() : redirect.substr(amp + 1);
    const auto eq = pair.find('=');
    const std::string_view key = pair.substr(0, eq);
    auto value = Unescape(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    if (!value) return CscFail(CscErrorKind::BadResponse, "oauth2 redirect: malformed query");
    if (key == "code") code = std::move(value);
    else if (key == "state") state = std::move(value);
    else if (key == "error") error = std::move(value);
    else if (key == "error_description") description = std::move(value);
  }
  if (!state || std::string_view(state->data(), state->size()) != expected_state)
    return CscFail(CscErrorKind::BadResponse, "oauth2 redirect: state does not match (possible CSRF)");
  if (error) {
    std::string text = Printable(std::string_view(error->data(), error->size()), 64);
    if (description) text += ": " + Printable(std::string_view(description->data(), description->size()));
    return CscFail(CscErrorKind::Unauthorized, "oauth2 authorization refused: " + text);
  }
  if (!code || code->empty() || code->size() > kMaxTokenBytes)
    return CscFail(CscErrorKind::BadResponse, "oauth2 redirect: no authorization code");
  Secret out(std::string_view(code->data(), code->size()));
  WipeMemory(code->data(), code->size());
  return out;
}

}  // namespace vtoken::csc
