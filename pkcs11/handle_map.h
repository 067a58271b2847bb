#pragma once
// Handles handed to applications (sessions, objects) are keys into a map of
// shared_ptrs: looked up, never cast, never reused (a 64-bit counter), so a
// stale or forged handle finds nothing instead of someone else's state.
#include <p11-kit/pkcs11.h>

#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <vector>

namespace vtoken::pkcs11 {

template <class T>
class HandleMap {
 public:
  CK_ULONG Add(std::shared_ptr<T> value) {
    std::unique_lock lock(mutex_);
    const CK_ULONG handle = next_++;
    items_.emplace(handle, std::move(value));
    return handle;
  }

  std::shared_ptr<T> Get(CK_ULONG handle) const {
    std::shared_lock lock(mutex_);
    auto it = items_.find(handle);
    return it == items_.end() ? nullptr : it->second;
  }

  std::shared_ptr<T> Remove(CK_ULONG handle) {
    std::unique_lock lock(mutex_);
    auto it = items_.find(handle);
    if (it == items_.end()) return nullptr;
    auto value = std::move(it->second);
    items_.erase(it);
    return value;
  }

  // Removes and returns every entry the predicate selects.
  std::vector<std::pair<CK_ULONG, std::shared_ptr<T>>> RemoveIf(
      const std::function<bool(const T&)>& pred) {
    std::vector<std::pair<CK_ULONG, std::shared_ptr<T>>> out;
    std::unique_lock lock(mutex_);
    for (auto it = items_.begin(); it != items_.end();) {
      if (pred(*it->second)) {
        out.emplace_back(it->first, std::move(it->second));
        it = items_.erase(it);
      } else {
        ++it;
      }
    }
    return out;
  }

  std::vector<std::pair<CK_ULONG, std::shared_ptr<T>>> Snapshot() const {
    std::shared_lock lock(mutex_);
    return {items_.begin(), items_.end()};
  }

  std::size_t Count(const std::function<bool(const T&)>& pred) const {
    std::shared_lock lock(mutex_);
    std::size_t n = 0;
    for (const auto& [h, v] : items_) n += pred(*v) ? 1 : 0;
    return n;
  }

  std::size_t size() const {
    std::shared_lock lock(mutex_);
    return items_.size();
  }

 private:
  mutable std::shared_mutex mutex_;
  std::unordered_map<CK_ULONG, std::shared_ptr<T>> items_;
  CK_ULONG next_ = 1;  // 0 is CK_INVALID_HANDLE
};

}  // namespace vtoken::pkcs11
