// A record is one durable change emitted by a shard: its type, the shard that owns the change,
// and an opaque payload (engine/codec.h writes it). The WAL assigns the LSN.
#pragma once

#include <cstdint>
#include <string>

#include "engine/types.h"

namespace ecom::engine {

enum class record_type : std::uint16_t {
  user_created = 1,
  users_bulk_created = 2,
  session_opened = 3,
  session_rotated = 4,
  session_closed = 5,          // logout: the token's whole family
  session_family_revoked = 8,  // a rotated refresh token used again: its family
  balance_charged = 6,
  idempotent_reply_stored = 7,
  product_created = 20,
  product_updated = 21,
  stock_adjusted = 22,
  cart_item_added = 30,
  cart_item_quantity_set = 31,
  cart_item_removed = 32,
  coupon_created = 40,  // applied on every shard (templates are copied everywhere)
  campaign_created = 41,
  campaign_taken = 42,    // the outbox entry: one unit taken for a user
  coupon_delivered = 43,  // the wallet entry on the user's shard
  coupon_expired = 44,
  order_created = 50,  // with the coupon USE and the key's answer
  order_paid = 51,     // balance USE, cart lines out
  order_payment_failed = 52,
  order_cancelled = 53,
  order_expired = 54,
  order_refunded = 55,  // balance REFUND
  stock_taken = 60,     // a payment's hold on this shard's lines (keyed by order id)
  stock_released = 61,
  sale_committed = 62,  // counted for popularity
  sale_refunded = 63,
  event_recorded = 70,
};

struct record {
  record_type type{};
  shard_index shard = 0;
  std::string payload;
};

}  // namespace ecom::engine
