// Orders, payment, popularity and the event feed: the commands and what they answer. Orders
// are owned by the user's shard (order ids allocated there); stock holds and sales counts by
// the product's shard; the feed by the event shard. order_flow drives what crosses shards.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "engine/catalog_types.h"
#include "engine/errc.h"
#include "engine/limits.h"
#include "engine/order_types.h"
#include "engine/types.h"

namespace ecom::engine {

// ---- values -----------------------------------------------------------------------------------

struct order_page {
  std::vector<order_view> items;  // newest first
  entity_id next_before_id = 0;   // 0: no more pages
};

// What the user's shard answers when a payment may start: the order, and whether the balance
// already falls short (then the product shards only check, and take nothing).
struct payment_plan {
  order_view order;
  bool check_only = false;
};

struct popular_page {
  std::vector<popular_item> items;  // more_popular order, at most the limit asked
};

struct event_page {
  std::vector<order_event> items;  // ascending seq
  std::uint64_t last_seq = 0;      // of the last item, or `after` when there is none
};

// ---- flow inputs ------------------------------------------------------------------------------

struct order_item_input {
  entity_id product_id = 0;
  entity_id combination_id = 0;
  std::int64_t quantity = 0;  // merged per combination at the edge
  sale_fact fact;             // set by order_flow from the product's owner
};

// POST /users/{id}/cart/checkout: the cart's lines (or the chosen ones) become an order.
struct checkout_request {
  entity_id user_id = 0;
  std::optional<std::vector<entity_id>> item_ids;  // nullopt: every line
  entity_id user_coupon_id = 0;                    // 0: none
  time_ms ttl_ms = order_ttl_ms_default;
};

// ---- commands ---------------------------------------------------------------------------------

// Create (and checkout's last step): the contract's checks in order, then the order and the
// coupon USE in one record. Takes an Idempotency-Key.
struct create_order {
  entity_id user_id = 0;
  std::vector<order_item_input> items;
  entity_id user_coupon_id = 0;          // 0: none
  std::vector<entity_id> cart_item_ids;  // checkout: must still be in the cart
  time_ms ttl_ms = order_ttl_ms_default;
};

struct get_order {
  entity_id user_id = 0;
  entity_id order_id = 0;
};

struct list_orders {
  entity_id user_id = 0;
  std::uint8_t status = 0;  // 0: any; else an order_status
  entity_id before_id = 0;
  std::uint32_t limit = page_items_default;
};

// Payment, step 1 (user's shard, claims the key): the order must be PENDING_PAYMENT and not
// already being paid; it is then marked as being paid (in memory: what a crash leaves behind is
// found by the stock holds it took, see order_flow).
struct begin_payment {
  entity_id user_id = 0;
  entity_id order_id = 0;
};

// Payment, step 3 (user's shard, settles the key): what the product shards said (ok,
// PRODUCT_INACTIVE or OUT_OF_STOCK), then the balance: PAID with the debit, or PAYMENT_FAILED
// with the coupon back.
struct finish_payment {
  entity_id user_id = 0;
  entity_id order_id = 0;
  errc stock_outcome = errc::ok;
  bool check_only = false;  // the balance was short at step 1: fail with INSUFFICIENT_BALANCE
};

// PENDING_PAYMENT → CANCELLED; PAID → REFUNDED (balance, coupon here; stock, popularity and the
// event are the next steps'). Takes an Idempotency-Key.
struct cancel_order {
  entity_id user_id = 0;
  entity_id order_id = 0;
};

// On the product's owner, keyed by order id (each applies at most once):
struct take_stock {  // payment step 2: all lines of this shard, or none
  entity_id order_id = 0;
  entity_id user_id = 0;
  std::vector<stock_line> lines;
  bool check_only = false;  // only the checks: nothing is taken or written
};
struct release_stock {  // the payment failed: give back what step 2 took
  entity_id order_id = 0;
};
struct commit_sale {  // the payment succeeded: count the sale for popularity at paid_at
  entity_id order_id = 0;
  time_ms paid_at = 0;
};
struct refund_sale {  // the order was refunded: stock back, popularity reduced
  entity_id order_id = 0;
};
struct top_products {  // one shard's most popular products paid at or after `since`
  time_ms since = 0;
  std::uint32_t limit = 5;
};

// On the event shard:
struct record_event {  // at most once per (order, type)
  order_event_type type = order_event_type::paid;
  time_ms at = 0;
  order_view order;
};

struct list_events {
  std::uint64_t after = 0;
  std::uint32_t limit = 100;
};

}  // namespace ecom::engine
