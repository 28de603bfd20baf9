// Parsers of the answers the mixed scenario reads (orders, balance, history, coupons, events,
// products) with a simdjson DOM parser per thread.
#include <simdjson.h>

#include <cctype>

#include "tools/ecom_load/mixed_types.h"

namespace ecom::load {

namespace {

using simdjson::dom::array;
using simdjson::dom::element;

simdjson::dom::parser& thread_parser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

bool parse_root(const std::string& body, element& root) {
  return thread_parser().parse(body).get(root) == simdjson::SUCCESS;
}

// An integer field; null or missing gives fallback. False when present but not an integer.
bool int_or(element object, const char* key, std::int64_t& out, std::int64_t fallback) {
  element value;
  if (object[key].get(value) != simdjson::SUCCESS || value.is_null()) {
    out = fallback;
    return true;
  }
  return value.get(out) == simdjson::SUCCESS;
}

bool require_int(element object, const char* key, std::int64_t& out) {
  return object[key].get(out) == simdjson::SUCCESS;
}

bool require_string(element object, const char* key, std::string& out) {
  std::string_view text;
  if (object[key].get(text) != simdjson::SUCCESS) return false;
  out = std::string(text);
  return true;
}

// items array and next_cursor (null → empty) of a list page.
// A list page ({items, next_cursor}): each item read by `read` into `out` (an error string
// when it does not fit), the cursor into next_cursor ("" when null).
template <class T, class Read>
std::string read_page(const std::string& body, std::vector<T>& out, std::string& next_cursor,
                      Read read) {
  element root;
  array items;
  if (!parse_root(body, root)) return "answer is not JSON";
  if (root["items"].get(items) != simdjson::SUCCESS) return "answer has no items array";
  std::string_view cursor;
  next_cursor = root["next_cursor"].get(cursor) == simdjson::SUCCESS ? std::string(cursor) : "";
  for (element item : items) {
    T value;
    std::string error = read(item, value);
    if (!error.empty()) return error;
    out.push_back(std::move(value));
  }
  return "";
}

std::string order_from(element object, server_order& out) {
  out = server_order{};
  array items;
  if (!require_int(object, "id", out.id) || !require_int(object, "user_id", out.user_id) ||
      !require_string(object, "status", out.status) ||
      !require_int(object, "total_amount", out.total_amount) ||
      !require_int(object, "discount_amount", out.discount_amount) ||
      !require_int(object, "final_amount", out.final_amount) ||
      !int_or(object, "user_coupon_id", out.user_coupon_id, 0) ||
      object["items"].get(items) != simdjson::SUCCESS) {
    return "order without id, user_id, status, items, amounts or user_coupon_id";
  }
  for (element item : items) {
    order_line line;
    if (!require_int(item, "product_id", line.product_id) ||
        !require_int(item, "combination_id", line.combination_id) ||
        !require_int(item, "quantity", line.quantity) ||
        !require_int(item, "unit_price", line.unit_price) ||
        !require_int(item, "line_total", line.line_total)) {
      return "order " + std::to_string(out.id) + " has an incomplete item";
    }
    out.items.push_back(line);
  }
  return "";
}

}  // namespace

std::string url_encode(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

bool parse_reply_fields(const std::string& body, reply_fields& out) {
  element root;
  if (!parse_root(body, root) || !root.is_object()) return false;
  int_or(root, "id", out.id, 0);
  int_or(root, "final_amount", out.final_amount, -1);
  require_string(root, "status", out.status);
  require_string(root, "code", out.code);
  return true;
}

std::string parse_order(const std::string& body, server_order& out) {
  element root;
  if (!parse_root(body, root)) return "order is not JSON";
  return order_from(root, out);
}

std::string parse_orders_page(const std::string& body, std::vector<server_order>& out,
                              std::string& next_cursor) {
  return read_page(body, out, next_cursor, order_from);
}

std::string parse_balance(const std::string& body, std::int64_t& balance) {
  element root;
  if (!parse_root(body, root) || !require_int(root, "balance", balance)) {
    return "balance answer without balance";
  }
  return "";
}

std::string parse_balance_page(const std::string& body, std::vector<balance_entry>& out,
                               std::string& next_cursor) {
  return read_page(body, out, next_cursor, [](element item, balance_entry& entry) {
    if (!require_int(item, "id", entry.id) || !require_string(item, "type", entry.type) ||
        !require_int(item, "amount", entry.amount) ||
        !require_int(item, "balance_before", entry.balance_before) ||
        !require_int(item, "balance_after", entry.balance_after) ||
        !int_or(item, "order_id", entry.order_id, 0)) {
      return std::string(
          "balance history entry without id, type, amount, balance_before/after or order_id");
    }
    return std::string();
  });
}

std::string parse_coupons_page(const std::string& body, std::vector<server_coupon>& out,
                               std::string& next_cursor) {
  return read_page(body, out, next_cursor, [](element item, server_coupon& coupon) {
    if (!require_int(item, "id", coupon.id) || !require_string(item, "status", coupon.status) ||
        !int_or(item, "fcfs_coupon_id", coupon.fcfs_coupon_id, 0)) {
      return std::string("user coupon without id, status or fcfs_coupon_id");
    }
    return std::string();
  });
}

std::string parse_events_page(const std::string& body, std::vector<event_record>& out,
                              std::int64_t& last_seq) {
  element root;
  array items;
  if (!parse_root(body, root)) return "events answer is not JSON";
  if (root["items"].get(items) != simdjson::SUCCESS || !require_int(root, "last_seq", last_seq)) {
    return "events answer without items or last_seq";
  }
  for (element item : items) {
    event_record event;
    element order;
    if (!require_int(item, "seq", event.seq) || !require_string(item, "type", event.type) ||
        item["order"].get(order) != simdjson::SUCCESS ||
        !require_int(order, "id", event.order_id) ||
        !require_string(order, "status", event.order_status)) {
      return "event without seq, type, order.id or order.status";
    }
    out.push_back(std::move(event));
  }
  return "";
}

std::string parse_popular(const std::string& body, std::vector<popular_item>& out) {
  element root;
  array items;
  if (!parse_root(body, root) || root["items"].get(items) != simdjson::SUCCESS) {
    return "popular answer without items";
  }
  for (element item : items) {
    popular_item p;
    if (!require_int(item, "rank", p.rank) || !require_int(item, "product_id", p.product_id) ||
        !require_int(item, "sold_quantity", p.sold_quantity)) {
      return "popular item without rank, product_id or sold_quantity";
    }
    out.push_back(p);
  }
  return "";
}

std::string parse_product(const std::string& body, product_info& out) {
  element root;
  array combinations;
  out = product_info{};
  if (!parse_root(body, root) || !require_int(root, "id", out.id) ||
      root["combinations"].get(combinations) != simdjson::SUCCESS) {
    return "product without id or combinations";
  }
  for (element item : combinations) {
    combination_info c;
    if (!require_int(item, "id", c.id) || !require_int(item, "price", c.price) ||
        !require_int(item, "stock", c.initial_stock)) {
      return "product " + std::to_string(out.id) + " has a combination without id/price/stock";
    }
    out.combinations.push_back(c);
  }
  return "";
}

}  // namespace ecom::load
