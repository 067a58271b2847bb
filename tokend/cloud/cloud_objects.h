#pragma once
// The PKCS#11 objects of a cloud token, built from the credentials the
// service lists (credentials/list with credentialInfo): per credential the
// end-entity certificate, a public key and a private key stub sharing one
// CKA_ID (SHA-1 of the modulus or EC point, as for emulated keys), plus the
// chain's CA certificates (each once per token, category "authority", CKA_ID
// from their own key). Attributes come from the same builders as the
// emulated token's (tokend/emulated/object_attributes.*), so both kinds of
// token look alike to applications. Pure functions: no network, no state.
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/error.h"
#include "remote-client/csc_types.h"
#include "tokend/emulated/emulated_token.h"

namespace vtoken::agent::cloud {

// One object before it gets its oid.
struct CloudObject {
  std::string key;             // stable identity: "<credential>/cert", "/pub", "/priv", "ca/<sha1>"
  std::string credential_id;   // "" for chain certificates
  ObjectView view;             // oid filled in by the token
};

struct ObjectOptions {
  bool always_authenticate = false;  // CKA_ALWAYS_AUTHENTICATE of every private key
  std::set<std::string> always_authenticate_credentials;  // ... or of these credentials only
};

// Objects for every usable credential (RSA or EC key with a parsable
// certificate); a credential that cannot be shown is skipped with a reason
// in `skipped`.
std::vector<CloudObject> BuildCloudObjects(const std::vector<csc::CredentialInfo>& credentials,
                                           const ObjectOptions& options, std::vector<std::string>& skipped);

bool AlwaysAuthenticates(const ObjectOptions& options, const std::string& credential_id);

}  // namespace vtoken::agent::cloud
