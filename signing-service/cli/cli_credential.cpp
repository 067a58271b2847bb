// credential issue | list | revoke
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>

#include "algorithms.h"
#include "ca.h"
#include "cli/cli.h"
#include "credential_rules.h"

namespace vtoken::service::cli {
namespace {

struct IssueOptions {
  std::string email;
  std::string key = "rsa2048";
  int years = 1;
  int days = 0;  // > 0: validity in days instead of years (short certificates for tests)
  int quota = 200;
  int scal = 1;
  int multisign = 10;
  std::string label;
  bool expired = false;
  bool json = false;
};

int Issue(Globals& g, const IssueOptions& o) {
  auto type = KeyTypeFromName(o.key);
  if (!type) return Error("unknown key type " + o.key, kUsage);
  if (o.scal == 2 && o.multisign > 64) return Error("SCAL2 binds at most 64 hashes per authorization", kUsage);
  auto dir = OpenDataDir(g);
  if (!dir) return kFailure;
  auto store = dir->OpenStore();
  auto account = store->Tx([&](Store::Txn& t) { return t.AccountByEmail(o.email); });
  if (!account) return Error("no account " + o.email, kNotFound);
  auto ca = dir->OpenCa();
  if (!ca) return Error(ca.error().message);
  auto hsm = dir->OpenHsm(g.hsm);
  if (!hsm) return Error("HSM: " + hsm.error().message);

  Credential c;
  c.id = "vt-" + HexEncode(RandomBytes(8));
  c.account_id = account->id;
  c.key_type = KeyTypeName(*type);
  c.scal = o.scal;
  c.multisign = o.multisign;
  c.quota_total = o.quota;
  c.label = o.label.empty() ? "vtoken " + c.key_type + " signing key" : o.label;
  std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  std::int64_t span = o.days > 0 ? static_cast<std::int64_t>(o.days) * 86400
                                 : static_cast<std::int64_t>(o.years) * 365 * 86400;
  if (o.expired) {
    c.not_after = now - 86400;  // expired yesterday
    c.not_before = c.not_after - span;
  } else {
    c.not_before = now - 300;  // tolerate small clock skew of verifiers
    c.not_after = now + span;
  }
  c.created = now;
  auto pub = (*hsm)->GenerateKeyPair(*type, c.id, c.label);
  if (!pub) return Error("HSM key generation: " + pub.error().message);
  CertRequest req{account->email, account->email, c.not_before, c.not_after, false, {}, {}};
  auto der = ca->Issue(pub->get(), req);
  if (!der) {
    (void)(*hsm)->DestroyKeyPair(c.id);
    return Error(der.error().message);
  }
  c.cert_der = std::move(*der);
  store->Tx([&](Store::Txn& t) {
    t.InsertCredential(c);
    return 0;
  });
  if (o.json) std::cout << nlohmann::json{{"credentialID", c.id}}.dump() << "\n";
  else std::cout << c.id << "\n";
  return kOk;
}

int List(Globals& g, const std::string& email, bool as_json) {
  auto dir = OpenDataDir(g);
  if (!dir) return kFailure;
  auto store = dir->OpenStore();
  auto rows = store->Tx([&](Store::Txn& t) -> std::optional<std::vector<std::pair<Credential, std::string>>> {
    std::optional<std::int64_t> filter;
    if (!email.empty()) {
      auto a = t.AccountByEmail(email);
      if (!a) return std::nullopt;
      filter = a->id;
    }
    std::vector<std::pair<Credential, std::string>> out;
    for (auto& c : t.Credentials(filter)) {
      auto a = t.AccountById(c.account_id);
      out.emplace_back(c, a ? a->email : "");
    }
    return out;
  });
  if (!rows) return Error("no account " + email, kNotFound);
  std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  nlohmann::json out = nlohmann::json::array();
  for (auto& [c, owner] : *rows)
    out.push_back({{"credentialID", c.id}, {"email", owner}, {"key", c.key_type}, {"SCAL", c.scal},
                   {"multisign", c.multisign}, {"quotaUsed", c.quota_used}, {"quotaTotal", c.quota_total},
                   {"validFrom", GeneralizedTime(c.not_before)}, {"validTo", GeneralizedTime(c.not_after)},
                   {"status", CertStatus(c, now)}, {"label", c.label}});
  if (as_json) {
    std::cout << out.dump(2) << "\n";
    return kOk;
  }
  std::printf("%-20s %-28s %-8s %4s %5s %9s %-15s %-15s %s\n", "ID", "EMAIL", "KEY", "SCAL", "MULTI", "QUOTA",
              "VALID FROM", "VALID TO", "STATUS");
  for (auto& r : out) {
    std::string quota = std::to_string(r["quotaUsed"].get<int>()) + "/" + std::to_string(r["quotaTotal"].get<int>());
    std::printf("%-20s %-28s %-8s %4d %5d %9s %-15s %-15s %s\n", r["credentialID"].get<std::string>().c_str(),
                r["email"].get<std::string>().c_str(), r["key"].get<std::string>().c_str(), r["SCAL"].get<int>(),
                r["multisign"].get<int>(), quota.c_str(), r["validFrom"].get<std::string>().c_str(),
                r["validTo"].get<std::string>().c_str(), r["status"].get<std::string>().c_str());
  }
  return kOk;
}

int Revoke(Globals& g, const std::string& id) {
  auto dir = OpenDataDir(g);
  if (!dir) return kFailure;
  auto store = dir->OpenStore();
  bool found = store->Tx([&](Store::Txn& t) {
    if (!t.CredentialById(id)) return false;
    t.RevokeCredential(id);
    return true;
  });
  if (!found) return Error("no credential " + id, kNotFound);
  std::cout << "credential " << id << " revoked\n";
  return kOk;
}

}  // namespace

void AddCredential(CLI::App& app, Globals& g) {
  auto* cred = app.add_subcommand("credential", "Manage signing credentials (HSM key + certificate)");
  cred->require_subcommand(1);

  auto* issue = cred->add_subcommand("issue", "Generate a key pair in the HSM and issue its certificate");
  auto o = std::make_shared<IssueOptions>();
  issue->add_option("--email", o->email, "Owner account")->required();
  issue->add_option("--key", o->key, "Key type")->check(CLI::IsMember({"rsa2048", "rsa3072", "rsa4096", "p256", "p384"}));
  auto* years = issue->add_option("--years", o->years, "Certificate validity in years")->check(CLI::IsMember({1, 2, 3}));
  issue->add_option("--days", o->days, "Certificate validity in days instead (short certificates, e.g. for tests)")
      ->check(CLI::Range(1, 3 * 366))
      ->excludes(years);
  issue->add_option("--quota", o->quota, "Signature quota (packages: 200, 400, 600)")->check(CLI::Range(1, 1000000));
  issue->add_option("--scal", o->scal, "Sole control assurance level: 1 or 2 (SAD bound to hashes)")
      ->check(CLI::IsMember({1, 2}));
  issue->add_option("--multisign", o->multisign, "Most signatures one authorization may cover")
      ->check(CLI::Range(1, 100000));
  issue->add_option("--label", o->label, "Description shown to users");
  issue->add_flag("--expired", o->expired, "Issue a certificate that expired yesterday (tests)");
  issue->add_flag("--json", o->json, "Print {\"credentialID\": ...}");
  issue->callback([&g, o] { g.rc = Issue(g, *o); });

  auto* list = cred->add_subcommand("list", "List credentials");
  auto email = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  list->add_option("--email", *email, "Only this account's credentials");
  list->add_flag("--json", *as_json, "JSON output");
  list->callback([&g, email, as_json] { g.rc = List(g, *email, *as_json); });

  auto* revoke = cred->add_subcommand("revoke", "Revoke a credential's certificate (it can no longer sign)");
  auto id = std::make_shared<std::string>();
  revoke->add_option("ID", *id, "Credential ID")->required();
  revoke->callback([&g, id] { g.rc = Revoke(g, *id); });
}

}  // namespace vtoken::service::cli
