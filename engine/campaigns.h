// campaign_book: one shard's coupon templates and first-come campaigns.
//   - templates: a copy of every coupon template (immutable), installed on every shard (the
//     template flow copies a new one to every shard; replay applies the owner's record on
//     every shard, unconditionally);
//   - campaigns this shard owns (campaign_id % N): remaining quantity and the users already
//     issued, decided in arrival order with no lock. Each take is recorded (the outbox entry of
//     the issue flow) before the wallet entry is sent to the user's shard.
// Lives on its shard's thread; handle() decides and emits, apply() alone changes state.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine/codec.h"
#include "engine/coupon_commands.h"
#include "engine/record.h"
#include "engine/reply.h"
#include "engine/snapshot.h"
#include "engine/step_context.h"

namespace ecom::engine {

class campaign_book {
 public:
  campaign_book(shard_index index, std::uint32_t shard_count);

  reply handle(const create_coupon& command, step_context& ctx);
  reply handle(const install_coupon& command, step_context& ctx);
  reply handle(const create_campaign& command, step_context& ctx);
  reply handle(const get_campaign& command, step_context& ctx);
  reply handle(const list_campaigns& command, step_context& ctx);
  reply handle(const take_coupon& command, step_context& ctx);

  bool apply(record_type type, std::string_view payload);

  // A template this shard knows (every durable one, and those being installed), or null.
  const coupon_template* find_template(entity_id coupon_id) const;
  // Memory only: the issue flow may deliver a coupon to a shard its template's install has
  // not reached yet (a campaign made on the template's own shard before the 201); the wallet
  // installs it from the delivery first. Replay has every template before any delivery.
  void install(const coupon_template& coupon) { templates_.try_emplace(coupon.id, coupon); }

  // Recovery: every unit this shard's campaigns took, as the coupon to deliver and the issue's
  // key (null when the issue had none), for re-delivering what a crash cut off.
  struct taken_unit {
    user_coupon_view coupon;
    key_ptr key;
  };
  std::vector<taken_unit> taken_units() const;

  std::uint64_t campaign_count() const { return campaigns_.size(); }

  // Sizes the open campaigns' issued sets for this many users on this shard (about that many
  // times the shard count in all), ahead of need: an unordered_map that rehashes during a flash
  // sale stops the shard for tens of milliseconds (measured: p99 at 256 connections went from
  // 12 to 31 ms once 500k wallets existed). Does work only when the user count has doubled.
  void size_for_users(std::size_t local_users);

  // Invariants: remaining + issued = total and remaining >= 0 for every campaign.
  void check_invariants(std::vector<std::string>& broken) const;

  // Snapshot (snapshot.h; the same five steps in every book). Templates are written by the
  // shard that made them only; the loader copies them to every shard (templates_made).
  void begin_capture(capture_buffer& out);
  bool capture_step(capture_buffer& out, capture_budget& budget);
  void end_capture();
  bool load(const snapshot_key& key, std::string_view value);
  void end_load() {}
  std::vector<coupon_template> templates_made() const;

 private:
  struct taken {
    entity_id user_id = 0;
    time_ms issued_at = 0;
    key_ptr key;  // only for keyed issues
  };
  struct campaign {
    entity_id id = 0;
    entity_id coupon_id = 0;
    std::int64_t total_quantity = 0;
    std::int64_t remaining_quantity = 0;
    time_ms start_at = 0;
    time_ms end_at = 0;
    // The units taken, in the order taken (a capture walks them by position: they only grow),
    // and the users they went to.
    std::vector<taken> issued;
    std::unordered_set<entity_id> issued_users;
  };
  // The campaign about to change (apply only), its value at the cut written first if needed.
  campaign* changing(entity_id campaign_id);
  static void write_campaign(payload_writer& w, const campaign& c);

  campaign_view view_of(const campaign& c, time_ms now) const;
  void emit(record_type type, std::string payload, step_context& ctx);
  std::size_t issued_size_for(std::int64_t total_quantity) const;
  bool apply_coupon_created(payload_reader& in);
  bool apply_campaign_created(payload_reader& in);
  bool apply_campaign_taken(payload_reader& in);

  shard_index index_;
  std::uint32_t shard_count_;
  std::unordered_map<entity_id, coupon_template> templates_;
  std::map<entity_id, campaign> campaigns_;
  std::uint64_t coupon_sequence_ = 0;  // template ids
  std::uint64_t campaign_sequence_ = 0;
  std::size_t sized_for_users_ = 0;  // size_for_users() has sized the maps for this many
  sequence_capture<snapshot_table::templates> capture_templates_;
  sequence_capture<snapshot_table::campaigns> capture_campaigns_;
  // The issued units' walk: each campaign's count at the cut (units after it came later).
  std::vector<std::pair<entity_id, std::size_t>> capture_issued_;
  std::size_t capture_issued_campaign_ = 0;
  std::size_t capture_issued_unit_ = 0;
};

}  // namespace ecom::engine
