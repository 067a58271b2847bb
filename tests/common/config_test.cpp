#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "common/config.h"

using vtoken::Config;

namespace {
std::filesystem::path WriteTemp(const std::string& text) {
  auto path = std::filesystem::temp_directory_path() / ("vtoken-config-test-" + std::to_string(::getpid()) + ".conf");
  std::ofstream(path) << text;
  return path;
}
}  // namespace

TEST_CASE("defaults apply without a file") {
  auto c = Config::Load("/nonexistent/vtoken.conf");
  REQUIRE(c.has_value());
  CHECK(c->GetInt("token.pin_retries") == 3);
  CHECK(c->GetInt("token.puk_retries") == 10);
  CHECK(c->GetBool("agent.autostart"));
}

TEST_CASE("a valid file overrides defaults") {
  auto path = WriteTemp("[token]\npin_retries = 5\n[agent]\nautostart = no\n");
  auto c = Config::Load(path);
  std::filesystem::remove(path);
  REQUIRE(c.has_value());
  CHECK(c->GetInt("token.pin_retries") == 5);
  CHECK_FALSE(c->GetBool("agent.autostart"));
}

TEST_CASE("typos and bad values name the file and line") {
  auto path = WriteTemp("[token]\npin_retries = 3\npin_retires = 4\n");
  auto c = Config::Load(path);
  REQUIRE_FALSE(c.has_value());
  CHECK(c.error().message.find(":3:") != std::string::npos);
  CHECK(c.error().message.find("pin_retires") != std::string::npos);

  std::ofstream(path) << "[token]\npin_retries = 99\n";
  auto range = Config::Load(path);
  std::filesystem::remove(path);
  REQUIRE_FALSE(range.has_value());
  CHECK(range.error().message.find("between") != std::string::npos);
}
