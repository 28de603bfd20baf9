// login_throttle: failed logins per email, on the email's shard (API.md, Users and sessions):
// the login_failures_to_lock-th failure within login_failure_window_ms locks the email for
// login_lock_first_ms; each failure after a lock ended locks it again for twice as long (at
// most login_lock_max_ms); a success, or a window without failures after the last failure or
// lock, forgets the email. Failures that arrive while the email is locked were checked before
// the lock began and change nothing.
//
// Checks in flight count too, so that concurrent logins cannot guess past the allowance: a
// check may start (begin_check) only while failures + checks in flight stay below the lock's
// threshold, or, once the email has been locked, while no other check is in flight; otherwise
// the login is refused like a locked one (Retry-After: the rest of the lock, at least 1 s).
// Every check ends with note_failure, note_success or end_check; one that never ends (a reply
// lost at shutdown) is forgotten after login_check_timeout_ms.
//
// In memory only: a restart forgets every count and lock. At most emails_max emails are kept;
// past that the least recently failed email that is not locked is dropped (a locked one is
// never dropped; when none can be, a new email is not tracked). Time is an input.
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

  // Starts a password check for the email (lower-cased) at now: 0 when it may go ahead (counted
  // in flight), else how long the login must wait (a lock's time left, at least 1 s).
  time_ms begin_check(const std::string& email_key, time_ms now);
  // How long the email stays locked from now; 0 when it is not locked.
  time_ms locked_for(const std::string& email_key, time_ms now);
  // A check ended with a wrong password at now.
  void note_failure(const std::string& email_key, time_ms now);
  // A check ended with no verdict (refused before hashing, e.g. the hash queue was full).
  void end_check(const std::string& email_key, time_ms now);
  // A successful login: the email's count, lock and checks are forgotten.
  void note_success(const std::string& email_key);

  std::size_t size() const { return entries_.size(); }
  std::size_t emails_max() const { return emails_max_; }

 private:
  struct entry {
    std::uint32_t failures = 0;
    std::uint32_t in_flight = 0;
    time_ms last_failure_at = 0;
    time_ms last_check_at = 0;
    time_ms locked_until = 0;
    time_ms lock_ms = 0;  // the last lock's length; 0: never locked in this window
    std::list<std::string>::iterator order;
  };
  using entry_map = std::unordered_map<std::string, entry>;

  // The email's entry with what time forgets applied (window, stale checks); end() if none.
  entry_map::iterator current(const std::string& email_key, time_ms now);
  // The email's entry, made if needed; end() when the table is full of locked emails.
  entry_map::iterator current_or_new(const std::string& email_key, time_ms now);
  void forget(entry_map::iterator it);

  std::size_t emails_max_;
  entry_map entries_;
  std::list<std::string> order_;  // least recently failed (or checked) first
};

}  // namespace ecom::engine
