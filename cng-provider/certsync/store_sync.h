#pragma once
// Keeps CurrentUser\MY (or another system store) in step with the token
// certificates: each gets CERT_KEY_PROV_INFO_PROP_ID naming the vtoken
// provider (dwProvType 0 = CNG) and the key, which is what makes Acrobat,
// Office, Edge and Chrome offer the key. Certificates this tool added are
// recognized by that property's provider name; nothing else is touched.
#include <string>
#include <vector>

#include <windows.h>
#include <wincrypt.h>

#include "cng-provider/src/status.h"

namespace vtoken::ksp {

struct TokenCertificate {
  std::wstring key_name;  // vtoken:<serial>:<id>
  std::wstring friendly_name;
  std::vector<unsigned char> der;
};

struct SyncReport {
  int added = 0, kept = 0, removed = 0;
};

// Adds what is missing and removes ours that are not wanted any more (all of
// ours when `wanted` is empty and remove_all is set).
KspResult<SyncReport> SyncStore(HCERTSTORE store, const std::vector<TokenCertificate>& wanted);
// The token certificates the agent shows now.
KspResult<std::vector<TokenCertificate>> TokenCertificates();
// Whether a store certificate carries key-provider info naming our provider.
bool IsOurs(PCCERT_CONTEXT cert, std::wstring* key_name);

}  // namespace vtoken::ksp
