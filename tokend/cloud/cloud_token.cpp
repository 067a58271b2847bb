#include "tokend/cloud/cloud_token.h"

#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "common/ckr_names.h"
#include "common/der.h"
#include "remote-client/csc_error.h"
#include "tokend/cloud/code_source.h"
#include "tokend/log.h"

namespace vtoken::agent::cloud {
namespace {

using wire::Json;

// `vtoken status` warns from this many days before a certificate expires
// (what the service's rekey notice does).
constexpr std::int64_t kExpiryWarningDays = 45;

// One prompt at a time for the whole agent: two windows asking for a code
// at once would leave the person guessing which is which.
std::mutex g_prompt_mutex;

std::string SerialOf(const std::string& service, const std::string& account) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  const std::string in = service + "\n" + account;
  EVP_Digest(in.data(), in.size(), md, &len, EVP_sha256(), nullptr);
  char hex[17];
  for (int i = 0; i < 8; ++i) std::snprintf(hex + 2 * i, 3, "%02x", md[i]);
  return hex;
}

std::optional<csc::HashAlgo> HashOfMechanism(unsigned long m) {
  switch (m) {
    case CKM_SHA224: return csc::HashAlgo::Sha224;
    case CKM_SHA256: return csc::HashAlgo::Sha256;
    case CKM_SHA384: return csc::HashAlgo::Sha384;
    case CKM_SHA512: return csc::HashAlgo::Sha512;
    default: return std::nullopt;
  }
}

std::optional<csc::HashAlgo> HashOfMgf(unsigned long m) {
  switch (m) {
    case CKG_MGF1_SHA224: return csc::HashAlgo::Sha224;
    case CKG_MGF1_SHA256: return csc::HashAlgo::Sha256;
    case CKG_MGF1_SHA384: return csc::HashAlgo::Sha384;
    case CKG_MGF1_SHA512: return csc::HashAlgo::Sha512;
    default: return std::nullopt;
  }
}

std::optional<csc::HashAlgo> HashOfLength(std::size_t n) {
  switch (n) {
    case 28: return csc::HashAlgo::Sha224;
    case 32: return csc::HashAlgo::Sha256;
    case 48: return csc::HashAlgo::Sha384;
    case 64: return csc::HashAlgo::Sha512;
    default: return std::nullopt;
  }
}

// DigestInfo of a SHA-2 hash (with or without the NULL parameters) -> the
// hash and its algorithm; nullopt for SHA-1, MD5 or anything malformed.
std::optional<std::pair<wire::Bytes, csc::HashAlgo>> ParseDigestInfo(const wire::Bytes& in) {
  auto parsed = der::ParseDigestInfo(in);
  if (!parsed) return std::nullopt;
  switch (parsed->hash) {
    case der::Hash::kSha224: return std::pair{std::move(parsed->digest), csc::HashAlgo::Sha224};
    case der::Hash::kSha256: return std::pair{std::move(parsed->digest), csc::HashAlgo::Sha256};
    case der::Hash::kSha384: return std::pair{std::move(parsed->digest), csc::HashAlgo::Sha384};
    case der::Hash::kSha512: return std::pair{std::move(parsed->digest), csc::HashAlgo::Sha512};
    default: return std::nullopt;
  }
}

std::int64_t UnixSeconds(const std::optional<std::chrono::system_clock::time_point>& t) {
  if (!t) return 0;
  return std::chrono::duration_cast<std::chrono::seconds>(t->time_since_epoch()).count();
}

std::string HashName(csc::HashAlgo h) {
  switch (h) {
    case csc::HashAlgo::Sha224: return "SHA-224";
    case csc::HashAlgo::Sha256: return "SHA-256";
    case csc::HashAlgo::Sha384: return "SHA-384";
    case csc::HashAlgo::Sha512: return "SHA-512";
  }
  return "?";
}

// "2026-11-23" (UTC), for messages.
std::string Day(const std::optional<std::chrono::system_clock::time_point>& t) {
  if (!t) return "?";
  const std::time_t secs = std::chrono::system_clock::to_time_t(*t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d", &tm);
  return text;
}

// What the person can do about a refused signature: appended to the error
// (the agent's log, `vtoken sign`) after the service's own words.
std::string Advice(csc::CscErrorKind kind) {
  using K = csc::CscErrorKind;
  switch (kind) {
    case K::WrongCode:
      return "the authenticator code was wrong or already used: sign again with the next code "
             "(5 wrong codes in a row block signing)";
    case K::Blocked:
      return "signing is blocked after too many wrong codes: the signing service's administrator must unblock "
             "the account";
    case K::CertificateExpired: return "the certificate has expired: ask the signing service for a new one";
    case K::CertificateRevoked: return "the certificate was revoked: ask the signing service for a new one";
    case K::QuotaExceeded: return "the signature quota is used up: ask the signing service for more signatures";
    case K::Unauthorized: return "the session with the signing service ended: log in again (vtoken login)";
    case K::Unreachable:
    case K::Timeout:
    case K::TlsFailure:
    case K::BadResponse:
    case K::ServerError: return "the signing service could not be reached or did not answer properly: try again later";
    default: return {};
  }
}

}  // namespace

CloudSettings SettingsFromConfig(const Config& config) {
  CloudSettings s;
  s.service_url = config.GetString("cloud.service_url");
  s.ca_file = config.GetString("cloud.ca_file");
  if (s.ca_file.empty()) {
    std::filesystem::path data;
    if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) data = x;
    else if (const char* h = std::getenv("HOME"); h && *h) data = std::filesystem::path(h) / ".local/share";
    std::error_code ec;
    if (!data.empty() && std::filesystem::exists(data / "vtoken-signing-service/ca.pem", ec))
      s.ca_file = data / "vtoken-signing-service/ca.pem";
  }
  s.source = config.GetString("cloud.authorization") == "command" ? AuthSource::kCommand : AuthSource::kPrompt;
  s.otp_command = config.GetString("cloud.otp_command");
  s.pinentry = config.GetString("cloud.pinentry");
  s.scal1_window = std::chrono::seconds(config.GetInt("cloud.scal1_window_seconds"));
  s.timeout = std::chrono::milliseconds(config.GetInt("cloud.timeout_ms"));
  s.prompt_timeout = std::chrono::seconds(config.GetInt("cloud.prompt_timeout_seconds"));
  s.refresh_interval = std::chrono::seconds(config.GetInt("cloud.refresh_seconds"));
  s.objects.always_authenticate = config.GetBool("cloud.always_authenticate");
  std::string list = config.GetString("cloud.always_authenticate_credentials");
  for (std::size_t at = 0; at <= list.size();) {
    auto comma = list.find(',', at);
    if (comma == std::string::npos) comma = list.size();
    std::string id = list.substr(at, comma - at);
    while (!id.empty() && id.front() == ' ') id.erase(0, 1);
    while (!id.empty() && id.back() == ' ') id.pop_back();
    if (!id.empty()) s.objects.always_authenticate_credentials.insert(id);
    at = comma + 1;
  }
  return s;
}

CloudToken::CloudToken(std::uint64_t slot_id, std::string service_url, std::string account,
                       std::shared_ptr<csc::Client> client, CloudSettings settings)
    : slot_id_(slot_id),
      service_url_(std::move(service_url)),
      account_(std::move(account)),
      client_(std::move(client)),
      settings_(std::move(settings)),
      serial_(SerialOf(service_url_, account_)) {}

Error CloudToken::Note(const Error& e) {
  if (csc::KindOf(e) == csc::CscErrorKind::Unauthorized) {
    std::lock_guard lock(mu_);
    if (!dead_) dead_reason_ = e.message + " — " + Advice(csc::CscErrorKind::Unauthorized);
    dead_ = true;
  }
  return e;
}

std::string CloudToken::dead_reason() const {
  std::lock_guard lock(mu_);
  return dead_reason_;
}

Result<bool> CloudToken::Refresh() {
  auto infos = client_->ListCredentialInfos(CallDeadline());
  if (!infos) return std::unexpected(Note(infos.error()));
  std::vector<std::string> skipped;
  auto built = BuildCloudObjects(*infos, settings_.objects, skipped);
  for (const auto& s : skipped) LogWarning("cloud token '" + account_ + "': " + s + " (not shown)");
  std::lock_guard lock(mu_);
  std::vector<std::pair<std::string, ObjectView>> objects;
  std::map<std::string, Credential> credentials;
  for (auto& o : built) {
    auto [it, fresh] = oids_.emplace(o.key, next_oid_);
    if (fresh) ++next_oid_;
    o.view.oid = it->second;
    if (o.key.ends_with("/priv")) credentials[o.credential_id].private_oid = o.view.oid;
    objects.emplace_back(o.key, std::move(o.view));
  }
  for (auto& info : *infos)
    if (auto it = credentials.find(info.id); it != credentials.end()) it->second.info = std::move(info);
  auto same = [](const auto& a, const auto& b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](const auto& x, const auto& y) {
             return x.second.oid == y.second.oid && x.second.attrs == y.second.attrs;
           });
  };
  const bool changed = !same(objects, objects_);
  objects_ = std::move(objects);
  credentials_ = std::move(credentials);
  if (changed) ++generation_;
  return changed;
}

std::vector<ObjectView> CloudToken::Objects(bool user) const {
  std::lock_guard lock(mu_);
  std::vector<ObjectView> out;
  for (const auto& [key, o] : objects_)
    if (user || !o.is_private) out.push_back(o);
  return out;
}

std::uint64_t CloudToken::generation() const {
  std::lock_guard lock(mu_);
  return generation_;
}

TokenInfo CloudToken::Info() const {
  TokenInfo info;
  info.name = account_;
  info.label = account_.substr(0, 32);
  info.serial = serial_;
  info.slot_id = slot_id_;
  info.flags = CKF_TOKEN_INITIALIZED | CKF_PROTECTED_AUTHENTICATION_PATH | CKF_LOGIN_REQUIRED | CKF_WRITE_PROTECTED |
               CKF_USER_PIN_INITIALIZED;
  info.min_pin = 6;  // a TOTP code, when one is given as the PIN
  info.max_pin = 8;
  return info;
}

bool CloudToken::RequiresContextLogin(std::uint64_t oid) const {
  std::lock_guard lock(mu_);
  for (const auto& [id, c] : credentials_)
    if (c.private_oid == oid) return AlwaysAuthenticates(settings_.objects, id);
  return false;
}

Result<CloudToken::Credential> CloudToken::CredentialFor(const SignRequest& request) const {
  std::lock_guard lock(mu_);
  if (!request.credential_id.empty()) {
    auto it = credentials_.find(request.credential_id);
    if (it == credentials_.end())
      return Fail(CKR_KEY_HANDLE_INVALID, "no credential '" + request.credential_id + "' on cloud token '" + account_ + "'");
    return it->second;
  }
  for (const auto& [id, c] : credentials_)
    if (c.private_oid == request.oid) return c;
  for (const auto& [key, o] : objects_)
    if (o.oid == request.oid) return Fail(CKR_KEY_TYPE_INCONSISTENT, "this object is not a private key");
  return Fail(CKR_OBJECT_HANDLE_INVALID, "no such object on cloud token '" + account_ + "'");
}

Result<void> CloudToken::CheckUsable(const Credential& c, std::size_t count) const {
  using K = csc::CscErrorKind;
  const auto& i = c.info;
  const std::string who = "credential " + i.id + " (" + i.subject_dn + ")";
  if (i.cert_status == "revoked")
    return csc::CscFail(K::CertificateRevoked, who + ": the certificate is revoked — " + Advice(K::CertificateRevoked));
  if (i.cert_status == "expired" || (i.valid_to && *i.valid_to <= std::chrono::system_clock::now()))
    return csc::CscFail(K::CertificateExpired, who + ": the certificate expired on " + Day(i.valid_to) + " — " +
                                                   Advice(K::CertificateExpired));
  if (i.quota && i.quota->used + count > i.quota->total) {
    const auto left = i.quota->total > i.quota->used ? i.quota->total - i.quota->used : 0;
    return csc::CscFail(K::QuotaExceeded, who + ": " + std::to_string(left) + " of " + std::to_string(i.quota->total) +
                                              " signatures left in the quota, " + std::to_string(count) +
                                              " needed — " + Advice(K::QuotaExceeded));
  }
  return {};
}

void CloudToken::Account(const std::string& id, std::size_t signed_now) {
  std::lock_guard lock(mu_);
  if (auto it = credentials_.find(id); it != credentials_.end() && it->second.info.quota)
    it->second.info.quota->used += signed_now;
}

Error CloudToken::Learn(const std::string& id, const Error& e) {
  using K = csc::CscErrorKind;
  Error out = Note(e);
  const auto kind = csc::KindOf(e);
  if (!kind) return out;
  {
    std::lock_guard lock(mu_);
    auto it = credentials_.find(id);
    auto* info = it == credentials_.end() ? nullptr : &it->second.info;
    switch (*kind) {
      case K::CertificateExpired:
      case K::CertificateRevoked:
        if (info) {
          info->cert_status = *kind == K::CertificateExpired ? "expired" : "revoked";
          info->key.enabled = false;
        }
        break;
      case K::QuotaExceeded:
        if (info && info->quota) info->quota->used = std::max(info->quota->used, info->quota->total);
        break;
      case K::WrongCode:
        prompt_note_ = "The last code was not accepted (wrong or already used): enter the next one.";
        break;
      case K::Blocked:
        prompt_note_ = "Signing was blocked after too many wrong codes; it works again once the service unblocks it.";
        break;
      default: break;
    }
  }
  if (const auto advice = Advice(*kind); !advice.empty() && out.message.find(advice) == std::string::npos)
    out.message += " — " + advice;
  return out;
}

Result<CloudToken::Mapped> CloudToken::Map(const Credential& c, unsigned long mechanism, const MechanismParams& params,
                                           const wire::Bytes& input) const {
  const bool ec = c.info.key.type == csc::KeyType::Ec;
  switch (mechanism) {
    case CKM_RSA_PKCS: {
      if (ec) return Fail(CKR_KEY_TYPE_INCONSISTENT, "CKM_RSA_PKCS needs an RSA key");
      auto parsed = ParseDigestInfo(input);
      if (!parsed)
        return Fail(CKR_DATA_INVALID,
                    "the cloud token signs only a DigestInfo of a SHA-224/256/384/512 hash with CKM_RSA_PKCS "
                    "(the service signs hashes, not raw data)");
      return Mapped{std::move(parsed->first), parsed->second, {csc::SignAlgo::Kind::RsaPkcs1, {}}};
    }
    case CKM_RSA_PKCS_PSS: {
      if (ec) return Fail(CKR_KEY_TYPE_INCONSISTENT, "CKM_RSA_PKCS_PSS needs an RSA key");
      auto hash = HashOfMechanism(params.hash);
      auto mgf = HashOfMgf(params.mgf);
      if (!hash || !mgf) return Fail(CKR_MECHANISM_PARAM_INVALID, "PSS needs a SHA-2 hash and MGF1 with SHA-2");
      if (input.size() != csc::HashSize(*hash)) return Fail(CKR_DATA_LEN_RANGE, "PSS input must be a hash of the PSS hash's size");
      csc::SignAlgo algo{csc::SignAlgo::Kind::RsaPss, {*hash, *mgf, static_cast<unsigned>(params.salt_len)}};
      return Mapped{input, *hash, algo};
    }
    case CKM_ECDSA: {
      if (!ec) return Fail(CKR_KEY_TYPE_INCONSISTENT, "CKM_ECDSA needs an EC key");
      auto hash = HashOfLength(input.size());
      if (!hash)
        return Fail(CKR_DATA_LEN_RANGE, "the cloud token signs SHA-224/256/384/512 hashes with CKM_ECDSA (28, 32, 48 or 64 bytes)");
      return Mapped{input, *hash, {csc::SignAlgo::Kind::Ecdsa, {}}};
    }
    default:
      return Fail(CKR_MECHANISM_INVALID, "the cloud token signs with CKM_RSA_PKCS, CKM_RSA_PKCS_PSS and CKM_ECDSA");
  }
}

Result<Secret> CloudToken::Code(const Credential& c, const SignRequest& request, std::size_t count) {
  if (request.code) return *request.code;
  const Requester& who = request.who;
  if (settings_.source == AuthSource::kPrompt && request.no_prompt)
    return Fail(kCkrPromptRequired, "a signature with credential " + c.info.id + " of cloud token '" + account_ +
                                        "' needs a code from the person (cloud.authorization is 'prompt') and the caller asked for no prompt");
  std::lock_guard prompt(g_prompt_mutex);
  if (settings_.source == AuthSource::kCommand) {
    if (settings_.otp_command.empty())
      return Fail(CKR_FUNCTION_FAILED, "cloud.authorization is 'command' but cloud.otp_command is empty");
    LogInfo("cloud token '" + account_ + "': code for " + std::to_string(count) + " signature(s) by " + who.app +
            " (pid " + std::to_string(who.pid) + ") taken from cloud.otp_command");
    return RunCodeCommand(settings_.otp_command, settings_.prompt_timeout);
  }
  PromptText text;
  text.title = "vtoken: cloud signature";
  std::string what = count == 1 ? "a signature" : std::to_string(count) + " signatures";
  text.description = (who.app.empty() ? std::string("An application") : who.app) +
                     (who.pid ? " (pid " + std::to_string(who.pid) + ")" : std::string()) + " asks for " + what +
                     " with\n" + c.info.subject_dn + "\nissued by " + c.info.issuer_dn + "\n\nEnter the code from your authenticator app (" +
                     account_ + ").";
  text.prompt = "Code:";
  {
    std::lock_guard lock(mu_);
    std::string note = std::exchange(prompt_note_, std::string());  // why the last code did not work
    if (text.error.empty()) text.error = std::move(note);
  }
  LogInfo("cloud token '" + account_ + "': asking for a code (" + what + " by " + who.app + ")");
  auto code = AskPinentry(settings_.pinentry, text, settings_.prompt_timeout);
  if (!code) LogInfo("cloud token '" + account_ + "': no code: " + code.error().message);
  return code;
}

std::shared_ptr<std::mutex> CloudToken::CredentialMutex(const std::string& id) {
  std::lock_guard lock(mu_);
  auto& m = credential_mutexes_[id];
  if (!m) m = std::make_shared<std::mutex>();
  return m;
}

Result<wire::Bytes> CloudToken::SignOnce(const Credential& c, const Mapped& m, const SignRequest& request,
                                         bool allow_window) {
  const std::string& id = c.info.id;
  const std::vector<wire::Bytes> hashes{m.hash};
  const bool windowed = allow_window && c.info.scal == 1 && settings_.scal1_window.count() > 0 &&
                        !request.single_use_code && c.info.multisign > 1;
  std::shared_ptr<csc::Sad> sad;
  if (windowed) {
    auto cm = CredentialMutex(id);
    std::lock_guard credential_lock(*cm);  // one authorization at a time per credential: others wait and share it
    {
      std::lock_guard lock(mu_);
      auto it = windows_.find(id);
      const auto now = std::chrono::steady_clock::now();
      if (it != windows_.end() && it->second.left > 0 && now < it->second.until && now < it->second.sad->expires) {
        --it->second.left;
        sad = it->second.sad;
      } else if (it != windows_.end()) {
        windows_.erase(it);
      }
    }
    if (!sad) {
      unsigned n = c.info.multisign;
      if (c.info.quota && c.info.quota->total > c.info.quota->used)
        n = static_cast<unsigned>(std::min<std::uint64_t>(n, c.info.quota->total - c.info.quota->used));
      Secret code = VT_TRY(Code(c, request, 1));
      auto authorized = client_->Authorize(id, code, std::max(1u, n), {}, m.hash_algo, CallDeadline());
      if (!authorized) return std::unexpected(Learn(id, authorized.error()));
      sad = std::make_shared<csc::Sad>(std::move(*authorized));
      std::lock_guard lock(mu_);
      windows_[id] = Window{sad, sad->num_signatures - 1, std::chrono::steady_clock::now() + settings_.scal1_window};
      LogInfo("cloud token '" + account_ + "': SCAL1 authorization for " + std::to_string(sad->num_signatures) +
              " signature(s) of credential " + id + " (window " + std::to_string(settings_.scal1_window.count()) + " s)");
    }
  } else {
    Secret code = VT_TRY(Code(c, request, 1));
    // Bound to the hash (SCAL2 requires it; for SCAL1 it costs nothing).
    auto authorized = client_->Authorize(id, code, 1, hashes, m.hash_algo, CallDeadline());
    if (!authorized) return std::unexpected(Learn(id, authorized.error()));
    sad = std::make_shared<csc::Sad>(std::move(*authorized));
  }
  auto signatures = client_->SignHash(id, *sad, hashes, m.hash_algo, m.algo, CallDeadline());
  if (!signatures) {
    if (windowed) {
      std::lock_guard lock(mu_);
      if (auto it = windows_.find(id); it != windows_.end() && it->second.sad == sad) windows_.erase(it);
    }
    return std::unexpected(Learn(id, signatures.error()));
  }
  Account(id, signatures->size());
  if (signatures->size() != 1) return Fail(CKR_DEVICE_ERROR, "the service returned no signature");
  return std::move((*signatures)[0]);
}

Result<wire::Bytes> CloudToken::Sign(const SignRequest& request) {
  if (request.inputs.size() != 1) return Fail(CKR_ARGUMENTS_BAD, "one input per signature");
  const Credential c = VT_TRY(CredentialFor(request));
  const Mapped m = VT_TRY(Map(c, request.mechanism, request.params, request.inputs[0]));
  Result<wire::Bytes> signature = std::unexpected(Error{});
  if (auto usable = CheckUsable(c, 1); !usable) signature = std::unexpected(usable.error());
  else signature = SignOnce(c, m, request, true);
  if (!signature) {
    // A shared SCAL1 authorization that the service no longer accepts (used
    // up or expired there): authorize once more with a new code.
    const auto kind = csc::KindOf(signature.error());
    if (kind == csc::CscErrorKind::SadExpired || kind == csc::CscErrorKind::SadInvalid) {
      LogInfo("cloud token '" + account_ + "': the shared authorization ended early; asking for a new code");
      signature = SignOnce(c, m, request, false);
    }
  }
  if (!signature)
    LogWarning("cloud token '" + account_ + "': signature with credential " + c.info.id + " for " + request.who.app +
               " failed: " + Describe(signature.error()));
  return signature;
}

Result<std::vector<wire::Bytes>> CloudToken::SignBatch(const SignRequest& request) {
  const Credential c = VT_TRY(CredentialFor(request));
  const std::size_t n = request.inputs.size();
  if (n == 0) return Fail(CKR_ARGUMENTS_BAD, "no hashes to sign");
  if (n > c.info.multisign)
    return Fail(CKR_ARGUMENTS_BAD, "a batch of " + std::to_string(n) + " signatures is more than credential " + c.info.id +
                                       " allows with one code (multisign " + std::to_string(c.info.multisign) +
                                       "): split it");
  std::vector<Mapped> mapped;
  std::vector<wire::Bytes> hashes;
  for (const auto& input : request.inputs) {
    mapped.push_back(VT_TRY(Map(c, request.mechanism, request.params, input)));
    if (mapped.back().hash_algo != mapped.front().hash_algo)
      return Fail(CKR_ARGUMENTS_BAD, "every hash of a batch must use the same hash algorithm");
    hashes.push_back(mapped.back().hash);
  }
  if (auto usable = CheckUsable(c, n); !usable) {
    LogWarning("cloud token '" + account_ + "': batch of " + std::to_string(n) + " refused: " + usable.error().message);
    return std::unexpected(usable.error());
  }
  Secret code = VT_TRY(Code(c, request, n));
  auto sad = client_->Authorize(c.info.id, code, static_cast<unsigned>(n), hashes, mapped[0].hash_algo, CallDeadline());
  code.Wipe();
  if (!sad) {
    Error e = Learn(c.info.id, sad.error());
    LogWarning("cloud token '" + account_ + "': batch of " + std::to_string(n) + " with credential " + c.info.id +
               " not authorized: " + Describe(e));
    return std::unexpected(std::move(e));
  }
  std::vector<wire::Bytes> out;
  constexpr std::size_t kPerCall = 64;  // the service's limit of hashes per signHash
  for (std::size_t at = 0; at < n; at += kPerCall) {
    std::vector<wire::Bytes> part(hashes.begin() + static_cast<std::ptrdiff_t>(at),
                                  hashes.begin() + static_cast<std::ptrdiff_t>(std::min(n, at + kPerCall)));
    auto sigs = client_->SignHash(c.info.id, *sad, part, mapped[0].hash_algo, mapped[0].algo, CallDeadline());
    if (!sigs) {
      LogWarning("cloud token '" + account_ + "': batch of " + std::to_string(n) + " with credential " + c.info.id +
                 " failed after " + std::to_string(at) + ": " + Describe(sigs.error()));
      return std::unexpected(Learn(c.info.id, sigs.error()));
    }
    Account(c.info.id, sigs->size());
    for (auto& s : *sigs) out.push_back(std::move(s));
  }
  LogInfo("cloud token '" + account_ + "': batch of " + std::to_string(n) + " " + HashName(mapped[0].hash_algo) +
          " signatures with credential " + c.info.id + " for " + request.who.app);
  return out;
}

Result<void> CloudToken::Revoke() {
  auto r = client_->Revoke(CallDeadline());
  std::lock_guard lock(mu_);
  windows_.clear();
  dead_ = true;
  if (dead_reason_.empty()) dead_reason_ = "logged out";
  return r;
}

Json CloudToken::Status() const {
  const auto now = std::chrono::system_clock::now();
  Json creds = Json::array();
  std::lock_guard lock(mu_);
  for (const auto& [id, c] : credentials_) {
    const auto& i = c.info;
    Json q = nullptr;
    std::int64_t left = -1;
    if (i.quota) {
      left = static_cast<std::int64_t>(i.quota->total) - static_cast<std::int64_t>(i.quota->used);
      q = Json{{"total", i.quota->total}, {"used", i.quota->used}};
    }
    std::int64_t days_left = 0;
    if (i.valid_to) days_left = std::chrono::duration_cast<std::chrono::hours>(*i.valid_to - now).count() / 24;
    const bool always = AlwaysAuthenticates(settings_.objects, id);
    std::string authorization = always ? "context-login" : settings_.source == AuthSource::kCommand ? "command" : "prompt";
    Json window = nullptr;
    if (auto w = windows_.find(id); w != windows_.end() && w->second.left > 0 &&
                                    std::chrono::steady_clock::now() < w->second.until) {
      window = Json{{"left", w->second.left},
                    {"seconds", std::chrono::duration_cast<std::chrono::seconds>(w->second.until - std::chrono::steady_clock::now()).count()}};
    }
    creds.push_back(Json{{"credential_id", id},
                         {"label", i.description},
                         {"subject", i.subject_dn},
                         {"issuer", i.issuer_dn},
                         {"serial", i.serial_number},
                         {"valid_from", UnixSeconds(i.valid_from)},
                         {"valid_to", UnixSeconds(i.valid_to)},
                         {"days_left", days_left},
                         {"expiry_warning", i.valid_to && days_left <= kExpiryWarningDays},
                         {"cert_status", i.cert_status},
                         {"key_enabled", i.key.enabled},
                         {"key", (i.key.type == csc::KeyType::Ec ? "EC " : "RSA ") + std::to_string(i.key.bits)},
                         {"scal", i.scal},
                         {"multisign", i.multisign},
                         {"quota", q},
                         {"signatures_left", left},
                         {"authorization", authorization},
                         {"always_authenticate", always},
                         {"scal1_window", window}});
  }
  std::int64_t expires_in = -1;
  if (auto e = client_->SessionExpires())
    expires_in = std::chrono::duration_cast<std::chrono::seconds>(*e - std::chrono::steady_clock::now()).count();
  return Json{{"slot_id", slot_id_},
              {"service", service_url_},
              {"account", account_},
              {"present", !dead_.load()},
              {"session_expires_in", expires_in},
              {"refreshable", !client_->Session().refresh_token.empty()},
              {"authorization", settings_.source == AuthSource::kCommand ? "command" : "prompt"},
              {"scal1_window_seconds", settings_.scal1_window.count()},
              {"credentials", std::move(creds)}};
}

}  // namespace vtoken::agent::cloud
