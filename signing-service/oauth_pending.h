#pragma once
// The OAuth2 sign-ins that wait for a person (authorize -> login -> consent),
// kept in memory for 10 minutes. The table is bounded so that a flood of
// authorize requests cannot lock real people out:
//   - one client address holds at most `max_per_address`; a new one pushes
//     out that address's oldest, so a flooder only loses its own sign-ins;
//   - the whole table holds at most `max_total`; a new one pushes out the
//     oldest that nobody has signed in to yet. Only when every entry is
//     signed in and waits for consent is a new one refused.
// Not thread-safe: the caller holds its own lock.
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace vtoken::service {

struct PendingSignIn {
  std::string client_id, redirect_uri, challenge, state;
  std::int64_t expires = 0;
  std::optional<std::int64_t> account;  // set once password and code passed
  std::string email;
  int failures = 0;
  std::string address;  // the client's, from the authorize request
};

class PendingSignIns {
 public:
  static constexpr std::size_t kMaxTotal = 1000;
  static constexpr std::size_t kMaxPerAddress = 64;

  explicit PendingSignIns(std::size_t max_total = kMaxTotal, std::size_t max_per_address = kMaxPerAddress)
      : max_total_(max_total), max_per_address_(max_per_address) {}

  // Adds `s` under `id`, making room as above; false, with nothing added or
  // removed, when the table is full of signed-in sign-ins.
  bool Add(const std::string& id, PendingSignIn s);
  PendingSignIn* Find(const std::string& id);
  void Erase(const std::string& id) { entries_.erase(id); }
  void Expire(std::int64_t now);
  std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    PendingSignIn sign_in;
    std::uint64_t order = 0;  // creation order: the oldest is pushed out first
  };
  using Map = std::map<std::string, Entry>;
  template <class Pred>
  Map::iterator Oldest(Pred eligible);

  std::size_t max_total_, max_per_address_;
  Map entries_;
  std::uint64_t next_order_ = 0;
};

}  // namespace vtoken::service
