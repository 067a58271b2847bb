// credentials/list and credentials/info, and the validation of what they
// return: key metadata, certificate chain (parsed as X.509), auth objects.
#include <algorithm>

#include <openssl/x509.h>

#include "common/ossl.h"
#include "remote-client/csc_client.h"

namespace vtoken::csc {
namespace {

constexpr std::size_t kMaxPages = 50;
constexpr unsigned kMaxRsaBits = 8192;

bool Contains(const std::vector<std::string>& v, std::string_view s) {
  return std::ranges::find(v, s) != v.end();
}

Result<KeyInfo> ParseKey(const Reader& r) {
  KeyInfo key;
  key.algorithms = VT_TRY(r.Strings("algo", kMaxSmallArray, 128, true));
  key.bits = static_cast<unsigned>(VT_TRY(r.Int("len", 1, kMaxRsaBits)));
  key.enabled = VT_TRY(r.OptString("status", 32)).value_or("enabled") == "enabled";
  key.curve = VT_TRY(r.OptString("curve", 128)).value_or("");
  if (!key.curve.empty() || Contains(key.algorithms, oid::kEcPublicKey)) {
    key.type = KeyType::Ec;
    if (key.curve.empty()) key.curve = key.bits == 256 ? oid::kP256 : key.bits == 384 ? oid::kP384 : "";
    const bool known = (key.curve == oid::kP256 && key.bits == 256) ||
                       (key.curve == oid::kP384 && key.bits == 384) ||
                       (key.curve == oid::kP521 && key.bits == 521);
    if (!known) return std::unexpected(r.Bad("'" + r.Where("curve") + "' is an unsupported curve or does not match 'len'"));
  } else if (Contains(key.algorithms, oid::kRsaEncryption) || Contains(key.algorithms, oid::kRsaPss)) {
    key.type = KeyType::Rsa;
    if (key.bits < 1024) return std::unexpected(r.Bad("'" + r.Where("len") + "' is too small for RSA"));
  } else {
    return std::unexpected(r.Bad("'" + r.Where("algo") + "' names no supported key algorithm"));
  }
  return key;
}

// The end-entity certificate must carry the key credentials/info describes.
Result<void> CheckLeafKey(const Reader& r, const Bytes& der, const KeyInfo& key) {
  const unsigned char* p = der.data();
  ossl::X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert || p != der.data() + der.size())
    return std::unexpected(r.Bad("certificate is not DER X.509"));
  EVP_PKEY* pub = X509_get0_pubkey(cert.get());
  if (pub == nullptr) return std::unexpected(r.Bad("certificate has no usable public key"));
  const int id = EVP_PKEY_get_base_id(pub);
  const bool type_ok = key.type == KeyType::Ec ? id == EVP_PKEY_EC : (id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS);
  if (!type_ok || static_cast<unsigned>(EVP_PKEY_get_bits(pub)) != key.bits)
    return std::unexpected(r.Bad("the certificate's public key does not match 'key'"));
  return {};
}

Result<std::vector<Bytes>> ParseCertificates(const Reader& cert) {
  auto chain = VT_TRY(cert.Base64Array("certificates", kMaxChainLength, kMaxCertificateBytes, false));
  for (std::size_t i = 0; i < chain.size(); ++i) {
    const unsigned char* p = chain[i].data();
    ossl::X509Ptr x(d2i_X509(nullptr, &p, static_cast<long>(chain[i].size())));
    if (!x || p != chain[i].data() + chain[i].size())
      return std::unexpected(cert.Bad("'" + cert.Where("certificates") + "[" + std::to_string(i) +
                                      "]' is not a DER X.509 certificate"));
  }
  return chain;
}

Result<std::optional<std::chrono::system_clock::time_point>> OptTime(const Reader& r, const char* key) {
  const auto text = VT_TRY(r.OptString(key, 32));
  if (!text) return std::optional<std::chrono::system_clock::time_point>();
  auto t = ParseGeneralizedTime(*text);
  if (!t) return std::unexpected(r.Bad("'" + r.Where(key) + "' is not a GeneralizedTime"));
  return std::optional<std::chrono::system_clock::time_point>(*t);
}

Result<std::string> CheckId(std::string_view endpoint, std::string_view id) {
  if (id.empty() || id.size() > kMaxIdBytes)
    return CscFail(CscErrorKind::BadResponse, std::string(endpoint) + ": credential ID empty or too long");
  return std::string(id);
}

}  // namespace

Result<std::chrono::system_clock::time_point> ParseGeneralizedTime(std::string_view t) {
  // YYYYMMDDHHMMSSZ (RFC 5280 GeneralizedTime, as CSC uses it).
  if (t.size() != 15 || t[14] != 'Z' || t.substr(0, 14).find_first_not_of("0123456789") != std::string_view::npos)
    return CscFail(CscErrorKind::BadResponse, "time is not YYYYMMDDHHMMSSZ");
  auto num = [&](std::size_t pos, std::size_t len) {
    int v = 0;
    for (std::size_t i = pos; i < pos + len; ++i) v = v * 10 + (t[i] - '0');
    return v;
  };
  using namespace std::chrono;
  const year_month_day ymd{year(num(0, 4)), month(static_cast<unsigned>(num(4, 2))),
                           day(static_cast<unsigned>(num(6, 2)))};
  const int hh = num(8, 2), mm = num(10, 2), ss = num(12, 2);
  if (!ymd.ok() || hh > 23 || mm > 59 || ss > 60)
    return CscFail(CscErrorKind::BadResponse, "time out of range");
  return sys_days(ymd) + hours(hh) + minutes(mm) + seconds(ss);
}

Result<CredentialInfo> ParseCredentialInfo(std::string_view endpoint, const Json& object,
                                           std::string credential_id) {
  Reader r(endpoint, object);
  CredentialInfo info;
  info.id = std::move(credential_id);
  info.description = VT_TRY(r.OptString("description")).value_or("");
  info.signature_qualifier = VT_TRY(r.OptString("signatureQualifier", 128)).value_or("");
  const auto key = VT_TRY(r.OptObject("key"));
  if (!key) return std::unexpected(r.Bad("'key' is missing"));
  info.key = VT_TRY(ParseKey(*key));
  if (const auto cert = VT_TRY(r.OptObject("cert"))) {
    info.cert_status = VT_TRY(cert->OptString("status", 32)).value_or("");
    info.certificates = VT_TRY(ParseCertificates(*cert));
    if (!info.certificates.empty()) VT_CHECK(CheckLeafKey(*cert, info.certificates.front(), info.key));
    info.issuer_dn = VT_TRY(cert->OptString("issuerDN")).value_or("");
    info.subject_dn = VT_TRY(cert->OptString("subjectDN")).value_or("");
    info.serial_number = VT_TRY(cert->OptString("serialNumber", 128)).value_or("");
    info.valid_from = VT_TRY(OptTime(*cert, "validFrom"));
    info.valid_to = VT_TRY(OptTime(*cert, "validTo"));
  }
  if (const auto auth = VT_TRY(r.OptObject("auth"))) {
    info.auth_mode = VT_TRY(auth->OptString("mode", 64)).value_or("");
    info.auth_expression = VT_TRY(auth->OptString("expression", 256)).value_or("");
    for (const Reader& o : VT_TRY(auth->Objects("objects", kMaxSmallArray, false))) {
      AuthObject a;
      a.type = VT_TRY(o.String("type", 64));
      a.id = VT_TRY(o.String("id", 128));
      a.format = VT_TRY(o.OptString("format", 8)).value_or("");
      a.label = VT_TRY(o.OptString("label")).value_or("");
      a.description = VT_TRY(o.OptString("description")).value_or("");
      a.generator = VT_TRY(o.OptString("generator", 64)).value_or("");
      a.digits = static_cast<unsigned>(VT_TRY(o.OptInt("digits", 1, 16)).value_or(0));
      a.period = static_cast<unsigned>(VT_TRY(o.OptInt("period", 1, 3600)).value_or(0));
      info.auth_objects.push_back(std::move(a));
    }
  }
  info.scal = static_cast<int>(VT_TRY(r.OptInt("SCAL", 1, 2, true)).value_or(1));
  info.multisign = static_cast<unsigned>(VT_TRY(r.OptInt("multisign", 1, 100000)).value_or(1));
  info.lang = VT_TRY(r.OptString("lang", 64)).value_or("");
  if (const auto quota = VT_TRY(r.OptObject("quota"))) {
    Quota q;
    q.total = static_cast<std::uint64_t>(VT_TRY(quota->Int("total", 0, 1LL << 40)));
    q.used = static_cast<std::uint64_t>(VT_TRY(quota->Int("used", 0, 1LL << 40)));
    info.quota = q;
  }
  return info;
}

Result<std::vector<std::string>> Client::ListCredentials(OptDeadline d) {
  const Deadline deadline = Resolve(d);
  VT_CHECK(EnsureFreshToken(deadline));
  std::vector<std::string> ids;
  std::string page_token;
  for (std::size_t page = 0; page < kMaxPages; ++page) {
    Json request = {{"credentialInfo", false}};
    if (!page_token.empty()) request["pageToken"] = page_token;
    const std::string dump = request.dump();
    Call call{.endpoint = "credentials/list", .url = CscUrl("credentials/list"),
              .body = SecureBytes(dump.begin(), dump.end()), .auth = Auth::Bearer, .retry = Retry::Safe};
    const Json body = VT_TRY(Execute(std::move(call), deadline));
    Reader r("credentials/list", body);
    for (auto& id : VT_TRY(r.Strings("credentialIDs", kMaxCredentials, kMaxIdBytes, true))) {
      if (ids.size() >= kMaxCredentials)
        return std::unexpected(r.Bad("more than " + std::to_string(kMaxCredentials) + " credentials"));
      ids.push_back(VT_TRY(CheckId("credentials/list", id)));
    }
    page_token = VT_TRY(r.OptString("nextPageToken", kMaxIdBytes)).value_or("");
    if (page_token.empty()) return ids;
  }
  return CscFail(CscErrorKind::BadResponse, "credentials/list: too many pages");
}

Result<std::vector<CredentialInfo>> Client::ListCredentialInfos(OptDeadline d) {
  const Deadline deadline = Resolve(d);
  VT_CHECK(EnsureFreshToken(deadline));
  const Json request = {{"credentialInfo", true}, {"certificates", "chain"}, {"certInfo", true}, {"authInfo", true}};
  const std::string dump = request.dump();
  Call call{.endpoint = "credentials/list", .url = CscUrl("credentials/list"),
            .body = SecureBytes(dump.begin(), dump.end()), .auth = Auth::Bearer, .retry = Retry::Safe};
  const Json body = VT_TRY(Execute(std::move(call), deadline));
  Reader r("credentials/list", body);
  const auto ids = VT_TRY(r.Strings("credentialIDs", kMaxCredentials, kMaxIdBytes, true));
  const auto objects = VT_TRY(r.Objects("credentialInfos", kMaxCredentials, true));
  if (objects.size() != ids.size())
    return std::unexpected(r.Bad("'credentialInfos' and 'credentialIDs' differ in length"));
  std::vector<CredentialInfo> out;
  for (std::size_t i = 0; i < objects.size(); ++i) {
    const auto id = VT_TRY(objects[i].String("credentialID", kMaxIdBytes));
    if (id != ids[i]) return std::unexpected(r.Bad("'credentialInfos' is not in 'credentialIDs' order"));
    const Json& object = body["credentialInfos"][i];
    out.push_back(VT_TRY(ParseCredentialInfo("credentials/list", object, VT_TRY(CheckId("credentials/list", id)))));
  }
  std::lock_guard lock(mutex_);
  for (const auto& info : out) keys_[info.id] = info.key;
  return out;
}

Result<CredentialInfo> Client::GetCredentialInfo(std::string_view credential_id, OptDeadline d) {
  if (credential_id.empty() || credential_id.size() > kMaxIdBytes)
    return CscFail(CscErrorKind::InvalidRequest, "credentials/info: bad credential ID");
  const Deadline deadline = Resolve(d);
  VT_CHECK(EnsureFreshToken(deadline));
  const Json request = {{"credentialID", credential_id}, {"certificates", "chain"}, {"certInfo", true}, {"authInfo", true}};
  const std::string dump = request.dump();
  Call call{.endpoint = "credentials/info", .url = CscUrl("credentials/info"),
            .body = SecureBytes(dump.begin(), dump.end()), .auth = Auth::Bearer, .retry = Retry::Safe};
  const Json body = VT_TRY(Execute(std::move(call), deadline));
  auto info = VT_TRY(ParseCredentialInfo("credentials/info", body, std::string(credential_id)));
  std::lock_guard lock(mutex_);
  keys_[info.id] = info.key;
  return info;
}

Result<KeyInfo> Client::KeyFor(std::string_view credential_id, Deadline deadline) {
  {
    std::lock_guard lock(mutex_);
    if (const auto it = keys_.find(credential_id); it != keys_.end()) return it->second;
  }
  return VT_TRY(GetCredentialInfo(credential_id, deadline)).key;
}

}  // namespace vtoken::csc
