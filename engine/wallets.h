// wallet_book: the coupon wallets and coupon history of one shard's users (owner: user_id % N).
// A delivery from the issue flow applies at most once per (campaign, user), so a re-sent
// outbox entry after a crash is harmless; the user coupon's id is allocated here, so that
// id % N names the wallet's shard. Expiry is recorded once, at the expiry instant, by the
// shard's sweep (also for coupons that expired while the server was down).
// Lives on its shard's thread; handle() decides and emits, apply() alone changes state.
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/campaigns.h"
#include "engine/codec.h"
#include "engine/coupon_commands.h"
#include "engine/idempotency.h"
#include "engine/record.h"
#include "engine/reply.h"
#include "engine/snapshot.h"
#include "engine/step_context.h"
#include "engine/user_book.h"

namespace ecom::engine {

class wallet_book {
 public:
  // Reads users (exists) and campaigns (templates; a delivery may install one, see
  // campaign_book::install); entries written with a delivery go into `keys`.
  wallet_book(shard_index index, std::uint32_t shard_count, const user_book& users,
              campaign_book& campaigns, idempotency_table& keys);

  reply handle(const claim_issue& command, step_context& ctx);
  reply handle(const deliver_coupon& command, step_context& ctx);
  reply handle(const settle_issue& command, step_context& ctx);
  reply handle(const list_user_coupons& command, step_context& ctx);
  reply handle(const list_coupon_history& command, step_context& ctx);

  // Records EXPIRE for wallet coupons whose expiry has passed, at most expiries_per_tick_max;
  // returns how many.
  std::size_t expire(time_ms now, std::vector<record>& out);

  bool apply(record_type type, std::string_view payload);

  // Recovery: whether a user's wallet already holds a campaign's coupon.
  bool holds(entity_id user_id, entity_id campaign_id) const;
  std::uint64_t coupon_count() const;
  // Invariant checks across shards: the coupons this shard's wallets hold, per campaign.
  std::unordered_map<entity_id, std::uint64_t> coupons_by_campaign() const;
  // See campaign_book::size_for_users.
  void size_for_users(std::size_t local_users);

  // For orders on this shard (order_book's handle and apply):
  // The user's coupon if it is AVAILABLE and unexpired at `now`, else null.
  const user_coupon_view* usable(entity_id user_id, entity_id user_coupon_id, time_ms now) const;
  entity_id next_history_id() const;
  // USE for an order: AVAILABLE → USED. RESTORE: USED → AVAILABLE (the sweep then expires it
  // if it is past its own expiry). False when the coupon is not in that state.
  bool apply_use(entity_id user_id, entity_id user_coupon_id, entity_id order_id,
                 entity_id history_id, time_ms at);
  bool apply_restore(entity_id user_id, entity_id user_coupon_id, entity_id order_id,
                     entity_id history_id, time_ms at);

  // Invariants: a user holds at most one coupon per campaign.
  void check_invariants(std::vector<std::string>& broken) const;

  // Snapshot (snapshot.h; the same five steps in every book). end_load rebuilds the expiry
  // queue and each wallet's campaign set.
  void begin_capture(capture_buffer& out);
  bool capture_step(capture_buffer& out, capture_budget& budget);
  void end_capture();
  bool load(const snapshot_key& key, std::string_view value);
  void end_load();

 private:
  struct wallet {
    std::vector<user_coupon_view> coupons;      // issue order (ascending id)
    std::vector<coupon_history_entry> history;  // ascending id
    std::set<entity_id> campaigns;              // campaigns this user holds a coupon of
  };

  // The user's wallet about to change (apply only; null when none and !create), its value at
  // the cut written first if needed.
  wallet* changing(entity_id user_id, bool create);
  static void write_wallet(payload_writer& w, const wallet& wallet);
  user_coupon_view as_seen(const user_coupon_view& coupon, time_ms now) const;
  void emit(record_type type, std::string payload, std::vector<record>& out);
  bool apply_coupon_delivered(payload_reader& in);
  bool apply_coupon_expired(payload_reader& in);
  user_coupon_view* find_held(entity_id user_id, entity_id user_coupon_id);
  void note_history_id(entity_id id);

  shard_index index_;
  std::uint32_t shard_count_;
  const user_book& users_;
  campaign_book& campaigns_;
  idempotency_table& keys_;
  std::unordered_map<entity_id, wallet> wallets_;
  std::multimap<time_ms, std::pair<entity_id, entity_id>> expiries_;  // expires_at → (user, coupon)
  std::uint64_t user_coupon_sequence_ = 0;
  std::uint64_t history_sequence_ = 0;
  std::size_t sized_for_users_ = 0;
  std::size_t load_expected_wallets_ = 0;  // the books header's count, capped (see load)
  sequence_capture<snapshot_table::wallets> capture_wallets_;
};

}  // namespace ecom::engine
