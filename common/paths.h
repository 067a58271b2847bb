#pragma once
// Where vtoken keeps its state, following the XDG base directory spec so that
// users and tests can isolate everything by setting XDG_* variables.
#include <filesystem>

namespace vtoken::paths {

// $XDG_RUNTIME_DIR/vtoken (or /tmp/vtoken-<uid> when unset): sockets, pid file.
std::filesystem::path RuntimeDir();
// $XDG_DATA_HOME/vtoken (default ~/.local/share/vtoken): token databases.
std::filesystem::path DataDir();
// $XDG_CONFIG_HOME/vtoken (default ~/.config/vtoken).
std::filesystem::path ConfigDir();
// $VTOKEN_CONFIG if set, else ConfigDir()/vtoken.conf.
std::filesystem::path ConfigFile();
// RuntimeDir()/agent.sock
std::filesystem::path AgentSocket();

}  // namespace vtoken::paths
