#include "engine/login_throttle.h"

#include <algorithm>
#include <cassert>

#include "engine/limits.h"

namespace ecom::engine {

login_throttle::login_throttle(std::size_t emails_max)
    : emails_max_(std::max<std::size_t>(1, emails_max)) {}

void login_throttle::forget(std::unordered_map<std::string, entry>::iterator it) {
  order_.erase(it->second.order);
  entries_.erase(it);
}

time_ms login_throttle::locked_for(const std::string& email_key, time_ms now) {
  auto it = entries_.find(email_key);
  if (it == entries_.end()) return 0;
  if (now - it->second.last_failure_at >= login_failure_window_ms) {
    forget(it);
    return 0;
  }
  return std::max<time_ms>(0, it->second.locked_until - now);
}

void login_throttle::note_failure(const std::string& email_key, time_ms now) {
  auto it = entries_.find(email_key);
  if (it != entries_.end() && now - it->second.last_failure_at >= login_failure_window_ms) {
    forget(it);
    it = entries_.end();
  }
  if (it == entries_.end()) {
    if (entries_.size() >= emails_max_) forget(entries_.find(order_.front()));
    order_.push_back(email_key);
    it = entries_.emplace(email_key, entry{}).first;
    it->second.order = std::prev(order_.end());
  }
  entry& e = it->second;
  if (now < e.locked_until) return;  // checked before the lock began
  ++e.failures;
  e.last_failure_at = now;
  order_.splice(order_.end(), order_, e.order);
  if (e.lock_ms > 0) {
    e.lock_ms = std::min(e.lock_ms * 2, login_lock_max_ms);
  } else if (e.failures >= login_failures_to_lock) {
    e.lock_ms = login_lock_first_ms;
  } else {
    return;
  }
  e.locked_until = now + e.lock_ms;
}

void login_throttle::note_success(const std::string& email_key) {
  auto it = entries_.find(email_key);
  if (it != entries_.end()) forget(it);
}

}  // namespace ecom::engine
