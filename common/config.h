#pragma once
// vtoken.conf: an INI file (parsed by inih) whose keys are all declared in
// one schema (config.cpp, documented in docs/configuration.md). Unknown
// sections or keys, and values of the wrong type or range, are errors that
// name the file and line, so a typo never passes silently.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/error.h"

namespace vtoken {

class Config {
 public:
  // Defaults only (no file).
  Config();
  // Loads `file`; a missing file is not an error (defaults apply).
  static Result<Config> Load(const std::filesystem::path& file);
  // Loads paths::ConfigFile().
  static Result<Config> LoadDefault();

  std::string GetString(const std::string& section_key) const;
  long GetInt(const std::string& section_key) const;
  bool GetBool(const std::string& section_key) const;
  std::filesystem::path source() const { return source_; }

  // Sets a value after validating it (used by tests and command-line overrides).
  Result<void> Set(const std::string& section_key, const std::string& value);

 private:
  std::map<std::string, std::string> values_;  // "section.key" -> value
  std::filesystem::path source_;
};

}  // namespace vtoken
