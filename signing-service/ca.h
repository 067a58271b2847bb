#pragma once
// The service's development CA. Its EC P-256 key lives in DATA_DIR as an
// encrypted PKCS#8 PEM (AES-256-CBC, passphrase derived from the service
// master key), not in the HSM: it signs only a handful of certificates,
// and keeping it outside lets `credential issue` work with any PKCS#11
// module, including ones that cannot sign an arbitrary TBS.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/ossl.h"
#include "common/secure.h"
#include "crypto_util.h"

namespace vtoken::service {

struct CertRequest {
  std::string common_name;
  std::string email;  // subjectAltName rfc822Name, optional
  std::int64_t not_before = 0;
  std::int64_t not_after = 0;
  bool tls_server = false;
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
};

class Ca {
 public:
  static Result<Ca> LoadOrCreate(const std::filesystem::path& dir, const SecureBytes& master_key);
  Result<Bytes> Issue(EVP_PKEY* subject_key, const CertRequest& req) const;
  const Bytes& cert_der() const { return cert_der_; }
  // server.pem + server-key.pem for 127.0.0.1/::1/localhost, created when missing.
  Result<void> EnsureServerCert(const std::filesystem::path& dir) const;

 private:
  ossl::PKey key_;
  ossl::X509Ptr cert_;
  Bytes cert_der_;
};

// Fields credentials/info shows about a certificate.
struct CertSummary {
  std::string subject_dn;  // RFC 4514
  std::string issuer_dn;
  std::string serial_hex;  // upper case
};
Result<CertSummary> SummarizeCert(const Bytes& der);
std::string GeneralizedTime(std::int64_t t);  // YYYYMMDDHHmmssZ

}  // namespace vtoken::service
