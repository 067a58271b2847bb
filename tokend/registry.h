#pragma once
// The token registry: every emulated token of this user, its slot id and
// whether it is plugged in, plus the always-present free slot.
//
// Storage, under the data directory (paths::DataDir()):
//   tokens/<name>.db   one SQLite database per token (EmulatedToken)
//   registry.json      {"next_slot_id", "free_slot_id", "unplugged": [names],
//                       "cloud": [{"slot_id", "service", "account"}]}
// A cloud account keeps its slot id for good: its slot is listed (empty)
// while no session is live, and its token comes back there on the next login.
//                      written atomically (temp file, fsync, rename)
// Slot ids are never reused: the counter only grows, and is written before a
// token is created with an id, so a crash can lose an id but never hand one
// out twice. A token keeps its slot id (stored in its own database) for life.
//
// Plugged state is persisted: an unplugged token stays unplugged across an
// agent restart, as a real token stays out of the port when its driver
// restarts. `vtoken token plug` is the only way back in.
//
// Thread safety: all members may be called from any thread.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/secure.h"
#include "common/wire.h"
#include "tokend/emulated/emulated_token.h"

namespace vtoken::agent {

namespace cloud {
class CloudToken;
}

// A slot holds one of: the free slot (nothing), an emulated token (`token`),
// or a cloud token's slot (`is_cloud`; `cloud` is null while no session is
// live, and then the slot is empty: plugged = false).
struct SlotEntry {
  std::uint64_t slot_id = 0;
  std::string name;                      // "" for the free slot; the account for a cloud slot
  std::shared_ptr<EmulatedToken> token;  // null for the free slot and cloud slots
  bool plugged = true;
  bool is_cloud = false;
  std::shared_ptr<cloud::CloudToken> cloud;
  std::string service;  // cloud slots: the service URL
  bool is_free() const { return token == nullptr && !is_cloud; }
};

// Token names are file names: 1-64 of [A-Za-z0-9._-], not starting with '.' or '-'.
bool IsValidTokenName(const std::string& name);

class Registry {
 public:
  // Loads every tokens/*.db in `data_dir` (a database that fails to open is
  // logged and skipped) and the persisted registry state.
  static Result<std::unique_ptr<Registry>> Open(const std::filesystem::path& data_dir, TokenPolicy policy);

  // The slot for an operation: CKR_SLOT_ID_INVALID for an unknown id,
  // CKR_TOKEN_NOT_PRESENT for an unplugged token. The free slot has no token.
  Result<SlotEntry> Present(std::uint64_t slot_id) const;
  // Any token by CLI name (plugged or not): CKR_ARGUMENTS_BAD "no token named ...".
  Result<SlotEntry> ByName(const std::string& name) const;
  std::uint64_t free_slot_id() const;
  // Every emulated token slot (not the free slot, not cloud slots), by slot id.
  std::vector<SlotEntry> Tokens() const;

  // Cloud slots. CloudSlotId returns the slot id of (service, account),
  // allocating (and persisting) a new one the first time.
  Result<std::uint64_t> CloudSlotId(const std::string& service, const std::string& account);
  // Puts a live cloud token into its slot, or empties the slot (null).
  // Returns the slot's former token.
  std::shared_ptr<cloud::CloudToken> SetCloudToken(std::uint64_t slot_id, std::shared_ptr<cloud::CloudToken> token);
  // Empties the slot only if it still holds `expected`; true if it did.
  bool ClearCloudToken(std::uint64_t slot_id, const std::shared_ptr<cloud::CloudToken>& expected);
  std::vector<SlotEntry> CloudSlots() const;

  // `vtoken token create`: a new token in a new slot.
  Result<SlotEntry> CreateToken(const std::string& name, const std::string& label, const Secret& puk,
                                const Secret& pin);
  // C_InitToken on the free slot: the free slot becomes this token's slot for
  // good (named after the label) and a new free slot id is allocated.
  // `slot_id` must still be the free slot (another connection may have won).
  Result<SlotEntry> InitFreeSlot(std::uint64_t slot_id, const std::string& label, const Secret& so_pin);
  // Removes the token and its database; returns its former entry.
  Result<SlotEntry> DeleteToken(const std::string& name);
  // Returns true when the state changed.
  Result<bool> SetPlugged(const std::string& name, bool plugged);

  // The slot snapshot of docs/agent-protocol.md: sorted by slot id, free slot last.
  wire::Json Snapshot() const;
  const TokenPolicy& policy() const { return policy_; }

 private:
  Registry(std::filesystem::path data_dir, TokenPolicy policy);
  Result<void> SaveLocked() const;  // needs mu_
  std::filesystem::path DbPath(const std::string& name) const;
  // Reserves `name` (no token, no pending creation) and allocates a slot id.
  Result<std::uint64_t> ReserveLocked(const std::string& name, bool take_free_slot);
  std::string NameFromLabelLocked(const std::string& label) const;
  Result<SlotEntry> FinishCreate(const std::string& name, std::uint64_t slot_id,
                                 Result<std::unique_ptr<EmulatedToken>> created);

  const std::filesystem::path data_dir_;
  const TokenPolicy policy_;
  mutable std::mutex mu_;
  std::vector<SlotEntry> tokens_;  // sorted by slot id
  std::vector<SlotEntry> cloud_;   // sorted by slot id
  std::set<std::string> pending_;  // names being created right now
  std::set<std::string> unplugged_;
  std::uint64_t next_slot_id_ = 1;
  std::uint64_t free_slot_id_ = 0;
};

}  // namespace vtoken::agent
