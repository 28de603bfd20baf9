// sales_book: the products' side of payments on one shard (owner: product_id % N). A payment
// takes stock for its lines on this shard (all or none) under its order id; the hold is then
// released (payment failed or cut off by a crash), committed (paid: counted for popularity at
// paid_at) or refunded (stock back, popularity reduced). Each step applies at most once per
// order, so a step sent again after a crash is harmless.
#pragma once

#include <map>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/catalog.h"
#include "engine/codec.h"
#include "engine/order_commands.h"
#include "engine/record.h"
#include "engine/reply.h"
#include "engine/snapshot.h"
#include "engine/step_context.h"

namespace ecom::engine {

enum class hold_state : std::uint8_t { none, taken, committed };

class sales_book {
 public:
  sales_book(shard_index index, catalog_book& catalog);

  reply handle(const take_stock& command, step_context& ctx);
  reply handle(const release_stock& command, step_context& ctx);
  reply handle(const commit_sale& command, step_context& ctx);
  reply handle(const refund_sale& command, step_context& ctx);
  reply handle(const top_products& command, step_context& ctx);

  bool apply(record_type type, std::string_view payload);

  // Recovery: where an order's hold on this shard stands (none: never taken, or given back).
  hold_state state_of(entity_id order_id) const;
  // Forgets popularity older than the longest window (from the shard's periodic tick).
  void prune(time_ms now);
  std::uint64_t hold_count() const { return holds_.size(); }

  // Snapshot (snapshot.h; the same five steps in every book).
  void begin_capture(capture_buffer& out);
  bool capture_step(capture_buffer& out, capture_budget& budget);
  void end_capture();
  bool load(const snapshot_key& key, std::string_view value);
  void end_load() {}

 private:
  using sold_by_time = std::map<time_ms, std::int64_t>;
  struct hold {
    hold_state state = hold_state::taken;
    time_ms paid_at = 0;
    std::vector<stock_line> lines;
  };
  void emit(record_type type, std::string payload, step_context& ctx);
  bool apply_taken(payload_reader& in);
  bool apply_released(payload_reader& in);
  bool apply_committed(payload_reader& in);
  bool apply_refunded(payload_reader& in);
  bool give_back(const hold& h);
  void count_sold(const hold& h, std::int64_t sign);
  // The hold (or a product's sales) about to change, be made or go (apply and prune only):
  // its value at the cut is written first if needed.
  void changing_hold(entity_id order_id);
  void changing_sold(entity_id product_id);
  static void write_hold(payload_writer& w, const hold& h);
  static void write_sold(payload_writer& w, const sold_by_time& sold);

  shard_index index_;
  catalog_book& catalog_;
  // order id → its hold on this shard; ordered, so that a capture walks it by id
  std::map<entity_id, hold> holds_;
  // product → paid_at → quantity paid then and not refunded
  std::unordered_map<entity_id, sold_by_time> sold_;
  capture_buffer* capture_ = nullptr;  // the holds' walk, while a capture runs
  capture_range capture_holds_;
  sequence_capture<snapshot_table::sold> capture_sold_;
};

}  // namespace ecom::engine
