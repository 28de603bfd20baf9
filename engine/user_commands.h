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

struct find_credentials {  // owner: the shard of hash(lowercased email)
  std::string email;
};

struct open_session {
  entity_id user_id = 0;
  std::string token_sha256;  // of the refresh token; the token itself is never stored
  time_ms expires_at = 0;
};

struct rotate_session {
  entity_id user_id = 0;
  std::string old_token_sha256;
  std::string new_token_sha256;
  time_ms new_expires_at = 0;
};

struct close_session {
  entity_id user_id = 0;
  std::string token_sha256;
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
