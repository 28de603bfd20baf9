// Typed outcomes of domain commands. net/ maps each one to an HTTP status and problem code in
// exactly one place (net/problem.cc); the engine never deals in HTTP.
#pragma once

#include <cstdint>

namespace ecom::engine {

enum class errc : std::uint8_t {
  ok = 0,
  user_not_found,
  email_taken,
  invalid_credentials,
  unauthenticated,       // refresh token unknown, revoked or expired
  refresh_token_reused,  // a rotated refresh token again: its family is revoked now
  too_many_attempts,     // logins for this email are locked (login_throttle.h)
  balance_limit_exceeded,
  idempotency_key_reused,  // same key, different body
  idempotency_key_in_use,  // same key, first request still in flight
  product_not_found,
  combination_not_found,
  product_inactive,
  out_of_stock,
  price_out_of_range,  // a base_price change would put a combination's price out of range
  stock_out_of_range,  // a delta would take stock above stock_max
  cart_full,
  cart_item_not_found,
  cart_quantity_too_large,  // a merged line would exceed cart_line_quantity_max
  checkout_empty,           // checkout of an empty cart, or of a selection of no lines
  coupon_not_found,
  coupon_not_active,
  coupon_sold_out,
  coupon_already_issued,
  coupon_not_usable,
  min_order_amount_not_met,
  insufficient_balance,
  order_not_found,
  order_not_payable,
  order_not_cancellable,
  overloaded,  // a shard mailbox is full
  not_ready,   // recovery has not finished
  // Replication (persistence/replication_*.h): a change refused because this server does not
  // take writes: a standby, or a primary another one fenced; or a primary in stream-ack mode
  // whose stream has not answered within the timeout.
  not_primary,
  replication_unavailable,
  internal,
};

}  // namespace ecom::engine
