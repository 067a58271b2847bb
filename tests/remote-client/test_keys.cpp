#include "test_keys.h"

#include <stdexcept>

#include <openssl/evp.h>
#include <openssl/x509.h>

namespace vtoken::csc::test {

TestCert MakeCert(const std::string& kind) {
  TestCert out;
  if (kind == "rsa2048") out.key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048}));
  else if (kind == "p256") out.key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  else if (kind == "p384") out.key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"));
  if (!out.key) throw std::runtime_error("keygen failed");
  ossl::X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_set_pubkey(cert.get(), out.key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("test"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  if (X509_sign(cert.get(), out.key.get(), EVP_sha256()) <= 0) throw std::runtime_error("sign failed");
  unsigned char* der = nullptr;
  const int len = i2d_X509(cert.get(), &der);
  out.der.assign(der, der + len);
  OPENSSL_free(der);
  out.base64 = Base64Encode(out.der);
  return out;
}

const TestCert& Rsa() {
  static const TestCert cert = MakeCert("rsa2048");
  return cert;
}
const TestCert& P256() {
  static const TestCert cert = MakeCert("p256");
  return cert;
}
const TestCert& P384() {
  static const TestCert cert = MakeCert("p384");
  return cert;
}

}  // namespace vtoken::csc::test
