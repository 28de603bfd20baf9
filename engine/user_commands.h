// Users, sessions and balances: the commands a user's shard takes and the values it answers.
// Owner: the user's shard (user_id % N); sign-up and login go to the email's shard, which
// allocates the user's id so that it names the same shard.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/limits.h"
#include "engine/types.h"

namespace ecom::engine {

// ---- values -----------------------------------------------------------------------------------

struct user_view {
  entity_id id = 0;
  std::string name;
  std::string email;
  time_ms created_at = 0;
  time_ms updated_at = 0;
};

struct credentials_view {
  entity_id user_id = 0;
  std::string password_hash;  // empty: the account has no password (bulk users)
};

// The answer to find_credentials for a locked email (errc::too_many_attempts).
struct login_locked {
  time_ms retry_after_ms = 0;  // the lock's time left
};

struct balance_view {
  entity_id user_id = 0;
  std::int64_t balance = 0;
  time_ms updated_at = 0;
};

enum class balance_entry_kind : std::uint8_t { charge = 1, use = 2, refund = 3 };

struct balance_entry {
  entity_id id = 0;
  balance_entry_kind kind = balance_entry_kind::charge;
  std::int64_t amount = 0;
  std::int64_t balance_before = 0;
  std::int64_t balance_after = 0;
  entity_id order_id = 0;  // 0: none
  time_ms created_at = 0;
};

struct history_page {
  std::vector<balance_entry> items;  // newest first
  entity_id next_before_id = 0;      // 0: no more pages
};

struct bulk_user {
  entity_id id = 0;
  std::string email;
};

struct bulk_page {
  std::vector<bulk_user> items;
};

// ---- commands ---------------------------------------------------------------------------------

// Owner: the shard of hash(lowercased email); the id is allocated there (id % N == shard).
struct create_user {
  std::string name;
  std::string email;
  std::string password_hash;
};

// The credentials to check a login against: a registered email's user and hash, or
// errc::invalid_credentials for an unknown one; errc::too_many_attempts (a login_locked body)
// while the email is locked or has as many checks in flight as it may (login_throttle.h),
// registered or not. A login let through counts in flight until note_login_failure or
// open_session.
struct find_credentials {  // owner: the shard of hash(lowercased email)
  std::string email;
};

// A login for the email, let through by find_credentials, ended without a session: its password
// did not match (counted by the email's throttle), or, with password_checked false, it was
// refused before any hash (it only stops counting in flight). In memory, no record. A
// successful login (open_session) forgets the email's failures.
struct note_login_failure {  // owner: the shard of hash(lowercased email)
  std::string email;
  bool password_checked = true;
};

// Refresh sessions. A login opens a session, which starts a rotation family (family_sha256: of
// the family id the refresh token carries); each rotation replaces the session's token and keeps
// the family. A token of a family that is not the family's current one (already rotated) is a
// reuse: the family is revoked, durably, and the answer is errc::refresh_token_reused. Sessions
// from before families have an empty family and are matched by token only.
struct open_session {
  entity_id user_id = 0;
  std::string token_sha256;  // of the refresh token; the token itself is never stored
  time_ms expires_at = 0;
  std::string family_sha256;
};

struct rotate_session {
  entity_id user_id = 0;
  std::string old_token_sha256;
  std::string new_token_sha256;
  time_ms new_expires_at = 0;
  std::string family_sha256;  // of the presented token's family id (empty: a token without)
};

// Logout: revokes the token's family. A reused token revokes it too (errc::refresh_token_reused).
struct close_session {
  entity_id user_id = 0;
  std::string token_sha256;
  std::string family_sha256;
};

struct get_user {
  entity_id user_id = 0;
};

// Creates `count` password-less users on the receiving shard (load-test accounts); the bulk
// flow sends one per shard.
struct bulk_create_users {
  std::uint32_t count = 0;
  std::string name_prefix;
};

struct get_balance {
  entity_id user_id = 0;
};

struct charge_balance {  // takes an Idempotency-Key
  entity_id user_id = 0;
  std::int64_t amount = 0;  // 1..charge_amount_max
};

struct list_balance_history {
  entity_id user_id = 0;
  entity_id before_id = 0;  // 0: start at the newest entry
  std::uint32_t limit = page_items_default;
};

}  // namespace ecom::engine
