#pragma once
// The vtoken-signing-service command line: serve, account *, credential *.
#include <CLI/CLI.hpp>

#include <string>

#include "data_dir.h"

namespace vtoken::service::cli {

// Exit codes.
constexpr int kOk = 0;
constexpr int kFailure = 1;      // runtime error (I/O, HSM, database)
constexpr int kUsage = 2;        // bad arguments
constexpr int kNotFound = 3;     // no such account / credential
constexpr int kExists = 4;       // account already exists

struct Globals {
  std::string data_dir;
  HsmOptions hsm;
  int rc = kOk;
};

void AddServe(CLI::App& app, Globals& g);
void AddAccount(CLI::App& app, Globals& g);
void AddCredential(CLI::App& app, Globals& g);

// Opens the data directory or prints why not.
std::optional<DataDir> OpenDataDir(const Globals& g);
int Error(const std::string& message, int rc = kFailure);

// The QR code of `text` in UTF-8 half blocks (two module rows per line).
std::string QrText(const std::string& text);

}  // namespace vtoken::service::cli
