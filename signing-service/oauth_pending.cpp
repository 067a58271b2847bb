#include "oauth_pending.h"

#include <algorithm>

namespace vtoken::service {

template <class Pred>
PendingSignIns::Map::iterator PendingSignIns::Oldest(Pred eligible) {
  auto found = entries_.end();
  for (auto it = entries_.begin(); it != entries_.end(); ++it)
    if (eligible(it->second.sign_in) && (found == entries_.end() || it->second.order < found->second.order))
      found = it;
  return found;
}

bool PendingSignIns::Add(const std::string& id, PendingSignIn s) {
  const auto mine = static_cast<std::size_t>(std::count_if(
      entries_.begin(), entries_.end(), [&](const auto& kv) { return kv.second.sign_in.address == s.address; }));
  if (mine >= max_per_address_ && mine > 0) {
    entries_.erase(Oldest([&](const PendingSignIn& p) { return p.address == s.address; }));
  } else if (entries_.size() >= max_total_) {
    auto victim = Oldest([](const PendingSignIn& p) { return !p.account; });
    if (victim == entries_.end()) return false;
    entries_.erase(victim);
  }
  entries_[id] = Entry{std::move(s), next_order_++};
  return true;
}

PendingSignIn* PendingSignIns::Find(const std::string& id) {
  auto it = entries_.find(id);
  return it == entries_.end() ? nullptr : &it->second.sign_in;
}

void PendingSignIns::Expire(std::int64_t now) {
  std::erase_if(entries_, [&](const auto& kv) { return kv.second.sign_in.expires <= now; });
}

}  // namespace vtoken::service
