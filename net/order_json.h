// order_json: order bodies in (create, checkout) and orders, popular products and order events
// out. Parsing checks JSON shape, types and ranges and names the field at fault
// (items[2].quantity).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/reply.h"
#include "net/http_types.h"

namespace ecom::net {

struct order_item_request {
  std::int64_t product_id = 0;
  std::int64_t combination_id = 0;
  std::int64_t quantity = 0;
};

// POST /users/{id}/orders: {items: 1..50 × {product_id, combination_id, quantity 1..999},
// user_coupon_id?}. Lines for one combination are merged (over 999 in all: items is 400).
std::optional<http_reply> parse_order_request(std::string_view body,
                                              std::vector<order_item_request>& items,
                                              std::int64_t& user_coupon_id);
// POST /users/{id}/cart/checkout: {item_ids?: 1..100 ids, user_coupon_id?}; an empty body is
// all lines without a coupon.
std::optional<http_reply> parse_checkout_request(std::string_view body,
                                                 std::optional<std::vector<std::int64_t>>& item_ids,
                                                 std::int64_t& user_coupon_id);

std::string_view order_status_name(engine::order_status status);
std::optional<engine::order_status> order_status_from(std::string_view name);

class json_writer;
void render_order(std::string& out, const engine::order_view& order);
// The order as one value inside a document being written (list pages, events).
void write_order(json_writer& w, const engine::order_view& order);
void render_popular(std::string& out, std::uint32_t days,
                    const std::vector<engine::popular_item>& items);
void render_events(std::string& out, const engine::event_page& page);

}  // namespace ecom::net
