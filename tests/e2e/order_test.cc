// Orders and payment end to end: creating orders (merging, validation, every refusal in the
// documented order, FIXED/PERCENT coupons), cart checkout, payment (stock, balance, history,
// every failure becoming PAYMENT_FAILED with the coupon restored), cancel and refund, listing,
// access rules, Idempotency-Key on create/checkout/payment/cancel, expiry with --order-ttl,
// /products/popular, the /admin/events feed with its long poll, and concurrent payments (one
// order from several connections, one balance, scarce stock, 200 users over 64 connections,
// orders spanning both shards) with their invariants checked afterwards.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "tests/e2e/e2e_fixture.h"
#include "tests/support/commerce.h"

namespace ecom::test {
namespace {

using namespace std::chrono_literals;

constexpr int64_t k_missing_id = 9223372036854775807;
constexpr std::string_view k_bulk_prefix = "order";

const std::vector<std::string> k_order_keys = {
    "cancelled_at", "discount_amount", "expires_at",     "final_amount",
    "id",           "items",           "ordered_at",     "paid_at",
    "status",       "total_amount",    "user_coupon_id", "user_id"};
const std::vector<std::string> k_order_item_keys = {
    "combination_id", "combination_name", "line_total", "product_id",
    "product_name",   "quantity",         "unit_price"};

std::vector<std::string> sorted_keys(const json_value& object) {
  auto keys = object.keys();
  std::sort(keys.begin(), keys.end());
  return keys;
}

// --- products -------------------------------------------------------------------------------

// A product with n combinations (price 10 each) of that stock.
product_ref many_combinations(http_client& client, std::string_view name, int n, int64_t stock) {
  return sized_product(client, name, 10, std::vector<int64_t>(n, 0), stock);
}

// A simple product whose id is odd (parity 1) or even (parity 0): with 2 shards these live on
// different shards.
product_ref product_with_parity(http_client& client, int parity, std::string_view name,
                                int64_t price, int64_t stock) {
  return product_with_parity(client, parity, simple_product_body(name, price, stock));
}

// --- users, coupons, balance ----------------------------------------------------------------

// Charges amount (any size, in steps of at most 10,000,000); throws unless every step is 200.
void fund(http_client& client, int64_t user_id, int64_t amount) {
  while (amount > 0) {
    const int64_t step = std::min<int64_t>(amount, 10'000'000);
    auto response = charge(client, user_id, k_admin_token, step);
    if (response.status != 200) throw std::runtime_error("charge: " + describe(response));
    amount -= step;
  }
}

int64_t balance_of(http_client& client, int64_t user_id) {
  return fetch_balance(client, user_id, k_admin_token);
}

// A user coupon of a new template, issued to the token's user; returns the user coupon id.
int64_t give_coupon(http_client& client, std::string_view token, std::string_view type,
                    int64_t amount, int64_t min_order_amount = 0) {
  const int64_t coupon_id = create_coupon_template(client, std::string(type) + " coupon", type,
                                                   amount, min_order_amount, 7);
  return issue_coupon(client, open_campaign_for(client, coupon_id), token);
}

struct coupon_action {
  int64_t user_coupon_id = 0;
  std::string action;
  int64_t order_id = 0;  // 0 when null
};

// Coupon history, newest first.
std::vector<coupon_action> coupon_history(http_client& client, int64_t user_id) {
  std::vector<coupon_action> out;
  for (const auto& item : list_all(client, user_path(user_id, "/coupons/history"))) {
    out.push_back({item["user_coupon_id"].as_int(), item["action"].as_string(),
                   item["order_id"].is_null() ? 0 : item["order_id"].as_int()});
  }
  return out;
}

// The actions recorded for one user coupon, oldest first, as "ACTION:order_id".
std::vector<std::string> actions_of(http_client& client, int64_t user_id, int64_t user_coupon_id) {
  std::vector<std::string> out;
  auto history = coupon_history(client, user_id);
  for (auto it = history.rbegin(); it != history.rend(); ++it) {
    if (it->user_coupon_id == user_coupon_id)
      out.push_back(it->action + ":" + std::to_string(it->order_id));
  }
  return out;
}

std::string act(std::string_view action, int64_t order_id) {
  return std::string(action) + ":" + std::to_string(order_id);
}

// balance = sum of history and the balance_before/after chain holds.
::testing::AssertionResult balance_consistent(http_client& client, int64_t user_id) {
  const int64_t balance = balance_of(client, user_id);
  if (balance < 0) return ::testing::AssertionFailure() << "balance " << balance << " < 0";
  return history_consistent(fetch_history(client, user_id, k_admin_token), balance);
}

// --- orders ---------------------------------------------------------------------------------

header_list key(std::string_view value) {
  return {{"Idempotency-Key", std::string(value)}};
}

// Ids of the user's orders (optionally with that status), as listed (newest first).
std::vector<int64_t> order_ids(http_client& client, int64_t user_id, std::string_view status = "",
                               int limit = 100) {
  std::string path = user_path(user_id, "/orders");
  if (!status.empty()) path += "?status=" + std::string(status);
  std::vector<int64_t> out;
  for (const auto& item : list_all(client, path, limit)) out.push_back(item["id"].as_int());
  return out;
}

// (combination id, quantity) of every order item, in order.
std::vector<std::pair<int64_t, int64_t>> items_of(const json_value& order) {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (const auto& item : order["items"].elements())
    out.emplace_back(item["combination_id"].as_int(), item["quantity"].as_int());
  return out;
}

using pairs = std::vector<std::pair<int64_t, int64_t>>;

int64_t cart_add_ok(http_client& client, int64_t user_id, std::string_view token,
                    int64_t product_id, int64_t combination_id, int64_t quantity) {
  auto response = add_to_cart(client, user_id, token, product_id, combination_id, quantity);
  if (response.status != 201) throw std::runtime_error("add to cart: " + describe(response));
  return parse_json(response.body)["id"].as_int();
}

pairs cart_lines(http_client& client, int64_t user_id) {
  auto response = client.get(user_path(user_id, "/cart"), bearer(k_admin_token));
  if (response.status != 200) throw std::runtime_error("GET cart: " + describe(response));
  pairs out;
  for (const auto& item : parse_json(response.body)["items"].elements())
    out.emplace_back(item["combination_id"].as_int(), item["quantity"].as_int());
  return out;
}

// Popular products: (product id, sold quantity) in rank order.
pairs popular(http_client& client, const std::string& query = "?days=30&limit=100") {
  auto response = client.get("/products/popular" + query);
  if (response.status != 200) throw std::runtime_error("GET popular: " + describe(response));
  auto doc = parse_json(response.body);
  pairs out;
  int64_t rank = 0;
  for (const auto& item : doc["items"].elements()) {
    if (item["rank"].as_int() != ++rank)
      throw std::runtime_error("popular ranks are not 1, 2, ...: " + response.body);
    out.emplace_back(item["product_id"].as_int(), item["sold_quantity"].as_int());
  }
  return out;
}

// The expected ranking for these sold quantities: descending, ties by ascending product id,
// zeros left out.
pairs ranking(const std::map<int64_t, int64_t>& sold) {
  pairs out;
  for (const auto& [id, quantity] : sold)
    if (quantity > 0) out.emplace_back(id, quantity);
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  return out;
}

// sold_quantity of one product in popular (0 when absent).
int64_t sold_of(http_client& client, int64_t product_id) {
  for (const auto& [id, sold] : popular(client))
    if (id == product_id) return sold;
  return 0;
}

int64_t last_event_seq(http_client& client) {
  auto events = all_events(client);
  return events.empty() ? 0 : events.back().seq;
}

// --- the fixture ----------------------------------------------------------------------------

class orders : public shared_server_test {
 protected:
  session user(std::string_view tag) { return sign_up_and_login(client(), tag); }

  http_response create(const session& s, const std::vector<order_line>& lines,
                       std::optional<int64_t> coupon = {}, const header_list& extra = {}) {
    return create_order(client(), s.user_id, s.access_token, order_body(lines, coupon), extra);
  }
  // Creates and returns the 201 order; throws otherwise.
  json_doc create_ok(const session& s, const std::vector<order_line>& lines,
                     std::optional<int64_t> coupon = {}) {
    auto response = create(s, lines, coupon);
    if (response.status != 201) throw std::runtime_error("create order: " + describe(response));
    return parse_json(response.body);
  }
  http_response pay(const session& s, int64_t order_id, const header_list& extra = {}) {
    return ecom::test::pay(client(), s.user_id, s.access_token, order_id, extra);
  }
  json_doc pay_ok(const session& s, int64_t order_id) {
    auto response = pay(s, order_id);
    if (response.status != 200) throw std::runtime_error("pay: " + describe(response));
    return parse_json(response.body);
  }
  http_response cancel(const session& s, int64_t order_id, const header_list& extra = {}) {
    return ecom::test::cancel(client(), s.user_id, s.access_token, order_id, extra);
  }
  std::string status(const session& s, int64_t order_id) {
    return status_of(client(), s.user_id, order_id);
  }
  void fund(const session& s, int64_t amount) { ecom::test::fund(client(), s.user_id, amount); }
  int64_t balance(const session& s) { return balance_of(client(), s.user_id); }
  int64_t coupon(const session& s, std::string_view type, int64_t amount, int64_t min = 0) {
    return give_coupon(client(), s.access_token, type, amount, min);
  }
};

// Every field of an order, as documented, for a fresh PENDING_PAYMENT order.
void expect_pending_shape(const json_value& order, int64_t user_id) {
  EXPECT_EQ(sorted_keys(order), k_order_keys) << order.dump();
  EXPECT_GT(order["id"].as_int(), 0);
  EXPECT_EQ(order["user_id"].as_int(), user_id);
  EXPECT_EQ(order["status"].as_string(), "PENDING_PAYMENT");
  EXPECT_TRUE(is_rfc3339_utc_millis(order["ordered_at"].as_string())) << order.dump();
  EXPECT_TRUE(is_rfc3339_utc_millis(order["expires_at"].as_string())) << order.dump();
  EXPECT_TRUE(order["paid_at"].is_null());
  EXPECT_TRUE(order["cancelled_at"].is_null());
  int64_t total = 0;
  for (const auto& item : order["items"].elements()) {
    EXPECT_EQ(sorted_keys(item), k_order_item_keys) << item.dump();
    EXPECT_EQ(item["line_total"].as_int(), item["unit_price"].as_int() * item["quantity"].as_int());
    total += item["line_total"].as_int();
  }
  EXPECT_EQ(order["total_amount"].as_int(), total);
  EXPECT_EQ(order["final_amount"].as_int(),
            order["total_amount"].as_int() - order["discount_amount"].as_int());
}

// --- create ---------------------------------------------------------------------------------

// Goal: create answers 201 with Location and the documented order; lines of the same
// combination are merged in order of first appearance; prices are base + additional; nothing is
// reserved or charged. Method: a two-size product (1000 + 0 / + 250) and a plain one; lines
// s0×2, plain×1, s1×1, s0×3 → s0×5, plain×1, s1×1. GET Location gives the same body; the
// admin token can create for the user too; the default TTL is 900 s.
TEST_F(orders, create_returns_201_with_location_and_merged_lines) {
  auto s = user("ord-create");
  auto p = sized_product(client(), "Tee", 1000, {0, 250}, 20);
  auto plain = simple_product(client(), "Plain", 333, 5);
  fund(s, 50000);
  auto response = create(
      s,
      {{p.id, p.cid(0), 2}, {plain.id, plain.cid(), 1}, {p.id, p.cid(1), 1}, {p.id, p.cid(0), 3}});
  ASSERT_EQ(response.status, 201) << describe(response);
  EXPECT_TRUE(response.header_or("Content-Type").starts_with("application/json"));
  auto order = parse_json(response.body);
  expect_pending_shape(order.root(), s.user_id);
  const int64_t id = order["id"].as_int();
  EXPECT_EQ(response.header_or("Location"), order_path(s.user_id, id));
  EXPECT_EQ(items_of(order.root()), (pairs{{p.cid(0), 5}, {plain.cid(), 1}, {p.cid(1), 1}}));
  auto items = order["items"].elements();
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0]["product_id"].as_int(), p.id);
  EXPECT_EQ(items[0]["product_name"].as_string(), "Tee");
  EXPECT_EQ(items[0]["combination_name"].as_string(), "s0");
  EXPECT_EQ(items[0]["unit_price"].as_int(), 1000);
  EXPECT_EQ(items[0]["line_total"].as_int(), 5000);
  EXPECT_EQ(items[1]["combination_name"].as_string(), "default");
  EXPECT_EQ(items[1]["unit_price"].as_int(), 333);
  EXPECT_EQ(items[2]["combination_name"].as_string(), "s1");
  EXPECT_EQ(items[2]["unit_price"].as_int(), 1250);
  EXPECT_EQ(order["total_amount"].as_int(), 5000 + 333 + 1250);
  EXPECT_EQ(order["discount_amount"].as_int(), 0);
  EXPECT_EQ(order["final_amount"].as_int(), 6583);
  EXPECT_TRUE(order["user_coupon_id"].is_null());
  EXPECT_EQ(parse_utc_millis(order["expires_at"].as_string()) -
                parse_utc_millis(order["ordered_at"].as_string()),
            900'000);
  EXPECT_LE(std::abs(parse_utc_millis(order["ordered_at"].as_string()) - now_ms()), 5000);

  auto read = client().get(response.header_or("Location"), bearer(s.access_token));
  ASSERT_EQ(read.status, 200) << describe(read);
  EXPECT_EQ(read.body, response.body);
  // Checked, not reserved; nothing charged.
  EXPECT_EQ(stock_of(client(), p.id, 0), 20);
  EXPECT_EQ(stock_of(client(), p.id, 1), 20);
  EXPECT_EQ(stock_of(client(), plain.id), 5);
  EXPECT_EQ(balance(s), 50000);
  EXPECT_EQ(money_history(client(), s.user_id).size(), 1u);

  // The admin token creates for the user; ids are new.
  auto by_admin =
      create_order(client(), s.user_id, admin(), order_body({{plain.id, plain.cid(), 5}}));
  ASSERT_EQ(by_admin.status, 201) << describe(by_admin);
  auto second = parse_json(by_admin.body);
  EXPECT_NE(second["id"].as_int(), id);
  EXPECT_EQ(second["user_id"].as_int(), s.user_id);
  EXPECT_EQ(order_ids(client(), s.user_id), (std::vector<int64_t>{second["id"].as_int(), id}));
  // user_coupon_id null is the same as absent.
  auto null_coupon = create_order(
      client(), s.user_id, s.access_token,
      R"({"items":)" + lines_json({{plain.id, plain.cid(), 1}}) + R"(,"user_coupon_id":null})");
  ASSERT_EQ(null_coupon.status, 201) << describe(null_coupon);
  EXPECT_TRUE(parse_json(null_coupon.body)["user_coupon_id"].is_null());
}

// Goal: malformed bodies are 400 naming the field (items, items[i].product_id,
// items[i].combination_id, items[i].quantity, user_coupon_id) and create nothing; 50 lines are
// accepted, 51 are not; a merged quantity over 999 is 400 "items".
TEST_F(orders, create_with_bad_body_is_400_naming_the_field) {
  auto s = user("ord-badbody");
  auto p = simple_product(client(), "Body", 10, 5000);
  auto grid = many_combinations(client(), "Grid", 51, 10);
  const std::string pid = std::to_string(p.id), cid = std::to_string(p.cid());
  const std::string good_line =
      R"({"product_id":)" + pid + R"(,"combination_id":)" + cid + R"(,"quantity":1})";
  auto line_with = [&](const std::string& fields) { return R"({"items":[)" + fields + "]}"; };
  std::vector<std::string> fifty_one;
  for (int i = 0; i < 51; ++i)
    fifty_one.push_back(json_object()
                            .add("product_id", grid.id)
                            .add("combination_id", grid.cid(i))
                            .add("quantity", 1)
                            .str());
  auto join = [](const std::vector<std::string>& parts, size_t n) {
    std::string out;
    for (size_t i = 0; i < n; ++i) out += (i ? "," : "") + parts[i];
    return out;
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{}", "items"},
      {R"({"items":[]})", "items"},
      {R"({"items":null})", "items"},
      {R"({"items":{}})", "items"},
      {R"({"items":"x"})", "items"},
      {line_with(join(fifty_one, 51)), "items"},
      {line_with(R"({"combination_id":)" + cid + R"(,"quantity":1})"), "items[0].product_id"},
      {line_with(R"({"product_id":0,"combination_id":)" + cid + R"(,"quantity":1})"),
       "items[0].product_id"},
      {line_with(R"({"product_id":")" + pid + R"(","combination_id":)" + cid + R"(,"quantity":1})"),
       "items[0].product_id"},
      {line_with(good_line + R"(,{"product_id":)" + pid + R"(,"quantity":1})"),
       "items[1].combination_id"},
      {line_with(good_line + R"(,{"product_id":)" + pid + R"(,"combination_id":-3,"quantity":1})"),
       "items[1].combination_id"},
      {line_with(R"({"product_id":)" + pid + R"(,"combination_id":)" + cid + R"(,"quantity":0})"),
       "items[0].quantity"},
      {line_with(R"({"product_id":)" + pid + R"(,"combination_id":)" + cid +
                 R"(,"quantity":1000})"),
       "items[0].quantity"},
      {line_with(R"({"product_id":)" + pid + R"(,"combination_id":)" + cid + R"(,"quantity":1.5})"),
       "items[0].quantity"},
      {line_with(R"({"product_id":)" + pid + R"(,"combination_id":)" + cid +
                 R"(,"quantity":null})"),
       "items[0].quantity"},
      {line_with(good_line + "," + good_line + R"(,{"product_id":)" + pid +
                 R"(,"combination_id":)" + cid + "}"),
       "items[2].quantity"},
      // Merged quantity over 999.
      {line_with(R"({"product_id":)" + pid + R"(,"combination_id":)" + cid +
                 R"(,"quantity":500},{"product_id":)" + pid + R"(,"combination_id":)" + cid +
                 R"(,"quantity":500})"),
       "items"},
      {R"({"items":[)" + good_line + R"(],"user_coupon_id":"1"})", "user_coupon_id"},
      {R"({"items":[)" + good_line + R"(],"user_coupon_id":0})", "user_coupon_id"},
      {R"({"items":[)" + good_line + R"(],"user_coupon_id":1.5})", "user_coupon_id"},
  };
  for (const auto& [body, field] : cases) {
    SCOPED_TRACE(body.substr(0, 200));
    expect_validation_failed(create_order(client(), s.user_id, s.access_token, body), field);
  }
  expect_problem(create_order(client(), s.user_id, s.access_token, R"({"items":)"), 400,
                 "MALFORMED_JSON");
  expect_problem(create_order(client(), s.user_id, s.access_token, "[]"), 400, "MALFORMED_JSON");
  expect_problem(client().request("POST", user_path(s.user_id, "/orders"), line_with(good_line),
                                  {{"Content-Type", "text/plain"},
                                   {"Authorization", "Bearer " + s.access_token}}),
                 415, "UNSUPPORTED_MEDIA_TYPE");
  EXPECT_TRUE(order_ids(client(), s.user_id).empty());

  // The bounds are accepted: 50 lines, quantities 1 and 999 (also merged to 999).
  auto fifty = create_order(client(), s.user_id, s.access_token, line_with(join(fifty_one, 50)));
  ASSERT_EQ(fifty.status, 201) << describe(fifty);
  EXPECT_EQ(parse_json(fifty.body)["items"].size(), 50u);
  auto top = create_order(client(), s.user_id, s.access_token,
                          order_body({{p.id, p.cid(), 499}, {p.id, p.cid(), 500}}));
  ASSERT_EQ(top.status, 201) << describe(top);
  EXPECT_EQ(items_of(parse_json(top.body).root()), (pairs{{p.cid(), 999}}));
}

// Goal: each refusal of create has its code and the checks run in the documented order
// (existence 404 → PRODUCT_INACTIVE → OUT_OF_STOCK → COUPON_NOT_USABLE →
// MIN_ORDER_AMOUNT_NOT_MET); nothing is created and the coupon stays AVAILABLE. Method: requests
// that break two rules at once get the earlier error.
TEST_F(orders, create_refusals_have_their_codes_in_the_documented_order) {
  auto s = user("ord-refuse");
  auto p = simple_product(client(), "Five", 1000, 5);
  auto q = simple_product(client(), "Other", 1000, 100);
  auto off = simple_product(client(), "Off", 1000, 100, false);
  auto empty = simple_product(client(), "Empty", 1000, 0);
  const int64_t minimum = coupon(s, "FIXED", 500, 50'000);
  const int64_t fine = coupon(s, "FIXED", 500);

  expect_problem(create(s, {{k_missing_id, p.cid(), 1}}), 404, "PRODUCT_NOT_FOUND");
  expect_problem(create(s, {{p.id, q.cid(), 1}}), 404, "COMBINATION_NOT_FOUND");
  expect_problem(create(s, {{p.id, k_missing_id, 1}}), 404, "COMBINATION_NOT_FOUND");
  expect_problem(create(s, {{off.id, off.cid(), 1}}), 409, "PRODUCT_INACTIVE");
  expect_problem(create(s, {{empty.id, empty.cid(), 1}}), 409, "OUT_OF_STOCK");
  expect_problem(create(s, {{p.id, p.cid(), 6}}), 409, "OUT_OF_STOCK");
  expect_problem(create(s, {{p.id, p.cid(), 3}, {p.id, p.cid(), 3}}), 409, "OUT_OF_STOCK");
  expect_problem(create(s, {{p.id, p.cid(), 1}}, k_missing_id), 409, "COUPON_NOT_USABLE");
  expect_problem(create(s, {{p.id, p.cid(), 1}}, minimum), 409, "MIN_ORDER_AMOUNT_NOT_MET");

  // Two rules at once: the earlier wins. An inactive line before a missing product → 404.
  expect_problem(create(s, {{off.id, off.cid(), 1}, {k_missing_id, p.cid(), 1}}), 404,
                 "PRODUCT_NOT_FOUND");
  // Out of stock before inactive in line order → still PRODUCT_INACTIVE.
  expect_problem(create(s, {{p.id, p.cid(), 6}, {off.id, off.cid(), 1}}), 409, "PRODUCT_INACTIVE");
  // Out of stock + unusable coupon → OUT_OF_STOCK.
  expect_problem(create(s, {{p.id, p.cid(), 6}}, k_missing_id), 409, "OUT_OF_STOCK");
  // Unknown user (admin) → USER_NOT_FOUND before the products.
  expect_problem(
      create_order(client(), k_missing_id, admin(), order_body({{k_missing_id, k_missing_id, 1}})),
      404, "USER_NOT_FOUND");

  EXPECT_TRUE(order_ids(client(), s.user_id).empty());
  EXPECT_EQ(coupon_status(client(), s.user_id, minimum), "AVAILABLE");
  EXPECT_EQ(coupon_status(client(), s.user_id, fine), "AVAILABLE");
  EXPECT_EQ(actions_of(client(), s.user_id, minimum), (std::vector<std::string>{act("ISSUE", 0)}));
  EXPECT_EQ(stock_of(client(), p.id), 5);
  // The minimum is inclusive: exactly 50,000 is enough.
  auto big = simple_product(client(), "Big", 10'000, 10);
  auto exact = create(s, {{big.id, big.cid(), 5}}, minimum);
  ASSERT_EQ(exact.status, 201) << describe(exact);
  EXPECT_EQ(parse_json(exact.body)["final_amount"].as_int(), 49'500);
}

// Goal: FIXED and PERCENT discounts as documented, and the coupon is USED with a USE history
// entry naming the order. Method: FIXED 3000 on 10,000 → 3000/7000; FIXED 5000 on 2000 →
// 2000/0; PERCENT 15 on 999 → floor(149.85) = 149 / 850; PERCENT 100 → free.
TEST_F(orders, coupon_discounts_fixed_and_percent) {
  auto s = user("ord-discount");
  auto p = simple_product(client(), "Priced", 1000, 1000);
  auto odd = simple_product(client(), "Odd", 999, 1000);
  struct c {
    std::string type;
    int64_t amount;
    product_ref product;
    int64_t quantity;
    int64_t total, discount;
  };
  const std::vector<c> cases = {{"FIXED", 3000, p, 10, 10'000, 3000},
                                {"FIXED", 5000, p, 2, 2000, 2000},
                                {"PERCENT", 15, odd, 1, 999, 149},
                                {"PERCENT", 100, odd, 3, 2997, 2997},
                                {"PERCENT", 1, odd, 1, 999, 9}};
  for (const auto& k : cases) {
    SCOPED_TRACE(k.type + " " + std::to_string(k.amount));
    const int64_t uc = coupon(s, k.type, k.amount);
    auto order = create_ok(s, {{k.product.id, k.product.cid(), k.quantity}}, uc);
    EXPECT_EQ(order["total_amount"].as_int(), k.total);
    EXPECT_EQ(order["discount_amount"].as_int(), k.discount);
    EXPECT_EQ(order["final_amount"].as_int(), k.total - k.discount);
    EXPECT_EQ(order["user_coupon_id"].as_int(), uc);
    EXPECT_EQ(coupon_status(client(), s.user_id, uc), "USED");
    EXPECT_EQ(actions_of(client(), s.user_id, uc),
              (std::vector<std::string>{act("ISSUE", 0), act("USE", order["id"].as_int())}));
  }
}

// Goal: COUPON_NOT_USABLE for a used coupon, an unknown id and another user's coupon;
// MIN_ORDER_AMOUNT_NOT_MET below the minimum. Nothing changes on refusal.
TEST_F(orders, coupon_not_usable_used_unknown_or_another_users) {
  auto s = user("ord-cnu");
  auto other = user("ord-cnu-other");
  auto p = simple_product(client(), "Cnu", 1000, 1000);
  const int64_t mine = coupon(s, "FIXED", 100);
  const int64_t theirs = coupon(other, "FIXED", 100);
  auto first = create_ok(s, {{p.id, p.cid(), 1}}, mine);
  expect_problem(create(s, {{p.id, p.cid(), 1}}, mine), 409, "COUPON_NOT_USABLE");
  expect_problem(create(s, {{p.id, p.cid(), 1}}, theirs), 409, "COUPON_NOT_USABLE");
  expect_problem(create(s, {{p.id, p.cid(), 1}}, k_missing_id), 409, "COUPON_NOT_USABLE");
  EXPECT_EQ(order_ids(client(), s.user_id), (std::vector<int64_t>{first["id"].as_int()}));
  EXPECT_EQ(coupon_status(client(), other.user_id, theirs), "AVAILABLE");
  // The other user can still use theirs.
  EXPECT_EQ(create(other, {{p.id, p.cid(), 1}}, theirs).status, 201);

  const int64_t minimum = coupon(s, "PERCENT", 10, 5000);
  expect_problem(create(s, {{p.id, p.cid(), 4}}, minimum), 409, "MIN_ORDER_AMOUNT_NOT_MET");
  EXPECT_EQ(coupon_status(client(), s.user_id, minimum), "AVAILABLE");
  auto ok = create_ok(s, {{p.id, p.cid(), 5}}, minimum);
  EXPECT_EQ(ok["discount_amount"].as_int(), 500);
}

// --- payment --------------------------------------------------------------------------------

// Goal: payment answers 200 PAID with paid_at; stock of every line and the balance go down;
// the history has a USE entry of -final_amount with the order id; GET and the list show PAID;
// a second payment is 409 ORDER_NOT_PAYABLE and changes nothing.
TEST_F(orders, payment_marks_paid_and_moves_stock_and_balance) {
  auto s = user("ord-pay");
  auto p = sized_product(client(), "Pay", 2000, {0, 500}, 10);
  auto q = simple_product(client(), "PayToo", 700, 4);
  const int64_t uc = coupon(s, "FIXED", 1000);
  fund(s, 20'000);
  auto order = create_ok(s, {{p.id, p.cid(0), 2}, {p.id, p.cid(1), 3}, {q.id, q.cid(), 4}}, uc);
  const int64_t id = order["id"].as_int();
  const int64_t final_amount = order["final_amount"].as_int();
  ASSERT_EQ(final_amount, 4000 + 7500 + 2800 - 1000);
  auto response = pay(s, id);
  ASSERT_EQ(response.status, 200) << describe(response);
  auto paid = parse_json(response.body);
  EXPECT_EQ(sorted_keys(paid.root()), k_order_keys);
  EXPECT_EQ(paid["id"].as_int(), id);
  EXPECT_EQ(paid["status"].as_string(), "PAID");
  EXPECT_TRUE(is_rfc3339_utc_millis(paid["paid_at"].as_string()));
  EXPECT_TRUE(paid["cancelled_at"].is_null());
  EXPECT_EQ(paid["final_amount"].as_int(), final_amount);
  EXPECT_EQ(paid["items"].dump(), order["items"].dump());
  EXPECT_EQ(paid["ordered_at"].as_string(), order["ordered_at"].as_string());
  EXPECT_EQ(paid["user_coupon_id"].as_int(), uc);

  EXPECT_EQ(stock_of(client(), p.id, 0), 8);
  EXPECT_EQ(stock_of(client(), p.id, 1), 7);
  EXPECT_EQ(stock_of(client(), q.id), 0);
  EXPECT_EQ(balance(s), 20'000 - final_amount);
  auto history = money_history(client(), s.user_id);
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0].type, "USE");
  EXPECT_EQ(history[0].amount, -final_amount);
  EXPECT_EQ(history[0].order_id, id);
  EXPECT_EQ(history[0].before, 20'000);
  EXPECT_EQ(history[0].after, 20'000 - final_amount);
  EXPECT_TRUE(balance_consistent(client(), s.user_id));
  EXPECT_EQ(order_of(client(), s.user_id, id).root().dump(), paid.root().dump());
  EXPECT_EQ(order_ids(client(), s.user_id, "PAID"), (std::vector<int64_t>{id}));
  EXPECT_EQ(coupon_status(client(), s.user_id, uc), "USED");

  expect_problem(pay(s, id), 409, "ORDER_NOT_PAYABLE");
  EXPECT_EQ(balance(s), 20'000 - final_amount);
  EXPECT_EQ(stock_of(client(), p.id, 0), 8);
  EXPECT_EQ(money_history(client(), s.user_id).size(), 2u);

  // The admin token pays for the user too.
  auto second = create_ok(s, {{p.id, p.cid(0), 1}});
  auto by_admin = ecom::test::pay(client(), s.user_id, admin(), second["id"].as_int());
  ASSERT_EQ(by_admin.status, 200) << describe(by_admin);
  EXPECT_EQ(parse_json(by_admin.body)["status"].as_string(), "PAID");
}

// Goal: a free order (final_amount 0) is paid with a zero balance and records a USE entry of
// amount 0 with the order id; its refund returns stock and coupon and records no REFUND entry
// (REFUND amounts are > 0).
TEST_F(orders, free_order_pays_with_zero_use_entry) {
  auto s = user("ord-free");
  auto p = simple_product(client(), "Free", 800, 10);
  const int64_t uc = coupon(s, "FIXED", 5000);
  auto order = create_ok(s, {{p.id, p.cid(), 2}}, uc);
  ASSERT_EQ(order["final_amount"].as_int(), 0);
  ASSERT_EQ(order["discount_amount"].as_int(), 1600);
  auto paid = pay_ok(s, order["id"].as_int());
  EXPECT_EQ(paid["status"].as_string(), "PAID");
  EXPECT_EQ(balance(s), 0);
  auto history = money_history(client(), s.user_id);
  ASSERT_EQ(history.size(), 1u);
  EXPECT_EQ(history[0].type, "USE");
  EXPECT_EQ(history[0].amount, 0);
  EXPECT_EQ(history[0].order_id, order["id"].as_int());
  EXPECT_EQ(stock_of(client(), p.id), 8);
  // Refunding it returns the stock; REFUND entries have amount > 0, so none is recorded.
  auto refunded = cancel(s, order["id"].as_int());
  ASSERT_EQ(refunded.status, 200) << describe(refunded);
  EXPECT_EQ(parse_json(refunded.body)["status"].as_string(), "REFUNDED");
  EXPECT_EQ(stock_of(client(), p.id), 10);
  EXPECT_EQ(balance(s), 0);
  EXPECT_EQ(money_history(client(), s.user_id).size(), 1u);
  EXPECT_EQ(coupon_status(client(), s.user_id, uc), "AVAILABLE");
}

// Goal: payment charges the final_amount fixed at creation, even if the price changed since.
TEST_F(orders, payment_charges_the_price_at_creation) {
  auto s = user("ord-price");
  auto p = simple_product(client(), "Moving", 1000, 10);
  fund(s, 100'000);
  auto order = create_ok(s, {{p.id, p.cid(), 3}});
  ASSERT_EQ(patch_product(client(), p.id, R"({"base_price":5000,"name":"Renamed"})").status, 200);
  auto paid = pay_ok(s, order["id"].as_int());
  EXPECT_EQ(paid["final_amount"].as_int(), 3000);
  EXPECT_EQ(paid["items"][0]["unit_price"].as_int(), 1000);
  EXPECT_EQ(balance(s), 97'000);
}

// Goal: INSUFFICIENT_BALANCE, OUT_OF_STOCK and PRODUCT_INACTIVE at payment are 409 with that
// code, the order becomes PAYMENT_FAILED (paid_at and cancelled_at null), the coupon is AVAILABLE
// again with RESTORE naming the order, stock and balance are unchanged; the order can be neither
// paid (ORDER_NOT_PAYABLE) nor cancelled (ORDER_NOT_CANCELLABLE) afterwards.
TEST_F(orders, payment_failures_make_payment_failed_and_restore_the_coupon) {
  auto s = user("ord-fail");
  auto p = simple_product(client(), "Failing", 3000, 5);
  fund(s, 10'000);
  struct step {
    std::string code;
    std::function<void()> cause, undo;
  };
  const std::vector<step> steps = {
      {"INSUFFICIENT_BALANCE", [] {}, [] {}},
      {"OUT_OF_STOCK", [&] { ASSERT_EQ(adjust_stock(client(), p.id, p.cid(), -3).status, 200); },
       [&] { ASSERT_EQ(adjust_stock(client(), p.id, p.cid(), 3).status, 200); }},
      {"PRODUCT_INACTIVE",
       [&] { ASSERT_EQ(patch_product(client(), p.id, R"({"is_active":false})").status, 200); },
       [&] { ASSERT_EQ(patch_product(client(), p.id, R"({"is_active":true})").status, 200); }},
  };
  for (const auto& st : steps) {
    SCOPED_TRACE(st.code);
    const int64_t uc = coupon(s, "FIXED", 500);
    // 5 × 3000 - 500 = 14,500 > 10,000 for the balance case; 3 × 3000 - 500 otherwise.
    const int64_t quantity = st.code == "INSUFFICIENT_BALANCE" ? 5 : 3;
    auto order = create_ok(s, {{p.id, p.cid(), quantity}}, uc);
    const int64_t id = order["id"].as_int();
    st.cause();
    const int64_t stock_before = stock_of(client(), p.id);
    auto response = pay(s, id);
    expect_problem(response, 409, st.code);
    auto failed = order_of(client(), s.user_id, id);
    EXPECT_EQ(failed["status"].as_string(), "PAYMENT_FAILED");
    EXPECT_TRUE(failed["paid_at"].is_null());
    EXPECT_TRUE(failed["cancelled_at"].is_null());
    EXPECT_EQ(coupon_status(client(), s.user_id, uc), "AVAILABLE");
    EXPECT_EQ(actions_of(client(), s.user_id, uc),
              (std::vector<std::string>{act("ISSUE", 0), act("USE", id), act("RESTORE", id)}));
    EXPECT_EQ(stock_of(client(), p.id), stock_before);
    EXPECT_EQ(balance(s), 10'000);
    EXPECT_EQ(money_history(client(), s.user_id).size(), 1u);
    st.undo();
    expect_problem(pay(s, id), 409, "ORDER_NOT_PAYABLE");
    expect_problem(cancel(s, id), 409, "ORDER_NOT_CANCELLABLE");
    EXPECT_EQ(order_ids(client(), s.user_id, "PAYMENT_FAILED").front(), id);
    // The restored coupon is usable again.
    auto again = create_ok(s, {{p.id, p.cid(), 1}}, uc);
    EXPECT_EQ(again["user_coupon_id"].as_int(), uc);
    ASSERT_EQ(cancel(s, again["id"].as_int()).status, 200);
  }
  EXPECT_EQ(stock_of(client(), p.id), 5);
}

// Goal: payment checks run in the documented order: not payable → inactive → stock → balance.
// Method: an order broken in several ways at once gets the earliest code.
TEST_F(orders, payment_checks_run_in_the_documented_order) {
  auto s = user("ord-pay-order");
  auto p = simple_product(client(), "Order", 5000, 5);
  // Balance 0, stock short and inactive → PRODUCT_INACTIVE.
  auto a = create_ok(s, {{p.id, p.cid(), 5}});
  auto b = create_ok(s, {{p.id, p.cid(), 5}});
  ASSERT_EQ(adjust_stock(client(), p.id, p.cid(), -1).status, 200);
  ASSERT_EQ(patch_product(client(), p.id, R"({"is_active":false})").status, 200);
  expect_problem(pay(s, a["id"].as_int()), 409, "PRODUCT_INACTIVE");
  // Paid-out order with everything else wrong → ORDER_NOT_PAYABLE.
  expect_problem(pay(s, a["id"].as_int()), 409, "ORDER_NOT_PAYABLE");
  // Balance 0 and stock short → OUT_OF_STOCK.
  ASSERT_EQ(patch_product(client(), p.id, R"({"is_active":true})").status, 200);
  expect_problem(pay(s, b["id"].as_int()), 409, "OUT_OF_STOCK");
  // Balance short only → INSUFFICIENT_BALANCE.
  auto c = create_ok(s, {{p.id, p.cid(), 4}});
  fund(s, 19'999);
  expect_problem(pay(s, c["id"].as_int()), 409, "INSUFFICIENT_BALANCE");
  // Exactly enough works.
  fund(s, 1);
  auto d = create_ok(s, {{p.id, p.cid(), 4}});
  ASSERT_EQ(pay(s, d["id"].as_int()).status, 200);
  EXPECT_EQ(balance(s), 0);
  EXPECT_EQ(stock_of(client(), p.id), 0);
}

// Goal: payment is all or nothing over several lines: when the last line is short, no line's
// stock moves and no money is taken.
TEST_F(orders, multi_line_payment_is_all_or_nothing) {
  auto s = user("ord-atomic");
  auto p = sized_product(client(), "Atomic", 100, {0, 0, 0}, 10);
  auto q = simple_product(client(), "Short", 100, 10);
  fund(s, 100'000);
  auto order = create_ok(
      s, {{p.id, p.cid(0), 4}, {p.id, p.cid(1), 5}, {p.id, p.cid(2), 6}, {q.id, q.cid(), 7}});
  ASSERT_EQ(adjust_stock(client(), q.id, q.cid(), -4).status, 200);  // 6 < 7
  expect_problem(pay(s, order["id"].as_int()), 409, "OUT_OF_STOCK");
  EXPECT_EQ(stock_of(client(), p.id, 0), 10);
  EXPECT_EQ(stock_of(client(), p.id, 1), 10);
  EXPECT_EQ(stock_of(client(), p.id, 2), 10);
  EXPECT_EQ(stock_of(client(), q.id), 6);
  EXPECT_EQ(balance(s), 100'000);
  EXPECT_EQ(sold_of(client(), p.id), 0);
}

// --- cancel ---------------------------------------------------------------------------------

// Goal: cancelling a pending order answers 200 CANCELLED with cancelled_at, restores its coupon
// (RESTORE with the order id), and moves no stock or money; afterwards it can be neither paid
// nor cancelled again.
TEST_F(orders, cancel_pending_order_is_cancelled_and_restores_the_coupon) {
  auto s = user("ord-cancel");
  auto p = simple_product(client(), "Cancel", 1000, 10);
  const int64_t uc = coupon(s, "PERCENT", 50);
  fund(s, 5000);
  auto order = create_ok(s, {{p.id, p.cid(), 2}}, uc);
  const int64_t id = order["id"].as_int();
  auto response = cancel(s, id);
  ASSERT_EQ(response.status, 200) << describe(response);
  auto cancelled = parse_json(response.body);
  EXPECT_EQ(sorted_keys(cancelled.root()), k_order_keys);
  EXPECT_EQ(cancelled["status"].as_string(), "CANCELLED");
  EXPECT_TRUE(is_rfc3339_utc_millis(cancelled["cancelled_at"].as_string()));
  EXPECT_TRUE(cancelled["paid_at"].is_null());
  EXPECT_EQ(cancelled["final_amount"].as_int(), 1000);
  EXPECT_EQ(order_of(client(), s.user_id, id).root().dump(), cancelled.root().dump());
  EXPECT_EQ(coupon_status(client(), s.user_id, uc), "AVAILABLE");
  EXPECT_EQ(actions_of(client(), s.user_id, uc),
            (std::vector<std::string>{act("ISSUE", 0), act("USE", id), act("RESTORE", id)}));
  EXPECT_EQ(stock_of(client(), p.id), 10);
  EXPECT_EQ(balance(s), 5000);
  expect_problem(cancel(s, id), 409, "ORDER_NOT_CANCELLABLE");
  expect_problem(pay(s, id), 409, "ORDER_NOT_PAYABLE");
  EXPECT_EQ(balance(s), 5000);
  EXPECT_EQ(order_ids(client(), s.user_id, "CANCELLED"), (std::vector<int64_t>{id}));
}

// Goal: cancelling a paid order answers 200 REFUNDED: a REFUND entry of +final_amount with the
// order id, stock returned on every line, coupon restored, paid_at kept, cancelled_at set;
// further cancel or payment is 409.
TEST_F(orders, cancel_paid_order_refunds_balance_stock_and_coupon) {
  auto s = user("ord-refund");
  auto p = sized_product(client(), "Refund", 1500, {0, 100}, 10);
  const int64_t uc = coupon(s, "FIXED", 700);
  fund(s, 30'000);
  auto order = create_ok(s, {{p.id, p.cid(0), 3}, {p.id, p.cid(1), 2}}, uc);
  const int64_t id = order["id"].as_int();
  const int64_t final_amount = order["final_amount"].as_int();
  ASSERT_EQ(final_amount, 4500 + 3200 - 700);
  auto paid = pay_ok(s, id);
  ASSERT_EQ(stock_of(client(), p.id, 0), 7);
  auto response = cancel(s, id);
  ASSERT_EQ(response.status, 200) << describe(response);
  auto refunded = parse_json(response.body);
  EXPECT_EQ(refunded["status"].as_string(), "REFUNDED");
  EXPECT_EQ(refunded["paid_at"].as_string(), paid["paid_at"].as_string());
  EXPECT_TRUE(is_rfc3339_utc_millis(refunded["cancelled_at"].as_string()));
  EXPECT_EQ(refunded["final_amount"].as_int(), final_amount);
  EXPECT_EQ(order_of(client(), s.user_id, id).root().dump(), refunded.root().dump());
  EXPECT_EQ(stock_of(client(), p.id, 0), 10);
  EXPECT_EQ(stock_of(client(), p.id, 1), 10);
  EXPECT_EQ(balance(s), 30'000);
  auto history = money_history(client(), s.user_id);
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history[0].type, "REFUND");
  EXPECT_EQ(history[0].amount, final_amount);
  EXPECT_EQ(history[0].order_id, id);
  EXPECT_EQ(history[1].type, "USE");
  EXPECT_EQ(history[1].order_id, id);
  EXPECT_TRUE(balance_consistent(client(), s.user_id));
  EXPECT_EQ(coupon_status(client(), s.user_id, uc), "AVAILABLE");
  EXPECT_EQ(actions_of(client(), s.user_id, uc),
            (std::vector<std::string>{act("ISSUE", 0), act("USE", id), act("RESTORE", id)}));
  expect_problem(cancel(s, id), 409, "ORDER_NOT_CANCELLABLE");
  expect_problem(pay(s, id), 409, "ORDER_NOT_PAYABLE");
  EXPECT_EQ(balance(s), 30'000);
  EXPECT_EQ(money_history(client(), s.user_id).size(), 3u);
  EXPECT_EQ(order_ids(client(), s.user_id, "REFUNDED"), (std::vector<int64_t>{id}));
  EXPECT_TRUE(order_ids(client(), s.user_id, "PAID").empty());
}

// Goal: a refund may take the balance above the 1,000,000,000 charge cap.
TEST_F(orders, refund_may_exceed_the_charge_cap) {
  auto s = user("ord-cap");
  auto p = simple_product(client(), "Pricey", 5'000'000, 10);
  fund(s, 1'000'000'000);
  auto order = create_ok(s, {{p.id, p.cid(), 1}});
  pay_ok(s, order["id"].as_int());
  ASSERT_EQ(charge(client(), s.user_id, s.access_token, 5'000'000).status, 200);
  expect_problem(charge(client(), s.user_id, s.access_token, 1), 409, "BALANCE_LIMIT_EXCEEDED");
  auto response = cancel(s, order["id"].as_int());
  ASSERT_EQ(response.status, 200) << describe(response);
  EXPECT_EQ(parse_json(response.body)["status"].as_string(), "REFUNDED");
  EXPECT_EQ(balance(s), 1'005'000'000);
  EXPECT_TRUE(balance_consistent(client(), s.user_id));
}

// --- list, get, access ----------------------------------------------------------------------

// Goal: the list is newest first, filters by each status, pages with limit/cursor without
// losing or repeating an order, and rejects a bad status or limit with 400 naming it.
TEST_F(orders, list_filters_by_status_and_pages_newest_first) {
  auto s = user("ord-list");
  auto p = simple_product(client(), "Listed", 100, 1000);
  fund(s, 1000);
  std::map<std::string, std::vector<int64_t>> by_status;  // oldest first
  std::vector<int64_t> all;
  auto make = [&] {
    const int64_t id = create_ok(s, {{p.id, p.cid(), 1}})["id"].as_int();
    all.push_back(id);
    return id;
  };
  for (int round = 0; round < 3; ++round) {
    by_status["PENDING_PAYMENT"].push_back(make());
    const int64_t paid = make();
    ASSERT_EQ(pay(s, paid).status, 200);
    by_status["PAID"].push_back(paid);
    const int64_t cancelled = make();
    ASSERT_EQ(cancel(s, cancelled).status, 200);
    by_status["CANCELLED"].push_back(cancelled);
    const int64_t refunded = make();
    ASSERT_EQ(pay(s, refunded).status, 200);
    ASSERT_EQ(cancel(s, refunded).status, 200);
    by_status["REFUNDED"].push_back(refunded);
  }
  const int64_t expensive = create_ok(s, {{p.id, p.cid(), 100}})["id"].as_int();
  all.push_back(expensive);
  expect_problem(pay(s, expensive), 409, "INSUFFICIENT_BALANCE");
  by_status["PAYMENT_FAILED"].push_back(expensive);

  std::vector<int64_t> newest_first(all.rbegin(), all.rend());
  for (int limit : {1, 2, 5, 100}) {
    SCOPED_TRACE("limit " + std::to_string(limit));
    EXPECT_EQ(order_ids(client(), s.user_id, "", limit), newest_first);
  }
  for (const char* st : {"PENDING_PAYMENT", "PAID", "PAYMENT_FAILED", "CANCELLED", "REFUNDED"}) {
    SCOPED_TRACE(st);
    const auto& ids = by_status[st];
    EXPECT_EQ(order_ids(client(), s.user_id, st, 2),
              std::vector<int64_t>(ids.rbegin(), ids.rend()));
    for (const auto& item : list_all(client(), user_path(s.user_id, "/orders?status=") + st))
      EXPECT_EQ(item["status"].as_string(), st);
  }
  EXPECT_TRUE(order_ids(client(), s.user_id, "EXPIRED").empty());

  // The page shape, with the user's own token.
  auto first = client().get(user_path(s.user_id, "/orders?limit=2"), bearer(s.access_token));
  ASSERT_EQ(first.status, 200) << describe(first);
  auto doc = parse_json(first.body);
  EXPECT_EQ(sorted_keys(doc.root()), (std::vector<std::string>{"items", "next_cursor"}));
  EXPECT_EQ(doc["items"].size(), 2u);
  EXPECT_TRUE(doc["next_cursor"].is_string());
  EXPECT_EQ(sorted_keys(doc["items"][0]), k_order_keys);
  // The default limit is 20.
  auto defaults = client().get(user_path(s.user_id, "/orders"), bearer(s.access_token));
  ASSERT_EQ(defaults.status, 200);
  EXPECT_EQ(parse_json(defaults.body)["items"].size(), std::min<size_t>(20, all.size()));

  for (const char* bad : {"?status=paid", "?status=BOGUS", "?status="}) {
    SCOPED_TRACE(bad);
    expect_validation_failed(
        client().get(user_path(s.user_id, "/orders") + bad, bearer(s.access_token)), "status");
  }
  for (const char* bad : {"?limit=0", "?limit=101", "?limit=x"}) {
    SCOPED_TRACE(bad);
    expect_validation_failed(
        client().get(user_path(s.user_id, "/orders") + bad, bearer(s.access_token)), "limit");
  }
  // A new user has no orders.
  auto fresh = user("ord-list-empty");
  auto empty = client().get(user_path(fresh.user_id, "/orders"), bearer(fresh.access_token));
  ASSERT_EQ(empty.status, 200);
  EXPECT_EQ(parse_json(empty.body)["items"].size(), 0u);
  EXPECT_TRUE(parse_json(empty.body)["next_cursor"].is_null());
}

// Goal: another user's token is 403 FORBIDDEN on every order route (nothing changes); another
// user's order id under one's own path and an unknown order id are 404 ORDER_NOT_FOUND; no
// token is 401; a bad order id is 400; an unknown user (admin) is 404 USER_NOT_FOUND.
TEST_F(orders, access_rules_and_not_found) {
  auto a = user("ord-acc-a");
  auto b = user("ord-acc-b");
  auto p = simple_product(client(), "Access", 100, 100);
  fund(a, 10'000);
  fund(b, 10'000);
  cart_add_ok(client(), a.user_id, a.access_token, p.id, p.cid(), 1);
  auto order = create_ok(a, {{p.id, p.cid(), 1}});
  const int64_t id = order["id"].as_int();
  const std::string body = order_body({{p.id, p.cid(), 1}});

  // b's token on a's paths.
  expect_problem(client().get(user_path(a.user_id, "/orders"), bearer(b.access_token)), 403,
                 "FORBIDDEN");
  expect_problem(client().get(order_path(a.user_id, id), bearer(b.access_token)), 403, "FORBIDDEN");
  expect_problem(create_order(client(), a.user_id, b.access_token, body), 403, "FORBIDDEN");
  expect_problem(checkout(client(), a.user_id, b.access_token, "{}"), 403, "FORBIDDEN");
  expect_problem(ecom::test::pay(client(), a.user_id, b.access_token, id), 403, "FORBIDDEN");
  expect_problem(ecom::test::cancel(client(), a.user_id, b.access_token, id), 403, "FORBIDDEN");
  // a's order under b's path: 404, also for payment and cancel, with b's token and the admin's.
  for (const std::string& token : {b.access_token, admin()}) {
    expect_problem(client().get(order_path(b.user_id, id), bearer(token)), 404, "ORDER_NOT_FOUND");
    expect_problem(ecom::test::pay(client(), b.user_id, token, id), 404, "ORDER_NOT_FOUND");
    expect_problem(ecom::test::cancel(client(), b.user_id, token, id), 404, "ORDER_NOT_FOUND");
  }
  // Unknown order ids.
  for (const std::string& token : {a.access_token, admin()}) {
    expect_problem(client().get(order_path(a.user_id, k_missing_id), bearer(token)), 404,
                   "ORDER_NOT_FOUND");
    expect_problem(ecom::test::pay(client(), a.user_id, token, k_missing_id), 404,
                   "ORDER_NOT_FOUND");
    expect_problem(ecom::test::cancel(client(), a.user_id, token, k_missing_id), 404,
                   "ORDER_NOT_FOUND");
  }
  EXPECT_EQ(status_of(client(), a.user_id, id), "PENDING_PAYMENT");
  EXPECT_EQ(order_ids(client(), a.user_id), (std::vector<int64_t>{id}));
  EXPECT_TRUE(order_ids(client(), b.user_id).empty());
  EXPECT_EQ(balance(a), 10'000);
  EXPECT_EQ(balance(b), 10'000);
  EXPECT_EQ(cart_lines(client(), a.user_id), (pairs{{p.cid(), 1}}));

  // No token.
  expect_unauthenticated(client().get(user_path(a.user_id, "/orders")));
  expect_unauthenticated(client().get(order_path(a.user_id, id)));
  expect_unauthenticated(client().post_json(user_path(a.user_id, "/orders"), body));
  expect_unauthenticated(client().request("POST", order_path(a.user_id, id, "/payment")));
  expect_unauthenticated(client().request("POST", order_path(a.user_id, id, "/cancel")));
  expect_unauthenticated(client().post_json(user_path(a.user_id, "/cart/checkout"), "{}"));
  // Bad order ids.
  for (const char* bad : {"0", "-1", "abc", "1.5", "99999999999999999999"}) {
    SCOPED_TRACE(bad);
    expect_problem(
        client().get(user_path(a.user_id, std::string("/orders/") + bad), bearer(a.access_token)),
        400, "VALIDATION_FAILED");
    expect_problem(
        client().request("POST", user_path(a.user_id, std::string("/orders/") + bad + "/payment"),
                         {}, bearer(a.access_token)),
        400, "VALIDATION_FAILED");
  }
  // Unknown user with the admin token.
  expect_problem(client().get(user_path(k_missing_id, "/orders"), bearer(admin())), 404,
                 "USER_NOT_FOUND");
  expect_problem(client().get(order_path(k_missing_id, id), bearer(admin())), 404,
                 "USER_NOT_FOUND");
  // Wrong method.
  auto wrong = client().request("DELETE", order_path(a.user_id, id), {}, bearer(a.access_token));
  expect_problem(wrong, 405, "METHOD_NOT_ALLOWED");
  EXPECT_TRUE(wrong.header("Allow").has_value());
  EXPECT_EQ(status_of(client(), a.user_id, id), "PENDING_PAYMENT");
}

// --- checkout -------------------------------------------------------------------------------

// Goal: checkout without item_ids takes every cart line (in cart order, at current prices) and
// answers 201 with Location like create; the lines stay in the cart until the order is paid,
// then they leave it.
TEST_F(orders, checkout_all_lines_leave_the_cart_only_when_paid) {
  auto s = user("ord-co-all");
  auto a = simple_product(client(), "CoA", 100, 50);
  auto b = sized_product(client(), "CoB", 200, {0, 50}, 50);
  fund(s, 100'000);
  cart_add_ok(client(), s.user_id, s.access_token, a.id, a.cid(), 2);
  cart_add_ok(client(), s.user_id, s.access_token, b.id, b.cid(1), 3);
  cart_add_ok(client(), s.user_id, s.access_token, b.id, b.cid(0), 1);
  ASSERT_EQ(patch_product(client(), a.id, R"({"base_price":120})").status, 200);
  const pairs lines = {{a.cid(), 2}, {b.cid(1), 3}, {b.cid(0), 1}};
  auto response = checkout(client(), s.user_id, s.access_token, "{}");
  ASSERT_EQ(response.status, 201) << describe(response);
  auto order = parse_json(response.body);
  expect_pending_shape(order.root(), s.user_id);
  EXPECT_EQ(response.header_or("Location"), order_path(s.user_id, order["id"].as_int()));
  EXPECT_EQ(items_of(order.root()), lines);
  EXPECT_EQ(order["total_amount"].as_int(), 240 + 750 + 200);
  EXPECT_EQ(cart_lines(client(), s.user_id), lines);
  EXPECT_EQ(stock_of(client(), a.id), 50);

  // A second checkout of the same lines is another order; cancelling it leaves the cart alone.
  auto other = checkout(client(), s.user_id, s.access_token, "{}");
  ASSERT_EQ(other.status, 201) << describe(other);
  ASSERT_EQ(cancel(s, parse_json(other.body)["id"].as_int()).status, 200);
  EXPECT_EQ(cart_lines(client(), s.user_id), lines);

  auto paid = pay(s, order["id"].as_int());
  ASSERT_EQ(paid.status, 200) << describe(paid);
  EXPECT_TRUE(cart_lines(client(), s.user_id).empty());
  EXPECT_EQ(stock_of(client(), a.id), 48);
  EXPECT_EQ(stock_of(client(), b.id, 1), 47);
  // Empty cart now: 400 item_ids.
  expect_validation_failed(checkout(client(), s.user_id, s.access_token, "{}"), "item_ids");
}

// Goal: checkout with item_ids takes only those lines (with a coupon discount); paying it
// removes only those lines; a failed payment leaves the cart as it is.
TEST_F(orders, checkout_item_ids_subset_with_coupon) {
  auto s = user("ord-co-sub");
  auto a = simple_product(client(), "SubA", 1000, 50);
  auto b = simple_product(client(), "SubB", 2000, 50);
  auto c = simple_product(client(), "SubC", 3000, 50);
  const int64_t ia = cart_add_ok(client(), s.user_id, s.access_token, a.id, a.cid(), 1);
  cart_add_ok(client(), s.user_id, s.access_token, b.id, b.cid(), 2);
  const int64_t ic = cart_add_ok(client(), s.user_id, s.access_token, c.id, c.cid(), 3);
  const int64_t uc = coupon(s, "PERCENT", 10);
  auto response = checkout(client(), s.user_id, s.access_token,
                           R"({"item_ids":[)" + std::to_string(ia) + "," + std::to_string(ic) +
                               R"(],"user_coupon_id":)" + std::to_string(uc) + "}");
  ASSERT_EQ(response.status, 201) << describe(response);
  auto order = parse_json(response.body);
  EXPECT_EQ(items_of(order.root()), (pairs{{a.cid(), 1}, {c.cid(), 3}}));
  EXPECT_EQ(order["total_amount"].as_int(), 10'000);
  EXPECT_EQ(order["discount_amount"].as_int(), 1000);
  EXPECT_EQ(order["final_amount"].as_int(), 9000);
  EXPECT_EQ(order["user_coupon_id"].as_int(), uc);
  // Balance 0: payment fails, the cart is unchanged and the coupon comes back.
  expect_problem(pay(s, order["id"].as_int()), 409, "INSUFFICIENT_BALANCE");
  EXPECT_EQ(cart_lines(client(), s.user_id), (pairs{{a.cid(), 1}, {b.cid(), 2}, {c.cid(), 3}}));
  EXPECT_EQ(coupon_status(client(), s.user_id, uc), "AVAILABLE");
  // Again with money.
  fund(s, 9000);
  auto again = checkout(client(), s.user_id, s.access_token,
                        R"({"item_ids":[)" + std::to_string(ia) + "," + std::to_string(ic) +
                            R"(],"user_coupon_id":)" + std::to_string(uc) + "}");
  ASSERT_EQ(again.status, 201) << describe(again);
  ASSERT_EQ(pay(s, parse_json(again.body)["id"].as_int()).status, 200);
  EXPECT_EQ(cart_lines(client(), s.user_id), (pairs{{b.cid(), 2}}));
  EXPECT_EQ(balance(s), 0);
  EXPECT_EQ(stock_of(client(), a.id), 49);
  EXPECT_EQ(stock_of(client(), b.id), 50);
  EXPECT_EQ(stock_of(client(), c.id), 47);
}

// Goal: checkout refusals: an empty cart or item_ids [] is 400 item_ids; an id not in this cart
// (unknown, or another user's line) is 404 CART_ITEM_NOT_FOUND; the order checks of create
// apply (OUT_OF_STOCK, COUPON_NOT_USABLE); nothing is created.
TEST_F(orders, checkout_refusals) {
  auto s = user("ord-co-ref");
  auto other = user("ord-co-ref-o");
  auto p = simple_product(client(), "CoRef", 100, 5);
  expect_validation_failed(checkout(client(), s.user_id, s.access_token, "{}"), "item_ids");
  const int64_t mine = cart_add_ok(client(), s.user_id, s.access_token, p.id, p.cid(), 4);
  const int64_t theirs = cart_add_ok(client(), other.user_id, other.access_token, p.id, p.cid(), 1);
  expect_validation_failed(checkout(client(), s.user_id, s.access_token, R"({"item_ids":[]})"),
                           "item_ids");
  expect_problem(checkout(client(), s.user_id, s.access_token,
                          R"({"item_ids":[)" + std::to_string(k_missing_id) + "]}"),
                 404, "CART_ITEM_NOT_FOUND");
  expect_problem(
      checkout(client(), s.user_id, s.access_token,
               R"({"item_ids":[)" + std::to_string(mine) + "," + std::to_string(theirs) + "]}"),
      404, "CART_ITEM_NOT_FOUND");
  expect_problem(checkout(client(), s.user_id, s.access_token,
                          R"({"user_coupon_id":)" + std::to_string(k_missing_id) + "}"),
                 409, "COUPON_NOT_USABLE");
  ASSERT_EQ(adjust_stock(client(), p.id, p.cid(), -2).status, 200);
  expect_problem(checkout(client(), s.user_id, s.access_token, "{}"), 409, "OUT_OF_STOCK");
  EXPECT_TRUE(order_ids(client(), s.user_id).empty());
  EXPECT_EQ(cart_lines(client(), s.user_id), (pairs{{p.cid(), 4}}));
}

// --- idempotency ----------------------------------------------------------------------------

// Goal: a keyed create is applied once: the replay is the stored 201 byte for byte with
// Idempotent-Replayed: true, one order exists and the coupon is used once; another body with the
// key is 422; a stored 409 replays after its cause went away.
TEST_F(orders, idempotent_create_replays) {
  auto s = user("ord-idem-create");
  auto p = simple_product(client(), "IdemC", 100, 10);
  const int64_t uc = coupon(s, "FIXED", 50);
  const std::string body = order_body({{p.id, p.cid(), 2}}, uc);
  auto first = create_order(client(), s.user_id, s.access_token, body, key("create-1"));
  ASSERT_EQ(first.status, 201) << describe(first);
  EXPECT_NE(first.header_or("Idempotent-Replayed"), "true");
  auto replay = create_order(client(), s.user_id, s.access_token, body, key("create-1"));
  ASSERT_EQ(replay.status, 201) << describe(replay);
  EXPECT_EQ(replay.header_or("Idempotent-Replayed"), "true");
  EXPECT_EQ(replay.body, first.body);
  const int64_t id = parse_json(first.body)["id"].as_int();
  EXPECT_EQ(order_ids(client(), s.user_id), (std::vector<int64_t>{id}));
  EXPECT_EQ(actions_of(client(), s.user_id, uc),
            (std::vector<std::string>{act("ISSUE", 0), act("USE", id)}));
  expect_problem(create_order(client(), s.user_id, s.access_token,
                              order_body({{p.id, p.cid(), 3}}, uc), key("create-1")),
                 422, "IDEMPOTENCY_KEY_REUSED");
  // A stored 409.
  const std::string big = order_body({{p.id, p.cid(), 11}});
  auto conflict = create_order(client(), s.user_id, s.access_token, big, key("create-2"));
  expect_problem(conflict, 409, "OUT_OF_STOCK");
  ASSERT_EQ(adjust_stock(client(), p.id, p.cid(), 5).status, 200);
  auto replayed = create_order(client(), s.user_id, s.access_token, big, key("create-2"));
  expect_problem(replayed, 409, "OUT_OF_STOCK");
  EXPECT_EQ(replayed.header_or("Idempotent-Replayed"), "true");
  EXPECT_EQ(replayed.body, conflict.body);
  EXPECT_EQ(order_ids(client(), s.user_id), (std::vector<int64_t>{id}));
  // A 404 is not stored: the corrected retry with the same key proceeds.
  expect_problem(create_order(client(), s.user_id, s.access_token,
                              order_body({{k_missing_id, p.cid(), 1}}), key("create-3")),
                 404, "PRODUCT_NOT_FOUND");
  auto corrected = create_order(client(), s.user_id, s.access_token,
                                order_body({{p.id, p.cid(), 1}}), key("create-3"));
  ASSERT_EQ(corrected.status, 201) << describe(corrected);
  EXPECT_NE(corrected.header_or("Idempotent-Replayed"), "true");
  EXPECT_EQ(order_ids(client(), s.user_id).size(), 2u);
  expect_validation_failed(create_order(client(), s.user_id, s.access_token, body, key("bad key")),
                           "Idempotency-Key");
}

// Goal: a keyed checkout is applied once and replays its 201.
TEST_F(orders, idempotent_checkout_replays) {
  auto s = user("ord-idem-co");
  auto p = simple_product(client(), "IdemCo", 100, 10);
  cart_add_ok(client(), s.user_id, s.access_token, p.id, p.cid(), 2);
  auto first = checkout(client(), s.user_id, s.access_token, "{}", key("co-1"));
  ASSERT_EQ(first.status, 201) << describe(first);
  auto replay = checkout(client(), s.user_id, s.access_token, "{}", key("co-1"));
  ASSERT_EQ(replay.status, 201) << describe(replay);
  EXPECT_EQ(replay.header_or("Idempotent-Replayed"), "true");
  EXPECT_EQ(replay.body, first.body);
  EXPECT_EQ(order_ids(client(), s.user_id).size(), 1u);
  expect_problem(checkout(client(), s.user_id, s.access_token, R"({"item_ids":[1]})", key("co-1")),
                 422, "IDEMPOTENCY_KEY_REUSED");
}

// Goal: a keyed payment charges once: the replay is the stored 200 (not a 409 ORDER_NOT_PAYABLE)
// with Idempotent-Replayed: true; the balance, stock and history moved once; a body with the
// key is 422; the same key on another order's payment path is a new key; a stored
// INSUFFICIENT_BALANCE replays even after a charge.
TEST_F(orders, idempotent_payment_charges_once) {
  auto s = user("ord-idem-pay");
  auto p = simple_product(client(), "IdemP", 1000, 10);
  fund(s, 5000);
  const int64_t a = create_ok(s, {{p.id, p.cid(), 2}})["id"].as_int();
  const int64_t b = create_ok(s, {{p.id, p.cid(), 1}})["id"].as_int();
  auto first = pay(s, a, key("pay-1"));
  ASSERT_EQ(first.status, 200) << describe(first);
  auto replay = pay(s, a, key("pay-1"));
  ASSERT_EQ(replay.status, 200) << describe(replay);
  EXPECT_EQ(replay.header_or("Idempotent-Replayed"), "true");
  EXPECT_EQ(replay.body, first.body);
  EXPECT_EQ(balance(s), 3000);
  EXPECT_EQ(stock_of(client(), p.id), 8);
  EXPECT_EQ(money_history(client(), s.user_id).size(), 2u);
  expect_problem(client().request("POST", order_path(s.user_id, a, "/payment"), "{}",
                                  with_headers(json_bearer(s.access_token), key("pay-1"))),
                 422, "IDEMPOTENCY_KEY_REUSED");
  auto other = pay(s, b, key("pay-1"));
  ASSERT_EQ(other.status, 200) << describe(other);
  EXPECT_NE(other.header_or("Idempotent-Replayed"), "true");
  EXPECT_EQ(balance(s), 2000);

  const int64_t c = create_ok(s, {{p.id, p.cid(), 3}})["id"].as_int();
  auto short_pay = pay(s, c, key("pay-2"));
  expect_problem(short_pay, 409, "INSUFFICIENT_BALANCE");
  fund(s, 10'000);
  auto short_replay = pay(s, c, key("pay-2"));
  expect_problem(short_replay, 409, "INSUFFICIENT_BALANCE");
  EXPECT_EQ(short_replay.header_or("Idempotent-Replayed"), "true");
  EXPECT_EQ(short_replay.body, short_pay.body);
  EXPECT_EQ(status_of(client(), s.user_id, c), "PAYMENT_FAILED");
  EXPECT_EQ(balance(s), 12'000);
  EXPECT_TRUE(balance_consistent(client(), s.user_id));
}

// Goal: a keyed cancel refunds once and replays the stored 200; another body with the key is
// 422; a stored 409 ORDER_NOT_CANCELLABLE replays.
TEST_F(orders, idempotent_cancel_refunds_once) {
  auto s = user("ord-idem-cancel");
  auto p = simple_product(client(), "IdemX", 1000, 10);
  fund(s, 5000);
  const int64_t a = create_ok(s, {{p.id, p.cid(), 2}})["id"].as_int();
  ASSERT_EQ(pay(s, a).status, 200);
  auto first = cancel(s, a, key("cancel-1"));
  ASSERT_EQ(first.status, 200) << describe(first);
  auto replay = cancel(s, a, key("cancel-1"));
  ASSERT_EQ(replay.status, 200) << describe(replay);
  EXPECT_EQ(replay.header_or("Idempotent-Replayed"), "true");
  EXPECT_EQ(replay.body, first.body);
  EXPECT_EQ(balance(s), 5000);
  EXPECT_EQ(stock_of(client(), p.id), 10);
  auto history = money_history(client(), s.user_id);
  EXPECT_EQ(std::count_if(history.begin(), history.end(),
                          [](const money_entry& e) { return e.type == "REFUND"; }),
            1);
  // Another body with the key is 422.
  expect_problem(client().request("POST", order_path(s.user_id, a, "/cancel"), "{}",
                                  with_headers(json_bearer(s.access_token), key("cancel-1"))),
                 422, "IDEMPOTENCY_KEY_REUSED");
  // A stored 409 replays too.
  auto again = cancel(s, a, key("cancel-2"));
  expect_problem(again, 409, "ORDER_NOT_CANCELLABLE");
  auto again_replay = cancel(s, a, key("cancel-2"));
  EXPECT_EQ(again_replay.header_or("Idempotent-Replayed"), "true");
  EXPECT_EQ(again_replay.body, again.body);
}

// --- shards ---------------------------------------------------------------------------------

// Goal: an order spanning products on both shards (odd and even ids) and a user on either
// shard is paid and refunded correctly on both; when one shard's product is short, neither
// shard's stock moves.
TEST_F(orders, order_spanning_both_shards_pays_and_refunds) {
  auto odd = product_with_parity(client(), 1, "Odd shard", 1000, 20);
  auto even = product_with_parity(client(), 0, "Even shard", 300, 20);
  for (int round = 0; round < 4; ++round) {
    auto s = user("ord-shards");  // users land on either shard
    SCOPED_TRACE("user " + std::to_string(s.user_id));
    fund(s, 10'000);
    const int64_t odd_before = stock_of(client(), odd.id);
    const int64_t even_before = stock_of(client(), even.id);
    auto order = create_ok(s, {{odd.id, odd.cid(), 2}, {even.id, even.cid(), 3}});
    ASSERT_EQ(order["final_amount"].as_int(), 2900);
    auto paid = pay_ok(s, order["id"].as_int());
    EXPECT_EQ(stock_of(client(), odd.id), odd_before - 2);
    EXPECT_EQ(stock_of(client(), even.id), even_before - 3);
    EXPECT_EQ(balance(s), 7100);
    ASSERT_EQ(cancel(s, order["id"].as_int()).status, 200);
    EXPECT_EQ(stock_of(client(), odd.id), odd_before);
    EXPECT_EQ(stock_of(client(), even.id), even_before);
    EXPECT_EQ(balance(s), 10'000);
    EXPECT_TRUE(balance_consistent(client(), s.user_id));
    // One shard short: nothing moves.
    auto short_order = create_ok(s, {{odd.id, odd.cid(), 1}, {even.id, even.cid(), 5}});
    ASSERT_EQ(adjust_stock(client(), even.id, even.cid(), -(even_before - 4)).status, 200);
    expect_problem(pay(s, short_order["id"].as_int()), 409, "OUT_OF_STOCK");
    EXPECT_EQ(stock_of(client(), odd.id), odd_before);
    EXPECT_EQ(stock_of(client(), even.id), 4);
    ASSERT_EQ(adjust_stock(client(), even.id, even.cid(), even_before - 4).status, 200);
    EXPECT_EQ(balance(s), 10'000);
  }
}

// --- expiry ---------------------------------------------------------------------------------

class order_expiry : public shared_server_test {
 public:
  static void SetUpTestSuite() { start_shared_server({"--order-ttl", "2"}); }
};

// Goal: with --order-ttl 2 a pending order has expires_at = ordered_at + 2 s and becomes EXPIRED
// within a few seconds without any request; its coupon is AVAILABLE again with RESTORE naming the
// order; paid_at and cancelled_at stay null; it can be neither paid nor cancelled; stock and
// balance are untouched. An order paid in time stays PAID.
TEST_F(order_expiry, pending_order_expires_and_restores_its_coupon) {
  auto s = sign_up_and_login(client(), "ord-expiry");
  auto p = simple_product(client(), "Expiring", 1000, 10);
  fund(client(), s.user_id, 10'000);
  const int64_t uc = give_coupon(client(), s.access_token, "FIXED", 100);
  const auto before_create = std::chrono::steady_clock::now();
  auto created =
      create_order(client(), s.user_id, s.access_token, order_body({{p.id, p.cid(), 2}}, uc));
  ASSERT_EQ(created.status, 201) << describe(created);
  auto order = parse_json(created.body);
  const int64_t id = order["id"].as_int();
  EXPECT_EQ(parse_utc_millis(order["expires_at"].as_string()) -
                parse_utc_millis(order["ordered_at"].as_string()),
            2000);

  auto in_time =
      create_order(client(), s.user_id, s.access_token, order_body({{p.id, p.cid(), 1}}));
  ASSERT_EQ(in_time.status, 201);
  const int64_t paid_id = parse_json(in_time.body)["id"].as_int();
  ASSERT_EQ(pay(client(), s.user_id, s.access_token, paid_id).status, 200);

  const auto start = std::chrono::steady_clock::now();
  std::string st;
  while (std::chrono::steady_clock::now() < start + 8s) {
    st = status_of(client(), s.user_id, id);
    if (st != "PENDING_PAYMENT") break;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(st, "EXPIRED");
  const auto waited = std::chrono::steady_clock::now() - before_create;
  EXPECT_GE(waited, 1900ms) << "expired before expires_at";
  EXPECT_LE(waited, 6s) << "expected EXPIRED within ~1-2 s after expires_at";
  // The list filter agrees with the order's own status at once.
  EXPECT_EQ(order_ids(client(), s.user_id, "EXPIRED"), (std::vector<int64_t>{id}));
  EXPECT_TRUE(order_ids(client(), s.user_id, "PENDING_PAYMENT").empty());
  auto expired = order_of(client(), s.user_id, id);
  EXPECT_TRUE(expired["paid_at"].is_null());
  EXPECT_TRUE(expired["cancelled_at"].is_null());
  // Becoming EXPIRED and restoring the coupon are one transition: once the order reads EXPIRED,
  // its coupon must read AVAILABLE (and be usable) too.
  EXPECT_EQ(coupon_status(client(), s.user_id, uc), "AVAILABLE")
      << "the order reads EXPIRED but its coupon is still held";
  // In any case it is restored by the next sweeps (about once a second).
  for (int i = 0; i < 30 && coupon_status(client(), s.user_id, uc) != "AVAILABLE"; ++i)
    std::this_thread::sleep_for(100ms);
  EXPECT_EQ(coupon_status(client(), s.user_id, uc), "AVAILABLE") << "never restored";
  EXPECT_EQ(actions_of(client(), s.user_id, uc),
            (std::vector<std::string>{act("ISSUE", 0), act("USE", id), act("RESTORE", id)}));
  expect_problem(pay(client(), s.user_id, s.access_token, id), 409, "ORDER_NOT_PAYABLE");
  expect_problem(cancel(client(), s.user_id, s.access_token, id), 409, "ORDER_NOT_CANCELLABLE");
  EXPECT_EQ(order_ids(client(), s.user_id, "EXPIRED"), (std::vector<int64_t>{id}));
  EXPECT_EQ(status_of(client(), s.user_id, paid_id), "PAID");
  EXPECT_EQ(stock_of(client(), p.id), 9);
  EXPECT_EQ(balance_of(client(), s.user_id), 9000);
  // The coupon is usable again.
  auto reuse =
      create_order(client(), s.user_id, s.access_token, order_body({{p.id, p.cid(), 1}}, uc));
  EXPECT_EQ(reuse.status, 201) << describe(reuse);
}

// Goal: a refund after the TTL still works (only pending orders expire), and a cancelled order
// stays CANCELLED past its expires_at.
TEST_F(order_expiry, only_pending_orders_expire) {
  auto s = sign_up_and_login(client(), "ord-expiry-2");
  auto p = simple_product(client(), "Kept", 1000, 10);
  fund(client(), s.user_id, 10'000);
  auto a = create_order(client(), s.user_id, s.access_token, order_body({{p.id, p.cid(), 1}}));
  auto b = create_order(client(), s.user_id, s.access_token, order_body({{p.id, p.cid(), 1}}));
  ASSERT_EQ(a.status, 201);
  ASSERT_EQ(b.status, 201);
  const int64_t paid = parse_json(a.body)["id"].as_int();
  const int64_t cancelled = parse_json(b.body)["id"].as_int();
  ASSERT_EQ(pay(client(), s.user_id, s.access_token, paid).status, 200);
  ASSERT_EQ(cancel(client(), s.user_id, s.access_token, cancelled).status, 200);
  std::this_thread::sleep_for(3500ms);
  EXPECT_EQ(status_of(client(), s.user_id, paid), "PAID");
  EXPECT_EQ(status_of(client(), s.user_id, cancelled), "CANCELLED");
  auto refund = cancel(client(), s.user_id, s.access_token, paid);
  ASSERT_EQ(refund.status, 200) << describe(refund);
  EXPECT_EQ(parse_json(refund.body)["status"].as_string(), "REFUNDED");
  EXPECT_EQ(balance_of(client(), s.user_id), 10'000);
}

// Goal: --order-ttl outside 1..2592000 is refused at start.
TEST(order_ttl_flag, out_of_range_ttl_is_refused) {
  for (const char* bad : {"0", "2592001", "abc"}) {
    SCOPED_TRACE(bad);
    server_options options;
    options.extra_args = {"--order-ttl", bad};
    options.start_timeout = 5000ms;
    EXPECT_THROW(server_process server(options), std::runtime_error);
  }
  server_options ok;
  ok.extra_args = {"--order-ttl", "2592000"};
  EXPECT_NO_THROW(server_process server(ok));
}

// --- popular --------------------------------------------------------------------------------

// Each popular test runs its own server: popular counts are global.
class popular_products : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<server_process>();
    client_.emplace(server_->port());
    buyer_ = sign_up_and_login(*client_, "popular");
    fund(*client_, buyer_.user_id, 100'000'000);
  }
  // Creates and pays one order; returns its id.
  int64_t buy(const std::vector<order_line>& lines) {
    auto created = create_order(*client_, buyer_.user_id, buyer_.access_token, order_body(lines));
    if (created.status != 201) throw std::runtime_error("create: " + describe(created));
    const int64_t id = parse_json(created.body)["id"].as_int();
    auto paid = pay(*client_, buyer_.user_id, buyer_.access_token, id);
    if (paid.status != 200) throw std::runtime_error("pay: " + describe(paid));
    return id;
  }
  std::unique_ptr<server_process> server_;
  std::optional<http_client> client_;
  session buyer_;
};

// Goal: the ranking orders by sold quantity (summed over lines and combinations) descending,
// ties by product id ascending; ranks are 1..n; limit cuts the list; the default limit is 5 and
// days 3; each item is {rank, product_id, name, sold_quantity}; no auth needed. Each paid order
// counts in the very next read.
TEST_F(popular_products, ranking_ties_and_limit) {
  http_client& c = *client_;
  EXPECT_TRUE(popular(c).empty());
  std::vector<product_ref> ps;
  for (int i = 0; i < 7; ++i)
    ps.push_back(sized_product(c, "Pop " + std::to_string(i), 100, {0, 10}, 1000));
  // Sold: p0 5, p1 9, p2 5, p3 1, p4 9 (two combinations), p5 2, p6 0 (pending only).
  buy({{ps[0].id, ps[0].cid(0), 5}});
  EXPECT_EQ(popular(c), (pairs{{ps[0].id, 5}}));
  buy({{ps[1].id, ps[1].cid(0), 9}, {ps[2].id, ps[2].cid(1), 5}});
  EXPECT_EQ(popular(c), ranking({{ps[0].id, 5}, {ps[1].id, 9}, {ps[2].id, 5}}));
  buy({{ps[3].id, ps[3].cid(0), 1}});
  buy({{ps[4].id, ps[4].cid(0), 4}, {ps[4].id, ps[4].cid(1), 5}, {ps[5].id, ps[5].cid(0), 2}});
  ASSERT_EQ(create_order(c, buyer_.user_id, buyer_.access_token,
                         order_body({{ps[6].id, ps[6].cid(), 50}}))
                .status,
            201);
  const pairs full = ranking({{ps[0].id, 5},
                              {ps[1].id, 9},
                              {ps[2].id, 5},
                              {ps[3].id, 1},
                              {ps[4].id, 9},
                              {ps[5].id, 2},
                              {ps[6].id, 0}});
  ASSERT_EQ(full.size(), 6u);
  EXPECT_EQ(popular(c), full);
  EXPECT_EQ(popular(c, "?limit=2"), pairs(full.begin(), full.begin() + 2));
  EXPECT_EQ(popular(c, "?limit=100&days=1"), full);
  EXPECT_EQ(popular(c, ""), pairs(full.begin(), full.begin() + 5));

  auto response = c.get("/products/popular");
  ASSERT_EQ(response.status, 200) << describe(response);
  auto doc = parse_json(response.body);
  EXPECT_EQ(sorted_keys(doc.root()), (std::vector<std::string>{"days", "items"}));
  EXPECT_EQ(doc["days"].as_int(), 3);
  auto first = doc["items"][0];
  EXPECT_EQ(sorted_keys(first),
            (std::vector<std::string>{"name", "product_id", "rank", "sold_quantity"}));
  EXPECT_EQ(first["rank"].as_int(), 1);
  EXPECT_EQ(first["product_id"].as_int(), full[0].first);
  EXPECT_EQ(first["name"].as_string(), full[0].first == ps[1].id ? "Pop 1" : "Pop 4");
  EXPECT_EQ(parse_json(c.get("/products/popular?days=30").body)["days"].as_int(), 30);
}

// Goal: a refund reduces the counts (a product whose sales are all refunded leaves the list); a
// failed payment or a cancelled pending order never counts.
TEST_F(popular_products, refund_reduces_and_failures_do_not_count) {
  http_client& c = *client_;
  auto a = simple_product(c, "RefA", 100, 1000);
  auto b = simple_product(c, "RefB", 100, 1000);
  auto z = simple_product(c, "RefZ", 100, 3);
  const int64_t a1 = buy({{a.id, a.cid(), 6}});
  buy({{a.id, a.cid(), 2}, {b.id, b.cid(), 7}});
  const int64_t b2 = buy({{b.id, b.cid(), 3}});
  EXPECT_EQ(popular(c), (pairs{{b.id, 10}, {a.id, 8}}));
  ASSERT_EQ(cancel(c, buyer_.user_id, buyer_.access_token, a1).status, 200);
  EXPECT_EQ(popular(c), (pairs{{b.id, 10}, {a.id, 2}}));
  ASSERT_EQ(cancel(c, buyer_.user_id, buyer_.access_token, b2).status, 200);
  EXPECT_EQ(popular(c), (pairs{{b.id, 7}, {a.id, 2}}));
  // Failures and pending cancels do not count.
  auto created =
      create_order(c, buyer_.user_id, buyer_.access_token, order_body({{z.id, z.cid(), 3}}));
  ASSERT_EQ(created.status, 201);
  ASSERT_EQ(adjust_stock(c, z.id, z.cid(), -1).status, 200);
  expect_problem(
      pay(c, buyer_.user_id, buyer_.access_token, parse_json(created.body)["id"].as_int()), 409,
      "OUT_OF_STOCK");
  auto pending =
      create_order(c, buyer_.user_id, buyer_.access_token, order_body({{a.id, a.cid(), 9}}));
  ASSERT_EQ(pending.status, 201);
  ASSERT_EQ(cancel(c, buyer_.user_id, buyer_.access_token, parse_json(pending.body)["id"].as_int())
                .status,
            200);
  EXPECT_EQ(popular(c), (pairs{{b.id, 7}, {a.id, 2}}));
  // Refunding everything of a product removes it.
  const int64_t z1 = buy({{z.id, z.cid(), 2}});
  EXPECT_EQ(popular(c), ranking({{b.id, 7}, {a.id, 2}, {z.id, 2}}));
  ASSERT_EQ(cancel(c, buyer_.user_id, buyer_.access_token, z1).status, 200);
  EXPECT_EQ(popular(c), (pairs{{b.id, 7}, {a.id, 2}}));
}

// Goal: bad days and limit are 400 naming the parameter.
TEST_F(popular_products, bad_days_or_limit_is_400) {
  for (const char* bad : {"?days=0", "?days=31", "?days=-1", "?days=abc", "?days=1.5"}) {
    SCOPED_TRACE(bad);
    expect_validation_failed(client_->get(std::string("/products/popular") + bad), "days");
  }
  for (const char* bad : {"?limit=0", "?limit=101", "?limit=x"}) {
    SCOPED_TRACE(bad);
    expect_validation_failed(client_->get(std::string("/products/popular") + bad), "limit");
  }
  EXPECT_EQ(client_->get("/products/popular?days=1&limit=1").status, 200);
  EXPECT_EQ(client_->get("/products/popular?days=30&limit=100").status, 200);
}

// Goal: a paid order counts immediately for every reader: 8 connections pay orders in parallel
// and each reads popular right after its 200; the product's count is at least its own
// cumulative quantity, and the end total is exact.
TEST_F(popular_products, paid_orders_count_immediately_under_load) {
  http_client& c = *client_;
  auto p = product_with_parity(c, 1, "Hot", 10, 10'000);
  constexpr int k_threads = 8, k_each = 10;
  auto users = bulk_users(c, k_threads, k_bulk_prefix);
  for (const auto& u : users) fund(c, u.id, 100'000);
  std::vector<std::string> errors(k_threads);
  std::vector<std::thread> threads;
  for (int t = 0; t < k_threads; ++t) {
    threads.emplace_back([&, t] {
      http_client own(server_->port());
      try {
        int64_t mine = 0;
        for (int i = 0; i < k_each; ++i) {
          auto created = until_answered([&] {
            return create_order(own, users[t].id, users[t].token,
                                order_body({{p.id, p.cid(), t + 1}}));
          });
          if (created.status != 201) throw std::runtime_error("create: " + describe(created));
          auto paid = until_answered([&] {
            return pay(own, users[t].id, users[t].token, parse_json(created.body)["id"].as_int());
          });
          if (paid.status != 200) throw std::runtime_error("pay: " + describe(paid));
          mine += t + 1;
          const int64_t seen = sold_of(own, p.id);
          if (seen < mine && errors[t].empty())
            errors[t] = "popular shows " + std::to_string(seen) + " after my " +
                        std::to_string(mine) + " were paid";
        }
      } catch (const std::exception& e) {
        errors[t] = e.what();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& e : errors) EXPECT_EQ(e, "");
  EXPECT_EQ(sold_of(c, p.id), k_each * (k_threads * (k_threads + 1) / 2));
  EXPECT_EQ(stock_of(c, p.id), 10'000 - k_each * (k_threads * (k_threads + 1) / 2));
}

// --- events ---------------------------------------------------------------------------------

class order_events : public popular_products {};

// Goal: the feed starts at seq 1 and is gap-free; a payment adds ORDER_PAID with the order as
// paid; a refund adds ORDER_REFUNDED with the order as refunded (after its ORDER_PAID); failed
// payments and pending cancels add nothing; `at` is RFC 3339; last_seq is the last item's seq.
TEST_F(order_events, feed_is_gap_free_from_one_with_paid_and_refunded) {
  http_client& c = *client_;
  auto empty = events_after(c, 0);
  EXPECT_TRUE(empty.items.empty());
  EXPECT_EQ(empty.last_seq, 0);
  auto odd = product_with_parity(c, 1, "EvOdd", 100, 100);
  auto even = product_with_parity(c, 0, "EvEven", 100, 2);

  // Created while the stock suffices; its payment fails below.
  auto failing =
      create_order(c, buyer_.user_id, buyer_.access_token, order_body({{even.id, even.cid(), 2}}));
  ASSERT_EQ(failing.status, 201);
  const int64_t first = buy({{odd.id, odd.cid(), 1}});
  auto paid_read = order_of(c, buyer_.user_id, first).root().dump();
  const int64_t second = buy({{odd.id, odd.cid(), 2}, {even.id, even.cid(), 1}});
  auto refund = cancel(c, buyer_.user_id, buyer_.access_token, first);
  ASSERT_EQ(refund.status, 200);
  // No events for these:
  expect_problem(
      pay(c, buyer_.user_id, buyer_.access_token, parse_json(failing.body)["id"].as_int()), 409,
      "OUT_OF_STOCK");
  auto pending =
      create_order(c, buyer_.user_id, buyer_.access_token, order_body({{odd.id, odd.cid(), 1}}));
  ASSERT_EQ(pending.status, 201);
  ASSERT_EQ(cancel(c, buyer_.user_id, buyer_.access_token, parse_json(pending.body)["id"].as_int())
                .status,
            200);
  const int64_t third = buy({{odd.id, odd.cid(), 1}});

  auto response = c.get("/admin/events", bearer(k_admin_token));
  ASSERT_EQ(response.status, 200) << describe(response);
  auto doc = parse_json(response.body);
  EXPECT_EQ(sorted_keys(doc.root()), (std::vector<std::string>{"items", "last_seq"}));
  ASSERT_EQ(doc["items"].size(), 4u) << response.body;
  EXPECT_EQ(sorted_keys(doc["items"][0]), (std::vector<std::string>{"at", "order", "seq", "type"}));
  EXPECT_EQ(doc["last_seq"].as_int(), 4);
  auto events = events_after(c, 0).items;
  ASSERT_EQ(events.size(), 4u);
  const std::vector<std::tuple<int64_t, std::string, int64_t, std::string>> expected = {
      {1, "ORDER_PAID", first, "PAID"},
      {2, "ORDER_PAID", second, "PAID"},
      {3, "ORDER_REFUNDED", first, "REFUNDED"},
      {4, "ORDER_PAID", third, "PAID"}};
  for (size_t i = 0; i < 4; ++i) {
    SCOPED_TRACE("event " + std::to_string(i));
    EXPECT_EQ(events[i].seq, std::get<0>(expected[i]));
    EXPECT_EQ(events[i].type, std::get<1>(expected[i]));
    EXPECT_EQ(events[i].order_id, std::get<2>(expected[i]));
    EXPECT_EQ(events[i].order_status, std::get<3>(expected[i]));
    EXPECT_TRUE(is_rfc3339_utc_millis(events[i].at)) << events[i].at;
  }
  // The ORDER_PAID order is the order as paid; ORDER_REFUNDED's is the refund answer.
  EXPECT_EQ(events[0].order, paid_read);
  EXPECT_EQ(events[2].order, parse_json(refund.body).root().dump());
  EXPECT_EQ(parse_json(events[1].order)["items"].size(), 2u);
  EXPECT_LE(parse_utc_millis(events[0].at), parse_utc_millis(events[3].at));
}

// Goal: after/limit page through the feed: each page holds the next `limit` events, last_seq is
// the last one's seq, past the end items are [] and last_seq = after. Bad parameters are 400
// naming them; a user token is 403; no token is 401.
// Goal: /admin/stats counts orders on their user's shard, one stock hold per paid order and
// product shard (gone after a refund), and the feed's length on the event shard only.
TEST_F(order_events, admin_stats_count_orders_holds_and_events) {
  http_client& c = *client_;
  auto odd = product_with_parity(c, 1, "StatOdd", 100, 100);
  auto even = product_with_parity(c, 0, "StatEven", 100, 100);
  const int64_t both = buy({{odd.id, odd.cid(), 1}, {even.id, even.cid(), 1}});
  buy({{odd.id, odd.cid(), 1}});
  ASSERT_EQ(cancel(c, buyer_.user_id, buyer_.access_token, both).status, 200);
  ASSERT_EQ(
      create_order(c, buyer_.user_id, buyer_.access_token, order_body({{odd.id, odd.cid(), 1}}))
          .status,
      201);
  auto stats = c.get("/admin/stats", bearer(k_admin_token));
  ASSERT_EQ(stats.status, 200) << describe(stats);
  int64_t orders = 0, holds = 0;
  for (const auto& shard : parse_json(stats.body)["shards"].elements()) {
    orders += shard["orders"].as_int();
    holds += shard["stock_holds"].as_int();
    EXPECT_EQ(shard["events"].as_int(), shard["shard"].as_int() == 0 ? 3 : 0) << shard.dump();
  }
  EXPECT_EQ(orders, 3);
  EXPECT_EQ(holds, 1) << "the refunded order's two holds are gone; the other paid order's stays";
}

TEST_F(order_events, after_and_limit_page_the_feed) {
  http_client& c = *client_;
  auto p = simple_product(c, "Paged", 10, 1000);
  for (int i = 0; i < 7; ++i) buy({{p.id, p.cid(), 1}});
  std::vector<int64_t> seen;
  int64_t after = 0;
  for (int page = 0; page < 10; ++page) {
    auto pg = events_after(c, after, 3);
    if (pg.items.empty()) {
      EXPECT_EQ(pg.last_seq, after);
      break;
    }
    EXPECT_LE(pg.items.size(), 3u);
    for (const auto& e : pg.items) seen.push_back(e.seq);
    EXPECT_EQ(pg.last_seq, pg.items.back().seq);
    after = pg.last_seq;
  }
  EXPECT_EQ(seen, (std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7}));
  auto middle = events_after(c, 4, 2);
  ASSERT_EQ(middle.items.size(), 2u);
  EXPECT_EQ(middle.items[0].seq, 5);
  EXPECT_EQ(middle.last_seq, 6);
  auto beyond = events_after(c, 100, 10);
  EXPECT_TRUE(beyond.items.empty());
  EXPECT_EQ(beyond.last_seq, 100);
  // Default limit 100 and after 0.
  EXPECT_EQ(parse_json(c.get("/admin/events", bearer(k_admin_token)).body)["items"].size(), 7u);

  for (const char* bad : {"?limit=0", "?limit=1001", "?limit=x"}) {
    SCOPED_TRACE(bad);
    expect_validation_failed(c.get(std::string("/admin/events") + bad, bearer(k_admin_token)),
                             "limit");
  }
  for (const char* bad : {"?wait_ms=-1", "?wait_ms=30001", "?wait_ms=x"}) {
    SCOPED_TRACE(bad);
    expect_validation_failed(c.get(std::string("/admin/events") + bad, bearer(k_admin_token)),
                             "wait_ms");
  }
  for (const char* bad : {"?after=-1", "?after=x"}) {
    SCOPED_TRACE(bad);
    expect_validation_failed(c.get(std::string("/admin/events") + bad, bearer(k_admin_token)),
                             "after");
  }
  expect_problem(c.get("/admin/events", bearer(buyer_.access_token)), 403, "FORBIDDEN");
  expect_unauthenticated(c.get("/admin/events"));
}

// Goal: a long poll with nothing after `after` returns as soon as a payment happens on another
// connection (well before wait_ms), with that event; without events it returns after about
// wait_ms with items [] and last_seq = after.
TEST_F(order_events, long_poll_returns_early_on_payment_and_empty_after_wait_ms) {
  http_client& c = *client_;
  auto p = simple_product(c, "Polled", 10, 1000);
  buy({{p.id, p.cid(), 1}});
  const int64_t last = last_event_seq(c);
  ASSERT_EQ(last, 1);

  // Nothing happens: empty after ~wait_ms.
  {
    http_client poller(server_->port(), 20s);
    const auto start = std::chrono::steady_clock::now();
    auto pg = events_after(poller, last, 100, 700);
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_TRUE(pg.items.empty());
    EXPECT_EQ(pg.last_seq, last);
    EXPECT_GE(took, 600ms);
    EXPECT_LT(took, 5s);
  }
  // wait_ms=0 answers at once.
  {
    const auto start = std::chrono::steady_clock::now();
    auto pg = events_after(c, last, 100, 0);
    EXPECT_TRUE(pg.items.empty());
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  }
  // A payment from another connection ends the poll early.
  auto created =
      create_order(c, buyer_.user_id, buyer_.access_token, order_body({{p.id, p.cid(), 2}}));
  ASSERT_EQ(created.status, 201);
  const int64_t id = parse_json(created.body)["id"].as_int();
  event_page polled;
  std::string poll_error;
  std::chrono::steady_clock::duration took{};
  std::thread poll([&] {
    http_client poller(server_->port(), 30s);
    const auto start = std::chrono::steady_clock::now();
    try {
      polled = events_after(poller, last, 100, 15000);
    } catch (const std::exception& e) {
      poll_error = e.what();
    }
    took = std::chrono::steady_clock::now() - start;
  });
  std::this_thread::sleep_for(500ms);
  const auto paid_at = std::chrono::steady_clock::now();
  auto paid = pay(c, buyer_.user_id, buyer_.access_token, id);
  poll.join();
  ASSERT_EQ(paid.status, 200) << describe(paid);
  ASSERT_EQ(poll_error, "");
  ASSERT_EQ(polled.items.size(), 1u);
  EXPECT_EQ(polled.items[0].seq, last + 1);
  EXPECT_EQ(polled.items[0].type, "ORDER_PAID");
  EXPECT_EQ(polled.items[0].order_id, id);
  EXPECT_EQ(polled.last_seq, last + 1);
  EXPECT_GE(took, 400ms) << "the poll answered before the payment";
  EXPECT_LT(took, 5s) << "the poll did not return early";
  EXPECT_LT(std::chrono::steady_clock::now() - paid_at, 5s);
  // Several pollers are all woken.
  std::vector<event_page> pages(4);
  std::vector<std::thread> pollers;
  for (int i = 0; i < 4; ++i) {
    pollers.emplace_back([&, i] {
      http_client own(server_->port(), 30s);
      try {
        pages[i] = events_after(own, last + 1, 100, 15000);
      } catch (const std::exception&) {
      }
    });
  }
  std::this_thread::sleep_for(500ms);
  const auto start = std::chrono::steady_clock::now();
  const int64_t refunded = id;
  ASSERT_EQ(cancel(c, buyer_.user_id, buyer_.access_token, refunded).status, 200);
  for (auto& t : pollers) t.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  for (const auto& pg : pages) {
    ASSERT_EQ(pg.items.size(), 1u);
    EXPECT_EQ(pg.items[0].type, "ORDER_REFUNDED");
    EXPECT_EQ(pg.items[0].order_id, refunded);
  }
}

// --- concurrency ----------------------------------------------------------------------------

class orders_concurrency : public shared_server_test {
 protected:
  // Runs fn(t, own client) on n threads that start together; returns the errors they threw.
  std::vector<std::string> parallel(int n, const std::function<void(int, http_client&)>& fn) {
    std::vector<std::string> errors(n);
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < n; ++t) {
      threads.emplace_back([&, t] {
        http_client own(server().port(), 30s);
        own.get("/healthz");
        ready.fetch_add(1);
        while (ready.load() < n) std::this_thread::yield();
        try {
          fn(t, own);
        } catch (const std::exception& e) {
          errors[t] = e.what();
        }
      });
    }
    for (auto& thread : threads) thread.join();
    return errors;
  }
  static void expect_no_errors(const std::vector<std::string>& errors) {
    for (size_t i = 0; i < errors.size(); ++i) EXPECT_EQ(errors[i], "") << "thread " << i;
  }
};

// Goal: three connections paying one order at the same moment: exactly one 200, the others 409
// ORDER_NOT_PAYABLE; stock, balance and history move once. Repeated over 10 orders.
TEST_F(orders_concurrency, three_parallel_payments_of_one_order_one_wins) {
  auto s = sign_up_and_login(client(), "conc-one");
  auto p = simple_product(client(), "One", 100, 1000);
  fund(client(), s.user_id, 1'000'000);
  int64_t paid_total = 0;
  for (int round = 0; round < 10; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    auto created =
        create_order(client(), s.user_id, s.access_token, order_body({{p.id, p.cid(), round + 1}}));
    ASSERT_EQ(created.status, 201);
    const int64_t id = parse_json(created.body)["id"].as_int();
    std::vector<http_response> answers(3);
    expect_no_errors(parallel(3, [&](int t, http_client& own) {
      answers[t] = until_answered([&] { return pay(own, s.user_id, s.access_token, id); });
    }));
    int ok = 0;
    for (const auto& a : answers) {
      if (a.status == 200) {
        ++ok;
        EXPECT_EQ(parse_json(a.body)["status"].as_string(), "PAID");
      } else {
        EXPECT_TRUE(is_problem(a, 409, "ORDER_NOT_PAYABLE")) << describe(a);
      }
    }
    EXPECT_EQ(ok, 1);
    paid_total += (round + 1);
    EXPECT_EQ(status_of(client(), s.user_id, id), "PAID");
    EXPECT_EQ(stock_of(client(), p.id), 1000 - paid_total);
    EXPECT_EQ(balance_of(client(), s.user_id), 1'000'000 - 100 * paid_total);
  }
  auto history = money_history(client(), s.user_id);
  EXPECT_EQ(history.size(), 11u);
  EXPECT_TRUE(balance_consistent(client(), s.user_id));
}

// Goal: payments of many orders of one user in parallel never overdraw. Method A: 10 orders of
// 3000 on a balance of 10,000 → exactly 3 PAID, 7 INSUFFICIENT_BALANCE (PAYMENT_FAILED), balance
// 1000. Method B: 12 orders of 1000..12,000 on 20,000 → paid sum ≤ 20,000, balance = 20,000 - sum
// ≥ 0, every failed order costs more than the final balance (balance only went down), history
// consistent with one USE per paid order.
TEST_F(orders_concurrency, parallel_payments_on_one_balance_never_overdraw) {
  auto p = simple_product(client(), "Balance", 1000, 100'000);
  for (int variant = 0; variant < 2; ++variant) {
    SCOPED_TRACE(variant == 0 ? "equal amounts" : "mixed amounts");
    auto s = sign_up_and_login(client(), "conc-balance");
    const int n = variant == 0 ? 10 : 12;
    const int64_t funds = variant == 0 ? 10'000 : 20'000;
    fund(client(), s.user_id, funds);
    std::vector<int64_t> ids, amounts;
    for (int i = 0; i < n; ++i) {
      const int64_t quantity = variant == 0 ? 3 : i + 1;
      auto created = create_order(client(), s.user_id, s.access_token,
                                  order_body({{p.id, p.cid(), quantity}}));
      ASSERT_EQ(created.status, 201);
      ids.push_back(parse_json(created.body)["id"].as_int());
      amounts.push_back(quantity * 1000);
    }
    std::vector<http_response> answers(n);
    expect_no_errors(parallel(n, [&](int t, http_client& own) {
      answers[t] = until_answered([&] { return pay(own, s.user_id, s.access_token, ids[t]); });
    }));
    int64_t paid_sum = 0;
    int paid = 0;
    std::vector<int64_t> failed_amounts;
    for (int i = 0; i < n; ++i) {
      const std::string st = status_of(client(), s.user_id, ids[i]);
      if (answers[i].status == 200) {
        ++paid;
        paid_sum += amounts[i];
        EXPECT_EQ(st, "PAID");
      } else {
        EXPECT_TRUE(is_problem(answers[i], 409, "INSUFFICIENT_BALANCE")) << describe(answers[i]);
        EXPECT_EQ(st, "PAYMENT_FAILED");
        failed_amounts.push_back(amounts[i]);
      }
    }
    const int64_t final_balance = balance_of(client(), s.user_id);
    EXPECT_LE(paid_sum, funds);
    EXPECT_EQ(final_balance, funds - paid_sum);
    EXPECT_GE(final_balance, 0);
    for (int64_t a : failed_amounts) EXPECT_GT(a, final_balance);
    if (variant == 0) {
      EXPECT_EQ(paid, 3);
      EXPECT_EQ(final_balance, 1000);
    }
    auto history = money_history(client(), s.user_id);
    EXPECT_EQ(int(history.size()), 1 + paid);
    for (const auto& e : history) EXPECT_GE(e.after, 0);
    EXPECT_TRUE(balance_consistent(client(), s.user_id));
  }
}

// Goal: 15 orders of one unit against a stock of 10, paid in parallel by 15 users: exactly 10
// PAID, 5 OUT_OF_STOCK (PAYMENT_FAILED, balance untouched), stock 0.
TEST_F(orders_concurrency, fifteen_orders_for_stock_ten) {
  auto p = simple_product(client(), "Ten", 500, 10);
  auto users = bulk_users(client(), 15, k_bulk_prefix);
  std::vector<int64_t> ids;
  for (const auto& u : users) {
    fund(client(), u.id, 1000);
    auto created = create_order(client(), u.id, u.token, order_body({{p.id, p.cid(), 1}}));
    ASSERT_EQ(created.status, 201) << describe(created);
    ids.push_back(parse_json(created.body)["id"].as_int());
  }
  std::vector<http_response> answers(15);
  expect_no_errors(parallel(15, [&](int t, http_client& own) {
    answers[t] = until_answered([&] { return pay(own, users[t].id, users[t].token, ids[t]); });
  }));
  int paid = 0;
  for (int i = 0; i < 15; ++i) {
    if (answers[i].status == 200) {
      ++paid;
      EXPECT_EQ(status_of(client(), users[i].id, ids[i]), "PAID");
      EXPECT_EQ(balance_of(client(), users[i].id), 500);
    } else {
      EXPECT_TRUE(is_problem(answers[i], 409, "OUT_OF_STOCK")) << describe(answers[i]);
      EXPECT_EQ(status_of(client(), users[i].id, ids[i]), "PAYMENT_FAILED");
      EXPECT_EQ(balance_of(client(), users[i].id), 1000);
    }
  }
  EXPECT_EQ(paid, 10);
  EXPECT_EQ(stock_of(client(), p.id), 0);
}

// Goal: 200 users (bulk) each pay one order of one unit of a product with stock 50, over 64
// connections: exactly 50 answers 200 and PAID, 150 answers 409 OUT_OF_STOCK and PAYMENT_FAILED,
// stock 0, each payer's balance down by the price, the others untouched.
TEST_F(orders_concurrency, two_hundred_users_on_64_connections_for_stock_fifty) {
  constexpr int k_users = 200, k_connections = 64;
  auto p = product_with_parity(client(), 0, "Fifty", 700, 50);
  auto users = bulk_users(client(), k_users, k_bulk_prefix);
  std::vector<int64_t> ids(k_users);
  expect_no_errors(parallel(8, [&](int t, http_client& own) {
    for (int i = t; i < k_users; i += 8) {
      auto charged = until_answered([&] { return charge(own, users[i].id, users[i].token, 1000); });
      if (charged.status != 200) throw std::runtime_error("charge: " + describe(charged));
      auto created = until_answered([&] {
        return create_order(own, users[i].id, users[i].token, order_body({{p.id, p.cid(), 1}}));
      });
      if (created.status != 201) throw std::runtime_error("create: " + describe(created));
      ids[i] = parse_json(created.body)["id"].as_int();
    }
  }));
  std::vector<http_response> answers(k_users);
  expect_no_errors(parallel(k_connections, [&](int t, http_client& own) {
    for (int i = t; i < k_users; i += k_connections)
      answers[i] = until_answered([&] { return pay(own, users[i].id, users[i].token, ids[i]); });
  }));
  int paid = 0, out_of_stock = 0;
  std::vector<std::string> statuses(k_users);
  std::vector<int64_t> balances(k_users);
  expect_no_errors(parallel(8, [&](int t, http_client& own) {
    for (int i = t; i < k_users; i += 8) {
      statuses[i] = status_of(own, users[i].id, ids[i]);
      balances[i] = balance_of(own, users[i].id);
    }
  }));
  for (int i = 0; i < k_users; ++i) {
    SCOPED_TRACE("user " + std::to_string(users[i].id));
    if (answers[i].status == 200) {
      ++paid;
      EXPECT_EQ(statuses[i], "PAID");
      EXPECT_EQ(balances[i], 300);
    } else {
      EXPECT_TRUE(is_problem(answers[i], 409, "OUT_OF_STOCK")) << describe(answers[i]);
      out_of_stock += is_problem(answers[i], 409, "OUT_OF_STOCK") ? 1 : 0;
      EXPECT_EQ(statuses[i], "PAYMENT_FAILED");
      EXPECT_EQ(balances[i], 1000);
    }
  }
  EXPECT_EQ(paid, 50);
  EXPECT_EQ(out_of_stock, 150);
  EXPECT_EQ(stock_of(client(), p.id), 0);
  std::cout << "[ info ] " << paid << " paid, " << out_of_stock << " out of stock\n";
}

// Goal: orders spanning products on both shards, paid in parallel, are all or nothing across
// the shards: 24 users order 1 of the odd product (stock 100) and 2 of the even one (stock 10):
// exactly 5 are PAID, the odd stock is 100 - 5 and the even stock 0; then refunding every paid
// order returns both stocks to their start.
TEST_F(orders_concurrency, cross_shard_orders_in_parallel_are_all_or_nothing) {
  auto odd = product_with_parity(client(), 1, "X odd", 100, 100);
  auto even = product_with_parity(client(), 0, "X even", 100, 10);
  auto users = bulk_users(client(), 24, k_bulk_prefix);
  std::vector<int64_t> ids;
  for (const auto& u : users) {
    fund(client(), u.id, 1000);
    auto created = create_order(client(), u.id, u.token,
                                order_body({{odd.id, odd.cid(), 1}, {even.id, even.cid(), 2}}));
    ASSERT_EQ(created.status, 201) << describe(created);
    ids.push_back(parse_json(created.body)["id"].as_int());
  }
  std::vector<http_response> answers(users.size());
  expect_no_errors(parallel(int(users.size()), [&](int t, http_client& own) {
    answers[t] = until_answered([&] { return pay(own, users[t].id, users[t].token, ids[t]); });
  }));
  std::vector<int> paid;
  for (size_t i = 0; i < users.size(); ++i) {
    if (answers[i].status == 200) {
      paid.push_back(int(i));
    } else {
      EXPECT_TRUE(is_problem(answers[i], 409, "OUT_OF_STOCK")) << describe(answers[i]);
      EXPECT_EQ(status_of(client(), users[i].id, ids[i]), "PAYMENT_FAILED");
    }
  }
  EXPECT_EQ(paid.size(), 5u);
  EXPECT_EQ(stock_of(client(), odd.id), 100 - int64_t(paid.size()));
  EXPECT_EQ(stock_of(client(), even.id), 10 - 2 * int64_t(paid.size()));
  // Refund them all in parallel.
  std::vector<http_response> refunds(paid.size());
  expect_no_errors(parallel(int(paid.size()), [&](int t, http_client& own) {
    const int i = paid[t];
    refunds[t] = until_answered([&] { return cancel(own, users[i].id, users[i].token, ids[i]); });
  }));
  for (const auto& r : refunds) {
    ASSERT_EQ(r.status, 200) << describe(r);
    EXPECT_EQ(parse_json(r.body)["status"].as_string(), "REFUNDED");
  }
  EXPECT_EQ(stock_of(client(), odd.id), 100);
  EXPECT_EQ(stock_of(client(), even.id), 10);
  for (const auto& u : users) {
    EXPECT_EQ(balance_of(client(), u.id), 1000);
    EXPECT_TRUE(balance_consistent(client(), u.id));
  }
}

// Goal: one payment sent with the same Idempotency-Key from 8 connections at once charges once:
// every answer is the 200 (exactly one not a replay, all byte-identical) or 409
// IDEMPOTENCY_KEY_IN_USE; balance and stock move once. 5 rounds.
TEST_F(orders_concurrency, same_key_payment_from_8_connections_charges_once) {
  auto s = sign_up_and_login(client(), "conc-key");
  auto p = simple_product(client(), "Keyed", 100, 1000);
  fund(client(), s.user_id, 100'000);
  for (int round = 0; round < 5; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    auto created =
        create_order(client(), s.user_id, s.access_token, order_body({{p.id, p.cid(), 3}}));
    ASSERT_EQ(created.status, 201);
    const int64_t id = parse_json(created.body)["id"].as_int();
    const std::string k = "same-key-" + std::to_string(round);
    std::vector<http_response> answers(8);
    expect_no_errors(parallel(8, [&](int t, http_client& own) {
      answers[t] = until_answered([&] { return pay(own, s.user_id, s.access_token, id, key(k)); });
    }));
    std::string body;
    int fresh = 0;
    for (const auto& a : answers) {
      if (a.status == 200) {
        if (body.empty()) body = a.body;
        EXPECT_EQ(a.body, body);
        if (a.header_or("Idempotent-Replayed") != "true") ++fresh;
      } else {
        EXPECT_TRUE(is_problem(a, 409, "IDEMPOTENCY_KEY_IN_USE")) << describe(a);
      }
    }
    EXPECT_EQ(fresh, 1);
    EXPECT_EQ(balance_of(client(), s.user_id), 100'000 - 300 * (round + 1));
    EXPECT_EQ(stock_of(client(), p.id), 1000 - 3 * (round + 1));
  }
  EXPECT_EQ(money_history(client(), s.user_id).size(), 6u);
}

// Goal: a payment racing a cancel of the same order ends in one consistent story: if the cancel
// answered 200 CANCELLED the payment was 409 ORDER_NOT_PAYABLE and nothing moved; if the payment
// answered 200 the cancel was 409 ORDER_NOT_CANCELLABLE (order PAID) or REFUNDED (it ran after),
// and money and stock match the final status. 20 rounds.
TEST_F(orders_concurrency, payment_racing_cancel_is_consistent) {
  auto s = sign_up_and_login(client(), "conc-race");
  auto p = product_with_parity(client(), 1, "Race", 100, 1000);
  fund(client(), s.user_id, 1'000'000);
  int64_t expected_stock = 1000, expected_balance = 1'000'000;
  for (int round = 0; round < 20; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    auto created =
        create_order(client(), s.user_id, s.access_token, order_body({{p.id, p.cid(), 2}}));
    ASSERT_EQ(created.status, 201);
    const int64_t id = parse_json(created.body)["id"].as_int();
    http_response paid, cancelled;
    expect_no_errors(parallel(2, [&](int t, http_client& own) {
      if (t == 0)
        paid = until_answered([&] { return pay(own, s.user_id, s.access_token, id); });
      else
        cancelled = until_answered([&] { return cancel(own, s.user_id, s.access_token, id); });
    }));
    const std::string st = status_of(client(), s.user_id, id);
    if (paid.status == 200) {
      if (cancelled.status == 200) {
        EXPECT_EQ(parse_json(cancelled.body)["status"].as_string(), "REFUNDED");
        EXPECT_EQ(st, "REFUNDED");
      } else {
        EXPECT_TRUE(is_problem(cancelled, 409, "ORDER_NOT_CANCELLABLE")) << describe(cancelled);
        EXPECT_EQ(st, "PAID");
        expected_stock -= 2;
        expected_balance -= 200;
      }
    } else {
      EXPECT_TRUE(is_problem(paid, 409, "ORDER_NOT_PAYABLE")) << describe(paid);
      ASSERT_EQ(cancelled.status, 200) << describe(cancelled);
      EXPECT_EQ(parse_json(cancelled.body)["status"].as_string(), "CANCELLED");
      EXPECT_EQ(st, "CANCELLED");
    }
    EXPECT_EQ(stock_of(client(), p.id), expected_stock);
    EXPECT_EQ(balance_of(client(), s.user_id), expected_balance);
  }
  EXPECT_TRUE(balance_consistent(client(), s.user_id));
}

}  // namespace
}  // namespace ecom::test
