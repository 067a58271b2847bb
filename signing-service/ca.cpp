#include "ca.h"

#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <p11-kit/pkcs11.h>
#include <sys/stat.h>

#include <ctime>
#include <fstream>

namespace vtoken::service {
namespace fs = std::filesystem;
namespace {

std::string CaPassphrase(const SecureBytes& master_key) {
  std::string in = "vtoken-ca-key:";
  in.append(reinterpret_cast<const char*>(master_key.data()), master_key.size());
  auto h = Sha256(in);
  WipeMemory(in.data(), in.size());
  return HexEncode(h);
}

ossl::PKey NewEcKey() { return ossl::PKey(EVP_EC_gen("prime256v1")); }

bool AddExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

bool SetSerial(X509* cert) {
  Bytes serial = RandomBytes(16);
  serial[0] &= 0x7f;
  serial[0] |= 0x01;  // positive and exactly 16 bytes
  ossl::Bignum bn(BN_bin2bn(serial.data(), static_cast<int>(serial.size()), nullptr));
  return bn && BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) != nullptr;
}

ossl::X509Ptr NewCert(EVP_PKEY* key, const std::string& cn, std::int64_t nb, std::int64_t na) {
  ossl::X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  SetSerial(cert.get());
  time_t tnb = static_cast<time_t>(nb), tna = static_cast<time_t>(na);
  X509_time_adj_ex(X509_getm_notBefore(cert.get()), 0, 0, &tnb);
  X509_time_adj_ex(X509_getm_notAfter(cert.get()), 0, 0, &tna);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("vtoken demo"), -1, -1, 0);
  X509_set_pubkey(cert.get(), key);
  return cert;
}

Bytes ToDer(X509* cert) {
  unsigned char* out = nullptr;
  int len = i2d_X509(cert, &out);
  Bytes der(out, out + std::max(len, 0));
  OPENSSL_free(out);
  return der;
}

bool WritePrivate(const fs::path& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) return false;
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
  f << data;
  return static_cast<bool>(f);
}

std::string Pem(X509* cert) {
  ossl::Bio bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  char* p = nullptr;
  long n = BIO_get_mem_data(bio.get(), &p);
  return std::string(p, n);
}

std::int64_t Now() { return static_cast<std::int64_t>(std::time(nullptr)); }

}  // namespace

Result<Ca> Ca::LoadOrCreate(const fs::path& dir, const SecureBytes& master_key) {
  Ca ca;
  auto cert_path = dir / "ca.pem";
  auto key_path = dir / "ca-key.pem";
  std::string pass = CaPassphrase(master_key);
  if (!fs::exists(cert_path)) {
    ca.key_ = NewEcKey();
    if (!ca.key_) return Fail(CKR_GENERAL_ERROR, "cannot generate the CA key");
    std::int64_t now = Now();
    ca.cert_ = NewCert(ca.key_.get(), "vtoken development CA", now - 3600, now + 10ll * 365 * 86400);
    X509_set_issuer_name(ca.cert_.get(), X509_get_subject_name(ca.cert_.get()));
    if (!AddExt(ca.cert_.get(), ca.cert_.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
        !AddExt(ca.cert_.get(), ca.cert_.get(), NID_key_usage, "critical,keyCertSign,cRLSign") ||
        !AddExt(ca.cert_.get(), ca.cert_.get(), NID_subject_key_identifier, "hash") ||
        X509_sign(ca.cert_.get(), ca.key_.get(), EVP_sha256()) <= 0)
      return Fail(CKR_GENERAL_ERROR, "cannot build the CA certificate");
    ossl::Bio bio(BIO_new(BIO_s_mem()));
    if (PEM_write_bio_PKCS8PrivateKey(bio.get(), ca.key_.get(), EVP_aes_256_cbc(), pass.data(),
                                      static_cast<int>(pass.size()), nullptr, nullptr) != 1)
      return Fail(CKR_GENERAL_ERROR, "cannot encrypt the CA key");
    char* p = nullptr;
    long n = BIO_get_mem_data(bio.get(), &p);
    if (!WritePrivate(key_path, std::string(p, n))) return Fail(CKR_GENERAL_ERROR, "cannot write " + key_path.string());
    std::ofstream(cert_path) << Pem(ca.cert_.get());
  } else {
    ossl::Bio cb(BIO_new_file(cert_path.c_str(), "r"));
    ossl::Bio kb(BIO_new_file(key_path.c_str(), "r"));
    if (!cb || !kb) return Fail(CKR_GENERAL_ERROR, "cannot read the CA files in " + dir.string());
    ca.cert_.reset(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
    ca.key_.reset(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, pass.data()));
    if (!ca.cert_ || !ca.key_) return Fail(CKR_GENERAL_ERROR, "cannot load the CA (wrong master key?)");
  }
  WipeMemory(pass.data(), pass.size());
  ca.cert_der_ = ToDer(ca.cert_.get());
  return ca;
}

Result<Bytes> Ca::Issue(EVP_PKEY* subject_key, const CertRequest& req) const {
  auto cert = NewCert(subject_key, req.common_name, req.not_before, req.not_after);
  X509* c = cert.get();
  X509_set_issuer_name(c, X509_get_subject_name(cert_.get()));
  bool ok = AddExt(c, cert_.get(), NID_basic_constraints, "critical,CA:FALSE") &&
            AddExt(c, cert_.get(), NID_subject_key_identifier, "hash") &&
            AddExt(c, cert_.get(), NID_authority_key_identifier, "keyid:always");
  std::string san;
  for (auto& d : req.dns_names) san += (san.empty() ? "" : ",") + std::string("DNS:") + d;
  for (auto& ip : req.ip_addresses) san += (san.empty() ? "" : ",") + std::string("IP:") + ip;
  if (!req.email.empty()) san += (san.empty() ? "" : ",") + std::string("email:") + req.email;
  if (req.tls_server) {
    ok = ok && AddExt(c, cert_.get(), NID_key_usage, "critical,digitalSignature,keyEncipherment") &&
         AddExt(c, cert_.get(), NID_ext_key_usage, "serverAuth");
  } else {
    ok = ok && AddExt(c, cert_.get(), NID_key_usage, "critical,digitalSignature,nonRepudiation") &&
         AddExt(c, cert_.get(), NID_ext_key_usage, "clientAuth,emailProtection");
  }
  if (!san.empty()) ok = ok && AddExt(c, cert_.get(), NID_subject_alt_name, san);
  if (!ok || X509_sign(c, key_.get(), EVP_sha256()) <= 0) return Fail(CKR_GENERAL_ERROR, "cannot issue the certificate");
  return ToDer(c);
}

Result<void> Ca::EnsureServerCert(const fs::path& dir) const {
  auto cert_path = dir / "server.pem";
  auto key_path = dir / "server-key.pem";
  if (fs::exists(cert_path) && fs::exists(key_path)) return {};
  auto key = NewEcKey();
  CertRequest req{"localhost", "", Now() - 3600, Now() + 2ll * 365 * 86400, true, {"localhost"},
                  {"127.0.0.1", "::1"}};
  auto der = VT_TRY(Issue(key.get(), req));
  const unsigned char* p = der.data();
  ossl::X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  ossl::Bio bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  char* kp = nullptr;
  long kn = BIO_get_mem_data(bio.get(), &kp);
  if (!WritePrivate(key_path, std::string(kp, kn))) return Fail(CKR_GENERAL_ERROR, "cannot write " + key_path.string());
  // The chain so clients that trust only the CA can build the path.
  std::ofstream(cert_path) << Pem(cert.get()) << Pem(cert_.get());
  return {};
}

Result<CertSummary> SummarizeCert(const Bytes& der) {
  const unsigned char* p = der.data();
  ossl::X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert) return Fail(CKR_GENERAL_ERROR, "bad certificate in the store");
  auto name = [](X509_NAME* n) {
    ossl::Bio bio(BIO_new(BIO_s_mem()));
    X509_NAME_print_ex(bio.get(), n, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
    char* d = nullptr;
    long len = BIO_get_mem_data(bio.get(), &d);
    return std::string(d, len);
  };
  CertSummary s;
  s.subject_dn = name(X509_get_subject_name(cert.get()));
  s.issuer_dn = name(X509_get_issuer_name(cert.get()));
  ossl::Bignum bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert.get()), nullptr));
  char* hex = BN_bn2hex(bn.get());
  s.serial_hex = hex;
  OPENSSL_free(hex);
  return s;
}

std::string GeneralizedTime(std::int64_t t) {
  time_t tt = static_cast<time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d%H%M%SZ", &tm);
  return buf;
}

}  // namespace vtoken::service
