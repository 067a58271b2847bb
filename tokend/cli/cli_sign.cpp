// vtoken sign FILE...: hash every file here, build its CAdES signed
// attributes, send all their hashes to the agent in one cloud_sign_batch per
// `multisign` files (one code each, SCAL2 hashes bound at authorization), and
// write each .p7s after checking its signature against the certificate.
#include "tokend/cli/cli_sign.h"

#include <openssl/bn.h>
#include <openssl/x509.h>
#include <p11-kit/pkcs11.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>

#include "tokend/cli/call.h"
#include "tokend/cms/cades.h"

namespace vtoken::agent::cli {
namespace {

namespace fs = std::filesystem;
using cms::Bytes;
using wire::Json;

// A credential of a logged-in cloud account, from cloud_status.
struct Credential {
  std::uint64_t slot_id = 0;
  std::string account, id, label, key, serial, cert_status;
  std::uint64_t multisign = 1;
  std::int64_t signatures_left = -1;  // -1: no quota
  bool enabled = true;

  std::string Name() const {
    return id + " (" + (label.empty() ? "" : "\"" + label + "\", ") + key + ", " + account + ")";
  }
};

struct Document {
  fs::path file, out;
  std::optional<cms::PendingSignature> pending;
  std::string error;  // why it was not signed
  bool done = false;
};

// "[#######.......] 12/40 hashing report.pdf" on stderr, redrawn in place;
// only when stderr is a terminal and there is more than one file.
class Progress {
 public:
  Progress(bool wanted, std::size_t total) : on_(wanted && total > 1 && ::isatty(STDERR_FILENO)), total_(total) {}
  void Show(std::size_t done, std::string what) {
    if (!on_) return;
    constexpr std::size_t kWidth = 30;
    std::string bar(kWidth * done / total_, '#');
    bar.resize(kWidth, '.');
    if (what.size() > 50) what = "..." + what.substr(what.size() - 47);
    std::fprintf(stderr, "\r\033[K[%s] %zu/%zu %s", bar.c_str(), done, total_, what.c_str());
    std::fflush(stderr);
  }
  void Clear() {
    if (on_) std::fputs("\r\033[K", stderr);
  }

 private:
  bool on_;
  std::size_t total_;
};

std::optional<cms::Hash> ParseHash(std::string name) {
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  std::erase(name, '-');
  if (name == "sha256") return cms::Hash::kSha256;
  if (name == "sha384") return cms::Hash::kSha384;
  if (name == "sha512") return cms::Hash::kSha512;
  return std::nullopt;
}

Result<std::vector<Credential>> CloudCredentials(AgentClient& client) {
  const Json status = VT_TRY(client.Call(Json{{"op", "cloud_status"}}));
  std::vector<Credential> out;
  const Json* accounts = wire::Find(status, "accounts");
  if (!accounts || !accounts->is_array()) return Fail(CKR_DEVICE_ERROR, "the agent's cloud_status has no account list");
  for (const Json& a : *accounts) {
    const Json* present = wire::Find(a, "present");
    const Json* credentials = wire::Find(a, "credentials");
    if (!present || !present->is_boolean() || !present->get<bool>() || !credentials || !credentials->is_array()) continue;
    for (const Json& c : *credentials) {
      Credential cred;
      cred.slot_id = VT_TRY(wire::GetUint(a, "slot_id"));
      cred.account = VT_TRY(wire::GetString(a, "account"));
      cred.id = VT_TRY(wire::GetString(c, "credential_id"));
      if (wire::Find(c, "label")) cred.label = VT_TRY(wire::GetString(c, "label"));
      if (wire::Find(c, "key")) cred.key = VT_TRY(wire::GetString(c, "key"));
      if (wire::Find(c, "serial")) cred.serial = VT_TRY(wire::GetString(c, "serial"));
      if (wire::Find(c, "cert_status")) cred.cert_status = VT_TRY(wire::GetString(c, "cert_status"));
      if (wire::Find(c, "multisign")) cred.multisign = std::max<std::uint64_t>(1, VT_TRY(wire::GetUint(c, "multisign")));
      if (wire::Find(c, "signatures_left")) cred.signatures_left = VT_TRY(wire::GetInt(c, "signatures_left"));
      if (wire::Find(c, "key_enabled")) cred.enabled = VT_TRY(wire::GetBool(c, "key_enabled"));
      out.push_back(std::move(cred));
    }
  }
  return out;
}

std::string Names(const std::vector<Credential>& list) {
  std::string out;
  for (const auto& c : list) out += "\n  " + c.Name();
  return out;
}

// The credential --key names (ID or label), or the only one there is.
Result<Credential> Choose(const std::vector<Credential>& all, const std::string& key) {
  if (all.empty()) return Fail(CKR_TOKEN_NOT_PRESENT, "no cloud token: log in first (vtoken login)");
  std::vector<Credential> match;
  for (const auto& c : all)
    if (key.empty() || c.id == key || c.label == key) match.push_back(c);
  if (match.empty()) return Fail(CKR_KEY_HANDLE_INVALID, "no credential has the ID or label '" + key + "'; there are:" + Names(all));
  if (match.size() > 1)
    return Fail(CKR_ARGUMENTS_BAD, key.empty() ? "there are several credentials: choose one with --key ID or --key LABEL:" + Names(match)
                                               : "'" + key + "' names several credentials: use the credential ID:" + Names(match));
  return match.front();
}

std::string SerialHex(X509* cert) {
  std::unique_ptr<BIGNUM, ossl::Deleter<BIGNUM, BN_free>> bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  if (!bn) return {};
  char* hex = BN_bn2hex(bn.get());
  std::string out = hex ? hex : "";
  OPENSSL_free(hex);
  return out;
}

std::string Canonical(std::string hex) {
  std::transform(hex.begin(), hex.end(), hex.begin(), [](unsigned char c) { return std::toupper(c); });
  hex.erase(0, std::min(hex.find_first_not_of('0'), hex.size()));
  return hex;
}

// The credential's certificate and its chain, from the cloud token's
// certificate objects (public objects: no login needed).
Result<std::pair<Bytes, std::vector<Bytes>>> CertificatesOf(AgentClient& client, const Credential& cred) {
  const Json reply = VT_TRY(client.Call(Json{{"op", "objects"}, {"slot_id", cred.slot_id}}));
  const Json* objects = wire::Find(reply, "objects");
  if (!objects || !objects->is_array()) return Fail(CKR_DEVICE_ERROR, "the agent's object list is malformed");
  struct Cert {
    Bytes der;
    ossl::X509Ptr x509;
  };
  std::vector<Cert> certs;
  for (const Json& o : *objects) {
    const auto attrs = VT_TRY(wire::DecodeAttributes(o, "attrs"));
    std::optional<unsigned long> cls;
    const Bytes* value = nullptr;
    for (const auto& [type, bytes] : attrs) {
      if (type == CKA_CLASS && bytes.size() == sizeof(CK_ULONG)) cls = *reinterpret_cast<const CK_ULONG*>(bytes.data());
      if (type == CKA_VALUE) value = &bytes;
    }
    if (cls != CKO_CERTIFICATE || !value) continue;
    const unsigned char* p = value->data();
    ossl::X509Ptr x(d2i_X509(nullptr, &p, static_cast<long>(value->size())));
    if (x) certs.push_back({*value, std::move(x)});
  }
  const Cert* leaf = nullptr;
  for (const auto& c : certs)
    if (Canonical(SerialHex(c.x509.get())) == Canonical(cred.serial) && X509_check_ca(c.x509.get()) == 0) leaf = &c;
  if (!leaf) return Fail(CKR_DEVICE_ERROR, "the certificate of credential " + cred.id + " is not among the cloud token's objects");
  std::vector<Bytes> chain;
  std::set<const Cert*> used{leaf};
  for (const Cert* at = leaf; X509_NAME_cmp(X509_get_issuer_name(at->x509.get()), X509_get_subject_name(at->x509.get())) != 0;) {
    const Cert* next = nullptr;
    for (const auto& c : certs)
      if (!used.contains(&c) && X509_NAME_cmp(X509_get_subject_name(c.x509.get()), X509_get_issuer_name(at->x509.get())) == 0)
        next = &c;
    if (!next) break;  // the rest of the chain is not on the token; the verifier must have it
    used.insert(next);
    chain.push_back(next->der);
    at = next;
  }
  return std::pair{leaf->der, std::move(chain)};
}

// The raw mechanism of cloud_sign_batch for the signer's scheme.
Json BatchRequest(const Credential& cred, const cms::Signer& signer) {
  Json request{{"op", "cloud_sign_batch"}, {"slot_id", cred.slot_id}, {"credential_id", cred.id}};
  switch (signer.scheme) {
    case cms::Scheme::kRsaPkcs1: request["mechanism"] = CKM_RSA_PKCS; break;
    case cms::Scheme::kEcdsa: request["mechanism"] = CKM_ECDSA; break;
    case cms::Scheme::kRsaPss: {
      const auto [hash, mgf] = signer.hash == cms::Hash::kSha384   ? std::pair{CKM_SHA384, CKG_MGF1_SHA384}
                               : signer.hash == cms::Hash::kSha512 ? std::pair{CKM_SHA512, CKG_MGF1_SHA512}
                                                                   : std::pair{CKM_SHA256, CKG_MGF1_SHA256};
      request["mechanism"] = CKM_RSA_PKCS_PSS;
      request["params"] = Json{{"hash", hash}, {"mgf", mgf}, {"salt_len", cms::HashSize(signer.hash)}};
      break;
    }
  }
  return request;
}

// Writes next to the target and renames, so a .p7s is never half written.
Result<void> WriteFile(const fs::path& out, const Bytes& data) {
  fs::path tmp = out;
  tmp += ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
    f.close();
    if (!f) {
      std::error_code ec;
      fs::remove(tmp, ec);
      return Fail(CKR_FUNCTION_FAILED, "cannot write " + out.string());
    }
  }
  std::error_code ec;
  fs::rename(tmp, out, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return Fail(CKR_FUNCTION_FAILED, "cannot write " + out.string() + ": " + ec.message());
  }
  return {};
}

// Signs every document that has a pending signature: one cloud_sign_batch
// (one code) per `multisign` of them. After a refused batch the rest are
// left unsigned: a wrong or blocked code would only fail again.
std::size_t SignAll(AgentClient& client, const Credential& cred, const cms::Signer& signer, std::vector<Document>& docs,
                    Progress& progress) {
  std::vector<Document*> ready;
  for (auto& d : docs)
    if (d.pending) ready.push_back(&d);
  const std::size_t per = cred.multisign;
  if (ready.size() > per)
    std::fprintf(stderr, "vtoken: %zu files need %zu authorizations: credential %s allows %llu signatures per code\n",
                 ready.size(), (ready.size() + per - 1) / per, cred.id.c_str(), static_cast<unsigned long long>(per));
  std::size_t authorizations = 0;
  std::string stopped;
  for (std::size_t at = 0; at < ready.size(); at += per) {
    const std::vector<Document*> part(ready.begin() + static_cast<std::ptrdiff_t>(at),
                                      ready.begin() + static_cast<std::ptrdiff_t>(std::min(ready.size(), at + per)));
    if (!stopped.empty()) {
      for (auto* d : part) d->error = "not signed after the earlier failure";
      continue;
    }
    progress.Show(at, "waiting for the authorization of " + std::to_string(part.size()) + " signature(s)");
    Json request = BatchRequest(cred, signer);
    Json hashes = Json::array();
    for (auto* d : part) hashes.push_back(wire::Binary(d->pending->sign_input()));
    request["hashes"] = std::move(hashes);
    auto reply = client.Call(std::move(request));
    const Json* sigs = reply ? wire::Find(*reply, "signatures") : nullptr;
    if (reply && (!sigs || !sigs->is_array() || sigs->size() != part.size()))
      reply = Fail(CKR_DEVICE_ERROR, "the agent answered a batch of " + std::to_string(part.size()) + " hashes with a wrong signature list");
    if (!reply) {
      stopped = reply.error().message;
      for (auto* d : part) d->error = stopped;
      continue;
    }
    ++authorizations;
    for (std::size_t i = 0; i < part.size(); ++i) {
      Document& d = *part[i];
      progress.Show(at + i, "writing " + d.out.filename().string());
      const Json& s = (*sigs)[i];
      if (!s.is_binary()) {
        d.error = "the agent's signature is not a byte string";
        continue;
      }
      auto p7s = d.pending->Finish(s.get_binary());
      if (!p7s) {
        d.error = p7s.error().message;
        continue;
      }
      if (auto w = WriteFile(d.out, *p7s); !w) {
        d.error = w.error().message;
        continue;
      }
      d.done = true;
    }
  }
  return authorizations;
}

}  // namespace

int Sign(Context& ctx, const SignOptions& options) {
  if (options.files.empty()) return Complain("no files to sign", kExitUsage);
  const auto hash = ParseHash(options.hash);
  if (!hash) return Complain("unknown hash '" + options.hash + "' (sha256, sha384 or sha512)", kExitUsage);
  std::error_code ec;
  if (!options.out_dir.empty() && !fs::is_directory(options.out_dir, ec))
    return Complain("--out " + options.out_dir + " is not a directory", kExitUsage);

  std::vector<Document> docs;
  std::set<fs::path> outs;
  for (const auto& f : options.files) {
    Document d;
    d.file = f;
    if (d.file.filename().empty()) return Complain("'" + f + "' names no file", kExitUsage);
    d.out = options.out_dir.empty() ? d.file : fs::path(options.out_dir) / d.file.filename();
    d.out += ".p7s";
    if (!outs.insert(fs::weakly_canonical(d.out, ec)).second)
      return Complain("two of the files would be signed into the same " + d.out.string() + " (use separate runs)", kExitUsage);
    docs.push_back(std::move(d));
  }

  AgentLaunch launch = ctx.launch;
  launch.autostart = ctx.config.GetBool("agent.autostart");
  auto client = AgentClient::ConnectOrStart(launch, "vtoken sign");
  if (!client) return Failed(client.error(), nullptr);
  auto all = CloudCredentials(*client);
  if (!all) return Failed(all.error(), &*client);
  auto cred = Choose(*all, options.key);
  if (!cred) return Complain(cred.error().message, cred.error().rv == CKR_ARGUMENTS_BAD ? kExitUsage : kExitFailed);
  if (!cred->enabled || cred->signatures_left == 0)
    return Complain("credential " + cred->Name() + " cannot sign now: certificate " + cred->cert_status +
                        (cred->signatures_left == 0 ? ", signature quota used up" : ""),
                    kExitFailed);
  auto certs = CertificatesOf(*client, *cred);
  if (!certs) return Failed(certs.error(), &*client);
  auto signer = cms::Signer::FromDer(certs->first, certs->second, *hash, options.pss);
  if (!signer) return Complain(signer.error().message, kExitFailed);

  // Hash every file and build its signed attributes; the documents stay here.
  Progress progress(options.progress, docs.size());
  const std::time_t now = std::time(nullptr);
  for (std::size_t i = 0; i < docs.size(); ++i) {
    Document& d = docs[i];
    progress.Show(i, "hashing " + d.file.filename().string());
    auto digest = cms::DigestFile(d.file, *hash);
    if (!digest) {
      d.error = digest.error().message;
      continue;
    }
    auto pending = cms::PendingSignature::Create(*signer, *digest, now);
    if (!pending) {
      d.error = pending.error().message;
      continue;
    }
    d.pending = std::move(*pending);
  }
  const std::size_t authorizations = SignAll(*client, *cred, *signer, docs, progress);
  progress.Clear();

  std::size_t signed_count = 0;
  for (const auto& d : docs) signed_count += d.done ? 1 : 0;
  std::printf("signed %zu of %zu file%s with credential %s, %s; %zu authorization%s\n", signed_count, docs.size(),
              docs.size() == 1 ? "" : "s", cred->Name().c_str(), signer->Describe().c_str(), authorizations,
              authorizations == 1 ? "" : "s");
  std::fflush(stdout);
  for (const auto& d : docs)
    if (!d.done) std::fprintf(stderr, "vtoken: not signed: %s: %s\n", d.file.string().c_str(), d.error.c_str());
  if (signed_count == docs.size()) return kExitOk;
  return client->unreachable() ? kExitUnreachable : kExitFailed;
}

}  // namespace vtoken::agent::cli
