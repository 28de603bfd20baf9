#include "engine/login_throttle.h"

#include <algorithm>

#include "engine/limits.h"

namespace ecom::engine {

namespace {

// When the table is full, at most this many of the least recently failed emails are looked at
// for one that is not locked (bounded work per login).
constexpr std::size_t eviction_scan_max = 64;

}  // namespace

login_throttle::login_throttle(std::size_t emails_max)
    : emails_max_(std::max<std::size_t>(1, emails_max)) {}

void login_throttle::forget(entry_map::iterator it) {
  order_.erase(it->second.order);
  entries_.erase(it);
}

login_throttle::entry_map::iterator login_throttle::current(const std::string& email_key,
                                                            time_ms now) {
  auto it = entries_.find(email_key);
  if (it == entries_.end()) return it;
  entry& e = it->second;
  if (e.in_flight > 0 && now - e.last_check_at >= login_check_timeout_ms) e.in_flight = 0;
  // The window of quiet starts after the last failure, or after the lock when one is running.
  time_ms quiet_since = std::max(e.last_failure_at, e.locked_until);
  if (e.in_flight == 0 && now - quiet_since >= login_failure_window_ms) {
    forget(it);
    return entries_.end();
  }
  return it;
}

login_throttle::entry_map::iterator login_throttle::current_or_new(const std::string& email_key,
                                                                   time_ms now) {
  auto it = current(email_key, now);
  if (it != entries_.end()) return it;
  if (entries_.size() >= emails_max_) {
    // The least recently failed email that is neither locked nor being checked goes.
    bool dropped = false;
    std::size_t looked = 0;
    for (auto victim = order_.begin(); victim != order_.end() && looked < eviction_scan_max;
         ++victim, ++looked) {
      auto candidate = entries_.find(*victim);
      if (candidate->second.locked_until <= now && candidate->second.in_flight == 0) {
        forget(candidate);
        dropped = true;
        break;
      }
    }
    if (!dropped) return entries_.end();  // all locked or being checked: not tracked
  }
  order_.push_back(email_key);
  it = entries_.emplace(email_key, entry{}).first;
  it->second.order = std::prev(order_.end());
  return it;
}

time_ms login_throttle::begin_check(const std::string& email_key, time_ms now) {
  auto it = current_or_new(email_key, now);
  if (it == entries_.end()) return 0;
  entry& e = it->second;
  if (now < e.locked_until) return e.locked_until - now;
  bool room = e.lock_ms > 0 ? e.in_flight == 0 : e.failures + e.in_flight < login_failures_to_lock;
  if (!room) return std::max<time_ms>(second_ms, e.locked_until - now);
  ++e.in_flight;
  e.last_check_at = now;
  return 0;
}

time_ms login_throttle::locked_for(const std::string& email_key, time_ms now) {
  auto it = current(email_key, now);
  if (it == entries_.end()) return 0;
  return std::max<time_ms>(0, it->second.locked_until - now);
}

void login_throttle::end_check(const std::string& email_key, time_ms now) {
  auto it = current(email_key, now);
  if (it != entries_.end() && it->second.in_flight > 0) --it->second.in_flight;
}

void login_throttle::note_failure(const std::string& email_key, time_ms now) {
  auto it = current_or_new(email_key, now);
  if (it == entries_.end()) return;
  entry& e = it->second;
  if (e.in_flight > 0) --e.in_flight;
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
