// Coupon values that cross threads: templates (copied to every shard), FCFS campaigns (owned
// by campaign_id % N), and user coupons with their history (owned by the user's shard).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/limits.h"
#include "engine/types.h"

namespace ecom::engine {

enum class coupon_kind : std::uint8_t { fixed = 1, percent = 2 };

struct coupon_template {
  entity_id id = 0;
  std::string name;
  coupon_kind kind = coupon_kind::fixed;
  std::int64_t amount = 0;
  std::int64_t min_order_amount = 0;
  std::int64_t valid_days = 1;
  time_ms created_at = 0;
};

enum class campaign_status : std::uint8_t { upcoming, open, sold_out, closed };

struct campaign_view {
  entity_id id = 0;
  coupon_template coupon;
  std::int64_t total_quantity = 0;
  std::int64_t remaining_quantity = 0;
  time_ms start_at = 0;
  time_ms end_at = 0;
  campaign_status status = campaign_status::upcoming;
};

enum class user_coupon_status : std::uint8_t { available = 1, used = 2, expired = 3 };

struct user_coupon_view {
  entity_id id = 0;
  entity_id user_id = 0;
  entity_id campaign_id = 0;
  coupon_template coupon;
  user_coupon_status status = user_coupon_status::available;
  time_ms issued_at = 0;
  time_ms expires_at = 0;
  time_ms used_at = 0;  // 0: not used
};

enum class coupon_action : std::uint8_t { issue = 1, use = 2, restore = 3, expire = 4 };

struct coupon_history_entry {
  entity_id id = 0;
  entity_id user_coupon_id = 0;
  entity_id coupon_id = 0;
  coupon_action action = coupon_action::issue;
  entity_id order_id = 0;  // 0: none
  time_ms created_at = 0;
};

// The status of a campaign at `now`: the window first, then the quantity.
inline campaign_status status_at(time_ms start_at, time_ms end_at, std::int64_t remaining,
                                 time_ms now) {
  if (now < start_at) return campaign_status::upcoming;
  if (now >= end_at) return campaign_status::closed;
  return remaining == 0 ? campaign_status::sold_out : campaign_status::open;
}

// FIXED: min(amount, total); PERCENT: floor(total × amount / 100). total ≤ 999 × 50 × 1e9 fits.
inline std::int64_t discount_of(coupon_kind kind, std::int64_t amount, std::int64_t total) {
  if (total <= 0) return 0;
  if (kind == coupon_kind::fixed) return amount < total ? amount : total;
  // total × amount can pass 2^63 only above 9.2e16 won; split to stay exact.
  return (total / 100) * amount + (total % 100) * amount / 100;
}

}  // namespace ecom::engine
