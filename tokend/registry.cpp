#include "tokend/registry.h"

#include <fcntl.h>
#include <p11-kit/pkcs11.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "tokend/cloud/cloud_token.h"
#include "tokend/log.h"

namespace vtoken::agent {
namespace {

namespace fs = std::filesystem;
using wire::Json;

constexpr const char* kStateFile = "registry.json";

Result<void> WriteFileAtomically(const fs::path& file, const std::string& content) {
  const fs::path tmp = file.string() + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Fail(CKR_DEVICE_ERROR, "cannot write " + tmp.string() + ": " + std::strerror(errno));
  std::size_t done = 0;
  while (done < content.size()) {
    ssize_t w = ::write(fd, content.data() + done, content.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      ::close(fd);
      return Fail(CKR_DEVICE_ERROR, "cannot write " + tmp.string() + ": " + std::strerror(errno));
    }
    done += static_cast<std::size_t>(w);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || ::rename(tmp.c_str(), file.c_str()) != 0)
    return Fail(CKR_DEVICE_ERROR, "cannot write " + file.string() + ": " + std::strerror(errno));
  if (int dfd = ::open(file.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

// A cloud slot: the account's token while a session is live, empty otherwise.
Json CloudJson(const SlotEntry& e) {
  Json token{{"label", e.name.substr(0, 32)}, {"serial", ""}, {"flags", 0}, {"min_pin", 6}, {"max_pin", 8}};
  std::uint64_t generation = 0;
  if (e.cloud) {
    const TokenInfo info = e.cloud->Info();
    token = Json{{"label", info.label},
                 {"serial", info.serial},
                 {"flags", info.flags},
                 {"min_pin", info.min_pin},
                 {"max_pin", info.max_pin}};
    generation = e.cloud->generation();
  }
  token["manufacturer"] = "vtoken";
  token["model"] = "CSC cloud";
  token["firmware"] = Json::array({0, 1});
  token["hardware"] = Json::array({0, 1});
  return Json{{"slot_id", e.slot_id},
              {"kind", "cloud"},
              {"name", e.name},
              {"description", "vtoken cloud token " + e.service},
              {"present", e.cloud != nullptr},
              {"generation", generation},
              {"token", std::move(token)}};
}

Json TokenJson(const SlotEntry& e, const TokenPolicy& policy) {
  if (e.is_cloud) return CloudJson(e);
  Json token;
  std::uint64_t generation = 0;
  if (e.token) {
    const TokenInfo info = e.token->Info();
    token = Json{{"label", info.label},
                 {"serial", info.serial},
                 {"flags", info.flags | CKF_RNG | CKF_LOGIN_REQUIRED | CKF_TOKEN_INITIALIZED},
                 {"min_pin", info.min_pin},
                 {"max_pin", info.max_pin}};
    generation = e.token->generation();
  } else {
    token = Json{{"label", ""},
                 {"serial", ""},
                 {"flags", CKF_RNG | CKF_LOGIN_REQUIRED},
                 {"min_pin", policy.pin_min},
                 {"max_pin", policy.pin_max}};
  }
  token["manufacturer"] = "vtoken";
  token["model"] = "Emulated USB";
  token["firmware"] = Json::array({0, 1});
  token["hardware"] = Json::array({0, 1});
  return Json{{"slot_id", e.slot_id},
              {"kind", e.token ? "emulated" : "free"},
              {"name", e.name},
              {"description", e.token ? "vtoken emulated USB token" : "vtoken free slot (C_InitToken here)"},
              {"present", e.plugged},
              {"generation", generation},
              {"token", std::move(token)}};
}

}  // namespace

bool IsValidTokenName(const std::string& name) {
  if (name.empty() || name.size() > 64 || name[0] == '.' || name[0] == '-') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
}

Registry::Registry(fs::path data_dir, TokenPolicy policy) : data_dir_(std::move(data_dir)), policy_(std::move(policy)) {}

fs::path Registry::DbPath(const std::string& name) const { return data_dir_ / "tokens" / (name + ".db"); }

Result<std::unique_ptr<Registry>> Registry::Open(const fs::path& data_dir, TokenPolicy policy) {
  std::unique_ptr<Registry> r(new Registry(data_dir, std::move(policy)));
  std::error_code ec;
  fs::create_directories(data_dir / "tokens", ec);
  if (ec) return Fail(CKR_DEVICE_ERROR, "cannot create " + (data_dir / "tokens").string() + ": " + ec.message());
  fs::permissions(data_dir, fs::perms::owner_all, ec);

  std::uint64_t saved_next = 1, saved_free = 0;
  if (std::ifstream in(data_dir / kStateFile); in) {
    std::stringstream ss;
    ss << in.rdbuf();
    Json state = Json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
    if (state.is_object()) {
      if (auto v = wire::GetUint(state, "next_slot_id")) saved_next = *v;
      if (auto v = wire::GetUint(state, "free_slot_id")) saved_free = *v;
      if (const Json* u = wire::Find(state, "unplugged"); u && u->is_array())
        for (const auto& n : *u)
          if (n.is_string()) r->unplugged_.insert(n.get<std::string>());
      if (const Json* c = wire::Find(state, "cloud"); c && c->is_array())
        for (const auto& slot : *c) {
          auto id = wire::GetUint(slot, "slot_id");
          auto service = wire::GetString(slot, "service", 2048);
          auto account = wire::GetString(slot, "account", 1024);
          if (!id || !service || !account) continue;
          SlotEntry e{*id, *account, nullptr, false, true, nullptr, *service};
          r->cloud_.push_back(std::move(e));
        }
    } else {
      LogWarning("registry state " + (data_dir / kStateFile).string() + " is unreadable; slot ids restart after the highest token's");
    }
  }

  std::set<std::uint64_t> used;
  for (const auto& file : fs::directory_iterator(data_dir / "tokens", ec)) {
    if (file.path().extension() != ".db") continue;
    const std::string name = file.path().stem().string();
    if (!IsValidTokenName(name)) continue;
    auto token = EmulatedToken::Open(file.path());
    if (!token) {
      LogError("cannot open token '" + name + "': " + Describe(token.error()));
      continue;
    }
    const std::uint64_t id = (*token)->Info().slot_id;
    if (!used.insert(id).second) {
      LogError("token '" + name + "' claims slot id " + std::to_string(id) + " already in use; skipped");
      continue;
    }
    SlotEntry e{id, name, std::shared_ptr<EmulatedToken>(std::move(*token)), !r->unplugged_.contains(name), false, nullptr, {}};
    r->tokens_.push_back(std::move(e));
  }
  std::sort(r->tokens_.begin(), r->tokens_.end(), [](auto& a, auto& b) { return a.slot_id < b.slot_id; });
  std::erase_if(r->cloud_, [&](const SlotEntry& e) {
    if (used.insert(e.slot_id).second) return false;
    LogError("cloud slot " + std::to_string(e.slot_id) + " of '" + e.name + "' clashes with a token's slot id; forgotten");
    return true;
  });
  std::sort(r->cloud_.begin(), r->cloud_.end(), [](auto& a, auto& b) { return a.slot_id < b.slot_id; });

  r->next_slot_id_ = std::max<std::uint64_t>(saved_next, used.empty() ? 1 : *used.rbegin() + 1);
  r->free_slot_id_ = saved_free;
  if (saved_free == 0 || used.contains(saved_free) || saved_free >= r->next_slot_id_) r->free_slot_id_ = r->next_slot_id_++;
  // Forget unplugged names whose token is gone.
  std::erase_if(r->unplugged_, [&](const std::string& n) {
    return std::none_of(r->tokens_.begin(), r->tokens_.end(), [&](auto& e) { return e.name == n; });
  });
  std::lock_guard lock(r->mu_);
  VT_CHECK(r->SaveLocked());
  return r;
}

Result<void> Registry::SaveLocked() const {
  Json cloud = Json::array();
  for (const auto& e : cloud_) cloud.push_back(Json{{"slot_id", e.slot_id}, {"service", e.service}, {"account", e.name}});
  Json state{{"next_slot_id", next_slot_id_}, {"free_slot_id", free_slot_id_}, {"unplugged", unplugged_}, {"cloud", cloud}};
  return WriteFileAtomically(data_dir_ / kStateFile, state.dump(2) + "\n");
}

Result<SlotEntry> Registry::Present(std::uint64_t slot_id) const {
  std::lock_guard lock(mu_);
  if (slot_id == free_slot_id_) return SlotEntry{slot_id, "", nullptr, true, false, nullptr, {}};
  for (const auto& e : tokens_) {
    if (e.slot_id != slot_id) continue;
    if (!e.plugged) return Fail(CKR_TOKEN_NOT_PRESENT, "token '" + e.name + "' is unplugged");
    return e;
  }
  for (const auto& e : cloud_) {
    if (e.slot_id != slot_id) continue;
    if (!e.cloud) return Fail(CKR_TOKEN_NOT_PRESENT, "cloud account '" + e.name + "' is not logged in (vtoken login)");
    return e;
  }
  return Fail(CKR_SLOT_ID_INVALID, "no slot with id " + std::to_string(slot_id));
}

Result<SlotEntry> Registry::ByName(const std::string& name) const {
  std::lock_guard lock(mu_);
  for (const auto& e : tokens_)
    if (e.name == name) return e;
  return Fail(CKR_ARGUMENTS_BAD, "no token named '" + name + "'");
}

std::uint64_t Registry::free_slot_id() const {
  std::lock_guard lock(mu_);
  return free_slot_id_;
}

std::vector<SlotEntry> Registry::Tokens() const {
  std::lock_guard lock(mu_);
  return tokens_;
}

Result<std::uint64_t> Registry::ReserveLocked(const std::string& name, bool take_free_slot) {
  if (!IsValidTokenName(name))
    return Fail(CKR_ARGUMENTS_BAD, "'" + name + "' is not a valid token name (use letters, digits, '.', '_', '-')");
  if (pending_.contains(name) || std::any_of(tokens_.begin(), tokens_.end(), [&](auto& e) { return e.name == name; }))
    return Fail(CKR_ARGUMENTS_BAD, "a token named '" + name + "' already exists");
  std::error_code ec;
  if (fs::exists(DbPath(name), ec))
    return Fail(CKR_ARGUMENTS_BAD, "a token database " + DbPath(name).string() + " already exists");
  const std::uint64_t old_next = next_slot_id_, old_free = free_slot_id_;
  std::uint64_t id;
  if (take_free_slot) {
    id = free_slot_id_;
    free_slot_id_ = next_slot_id_++;
  } else {
    id = next_slot_id_++;
  }
  if (auto saved = SaveLocked(); !saved) {
    next_slot_id_ = old_next;
    free_slot_id_ = old_free;
    return std::unexpected(saved.error());
  }
  pending_.insert(name);
  return id;
}

Result<SlotEntry> Registry::FinishCreate(const std::string& name, std::uint64_t slot_id,
                                         Result<std::unique_ptr<EmulatedToken>> created) {
  std::lock_guard lock(mu_);
  pending_.erase(name);
  if (!created) {
    std::error_code ec;
    fs::remove(DbPath(name), ec);
    return std::unexpected(created.error());
  }
  SlotEntry e{slot_id, name, std::shared_ptr<EmulatedToken>(std::move(*created)), true, false, nullptr, {}};
  auto at = std::upper_bound(tokens_.begin(), tokens_.end(), slot_id,
                             [](std::uint64_t id, const SlotEntry& x) { return id < x.slot_id; });
  tokens_.insert(at, e);
  return e;
}

Result<SlotEntry> Registry::CreateToken(const std::string& name, const std::string& label, const Secret& puk,
                                        const Secret& pin) {
  std::uint64_t id;
  {
    std::lock_guard lock(mu_);
    id = VT_TRY(ReserveLocked(name, false));
  }
  // The key derivations take a while: no lock held here.
  auto created = EmulatedToken::Create(DbPath(name), id, name, label.empty() ? name : label, puk, pin, policy_);
  return FinishCreate(name, id, std::move(created));
}

std::string Registry::NameFromLabelLocked(const std::string& label) const {
  std::string base;
  for (char c : label) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-';
    if (ok) base += c;
    else if (!base.empty() && base.back() != '-') base += '-';
  }
  while (!base.empty() && (base.back() == '-' || base.back() == '.')) base.pop_back();
  while (!base.empty() && (base.front() == '-' || base.front() == '.')) base.erase(0, 1);
  if (base.size() > 48) base.resize(48);
  if (base.empty()) base = "token";
  auto taken = [&](const std::string& n) {
    std::error_code ec;
    return pending_.contains(n) || fs::exists(DbPath(n), ec) ||
           std::any_of(tokens_.begin(), tokens_.end(), [&](auto& e) { return e.name == n; });
  };
  std::string name = base;
  for (int i = 2; taken(name); ++i) name = base + "-" + std::to_string(i);
  return name;
}

Result<SlotEntry> Registry::InitFreeSlot(std::uint64_t slot_id, const std::string& label, const Secret& so_pin) {
  std::string name;
  std::uint64_t id;
  {
    std::lock_guard lock(mu_);
    if (slot_id != free_slot_id_)
      return Fail(CKR_TOKEN_NOT_RECOGNIZED, "slot " + std::to_string(slot_id) + " was initialized by another application meanwhile");
    name = NameFromLabelLocked(label);
    id = VT_TRY(ReserveLocked(name, true));
  }
  LogInfo("initializing the free slot " + std::to_string(id) + " as token '" + name + "'");
  auto created = EmulatedToken::Create(DbPath(name), id, name, label, so_pin, std::nullopt, policy_);
  return FinishCreate(name, id, std::move(created));
}

Result<SlotEntry> Registry::DeleteToken(const std::string& name) {
  std::lock_guard lock(mu_);
  auto it = std::find_if(tokens_.begin(), tokens_.end(), [&](auto& e) { return e.name == name; });
  if (it == tokens_.end()) return Fail(CKR_ARGUMENTS_BAD, "no token named '" + name + "'");
  SlotEntry gone = *it;
  const fs::path db = DbPath(name);
  std::error_code ec;
  fs::remove(db, ec);
  if (ec) return Fail(CKR_DEVICE_ERROR, "cannot delete " + db.string() + ": " + ec.message());
  for (const char* suffix : {"-wal", "-shm", "-journal"}) fs::remove(db.string() + suffix, ec);
  tokens_.erase(it);
  unplugged_.erase(name);
  if (auto saved = SaveLocked(); !saved) LogWarning(Describe(saved.error()));
  return gone;
}

Result<bool> Registry::SetPlugged(const std::string& name, bool plugged) {
  std::lock_guard lock(mu_);
  auto it = std::find_if(tokens_.begin(), tokens_.end(), [&](auto& e) { return e.name == name; });
  if (it == tokens_.end()) return Fail(CKR_ARGUMENTS_BAD, "no token named '" + name + "'");
  if (it->plugged == plugged) return false;
  it->plugged = plugged;
  if (plugged) unplugged_.erase(name);
  else unplugged_.insert(name);
  if (auto saved = SaveLocked(); !saved) LogWarning(Describe(saved.error()));
  return true;
}

Result<std::uint64_t> Registry::CloudSlotId(const std::string& service, const std::string& account) {
  std::lock_guard lock(mu_);
  for (const auto& e : cloud_)
    if (e.service == service && e.name == account) return e.slot_id;
  const std::uint64_t id = next_slot_id_++;
  cloud_.push_back(SlotEntry{id, account, nullptr, false, true, nullptr, service});
  if (auto saved = SaveLocked(); !saved) {
    cloud_.pop_back();
    --next_slot_id_;
    return std::unexpected(saved.error());
  }
  return id;
}

std::shared_ptr<cloud::CloudToken> Registry::SetCloudToken(std::uint64_t slot_id, std::shared_ptr<cloud::CloudToken> token) {
  std::lock_guard lock(mu_);
  for (auto& e : cloud_) {
    if (e.slot_id != slot_id) continue;
    e.plugged = token != nullptr;
    std::swap(e.cloud, token);
    return token;
  }
  return nullptr;
}

bool Registry::ClearCloudToken(std::uint64_t slot_id, const std::shared_ptr<cloud::CloudToken>& expected) {
  std::lock_guard lock(mu_);
  for (auto& e : cloud_) {
    if (e.slot_id != slot_id || e.cloud != expected || !expected) continue;
    e.cloud.reset();
    e.plugged = false;
    return true;
  }
  return false;
}

std::vector<SlotEntry> Registry::CloudSlots() const {
  std::lock_guard lock(mu_);
  return cloud_;
}

wire::Json Registry::Snapshot() const {
  std::vector<SlotEntry> entries;
  std::uint64_t free_id;
  {
    std::lock_guard lock(mu_);
    entries = tokens_;
    entries.insert(entries.end(), cloud_.begin(), cloud_.end());
    free_id = free_slot_id_;
  }
  std::sort(entries.begin(), entries.end(), [](auto& a, auto& b) { return a.slot_id < b.slot_id; });
  Json slots = Json::array();
  for (const auto& e : entries) slots.push_back(TokenJson(e, policy_));
  slots.push_back(TokenJson(SlotEntry{free_id, "", nullptr, true, false, nullptr, {}}, policy_));
  return slots;
}

}  // namespace vtoken::agent
