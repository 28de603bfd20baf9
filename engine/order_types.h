// Order values that cross threads: orders (owned by the user's shard), the per-shard stock
// lines of a payment, popular-product rows and order events. Pricing math lives here too, so
// that it can be tested on its own.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/coupon_types.h"
#include "engine/limits.h"
#include "engine/types.h"

namespace ecom::engine {

enum class order_status : std::uint8_t {
  pending_payment = 1,
  paid = 2,
  payment_failed = 3,
  cancelled = 4,
  expired = 5,
  refunded = 6,
};

struct order_line {
  entity_id product_id = 0;
  entity_id combination_id = 0;
  std::string product_name;
  std::string combination_name;
  std::int64_t quantity = 0;
  std::int64_t unit_price = 0;
  std::int64_t line_total = 0;
};

struct order_view {
  entity_id id = 0;
  entity_id user_id = 0;
  order_status status = order_status::pending_payment;
  std::vector<order_line> lines;
  std::int64_t total_amount = 0;
  std::int64_t discount_amount = 0;
  std::int64_t final_amount = 0;
  entity_id user_coupon_id = 0;  // 0: none
  time_ms ordered_at = 0;
  time_ms expires_at = 0;
  time_ms paid_at = 0;                   // 0: not paid
  time_ms cancelled_at = 0;              // 0: not cancelled or refunded
  std::vector<entity_id> cart_item_ids;  // checkout: the cart lines that leave when paid
};

struct order_amounts {
  std::int64_t total = 0;
  std::int64_t discount = 0;
  std::int64_t final_amount = 0;
};

// total = Σ unit_price × quantity (≤ 50 × 999 × 1e9 < 2^63); the discount of the coupon (none
// when `coupon` is null) never exceeds the total.
order_amounts price_order(const std::vector<order_line>& lines, const coupon_template* coupon);

// The legal moves of the order state machine (API.md): PENDING_PAYMENT to PAID,
// PAYMENT_FAILED, CANCELLED or EXPIRED; PAID to REFUNDED. Nothing else.
bool order_transition_allowed(order_status from, order_status to);

// One stock line a payment takes from (or returns to) a product's owner.
struct stock_line {
  entity_id product_id = 0;
  entity_id combination_id = 0;
  std::int64_t quantity = 0;
};

struct popular_item {
  entity_id product_id = 0;
  std::string name;
  std::int64_t sold_quantity = 0;
};

enum class order_event_type : std::uint8_t { paid = 1, refunded = 2 };

struct order_event {
  std::uint64_t seq = 0;
  order_event_type type = order_event_type::paid;
  time_ms at = 0;
  order_view order;
};

// Orders more popular first: sold quantity descending, then product id ascending.
inline bool more_popular(const popular_item& a, const popular_item& b) {
  if (a.sold_quantity != b.sold_quantity) return a.sold_quantity > b.sold_quantity;
  return a.product_id < b.product_id;
}

}  // namespace ecom::engine
