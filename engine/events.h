// event_book: the order-event feed (ORDER_PAID, ORDER_REFUNDED) for the data platform, owned by
// one shard (the event shard, shard 0) so that `seq` is gap-free without any lock: the next
// event gets the next number, in the record that stores it, so a restart keeps every seq.
// Each (order, type) is recorded at most once, so a step sent again after a crash is harmless.
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/codec.h"
#include "engine/order_commands.h"
#include "engine/record.h"
#include "engine/reply.h"
#include "engine/snapshot.h"
#include "engine/step_context.h"

namespace ecom::engine {

inline constexpr shard_index event_shard = 0;

class event_book {
 public:
  explicit event_book(shard_index index) : index_(index) {}

  reply handle(const record_event& command, step_context& ctx);
  reply handle(const list_events& command, step_context& ctx);

  bool apply(record_type type, std::string_view payload);

  event_page page(std::uint64_t after, std::uint32_t limit) const;
  std::uint64_t last_seq() const { return events_.size(); }
  bool has(entity_id order_id, order_event_type type) const {
    return recorded_.contains({order_id, type});
  }
  // Invariants: seq is 1, 2, 3, ... and each (order, type) appears once.
  void check_invariants(std::vector<std::string>& broken) const;

  // Snapshot (snapshot.h; the same five steps in every book). The feed only grows: the walk
  // needs no marks, an entity is the event's record payload.
  void begin_capture(capture_buffer& out);
  bool capture_step(capture_buffer& out, capture_budget& budget);
  void end_capture();
  bool load(const snapshot_key& key, std::string_view value);
  void end_load() {}

 private:
  // An event's record payload, which is also its snapshot entity.
  static void write_event(payload_writer& w, std::uint64_t seq, order_event_type type, time_ms at,
                          const order_view& order);
  capture_range capture_events_;
  shard_index index_;
  std::vector<order_event> events_;  // events_[i].seq == i + 1
  std::set<std::pair<entity_id, order_event_type>> recorded_;
};

}  // namespace ecom::engine
