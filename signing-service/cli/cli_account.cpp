// account create | list | reset-totp | delete
#include <termios.h>
#include <unistd.h>

#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>

#include "auth_logic.h"
#include "cli/cli.h"
#include "totp.h"

namespace vtoken::service::cli {
namespace {

std::optional<std::string> ReadPassword(bool from_stdin) {
  std::string pw;
  if (from_stdin) {
    if (!std::getline(std::cin, pw)) return std::nullopt;
    if (!pw.empty() && pw.back() == '\r') pw.pop_back();
    return pw;
  }
  if (!isatty(STDIN_FILENO)) return std::nullopt;
  termios old{};
  tcgetattr(STDIN_FILENO, &old);
  termios quiet = old;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  std::string again;
  std::fprintf(stderr, "Password: ");
  tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  std::getline(std::cin, pw);
  std::fprintf(stderr, "\nRepeat password: ");
  std::getline(std::cin, again);
  tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
  std::fprintf(stderr, "\n");
  bool same = pw == again;
  WipeMemory(again.data(), again.size());
  if (!same) return std::nullopt;
  return pw;
}

void PrintPairing(const std::string& email, const SecureBytes& secret, int period, bool as_json) {
  std::string uri = totp::OtpauthUri(email, secret, period);
  if (as_json) {
    std::cout << nlohmann::json{{"email", email}, {"otpauth", uri}, {"secret", totp::Base32(secret)}}.dump() << "\n";
    return;
  }
  std::cout << "Scan this with an authenticator app (or enter the secret by hand):\n\n"
            << QrText(uri) << "\n"
            << uri << "\n"
            << "secret: " << totp::Base32(secret) << "\n";
}

struct CreateOptions {
  std::string email, phone;
  bool password_stdin = false;
  int period = 30;
  std::uint64_t scrypt_n = 1u << 15;
  bool json = false;
};

int Create(Globals& g, const CreateOptions& o) {
  if (o.email.size() > 254 || o.email.find('@') == std::string::npos || o.email.front() == '@' ||
      o.email.find_first_of(" \t\r\n:/") != std::string::npos)
    return Error("not an email address: " + o.email, kUsage);
  auto pw = ReadPassword(o.password_stdin);
  if (!pw) return Error("no password (use --password-stdin, or a terminal; the two entries must match)", kUsage);
  if (pw->size() < 8) return Error("the password needs at least 8 characters", kUsage);
  auto dir = OpenDataDir(g);
  if (!dir) return kFailure;
  auto store = dir->OpenStore();
  SecureBytes secret = totp::NewSecret();
  Account a;
  a.email = o.email;
  a.phone = o.phone;
  a.password_hash = HashPassword(*pw, ScryptParams{o.scrypt_n, 8, 1});
  WipeMemory(pw->data(), pw->size());
  a.totp_sealed = SealTotpSecret(dir->master_key(), o.email, secret);
  a.totp_period = o.period;
  a.created = static_cast<std::int64_t>(std::time(nullptr));
  bool created = store->Tx([&](Store::Txn& t) {
    if (t.AccountByEmail(o.email)) return false;
    t.InsertAccount(a);
    return true;
  });
  if (!created) return Error("account " + o.email + " already exists", kExists);
  PrintPairing(o.email, secret, o.period, o.json);
  return kOk;
}

int List(Globals& g, bool as_json) {
  auto dir = OpenDataDir(g);
  if (!dir) return kFailure;
  auto store = dir->OpenStore();
  auto [accounts, creds] = store->Tx([](Store::Txn& t) { return std::pair{t.Accounts(), t.Credentials(std::nullopt)}; });
  nlohmann::json out = nlohmann::json::array();
  for (auto& a : accounts) {
    int n = 0;
    for (auto& c : creds) n += c.account_id == a.id;
    out.push_back({{"email", a.email}, {"phone", a.phone}, {"created", a.created}, {"totpPeriod", a.totp_period},
                   {"wrongCodes", a.totp_failures}, {"blocked", a.totp_blocked}, {"credentials", n}});
  }
  if (as_json) {
    std::cout << out.dump(2) << "\n";
    return kOk;
  }
  std::printf("%-32s %-14s %6s %6s %8s %5s\n", "EMAIL", "PHONE", "PERIOD", "WRONG", "BLOCKED", "CREDS");
  for (auto& a : out)
    std::printf("%-32s %-14s %6d %6d %8s %5d\n", a["email"].get<std::string>().c_str(),
                a["phone"].get<std::string>().c_str(), a["totpPeriod"].get<int>(), a["wrongCodes"].get<int>(),
                a["blocked"].get<bool>() ? "yes" : "no", a["credentials"].get<int>());
  return kOk;
}

int ResetTotp(Globals& g, const std::string& email, bool new_secret, bool as_json) {
  auto dir = OpenDataDir(g);
  if (!dir) return kFailure;
  auto store = dir->OpenStore();
  SecureBytes secret = totp::NewSecret();
  auto account = store->Tx([&](Store::Txn& t) {
    auto a = t.AccountByEmail(email);
    if (!a) return a;
    t.UpdateTotpState(a->id, a->totp_last_step, 0, false);
    if (new_secret) t.UpdateTotpSecret(a->id, SealTotpSecret(dir->master_key(), email, secret));
    return a;
  });
  if (!account) return Error("no account " + email, kNotFound);
  if (new_secret) PrintPairing(email, secret, account->totp_period, as_json);
  else if (as_json) std::cout << nlohmann::json{{"email", email}, {"unblocked", true}}.dump() << "\n";
  else std::cout << "TOTP authorization of " << email << " unblocked\n";
  return kOk;
}

int Delete(Globals& g, const std::string& email) {
  auto dir = OpenDataDir(g);
  if (!dir) return kFailure;
  auto store = dir->OpenStore();
  auto creds = store->Tx([&](Store::Txn& t) -> std::optional<std::vector<Credential>> {
    auto a = t.AccountByEmail(email);
    if (!a) return std::nullopt;
    auto c = t.Credentials(a->id);
    t.DeleteAccount(a->id);
    return c;
  });
  if (!creds) return Error("no account " + email, kNotFound);
  if (!creds->empty()) {
    auto hsm = dir->OpenHsm(g.hsm);
    if (!hsm) return Error("account deleted, but its keys stay in the HSM: " + hsm.error().message);
    for (auto& c : *creds) (void)(*hsm)->DestroyKeyPair(c.id);
  }
  std::cout << "account " << email << " deleted with " << creds->size() << " credential(s)\n";
  return kOk;
}

}  // namespace

void AddAccount(CLI::App& app, Globals& g) {
  auto* account = app.add_subcommand("account", "Manage accounts (email, password, TOTP pairing)");
  account->require_subcommand(1);

  auto* create = account->add_subcommand("create", "Create an account and print its TOTP pairing (URI and QR code)");
  auto co = std::make_shared<CreateOptions>();
  create->add_option("--email", co->email, "Email address (the login name)")->required();
  create->add_option("--phone", co->phone, "Phone number (optional)");
  create->add_flag("--password-stdin", co->password_stdin, "Read the password from the first line of stdin");
  create->add_option("--totp-period", co->period, "TOTP period in seconds")->check(CLI::Range(5, 300));
  create->add_flag("--json", co->json, "Print {\"email\",\"otpauth\",\"secret\"} as JSON");
  create->add_option("--scrypt-n", co->scrypt_n, "scrypt cost N for the password hash (default 32768; lower only in tests)")
      ->check(CLI::IsMember({1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072}));
  create->callback([&g, co] { g.rc = Create(g, *co); });

  auto* list = account->add_subcommand("list", "List accounts");
  auto list_json = std::make_shared<bool>(false);
  list->add_flag("--json", *list_json, "JSON output");
  list->callback([&g, list_json] { g.rc = List(g, *list_json); });

  auto* reset = account->add_subcommand("reset-totp", "Unblock the TOTP authorization after 5 wrong codes");
  auto email = std::make_shared<std::string>();
  auto new_secret = std::make_shared<bool>(false);
  auto reset_json = std::make_shared<bool>(false);
  reset->add_option("--email", *email, "Account email")->required();
  reset->add_flag("--new-secret", *new_secret, "Also pair a new TOTP secret (prints the new pairing)");
  reset->add_flag("--json", *reset_json, "JSON output");
  reset->callback([&g, email, new_secret, reset_json] { g.rc = ResetTotp(g, *email, *new_secret, *reset_json); });

  auto* del = account->add_subcommand("delete", "Delete an account, its credentials and their HSM keys");
  auto del_email = std::make_shared<std::string>();
  del->add_option("--email", *del_email, "Account email")->required();
  del->callback([&g, del_email] { g.rc = Delete(g, *del_email); });
}

}  // namespace vtoken::service::cli
