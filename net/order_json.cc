#include "net/order_json.h"

#include <algorithm>

#include "net/json_walk.h"
#include "net/json_writer.h"
#include "net/problem.h"
#include "net/time_format.h"

namespace ecom::net {

namespace od = json_walk::od;
using maybe_problem = std::optional<http_reply>;

namespace {

constexpr std::int64_t id_max = INT64_MAX;

#define ECOM_TRY(expr)                           \
  do {                                           \
    if (auto problem_ = (expr)) return problem_; \
  } while (0)

bool is_null(od::value& value) {
  od::json_type type;
  return !value.type().get(type) && type == od::json_type::null;
}

// user_coupon_id: an id, or null for none.
maybe_problem read_coupon_id(od::value value, std::int64_t& out) {
  if (is_null(value)) {
    out = 0;
    return std::nullopt;
  }
  return json_walk::get_integer(value, "user_coupon_id", 1, id_max, out);
}

maybe_problem read_item(od::value value, const std::string& field, order_item_request& out) {
  od::object object;
  ECOM_TRY(json_walk::get_object(value, field, object));
  bool has_product = false, has_combination = false, has_quantity = false;
  for (auto member : object) {
    std::string_view key = member.unescaped_key().value_unsafe();
    od::value inner = member.value().value_unsafe();
    if (key == "product_id") {
      ECOM_TRY(json_walk::get_integer(inner, field + ".product_id", 1, id_max, out.product_id));
      has_product = true;
    } else if (key == "combination_id") {
      ECOM_TRY(
          json_walk::get_integer(inner, field + ".combination_id", 1, id_max, out.combination_id));
      has_combination = true;
    } else if (key == "quantity") {
      ECOM_TRY(json_walk::get_integer(inner, field + ".quantity", 1,
                                      engine::order_line_quantity_max, out.quantity));
      has_quantity = true;
    }
  }
  if (!has_product) return validation_failed(field + ".product_id", "is required");
  if (!has_combination) return validation_failed(field + ".combination_id", "is required");
  if (!has_quantity) return validation_failed(field + ".quantity", "is required");
  return std::nullopt;
}

}  // namespace

maybe_problem parse_order_request(std::string_view body, std::vector<order_item_request>& items,
                                  std::int64_t& user_coupon_id) {
  od::object root;
  ECOM_TRY(json_walk::open_object(body, root));
  bool has_items = false;
  std::vector<order_item_request> sent;
  for (auto member : root) {
    std::string_view key = member.unescaped_key().value_unsafe();
    od::value value = member.value().value_unsafe();
    if (key == "items") {
      od::array array;
      ECOM_TRY(json_walk::get_array(value, "items", array));
      for (auto element : array) {
        if (sent.size() >= engine::order_lines_max)
          return validation_failed("items",
                                   "at most " + std::to_string(engine::order_lines_max) + " lines");
        order_item_request item;
        ECOM_TRY(
            read_item(element.value_unsafe(), "items[" + std::to_string(sent.size()) + "]", item));
        sent.push_back(item);
      }
      has_items = true;
    } else if (key == "user_coupon_id") {
      ECOM_TRY(read_coupon_id(value, user_coupon_id));
    }
  }
  if (!has_items) return validation_failed("items", "is required");
  if (sent.empty()) {
    return validation_failed(
        "items", "must hold 1 to " + std::to_string(engine::order_lines_max) + " lines");
  }
  // Lines for the same combination merge, in the order each first appeared.
  items.clear();
  for (const auto& line : sent) {
    auto same = std::find_if(items.begin(), items.end(), [&](const order_item_request& held) {
      return held.product_id == line.product_id && held.combination_id == line.combination_id;
    });
    if (same == items.end()) {
      items.push_back(line);
    } else if ((same->quantity += line.quantity) > engine::order_line_quantity_max) {
      return validation_failed("items", "the merged quantity of one combination exceeds " +
                                            std::to_string(engine::order_line_quantity_max));
    }
  }
  return std::nullopt;
}

maybe_problem parse_checkout_request(std::string_view body,
                                     std::optional<std::vector<std::int64_t>>& item_ids,
                                     std::int64_t& user_coupon_id) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return std::nullopt;
  od::object root;
  ECOM_TRY(json_walk::open_object(body, root));
  for (auto member : root) {
    std::string_view key = member.unescaped_key().value_unsafe();
    od::value value = member.value().value_unsafe();
    if (key == "item_ids") {
      od::array array;
      ECOM_TRY(json_walk::get_array(value, "item_ids", array));
      std::vector<std::int64_t> ids;
      for (auto element : array) {
        if (ids.size() >= engine::checkout_lines_max)
          return validation_failed(
              "item_ids", "at most " + std::to_string(engine::checkout_lines_max) + " ids");
        std::int64_t id = 0;
        ECOM_TRY(json_walk::get_integer(
            element.value_unsafe(), "item_ids[" + std::to_string(ids.size()) + "]", 1, id_max, id));
        if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
      }
      if (ids.empty()) return validation_failed("item_ids", "must name at least one cart item");
      item_ids = std::move(ids);
    } else if (key == "user_coupon_id") {
      ECOM_TRY(read_coupon_id(value, user_coupon_id));
    }
  }
  return std::nullopt;
}

std::string_view order_status_name(engine::order_status status) {
  switch (status) {
    case engine::order_status::pending_payment:
      return "PENDING_PAYMENT";
    case engine::order_status::paid:
      return "PAID";
    case engine::order_status::payment_failed:
      return "PAYMENT_FAILED";
    case engine::order_status::cancelled:
      return "CANCELLED";
    case engine::order_status::expired:
      return "EXPIRED";
    case engine::order_status::refunded:
      return "REFUNDED";
  }
  return "PENDING_PAYMENT";
}

std::optional<engine::order_status> order_status_from(std::string_view name) {
  for (auto status : {engine::order_status::pending_payment, engine::order_status::paid,
                      engine::order_status::payment_failed, engine::order_status::cancelled,
                      engine::order_status::expired, engine::order_status::refunded}) {
    if (order_status_name(status) == name) return status;
  }
  return std::nullopt;
}

namespace {

void write_time_or_null(json_writer& w, std::int64_t at) {
  if (at == 0) {
    w.null();
  } else {
    w.time(at);
  }
}

}  // namespace

void write_order(json_writer& w, const engine::order_view& o) {
  w.begin_object();
  w.key("id").value(o.id);
  w.key("user_id").value(o.user_id);
  w.key("status").value(order_status_name(o.status));
  w.key("items").begin_array();
  for (const auto& line : o.lines) {
    w.begin_object();
    w.key("product_id").value(line.product_id);
    w.key("combination_id").value(line.combination_id);
    w.key("product_name").value(line.product_name);
    w.key("combination_name").value(line.combination_name);
    w.key("quantity").value(line.quantity);
    w.key("unit_price").value(line.unit_price);
    w.key("line_total").value(line.line_total);
    w.end_object();
  }
  w.end_array();
  w.key("total_amount").value(o.total_amount);
  w.key("discount_amount").value(o.discount_amount);
  w.key("final_amount").value(o.final_amount);
  w.key("user_coupon_id").id_or_null(o.user_coupon_id);
  w.key("ordered_at").time(o.ordered_at);
  w.key("expires_at").time(o.expires_at);
  w.key("paid_at");
  write_time_or_null(w, o.paid_at);
  w.key("cancelled_at");
  write_time_or_null(w, o.cancelled_at);
  w.end_object();
}

void render_order(std::string& out, const engine::order_view& order) {
  out.reserve(out.size() + 512 + 256 * order.lines.size());
  json_writer w(out);
  write_order(w, order);
}

void render_popular(std::string& out, std::uint32_t days,
                    const std::vector<engine::popular_item>& items) {
  json_writer w(out);
  w.begin_object();
  w.key("days").value(static_cast<std::int64_t>(days));
  w.key("items").begin_array();
  std::int64_t rank = 0;
  for (const auto& item : items) {
    w.begin_object();
    w.key("rank").value(++rank);
    w.key("product_id").value(item.product_id);
    w.key("name").value(item.name);
    w.key("sold_quantity").value(item.sold_quantity);
    w.end_object();
  }
  w.end_array().end_object();
}

void render_events(std::string& out, const engine::event_page& page) {
  json_writer w(out);
  w.begin_object();
  w.key("items").begin_array();
  for (const auto& event : page.items) {
    w.begin_object();
    w.key("seq").value(static_cast<std::int64_t>(event.seq));
    w.key("type").value(event.type == engine::order_event_type::paid ? "ORDER_PAID"
                                                                     : "ORDER_REFUNDED");
    w.key("at").time(event.at);
    w.key("order");
    write_order(w, event.order);
    w.end_object();
  }
  w.end_array();
  w.key("last_seq").value(static_cast<std::int64_t>(page.last_seq));
  w.end_object();
}

}  // namespace ecom::net
