// login_throttle: failed logins per email, on the email's shard (API.md, Users and sessions):
// the login_failures_to_lock-th failure within login_failure_window_ms locks the email for
// login_lock_first_ms; each failure after a lock ended locks it again for twice as long (at
// most login_lock_max_ms); a success, or a window without failures, forgets the email.
// Failures that arrive while the email is locked were checked before the lock began and change
// nothing. In memory only: a restart forgets every count and lock. At most emails_max emails
// are kept; past that the one whose last failure is oldest is dropped. Time is an input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

#include "engine/types.h"

namespace ecom::engine {

class login_throttle {
 public:
  explicit login_throttle(std::size_t emails_max);

  // How long the email (lower-cased) stays locked from now; 0 when it is not locked.
  time_ms locked_for(const std::string& email_key, time_ms now);
  // A failed login for the email at now.
  void note_failure(const std::string& email_key, time_ms now);
  // A successful login: the email's count and lock are forgotten.
  void note_success(const std::string& email_key);

  std::size_t size() const { return entries_.size(); }
  std::size_t emails_max() const { return emails_max_; }

 private:
  struct entry {
    std::uint32_t failures = 0;
    time_ms last_failure_at = 0;
    time_ms locked_until = 0;
    time_ms lock_ms = 0;  // the last lock's length; 0: never locked in this window
    std::list<std::string>::iterator order;
  };

  void forget(std::unordered_map<std::string, entry>::iterator it);

  std::size_t emails_max_;
  std::unordered_map<std::string, entry> entries_;
  std::list<std::string> order_;  // oldest last failure first
};

}  // namespace ecom::engine
