// The request-body readers on arbitrary bytes, without HTTP around them (the HTTP target
// reaches them too, but spends most of its time elsewhere). The first byte picks the reader,
// the rest is the body:
//   0..10  read_json_object with the field shapes of the routes that use it (users, login,
//          refresh, logout, bulk users, charge, cart line, cart quantity, stock, coupon,
//          campaign: names, kinds and bounds as in routes_*.cc), then the route's own next
//          step where it is a pure function (read_time for the campaign's times);
//   11     a shape with every kind, optional fields and a boolean;
//   12, 13 parse_product_input (then engine::validate_product), parse_product_patch;
//   14, 15 parse_order_request, parse_checkout_request.
// What must hold: no crash, no undefined behaviour, no leak; a refusal is a 400 or 422
// problem+json whose body is JSON; what a reader accepts is within the bounds it was given
// (text length in code points of valid UTF-8, integers in range, required fields present;
// order lines 1..order_lines_max, quantities 1..order_line_quantity_max, merged).
#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/limits.h"
#include "engine/product_rules.h"
#include "net/catalog_json.h"
#include "net/json_reader.h"
#include "net/limits.h"
#include "net/order_json.h"
#include "net/time_format.h"

using namespace ecom;
using net::field_spec;

namespace {

[[noreturn]] void fail(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "fuzz_json_body: %s: %.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

// A field of a route's body, as its route declares it.
struct field_shape {
  std::string_view name;
  field_spec::kind type;
  std::int64_t min, max;
  bool required = true;
};
using shape = std::vector<field_shape>;

constexpr std::int64_t n(std::size_t bound) {
  return static_cast<std::int64_t>(bound);
}

constexpr auto text = field_spec::kind::text;
constexpr auto integer = field_spec::kind::integer;
constexpr auto boolean = field_spec::kind::boolean;

const std::vector<shape>& route_shapes() {
  static const std::vector<shape> shapes = {
      // POST /users
      {{"name", text, 1, n(engine::user_name_length_max)},
       {"email", text, 3, n(engine::email_length_max)},
       {"password", text, n(net::password_length_min), n(net::password_length_max)}},
      // POST /auth/login
      {{"email", text, 1, n(engine::email_length_max)},
       {"password", text, 1, n(net::password_length_max)}},
      // POST /auth/refresh, POST /auth/logout
      {{"refresh_token", text, 1, n(net::refresh_token_length_max)}},
      {{"refresh_token", text, 1, n(net::refresh_token_length_max)}},
      // POST /admin/users/bulk
      {{"count", integer, 1, engine::bulk_users_per_request_max},
       {"name_prefix", text, 1, n(net::bulk_name_prefix_length_max)}},
      // POST /users/{id}/balance/charge
      {{"amount", integer, 1, engine::charge_amount_max}},
      // POST /users/{id}/cart/items
      {{"product_id", integer, 1, net::path_id_max},
       {"combination_id", integer, 1, net::path_id_max},
       {"quantity", integer, 1, engine::cart_line_quantity_max}},
      // PATCH /users/{id}/cart/items/{id}
      {{"quantity", integer, 1, engine::cart_line_quantity_max}},
      // POST /admin/products/{id}/combinations/{id}/stock
      {{"delta", integer, -engine::stock_max, engine::stock_max}},
      // POST /admin/coupons
      {{"name", text, 1, n(engine::coupon_name_length_max)},
       {"type", text, 1, 16},
       {"amount", integer, 1, engine::price_max},
       {"min_order_amount", integer, 0, engine::min_order_amount_max, false},
       {"valid_days", integer, 1, engine::coupon_valid_days_max}},
      // POST /admin/fcfs-coupons (the times go on to parse_rfc3339 below)
      {{"coupon_id", integer, 1, net::path_id_max},
       {"total_quantity", integer, 1, engine::fcfs_quantity_max},
       {"start_at", text, 1, 64},
       {"end_at", text, 1, 64}},
      // Every kind, with optional fields, an empty text allowed and a negative range.
      {{"a", text, 0, 8, false},
       {"b", integer, INT64_MIN, INT64_MAX, false},
       {"c", boolean, 0, 0, false},
       {"d", integer, -5, 5},
       {"e", text, 2, 2}},
  };
  return shapes;
}
constexpr std::size_t campaign_shape = 10;

bool utf8_valid(std::string_view text) {
  return simdjson::validate_utf8(text.data(), text.size());
}

// A refusal: 400 or 422, problem+json, a JSON object naming its status.
void check_refusal(const net::http_reply& answer, std::string_view body) {
  if (answer.status != 400 && answer.status != 422) fail("a refusal that is not 400 or 422", body);
  if (answer.content_type != "application/problem+json") fail("a refusal not problem+json", body);
  static simdjson::dom::parser json;
  simdjson::dom::element document;
  if (json.parse(answer.body).get(document)) fail("a refusal whose body is not JSON", answer.body);
  std::int64_t status = 0;
  if (document["status"].get(status) || status != answer.status)
    fail("a refusal whose body has another status", answer.body);
}

void read_shape(const shape& fields, std::string_view body, bool campaign) {
  std::vector<std::string> texts(fields.size());
  std::vector<std::int64_t> integers(fields.size(), 0);
  bool flag_storage[8] = {};  // the spec takes a bool*: no vector<bool>
  bool present_storage[8] = {};
  if (fields.size() > 8) fail("a shape with more than 8 fields");
  std::vector<field_spec> specs;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const field_shape& f = fields[i];
    field_spec spec{f.name, f.type, f.required, f.min, f.max};
    if (f.type == text) spec.text_out = &texts[i];
    if (f.type == integer) spec.integer_out = &integers[i];
    if (f.type == boolean) spec.boolean_out = &flag_storage[i];
    spec.present = &present_storage[i];
    specs.push_back(spec);
  }
  auto problem = net::read_json_object(body, specs);
  if (problem) return check_refusal(*problem, body);
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const field_shape& f = fields[i];
    if (f.required && !present_storage[i]) fail("a required field is missing", f.name);
    if (!present_storage[i]) continue;
    if (f.type == text) {
      if (!utf8_valid(texts[i])) fail("accepted text that is not UTF-8", texts[i]);
      auto length = static_cast<std::int64_t>(net::code_point_count(texts[i]));
      if (length < f.min || length > f.max) fail("accepted text of a length out of bounds", f.name);
    }
    if (f.type == integer && (integers[i] < f.min || integers[i] > f.max))
      fail("accepted an integer out of bounds", f.name);
  }
  if (campaign) {
    // The route's next step: both times through the RFC 3339 parser.
    for (std::size_t i = 2; i < 4; ++i) {
      if (auto ms = net::parse_rfc3339(texts[i])) (void)net::format_rfc3339(*ms);
    }
  }
}

void read_product(std::string_view body) {
  engine::product_input input;
  if (auto problem = net::parse_product_input(body, input)) return check_refusal(*problem, body);
  engine::product_spec spec;
  (void)engine::validate_product(input, spec);
}

void read_patch(std::string_view body) {
  engine::update_product patch;
  if (auto problem = net::parse_product_patch(body, patch)) return check_refusal(*problem, body);
  if (patch.name && !utf8_valid(*patch.name)) fail("a patched name that is not UTF-8", body);
}

void read_order(std::string_view body) {
  std::vector<net::order_item_request> items;
  std::int64_t coupon = 0;
  if (auto problem = net::parse_order_request(body, items, coupon))
    return check_refusal(*problem, body);
  if (items.empty() || items.size() > engine::order_lines_max) fail("order lines out of bounds");
  std::set<std::pair<std::int64_t, std::int64_t>> seen;
  for (const auto& item : items) {
    if (item.product_id < 1 || item.combination_id < 1) fail("an order line without ids", body);
    if (item.quantity < 1 || item.quantity > engine::order_line_quantity_max)
      fail("an order quantity out of bounds", body);
    if (!seen.insert({item.product_id, item.combination_id}).second)
      fail("order lines for one combination not merged", body);
  }
  if (coupon < 0) fail("a negative coupon id", body);
}

void read_checkout(std::string_view body) {
  std::optional<std::vector<std::int64_t>> ids;
  std::int64_t coupon = 0;
  if (auto problem = net::parse_checkout_request(body, ids, coupon))
    return check_refusal(*problem, body);
  if (ids && (ids->empty() || ids->size() > engine::checkout_lines_max))
    fail("checkout ids out of bounds", body);
  if (ids) {
    for (auto id : *ids) {
      if (id < 1) fail("a checkout id below 1", body);
    }
  }
  if (coupon < 0) fail("a negative coupon id", body);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::size_t shapes = route_shapes().size();
  const std::size_t choice = data[0] % (shapes + 4);
  if (choice < shapes) {
    read_shape(route_shapes()[choice], body, choice == campaign_shape);
  } else if (choice == shapes) {
    read_product(body);
  } else if (choice == shapes + 1) {
    read_patch(body);
  } else if (choice == shapes + 2) {
    read_order(body);
  } else {
    read_checkout(body);
  }
  return 0;
}
