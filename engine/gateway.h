// gateway: the engine's front door, and the only way in from outside (net/, tools). It takes
// requests that one shard answers (routed to their owner here) and starts the flows that
// cross shards (coupon_flow, cart_flow, order_flow, fan_out); it exposes no shard, no book and
// no internal step (a delivery, a stock hold, a template copy), so nothing outside the engine
// can change shard state except through a request the engine checks.
//
// Every call is non-blocking and answers through `done` exactly once, on any thread (the WAL
// writer's or a shard's), when the answer may leave the engine (see reply_mode in
// command.h) — or returns false at once when the first shard's mailbox is full (503
// OVERLOADED; nothing was started, and `done` is dropped without being called).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>

#include "engine/idempotency_key.h"
#include "engine/reply.h"

namespace ecom::engine {

class shard_set;

// Whether the gateway takes changes (replication sets it; a server without replication is
// always `open`). Reads are never refused by it.
enum class write_gate : std::uint8_t {
  open,
  not_primary,              // a standby, or a primary fenced by another one: errc::not_primary
  replication_unavailable,  // stream-ack mode, the stream silent: errc::replication_unavailable
};

// Requests one shard answers on its own, routed by what they name (a user, an email, a
// product, a campaign, the event feed).
template <class C>
concept single_owner_request =
    std::is_same_v<C, create_user> || std::is_same_v<C, find_credentials> ||
    std::is_same_v<C, note_login_failure> || std::is_same_v<C, open_session> ||
    std::is_same_v<C, rotate_session> || std::is_same_v<C, close_session> ||
    std::is_same_v<C, get_user> || std::is_same_v<C, get_balance> ||
    std::is_same_v<C, charge_balance> || std::is_same_v<C, list_balance_history> ||
    std::is_same_v<C, update_product> || std::is_same_v<C, adjust_stock> ||
    std::is_same_v<C, get_product> || std::is_same_v<C, remove_cart_item> ||
    std::is_same_v<C, get_campaign> || std::is_same_v<C, list_user_coupons> ||
    std::is_same_v<C, list_coupon_history> || std::is_same_v<C, get_order> ||
    std::is_same_v<C, list_orders> || std::is_same_v<C, list_events>;

class gateway {
 public:
  explicit gateway(shard_set& shards);
  ~gateway();
  gateway(const gateway&) = delete;
  gateway& operator=(const gateway&) = delete;

  // A single-owner request; `key` only where the route honours Idempotency-Key (a charge).
  template <single_owner_request C>
  bool submit(C request, reply_callback done, key_ptr key = nullptr);

  // New entities that any shard may own: spread round-robin, the shard allocates the id.
  bool create_product(product_spec spec, reply_callback done);
  bool create_campaign(create_campaign campaign, reply_callback done);
  bool create_coupon(coupon_template coupon, reply_callback done);  // coupon_flow (template)

  bool issue_coupon(entity_id campaign_id, entity_id user_id, key_ptr key, reply_callback done);

  bool add_cart_item(add_cart_item item, key_ptr key, reply_callback done);
  bool set_cart_quantity(entity_id user_id, entity_id item_id, std::int64_t quantity,
                         reply_callback done);
  bool read_cart(entity_id user_id, reply_callback done);  // cart_contents

  bool create_order(create_order order, key_ptr key, reply_callback done);
  bool checkout(checkout_request request, key_ptr key, reply_callback done);
  bool pay(entity_id user_id, entity_id order_id, key_ptr key, reply_callback done);
  bool cancel(entity_id user_id, entity_id order_id, key_ptr key, reply_callback done);

  bool list_products(entity_id after_id, std::uint32_t limit, reply_callback done);
  bool list_campaigns(entity_id after_id, std::uint32_t limit, reply_callback done);
  bool popular_products(time_ms since, std::uint32_t limit, reply_callback done);
  bool shard_figures(reply_callback done);  // shard_figures_list
  // One part per shard, past the mailbox bound: never half started. Always true.
  bool bulk_create_users(std::uint32_t count, std::string name_prefix, reply_callback done);

  // A long poll of the event feed (see watch_events).
  bool watch_events(watch_events watch, reply_callback done);
  // Shutdown: every parked long poll answers now.
  void release_watches();

  // Every change (a request that may write) is refused with the gate's errc while it is not
  // open: `done` runs at once with the refusal (the call returns true). Any thread.
  void set_write_gate(write_gate gate) { gate_.store(gate, std::memory_order_release); }
  // Moves the gate from `from` to `to` only if it is at `from` (false otherwise).
  bool move_write_gate(write_gate from, write_gate to) {
    return gate_.compare_exchange_strong(from, to, std::memory_order_acq_rel);
  }
  engine::write_gate current_write_gate() const { return gate_.load(std::memory_order_acquire); }

  // Observation (any thread).
  std::uint32_t shard_count() const;
  std::size_t mailbox_depth(shard_index index) const;
  std::size_t mailbox_depth_max() const;
  time_ms now() const;

 private:
  // True (and `done` answered with the refusal) when the gate is closed.
  bool refused_by_gate(reply_callback& done) const;

  struct flows;  // the flow objects (gateway.cc): net sees no shard and no flow internals

  shard_set& shards_;
  std::unique_ptr<flows> flows_;
  std::atomic<std::uint32_t> next_product_shard_{0};
  std::atomic<std::uint32_t> next_campaign_shard_{0};
  std::atomic<engine::write_gate> gate_{write_gate::open};
};

}  // namespace ecom::engine
