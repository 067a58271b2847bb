#pragma once
// vtoken sign FILE...: detached CAdES (.p7s) signatures of many files with
// the cloud token, authorized with one code. The files are hashed here; only
// the hashes of the signed attributes go to the agent (cloud_sign_batch),
// and from there to the signing service.
#include <string>
#include <vector>

#include "tokend/cli/cli.h"

namespace vtoken::agent::cli {

struct SignOptions {
  std::vector<std::string> files;
  std::string key;              // credential ID or label (CKA_LABEL); "" = the only credential
  std::string out_dir;          // "" = each .p7s beside its file
  std::string hash = "sha256";  // sha256, sha384, sha512
  bool pss = false;             // RSA keys: RSASSA-PSS instead of PKCS#1 v1.5
  bool progress = true;         // the progress bar (only on a terminal anyway)
};

int Sign(Context& ctx, const SignOptions& options);

}  // namespace vtoken::agent::cli
