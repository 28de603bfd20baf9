// coupon_book: one shard's part of first-come coupons.
//   - templates: a copy of every coupon template (immutable), installed on every shard;
//   - campaigns this shard owns (campaign_id % N): remaining quantity and the users already
//     issued, decided in arrival order with no lock; each take is recorded (the outbox entry)
//     before the wallet entry is sent to the user's shard;
//   - wallets and coupon history of this shard's users; a delivery applies at most once per
//     (campaign, user), so a re-sent outbox entry after a crash is harmless.
// Lives on its shard's thread; handle() decides and emits, apply() changes state.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/codec.h"
#include "engine/commands.h"
#include "engine/coupon_types.h"
#include "engine/idempotency.h"
#include "engine/record.h"
#include "engine/user_book.h"

namespace ecom::engine {

class coupon_book {
 public:
  coupon_book(shard_index index, std::uint32_t shard_count, user_book& users,
              idempotency_table& idempotency);

  reply handle(const create_coupon& command, time_ms now, std::vector<record>& out);
  reply handle(const install_coupon& command, time_ms now, std::vector<record>& out);
  reply handle(const create_campaign& command, time_ms now, std::vector<record>& out);
  reply handle(const get_campaign& command, time_ms now, std::vector<record>& out);
  reply handle(const list_campaigns& command, time_ms now, std::vector<record>& out);
  reply handle(const take_coupon& command, time_ms now, std::vector<record>& out);
  reply handle(const deliver_coupon& command, time_ms now, std::vector<record>& out);
  reply handle(const claim_key& command, time_ms now, std::vector<record>& out);
  reply handle(const settle_key& command, time_ms now, std::vector<record>& out);
  reply handle(const list_user_coupons& command, time_ms now, std::vector<record>& out);
  reply handle(const list_coupon_history& command, time_ms now, std::vector<record>& out);

  // Records EXPIRE for wallet coupons whose expiry has passed (also those that expired while
  // the server was down). Runs from the shard's periodic tick.
  void expire(time_ms now, std::vector<record>& out);

  static bool owns(record_type type);
  bool apply(record_type type, std::string_view payload);

  // Recovery: the takes of this shard's campaigns, for re-driving deliveries that a crash
  // may have cut off; and whether a user's wallet already holds a campaign's coupon.
  std::vector<deliver_coupon> taken_coupons() const;
  bool holds(entity_id user_id, entity_id campaign_id) const;

  std::uint64_t campaign_count() const { return campaigns_.size(); }

  // Sizes the wallets and the open campaigns' issued sets for this many users on this shard
  // (about that many times the shard count in all), ahead of need: an unordered_map that
  // rehashes during a flash sale stops the shard for tens of milliseconds (measured: p99 at
  // 256 connections went from 12 to 31 ms once 500k wallets existed). Called after each batch;
  // it does work only when the user count has doubled, i.e. while users are created.
  void size_for_users(std::size_t local_users);
  std::uint64_t wallet_count() const;

  // For orders on this shard (called from order_book's handle and apply):
  // The user's coupon if it is AVAILABLE and unexpired at `now`, else null.
  const user_coupon_view* usable(entity_id user_id, entity_id user_coupon_id, time_ms now) const;
  entity_id next_history_id() const;
  // USE for an order: AVAILABLE → USED. RESTORE: USED → AVAILABLE (the sweep then expires it
  // if it is past its own expiry). False when the coupon is not in that state.
  bool apply_use(entity_id user_id, entity_id user_coupon_id, entity_id order_id,
                 entity_id history_id, time_ms at);
  bool apply_restore(entity_id user_id, entity_id user_coupon_id, entity_id order_id,
                     entity_id history_id, time_ms at);

 private:
  struct taken {
    time_ms issued_at = 0;
    std::unique_ptr<idempotency_request> key;  // only for keyed issues (render unset)
  };
  struct campaign {
    entity_id id = 0;
    entity_id coupon_id = 0;
    std::int64_t total_quantity = 0;
    std::int64_t remaining_quantity = 0;
    time_ms start_at = 0;
    time_ms end_at = 0;
    std::unordered_map<entity_id, taken> issued;  // user → when the unit was taken (and key)
  };
  struct wallet {
    std::vector<user_coupon_view> coupons;      // issue order (ascending id)
    std::vector<coupon_history_entry> history;  // ascending id
    std::set<entity_id> campaigns;              // campaigns this user holds a coupon of
  };

  campaign_view view_of(const campaign& c, time_ms now) const;
  user_coupon_view as_seen(const user_coupon_view& coupon, time_ms now) const;
  void emit(record_type type, std::string payload, std::vector<record>& out);
  std::size_t issued_size_for(std::int64_t total_quantity) const;
  bool apply_coupon_created(payload_reader& in);
  bool apply_campaign_created(payload_reader& in);
  bool apply_campaign_taken(payload_reader& in);
  bool apply_coupon_delivered(payload_reader& in);
  bool apply_coupon_expired(payload_reader& in);
  user_coupon_view* find_held(entity_id user_id, entity_id user_coupon_id);
  void note_history_id(entity_id id);

  shard_index index_;
  std::uint32_t shard_count_;
  user_book& users_;
  idempotency_table& idempotency_;
  std::unordered_map<entity_id, coupon_template> templates_;
  std::map<entity_id, campaign> campaigns_;
  std::unordered_map<entity_id, wallet> wallets_;
  std::multimap<time_ms, std::pair<entity_id, entity_id>> expiries_;  // expires_at → (user, coupon)
  std::uint64_t coupon_sequence_ = 0;                                 // template ids
  std::uint64_t campaign_sequence_ = 0;
  std::uint64_t user_coupon_sequence_ = 0;
  std::uint64_t history_sequence_ = 0;
  std::size_t sized_for_users_ = 0;  // size_for_users() has sized the maps for this many
};

}  // namespace ecom::engine
