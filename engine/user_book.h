// user_book: one shard's users, credentials, refresh sessions, balances with their history,
// and the idempotency entries of those users. Lives on (and is touched only by) its shard's
// thread.
//
// Every change goes the same way live and on replay: handle() decides, encodes a record,
// and apply() changes the state from that record. Replaying the WAL therefore rebuilds the
// state exactly; handle() itself never mutates anything.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/commands.h"
#include "engine/idempotency.h"
#include "engine/record.h"
#include "engine/types.h"

namespace ecom::engine {

class user_book {
 public:
  // `idempotency` is the shard's table, shared with the other books of the shard.
  user_book(shard_index index, std::uint32_t shard_count, idempotency_table& idempotency);

  reply handle(const create_user& command, time_ms now, std::vector<record>& out);
  reply handle(const find_credentials& command, time_ms now, std::vector<record>& out);
  reply handle(const open_session& command, time_ms now, std::vector<record>& out);
  reply handle(const rotate_session& command, time_ms now, std::vector<record>& out);
  reply handle(const close_session& command, time_ms now, std::vector<record>& out);
  reply handle(const get_user& command, time_ms now, std::vector<record>& out);
  reply handle(const bulk_create_users& command, time_ms now, std::vector<record>& out);
  reply handle(const get_balance& command, time_ms now, std::vector<record>& out);
  reply handle(const charge_balance& command, time_ms now, std::vector<record>& out);
  reply handle(const list_balance_history& command, time_ms now, std::vector<record>& out);

  // True for the record types this book owns.
  static bool owns(record_type type);
  // Applies one record (live or replay). False when the payload does not decode.
  bool apply(record_type type, std::string_view payload);

  void sweep(time_ms now) { idempotency_.sweep(now); }
  bool exists(entity_id user_id) const { return users_.contains(user_id); }
  // For a rejection that the idempotency contract stores (a 409): emits the record that keeps
  // the answer for the key, if the request had one.
  void store_rejection(entity_id user_id, const idempotency_request& request, const reply& answer,
                       time_ms now, std::vector<record>& out);
  void fill(shard_figures& figures) const;

  // For orders on this shard: the balance (nullopt: no such user), the id the next balance
  // entry gets, and applying a USE or REFUND entry (false when it breaks the history chain).
  std::optional<std::int64_t> balance(entity_id user_id) const;
  entity_id next_entry_id() const;
  bool apply_order_entry(entity_id user_id, const balance_entry& entry);
  std::size_t user_count() const { return users_.size(); }

 private:
  struct session {
    std::string token_sha256;
    time_ms expires_at = 0;
  };
  struct user_state {
    user_view profile;
    std::string password_hash;
    std::vector<session> sessions;  // oldest first, at most refresh_sessions_per_user_max
    std::int64_t balance = 0;
    time_ms balance_updated_at = 0;
    std::vector<balance_entry> history;  // ascending id (oldest first)
  };

  user_state* find(entity_id id);
  const user_state* find(entity_id id) const;
  balance_view balance_of(const user_state& user) const;
  // Encodes the record, applies it, and appends it to `out`.
  void emit(record_type type, std::string payload, std::vector<record>& out);
  std::string bulk_email(std::string_view prefix, entity_id id) const;

  bool apply_user_created(payload_reader& in);
  bool apply_users_bulk_created(payload_reader& in);
  bool apply_session_opened(payload_reader& in);
  bool apply_session_rotated(payload_reader& in);
  bool apply_session_closed(payload_reader& in);
  bool apply_balance_charged(payload_reader& in);
  bool apply_idempotent_reply(payload_reader& in);
  void note_user_id(entity_id id);
  void note_entry_id(entity_id id);

  shard_index index_;
  std::uint32_t shard_count_;
  std::unordered_map<entity_id, user_state> users_;
  std::unordered_map<std::string, entity_id> email_index_;  // lower-cased email → id
  idempotency_table& idempotency_;
  std::uint64_t user_sequence_ = 0;   // highest sequence allocated for user ids
  std::uint64_t entry_sequence_ = 0;  // highest sequence allocated for balance entry ids
  std::uint64_t entry_count_ = 0;
};

}  // namespace ecom::engine
