#include "cng-provider/certsync/store_sync.h"

#include <cstring>
#include <set>

#include "cng-provider/src/agent_connection.h"
#include "cng-provider/src/key_catalog.h"
#include "cng-provider/src/ksp_abi.h"
#include "cng-provider/src/wide.h"

namespace vtoken::ksp {
namespace {

// The legacy key spec recorded with the certificate; OpenKey accepts 0, 1, 2.
constexpr DWORD kKeySpec = AT_SIGNATURE;

std::string LastError(const char* what) { return std::string(what) + " failed (error " + std::to_string(GetLastError()) + ")"; }

std::vector<unsigned char> Der(PCCERT_CONTEXT c) { return {c->pbCertEncoded, c->pbCertEncoded + c->cbCertEncoded}; }

KspResult<void> SetProvInfo(PCCERT_CONTEXT cert, const TokenCertificate& t) {
  std::wstring container = t.key_name, provider = kProviderName;
  CRYPT_KEY_PROV_INFO info{};
  info.pwszContainerName = container.data();
  info.pwszProvName = provider.data();
  info.dwProvType = 0;  // CNG key storage provider
  info.dwFlags = 0;     // a user key
  info.dwKeySpec = kKeySpec;
  if (!CertSetCertificateContextProperty(cert, CERT_KEY_PROV_INFO_PROP_ID, 0, &info))
    return KspFail(Status::kInternal, LastError("CertSetCertificateContextProperty(CERT_KEY_PROV_INFO_PROP_ID)"));
  if (!t.friendly_name.empty()) {
    CRYPT_DATA_BLOB name{static_cast<DWORD>((t.friendly_name.size() + 1) * sizeof(wchar_t)),
                         reinterpret_cast<BYTE*>(const_cast<wchar_t*>(t.friendly_name.c_str()))};
    CertSetCertificateContextProperty(cert, CERT_FRIENDLY_NAME_PROP_ID, 0, &name);  // cosmetic: failure is fine
  }
  return {};
}

}  // namespace

bool IsOurs(PCCERT_CONTEXT cert, std::wstring* key_name) {
  DWORD n = 0;
  if (!CertGetCertificateContextProperty(cert, CERT_KEY_PROV_INFO_PROP_ID, nullptr, &n) || n < sizeof(CRYPT_KEY_PROV_INFO)) return false;
  std::vector<unsigned char> buf(n);
  if (!CertGetCertificateContextProperty(cert, CERT_KEY_PROV_INFO_PROP_ID, buf.data(), &n)) return false;
  const auto* info = reinterpret_cast<const CRYPT_KEY_PROV_INFO*>(buf.data());
  if (!info->pwszProvName || std::wstring_view(info->pwszProvName) != kProviderName || info->dwProvType != 0) return false;
  if (key_name) *key_name = info->pwszContainerName ? info->pwszContainerName : L"";
  return true;
}

KspResult<SyncReport> SyncStore(HCERTSTORE store, const std::vector<TokenCertificate>& wanted) {
  SyncReport report;
  std::set<std::pair<std::wstring, std::vector<unsigned char>>> present;
  std::vector<PCCERT_CONTEXT> stale;
  for (PCCERT_CONTEXT c = CertEnumCertificatesInStore(store, nullptr); c; c = CertEnumCertificatesInStore(store, c)) {
    std::wstring key_name;
    if (!IsOurs(c, &key_name)) continue;
    bool keep = false;
    for (const auto& w : wanted)
      if (w.key_name == key_name && w.der == Der(c)) keep = true;
    if (keep) present.emplace(key_name, Der(c));
    else stale.push_back(CertDuplicateCertificateContext(c));
  }
  for (PCCERT_CONTEXT c : stale) {
    if (!CertDeleteCertificateFromStore(c)) return KspFail(Status::kInternal, LastError("CertDeleteCertificateFromStore"));
    ++report.removed;
  }
  for (const auto& w : wanted) {
    if (present.contains({w.key_name, w.der})) {
      ++report.kept;
      continue;
    }
    PCCERT_CONTEXT added = nullptr;
    // USE_EXISTING: the same certificate already in the store keeps its other properties.
    if (!CertAddEncodedCertificateToStore(store, X509_ASN_ENCODING | PKCS_7_ASN_ENCODING, w.der.data(),
                                          static_cast<DWORD>(w.der.size()), CERT_STORE_ADD_USE_EXISTING, &added))
      return KspFail(Status::kInternal, LastError("CertAddEncodedCertificateToStore"));
    auto set = SetProvInfo(added, w);
    CertFreeCertificateContext(added);
    VT_CHECK(set);
    ++report.added;
  }
  return report;
}

KspResult<std::vector<TokenCertificate>> TokenCertificates() {
  auto keys = VT_TRY(ListKeys(Agent()));
  std::vector<TokenCertificate> out;
  for (const auto& k : keys) {
    if (k.certificate.empty()) continue;
    TokenCertificate t;
    t.key_name = Widen(k.name);
    t.friendly_name = Widen((k.label.empty() ? k.name : k.label) + " (vtoken " + (k.token_label.empty() ? k.serial : k.token_label) + ")");
    t.der = k.certificate;
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace vtoken::ksp
