#include "engine/value_codec.h"

namespace ecom::engine {

void write_value(payload_writer& w, const coupon_template& c) {
  w.put(c.id);
  w.put_bytes(c.name);
  w.put(c.kind);
  w.put(c.amount);
  w.put(c.min_order_amount);
  w.put(c.valid_days);
  w.put(c.created_at);
}

void read_value(payload_reader& in, coupon_template& c) {
  c.id = in.get<entity_id>();
  c.name = in.get_bytes();
  c.kind = in.get<coupon_kind>();
  c.amount = in.get<std::int64_t>();
  c.min_order_amount = in.get<std::int64_t>();
  c.valid_days = in.get<std::int64_t>();
  c.created_at = in.get<time_ms>();
}

void write_value(payload_writer& w, const user_coupon_view& c) {
  w.put(c.id);
  w.put(c.user_id);
  w.put(c.campaign_id);
  write_value(w, c.coupon);
  w.put(c.status);
  w.put(c.issued_at);
  w.put(c.expires_at);
  w.put(c.used_at);
}

void read_value(payload_reader& in, user_coupon_view& c) {
  c.id = in.get<entity_id>();
  c.user_id = in.get<entity_id>();
  c.campaign_id = in.get<entity_id>();
  read_value(in, c.coupon);
  c.status = in.get<user_coupon_status>();
  c.issued_at = in.get<time_ms>();
  c.expires_at = in.get<time_ms>();
  c.used_at = in.get<time_ms>();
}

void write_value(payload_writer& w, const order_view& order) {
  w.put(order.id);
  w.put(order.user_id);
  w.put(order.status);
  w.put(static_cast<std::uint32_t>(order.lines.size()));
  for (const auto& line : order.lines) {
    w.put(line.product_id);
    w.put(line.combination_id);
    w.put_bytes(line.product_name);
    w.put_bytes(line.combination_name);
    w.put(line.quantity);
    w.put(line.unit_price);
    w.put(line.line_total);
  }
  w.put(order.total_amount);
  w.put(order.discount_amount);
  w.put(order.final_amount);
  w.put(order.user_coupon_id);
  w.put(order.ordered_at);
  w.put(order.expires_at);
  w.put(order.paid_at);
  w.put(order.cancelled_at);
  w.put(static_cast<std::uint32_t>(order.cart_item_ids.size()));
  for (entity_id id : order.cart_item_ids) w.put(id);
}

void read_value(payload_reader& in, order_view& order) {
  order.id = in.get<entity_id>();
  order.user_id = in.get<entity_id>();
  order.status = in.get<order_status>();
  auto line_count = in.get<std::uint32_t>();
  if (line_count > checkout_lines_max) in.fail();
  for (std::uint32_t i = 0; i < line_count && !in.failed(); ++i) {
    order_line line;
    line.product_id = in.get<entity_id>();
    line.combination_id = in.get<entity_id>();
    line.product_name = in.get_bytes();
    line.combination_name = in.get_bytes();
    line.quantity = in.get<std::int64_t>();
    line.unit_price = in.get<std::int64_t>();
    line.line_total = in.get<std::int64_t>();
    order.lines.push_back(std::move(line));
  }
  order.total_amount = in.get<std::int64_t>();
  order.discount_amount = in.get<std::int64_t>();
  order.final_amount = in.get<std::int64_t>();
  order.user_coupon_id = in.get<entity_id>();
  order.ordered_at = in.get<time_ms>();
  order.expires_at = in.get<time_ms>();
  order.paid_at = in.get<time_ms>();
  order.cancelled_at = in.get<time_ms>();
  auto cart_count = in.get<std::uint32_t>();
  if (cart_count > checkout_lines_max) in.fail();
  for (std::uint32_t i = 0; i < cart_count && !in.failed(); ++i)
    order.cart_item_ids.push_back(in.get<entity_id>());
}

void write_value(payload_writer& w, const sale_fact& fact) {
  w.put(fact.product_id);
  w.put(fact.combination_id);
  w.put<std::uint8_t>((fact.product_found ? 1 : 0) | (fact.combination_found ? 2 : 0) |
                      (fact.active ? 4 : 0));
  w.put(fact.stock);
  w.put(fact.unit_price);
  w.put_bytes(fact.product_name);
  w.put_bytes(fact.combination_name);
}

void read_value(payload_reader& in, sale_fact& fact) {
  fact.product_id = in.get<entity_id>();
  fact.combination_id = in.get<entity_id>();
  auto flags = in.get<std::uint8_t>();
  fact.product_found = (flags & 1) != 0;
  fact.combination_found = (flags & 2) != 0;
  fact.active = (flags & 4) != 0;
  fact.stock = in.get<std::int64_t>();
  fact.unit_price = in.get<std::int64_t>();
  fact.product_name = in.get_bytes();
  fact.combination_name = in.get_bytes();
}

void write_value(payload_writer& w, const cart_item_view& item) {
  w.put(item.line.id);
  w.put(item.line.product_id);
  w.put(item.line.combination_id);
  w.put(item.line.quantity);
  write_value(w, item.fact);
}

void read_value(payload_reader& in, cart_item_view& item) {
  item.line.id = in.get<entity_id>();
  item.line.product_id = in.get<entity_id>();
  item.line.combination_id = in.get<entity_id>();
  item.line.quantity = in.get<std::int64_t>();
  read_value(in, item.fact);
}

void write_value(payload_writer& w, const balance_entry& entry) {
  w.put(entry.id);
  w.put(entry.kind);
  w.put(entry.amount);
  w.put(entry.balance_before);
  w.put(entry.balance_after);
  w.put(entry.order_id);
  w.put(entry.created_at);
}

void read_value(payload_reader& in, balance_entry& entry) {
  entry.id = in.get<entity_id>();
  entry.kind = in.get<balance_entry_kind>();
  entry.amount = in.get<std::int64_t>();
  entry.balance_before = in.get<std::int64_t>();
  entry.balance_after = in.get<std::int64_t>();
  entry.order_id = in.get<entity_id>();
  entry.created_at = in.get<time_ms>();
}

void write_value(payload_writer& w, const balance_view& balance) {
  w.put(balance.user_id);
  w.put(balance.balance);
  w.put(balance.updated_at);
}

void read_value(payload_reader& in, balance_view& balance) {
  balance.user_id = in.get<entity_id>();
  balance.balance = in.get<std::int64_t>();
  balance.updated_at = in.get<time_ms>();
}

}  // namespace ecom::engine
