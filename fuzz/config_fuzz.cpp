// libFuzzer target: vtoken.conf as the module (in C_Initialize, inside the
// application) and the agent load it. Any file gives a Config or an error
// that names the file and line; in a loaded one every whole-number key reads
// back as a value the schema accepts.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/config.h"

namespace {
// Never freed, so the exit handler that removes the directory can still use it.
const std::filesystem::path& ConfigPath() {
  static const std::filesystem::path* path = [] {
    char tmpl[] = "/tmp/vtoken-fuzz-config.XXXXXX";
    auto* p = new std::filesystem::path(std::filesystem::path(mkdtemp(tmpl)) / "vtoken.conf");
    std::atexit([] { std::filesystem::remove_all(ConfigPath().parent_path()); });
    return p;
  }();
  return *path;
}

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "config_fuzz: %s\n", why.c_str());
  std::abort();
}

const char* const kIntKeys[] = {"agent.idle_exit_seconds", "agent.timeout_ms", "token.pin_retries", "token.puk_retries",
                                "token.pin_min_length", "token.pin_max_length", "cloud.scal1_window_seconds",
                                "cloud.timeout_ms", "cloud.prompt_timeout_seconds", "cloud.refresh_seconds"};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::filesystem::path& file = ConfigPath();
  std::ofstream(file, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), size);
  auto config = vtoken::Config::Load(file);
  if (!config) {
    if (!config.error().message.starts_with(file.string() + ":"))  // "FILE:LINE: why"
      Die("an error that does not name the file: " + config.error().message);
    return 0;
  }
  for (const char* key : kIntKeys)
    if (auto back = config->Set(key, std::to_string(config->GetInt(key))); !back)
      Die(std::string(key) + " reads back as a value Set refuses: " + back.error().message);
  (void)config->GetBool("agent.autostart");
  (void)config->GetBool("cloud.always_authenticate");
  (void)config->GetString("cloud.otp_command");
  // The same text as one value through Set (what command-line overrides use).
  const std::string text(reinterpret_cast<const char*>(data), size);
  (void)config->Set("agent.timeout_ms", text);
  (void)config->Set("agent.autostart", text);
  (void)config->Set("no.such_key", text);
  return 0;
}
