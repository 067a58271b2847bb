#pragma once
// Handles given to NCrypt callers are numbers looked up here, never pointers
// cast back: a stale, freed, forged or wrong-kind handle is simply not found.
// Each kind of object gets its own range of numbers, never reused.
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

namespace vtoken::ksp {

template <class T>
class HandleRegistry {
 public:
  explicit HandleRegistry(std::uintptr_t base) : next_(base) {}

  std::uintptr_t Add(std::shared_ptr<T> object) {
    std::lock_guard lock(mu_);
    const std::uintptr_t h = next_;
    next_ += 8;
    live_.emplace(h, std::move(object));
    return h;
  }
  std::shared_ptr<T> Get(std::uintptr_t h) const {
    std::lock_guard lock(mu_);
    auto it = live_.find(h);
    return it == live_.end() ? nullptr : it->second;
  }
  std::shared_ptr<T> Remove(std::uintptr_t h) {
    std::lock_guard lock(mu_);
    auto it = live_.find(h);
    if (it == live_.end()) return nullptr;
    auto object = std::move(it->second);
    live_.erase(it);
    return object;
  }
  std::size_t size() const {
    std::lock_guard lock(mu_);
    return live_.size();
  }

 private:
  mutable std::mutex mu_;
  std::uintptr_t next_;
  std::map<std::uintptr_t, std::shared_ptr<T>> live_;
};

}  // namespace vtoken::ksp
