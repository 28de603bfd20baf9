// user_book: one shard's users, credentials, refresh sessions, and balances with their history.
// Lives on (and is touched only by) its shard's thread.
//
// Every change goes the same way live and on replay: handle() decides and encodes a record,
// and apply() alone changes the state from that record (handle() calls it on the record it
// just encoded). Replaying the WAL therefore rebuilds the state exactly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/control_commands.h"
#include "engine/idempotency.h"
#include "engine/limits.h"
#include "engine/login_throttle.h"
#include "engine/record.h"
#include "engine/reply.h"
#include "engine/snapshot.h"
#include "engine/step_context.h"
#include "engine/types.h"
#include "engine/user_commands.h"

namespace ecom::engine {

class user_book {
 public:
  // `keys` is the shard's table: entries written with a charge are applied into it.
  // `throttle_emails_max`: the login throttle's bound on this shard (login_throttle.h).
  user_book(shard_index index, std::uint32_t shard_count, idempotency_table& keys,
            std::size_t throttle_emails_max = login_throttle_emails_max_default);

  reply handle(const create_user& command, step_context& ctx);
  reply handle(const find_credentials& command, step_context& ctx);
  reply handle(const note_login_failure& command, step_context& ctx);
  reply handle(const open_session& command, step_context& ctx);
  reply handle(const rotate_session& command, step_context& ctx);
  reply handle(const close_session& command, step_context& ctx);
  reply handle(const get_user& command, step_context& ctx);
  reply handle(const bulk_create_users& command, step_context& ctx);
  reply handle(const get_balance& command, step_context& ctx);
  reply handle(const charge_balance& command, step_context& ctx);
  reply handle(const list_balance_history& command, step_context& ctx);

  // Applies one record (live or replay). False when the payload does not decode.
  bool apply(record_type type, std::string_view payload);

  bool exists(entity_id user_id) const { return users_.contains(user_id); }
  void fill(shard_figures& figures) const;
  // Invariants (tests and checked builds): each balance is the sum of its history, and every
  // entry's balance_after = balance_before + amount. Appends what is broken to `broken`.
  void check_invariants(std::vector<std::string>& broken) const;

  // For orders on this shard: the balance (nullopt: no such user), the id the next balance
  // entry gets, and applying a USE or REFUND entry (false when it breaks the history chain).
  std::optional<std::int64_t> balance(entity_id user_id) const;
  entity_id next_entry_id() const;
  bool apply_order_entry(entity_id user_id, const balance_entry& entry);
  // Invariant checks: how many entries of `kind` the user's history holds per order.
  std::unordered_map<entity_id, int> entries_by_order(entity_id user_id,
                                                      balance_entry_kind kind) const;
  std::size_t user_count() const { return users_.size(); }
  std::uint64_t user_sequence() const { return user_sequence_; }

  // Snapshot (snapshot.h): begin_capture writes the book's header and starts the walk at the
  // cut; capture_step walks (true when done); load reads one entity of the book's tables
  // (false: it does not decode); end_load rebuilds what is derived (the email index).
  void begin_capture(capture_buffer& out);
  bool capture_step(capture_buffer& out, capture_budget& budget);
  void end_capture();
  bool load(const snapshot_key& key, std::string_view value);
  void end_load();

 private:
  struct session {
    std::string token_sha256;
    time_ms expires_at = 0;
    std::string family_sha256;  // empty: a session from before rotation families
  };
  struct user_state {
    user_view profile;
    std::string password_hash;
    std::vector<session> sessions;  // oldest first, at most refresh_sessions_per_user_max
    std::int64_t balance = 0;
    time_ms balance_updated_at = 0;
    std::vector<balance_entry> history;  // ascending id (oldest first)
  };

  const user_state* find(entity_id id) const;
  // The user about to change (apply only): writes its value at the cut first when a capture
  // has not reached it yet.
  user_state* changing(entity_id id);
  static void write_user(payload_writer& w, const user_state& user);
  static bool read_user(payload_reader& in, user_state& user);
  balance_view balance_of(const user_state& user) const;
  // Encodes the record, applies it, and appends it to `out`.
  void emit(record_type type, std::string payload, step_context& ctx);
  std::string bulk_email(std::string_view prefix, entity_id id) const;

  bool apply_user_created(payload_reader& in);
  bool apply_users_bulk_created(payload_reader& in);
  bool apply_session_opened(payload_reader& in);
  bool apply_session_rotated(payload_reader& in);
  bool apply_session_closed(payload_reader& in);
  bool apply_session_family_revoked(payload_reader& in);
  // A rotated token of the user's family `family_sha256` came back: emits the family's
  // revocation and answers errc::refresh_token_reused; errc::unauthenticated when no session
  // of that family is left (unknown, expired, logged out).
  reply revoke_family_on_reuse(const user_state& user, const std::string& family_sha256,
                               step_context& ctx);
  bool apply_balance_charged(payload_reader& in);
  void note_user_id(entity_id id);
  void note_entry_id(entity_id id);

  shard_index index_;
  std::uint32_t shard_count_;
  std::unordered_map<entity_id, user_state> users_;
  std::unordered_map<std::string, entity_id> email_index_;  // lower-cased email → id
  idempotency_table& keys_;
  std::uint64_t user_sequence_ = 0;   // highest sequence allocated for user ids
  std::uint64_t entry_sequence_ = 0;  // highest sequence allocated for balance entry ids
  std::uint64_t entry_count_ = 0;
  login_throttle throttle_;
  std::size_t load_expected_users_ = 0;  // the books header's count, capped (see load)
  sequence_capture<snapshot_table::users> capture_users_;
};

}  // namespace ecom::engine
