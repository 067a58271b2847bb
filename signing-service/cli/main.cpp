// vtoken-signing-service: the reference CSC API v2 signing service.
#include <cstdio>

#include "cli/cli.h"

namespace vtoken::service::cli {

std::optional<DataDir> OpenDataDir(const Globals& g) {
  auto d = DataDir::Open(g.data_dir.empty() ? DataDir::Default() : std::filesystem::path(g.data_dir));
  if (!d) {
    Error(d.error().message);
    return std::nullopt;
  }
  return std::move(*d);
}

int Error(const std::string& message, int rc) {
  std::fprintf(stderr, "vtoken-signing-service: %s\n", message.c_str());
  return rc;
}

}  // namespace vtoken::service::cli

int main(int argc, char** argv) {
  using namespace vtoken::service::cli;
  CLI::App app{"vtoken-signing-service: reference Cloud Signature Consortium API v2 signing service"};
  app.set_version_flag("--version", std::string("vtoken-signing-service ") + VTOKEN_VERSION);
  app.require_subcommand(1);
  app.fallthrough();  // global options may also follow the subcommand
  Globals g;
  app.add_option("--data-dir", g.data_dir, "State directory (default $XDG_DATA_HOME/vtoken-signing-service)");
  app.add_option("--hsm-module", g.hsm.module, "PKCS#11 module of the HSM (default: SoftHSMv2 token in the data dir)");
  app.add_option("--hsm-token", g.hsm.token_label, "Token label in the HSM (default vtoken-service)");
  app.add_option("--hsm-pin-file", g.hsm.pin_file, "File holding the HSM user PIN");
  AddServe(app, g);
  AddAccount(app, g);
  AddCredential(app, g);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kUsage;
  } catch (const std::exception& e) {
    return Error(e.what());
  }
  return g.rc;
}
