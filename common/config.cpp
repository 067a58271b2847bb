#include "common/config.h"

#include <p11-kit/pkcs11.h>

#include <ini.h>

#include <charconv>

#include "common/paths.h"
#include <cstdio>

namespace vtoken {
namespace {

enum class Kind { kString, kInt, kBool, kPath };

struct Key {
  const char* name;  // section.key
  Kind kind;
  const char* default_value;
  long min = 0;
  long max = 0;
};

// The one list of every configuration key. Keep docs/configuration.md in step.
constexpr Key kSchema[] = {
    // [agent]
    {"agent.program", Kind::kPath, ""},             // vtokend to start on demand; empty = next to the module, then the installed one
    {"agent.autostart", Kind::kBool, "true"},       // module starts vtokend when none answers
    {"agent.socket", Kind::kPath, ""},              // empty = $XDG_RUNTIME_DIR/vtoken/agent.sock
    {"agent.tcp_listen", Kind::kString, ""},        // loopback TCP for Wine/Windows clients: PORT or 127.0.0.1:PORT; empty = off
    {"agent.idle_exit_seconds", Kind::kInt, "0", 0, 86400 * 365},  // 0 = never exit when idle
    {"agent.timeout_ms", Kind::kInt, "180000", 100, 3600000},     // module: wait this long for any agent reply (a cloud code prompt included)
    {"agent.log_level", Kind::kString, "info"},     // error | warning | info | debug
    // [token] defaults for new emulated tokens
    {"token.pin_retries", Kind::kInt, "3", 1, 15},
    {"token.puk_retries", Kind::kInt, "10", 1, 15},
    {"token.pin_min_length", Kind::kInt, "4", 4, 64},
    {"token.pin_max_length", Kind::kInt, "16", 4, 64},
    {"token.pin_digits_only", Kind::kBool, "false"},
    {"token.kdf", Kind::kString, "scrypt"},         // scrypt | pbkdf2
    // [cloud] cloud tokens (CSC API v2 signing services)
    {"cloud.service_url", Kind::kString, "https://127.0.0.1:8443"},  // vtoken login's default service
    {"cloud.ca_file", Kind::kPath, ""},             // CA bundle for the service; empty = the reference service's dev CA if present, else the system store
    {"cloud.authorization", Kind::kString, "prompt"},  // where signature codes come from: prompt (pinentry) | command (otp_command)
    {"cloud.pinentry", Kind::kString, "pinentry"},  // the pinentry program (name in PATH or absolute path)
    {"cloud.otp_command", Kind::kString, ""},       // shell command printing a code; weakens two-factor authorization
    {"cloud.always_authenticate", Kind::kBool, "false"},  // CKA_ALWAYS_AUTHENTICATE on every cloud key (code by C_Login(CKU_CONTEXT_SPECIFIC))
    {"cloud.always_authenticate_credentials", Kind::kString, ""},  // ... or on these credential IDs only (comma-separated)
    {"cloud.scal1_window_seconds", Kind::kInt, "300", 0, 3600},  // one SCAL1 code covers up to multisign signatures this long
    {"cloud.timeout_ms", Kind::kInt, "20000", 1000, 300000},     // each call to the service
    {"cloud.prompt_timeout_seconds", Kind::kInt, "120", 5, 3600},  // a prompt or otp_command without an answer is cancelled
    {"cloud.refresh_seconds", Kind::kInt, "300", 1, 86400},        // background refresh of the credentials (and check of the session)
    {"cloud.browser", Kind::kString, ""},           // vtoken login: command that opens a URL; empty = xdg-open
    // [pkcs11]
    {"pkcs11.log_level", Kind::kString, "warning"},
};

const Key* FindKey(const std::string& name) {
  for (const auto& k : kSchema)
    if (name == k.name) return &k;
  return nullptr;
}

Result<void> Validate(const Key& key, const std::string& value) {
  switch (key.kind) {
    case Kind::kInt: {
      long v = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
      if (ec != std::errc() || p != value.data() + value.size())
        return Fail(CKR_ARGUMENTS_BAD, std::string(key.name) + " must be a whole number, not '" + value + "'");
      if (v < key.min || v > key.max)
        return Fail(CKR_ARGUMENTS_BAD, std::string(key.name) + " must be between " + std::to_string(key.min) +
                                           " and " + std::to_string(key.max));
      return {};
    }
    case Kind::kBool:
      if (value == "true" || value == "false" || value == "yes" || value == "no" || value == "1" || value == "0")
        return {};
      return Fail(CKR_ARGUMENTS_BAD, std::string(key.name) + " must be true or false, not '" + value + "'");
    case Kind::kPath:
      if (!value.empty() && value[0] != '/' && value[0] != '~')
        return Fail(CKR_ARGUMENTS_BAD, std::string(key.name) + " must be an absolute path");
      return {};
    case Kind::kString: {
      std::string name = key.name;
      if (name.ends_with("log_level") && value != "error" && value != "warning" && value != "info" && value != "debug")
        return Fail(CKR_ARGUMENTS_BAD, name + " must be error, warning, info or debug");
      if (name == "token.kdf" && value != "scrypt" && value != "pbkdf2")
        return Fail(CKR_ARGUMENTS_BAD, "token.kdf must be scrypt or pbkdf2");
      if (name == "cloud.authorization" && value != "prompt" && value != "command")
        return Fail(CKR_ARGUMENTS_BAD, "cloud.authorization must be prompt or command");
      if (name == "cloud.service_url" && !value.starts_with("https://"))
        return Fail(CKR_ARGUMENTS_BAD, "cloud.service_url must start with https://");
      return {};
    }
  }
  return {};
}

struct ParseState {
  Config* config;
  std::string error;
};

}  // namespace

Config::Config() {
  for (const auto& k : kSchema) values_[k.name] = k.default_value;
}

Result<void> Config::Set(const std::string& section_key, const std::string& value) {
  const Key* key = FindKey(section_key);
  if (!key) return Fail(CKR_ARGUMENTS_BAD, "unknown setting '" + section_key + "'");
  VT_CHECK(Validate(*key, value));
  values_[section_key] = value;
  return {};
}

Result<Config> Config::Load(const std::filesystem::path& file) {
  Config config;
  config.source_ = file;
  std::FILE* f = std::fopen(file.c_str(), "r");
  if (!f) return config;  // no file: defaults
  ParseState state{&config, {}};
  int line = ini_parse_file(
      f,
      [](void* user, const char* section, const char* name, const char* value) -> int {
        auto* s = static_cast<ParseState*>(user);
        auto r = s->config->Set(std::string(section) + "." + name, value);
        if (!r) {
          s->error = r.error().message;
          return 0;
        }
        return 1;
      },
      &state);
  std::fclose(f);
  if (line != 0) {
    std::string why = state.error.empty() ? "syntax error" : state.error;
    return Fail(CKR_ARGUMENTS_BAD, file.string() + ":" + std::to_string(line) + ": " + why);
  }
  return config;
}

Result<Config> Config::LoadDefault() { return Load(paths::ConfigFile()); }

std::string Config::GetString(const std::string& section_key) const {
  auto it = values_.find(section_key);
  return it == values_.end() ? std::string() : it->second;
}

long Config::GetInt(const std::string& section_key) const {
  return std::stol(GetString(section_key));
}

bool Config::GetBool(const std::string& section_key) const {
  const std::string v = GetString(section_key);
  return v == "true" || v == "yes" || v == "1";
}

}  // namespace vtoken
