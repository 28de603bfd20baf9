// Cart: reading the cart, adding (with merging, idempotency and every refusal in the documented
// check order), changing and removing lines, the 100-line limit, access rules, and admins
// changing stock while many connections add and change cart lines.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <numeric>
#include <set>
#include <thread>

#include "tests/e2e/e2e_fixture.h"
#include "tests/support/commerce.h"

namespace ecom::test {
namespace {

constexpr int64_t k_missing_id = 9223372036854775807;

// A product with options a (na values) × b (nb values), every combination with that stock.
product_ref grid_product(http_client& client, std::string_view name, int na, int nb,
                         int64_t stock) {
  std::string body = R"({"name":)" + json_quote(name) + R"(,"base_price":10,"options":[)";
  body += R"({"name":"a","values":[)";
  for (int i = 0; i < na; ++i) body += (i ? "," : "") + json_quote("a" + std::to_string(i));
  body += R"(]},{"name":"b","values":[)";
  for (int j = 0; j < nb; ++j) body += (j ? "," : "") + json_quote("b" + std::to_string(j));
  body += R"(]}],"combinations":[)";
  for (int i = 0; i < na; ++i) {
    for (int j = 0; j < nb; ++j) {
      if (i || j) body += ",";
      body += R"({"options":{"a":"a)" + std::to_string(i) + R"(","b":"b)" + std::to_string(j) +
              R"("},"additional_price":)" + std::to_string(i) + R"(,"stock":)" +
              std::to_string(stock) + "}";
    }
  }
  return create_product_from(client, body + "]}");
}

std::string item_path(int64_t user_id, int64_t item_id) {
  return user_path(user_id, "/cart/items/" + std::to_string(item_id));
}

http_response patch_item(http_client& client, int64_t user_id, std::string_view token,
                         int64_t item_id, std::string_view body) {
  return client.request("PATCH", item_path(user_id, item_id), body, json_bearer(token));
}

http_response set_quantity(http_client& client, int64_t user_id, std::string_view token,
                           int64_t item_id, int64_t quantity) {
  return patch_item(client, user_id, token, item_id, json_object().add("quantity", quantity).str());
}

http_response delete_item(http_client& client, int64_t user_id, std::string_view token,
                          int64_t item_id) {
  return client.request("DELETE", item_path(user_id, item_id), {}, bearer(token));
}

// GET cart; throws unless 200.
std::string cart_body(http_client& client, int64_t user_id, std::string_view token) {
  auto response = client.get(user_path(user_id, "/cart"), bearer(token));
  if (response.status != 200) throw std::runtime_error("GET cart: " + describe(response));
  return response.body;
}

class cart : public shared_server_test {
 protected:
  std::string cart_of(const session& s) { return cart_body(client(), s.user_id, s.access_token); }
  http_response add(const session& s, const product_ref& p, int64_t quantity,
                    size_t combination = 0, const header_list& extra = {}) {
    return add_to_cart(client(), s.user_id, s.access_token, p.id, p.cids.at(combination), quantity,
                       extra);
  }
  // Adds and returns the 201 item; throws otherwise.
  json_doc add_ok(const session& s, const product_ref& p, int64_t quantity,
                  size_t combination = 0) {
    auto response = add(s, p, quantity, combination);
    if (response.status != 201) throw std::runtime_error("add to cart: " + describe(response));
    return parse_json(response.body);
  }
  // (combination id, quantity) of every line, in cart order.
  std::vector<std::pair<int64_t, int64_t>> lines_of(const session& s) {
    std::vector<std::pair<int64_t, int64_t>> out;
    for (const auto& item : parse_json(cart_of(s))["items"].elements())
      out.emplace_back(item["combination_id"].as_int(), item["quantity"].as_int());
    return out;
  }
};

// --- reading and adding ---------------------------------------------------------------------

// Goal: a new user's cart is empty. Method: GET cart right after sign-up, with the user's token
// and with the admin token.
TEST_F(cart, new_users_cart_is_empty_with_zero_total) {
  auto s = sign_up_and_login(client(), "cart-empty");
  for (const std::string& token : {s.access_token, admin()}) {
    auto response = client().get(user_path(s.user_id, "/cart"), bearer(token));
    ASSERT_EQ(response.status, 200) << describe(response);
    auto doc = parse_json(response.body);
    EXPECT_EQ(doc["items"].size(), 0u);
    EXPECT_EQ(doc["total_amount"].as_int(), 0);
    EXPECT_EQ(doc.root().keys(), (std::vector<std::string>{"items", "total_amount"}));
  }
}

// Goal: adding a line answers 201 with the documented cart item, and the cart lists it the same
// way. Method: add 2 of the red-L combination (base 20000 + 1500); check every field, then GET
// cart: one identical item and total_amount = line_total.
TEST_F(cart, add_item_returns_201_cart_item_listed_in_cart) {
  auto s = sign_up_and_login(client(), "cart-add");
  auto p = create_product_from(
      client(),
      R"({"name":"Shirt","base_price":20000,"options":[{"name":"color","values":["red"]},)"
      R"({"name":"size","values":["S","L"]}],"combinations":[)"
      R"({"options":{"size":"S","color":"red"},"additional_price":0,"stock":5},)"
      R"({"options":{"size":"L","color":"red"},"additional_price":1500,"stock":5}]})");
  auto response = add(s, p, 2, 1);
  ASSERT_EQ(response.status, 201) << describe(response);
  EXPECT_TRUE(response.header_or("Content-Type").starts_with("application/json"));
  auto item = parse_json(response.body);
  EXPECT_EQ(item.root().keys(),
            (std::vector<std::string>{"id", "product_id", "combination_id", "product_name",
                                      "combination_name", "quantity", "unit_price", "line_total",
                                      "available"}));
  EXPECT_GT(item["id"].as_int(), 0);
  EXPECT_EQ(item["product_id"].as_int(), p.id);
  EXPECT_EQ(item["combination_id"].as_int(), p.cids[1]);
  EXPECT_EQ(item["product_name"].as_string(), "Shirt");
  EXPECT_EQ(item["combination_name"].as_string(), "red-L");
  EXPECT_EQ(item["quantity"].as_int(), 2);
  EXPECT_EQ(item["unit_price"].as_int(), 21500);
  EXPECT_EQ(item["line_total"].as_int(), 43000);
  EXPECT_TRUE(item["available"].as_bool());

  auto doc = parse_json(cart_of(s));
  ASSERT_EQ(doc["items"].size(), 1u);
  EXPECT_EQ(doc["items"][0].dump(), item.root().dump());
  EXPECT_EQ(doc["total_amount"].as_int(), 43000);
  // The default combination is named "default".
  auto plain = simple_product(client(), "Mug", 3000, 10);
  EXPECT_EQ(add_ok(s, plain, 1)["combination_name"].as_string(), "default");
}

// Goal: adding the same combination again merges into the existing line: same id, quantities
// added, still 201. Method: add 2 then 3 of one combination; a different combination of the same
// product gets its own line.
TEST_F(cart, adding_the_same_combination_merges_quantities) {
  auto s = sign_up_and_login(client(), "cart-merge");
  auto p = grid_product(client(), "Merge grid", 1, 2, 100);
  auto first = add_ok(s, p, 2);
  auto second = add(s, p, 3);
  ASSERT_EQ(second.status, 201) << describe(second);
  auto merged = parse_json(second.body);
  EXPECT_EQ(merged["id"].as_int(), first["id"].as_int());
  EXPECT_EQ(merged["quantity"].as_int(), 5);
  EXPECT_EQ(merged["line_total"].as_int(), 5 * p.prices[0]);
  auto other = add_ok(s, p, 1, 1);
  EXPECT_NE(other["id"].as_int(), first["id"].as_int());
  EXPECT_EQ(lines_of(s),
            (std::vector<std::pair<int64_t, int64_t>>{{p.cids[0], 5}, {p.cids[1], 1}}));
}

// Goal: lines stay in the order first added and total_amount sums every line. Method: add A, B,
// C, merge into A, patch B; the order is A, B, C and the total matches. Removing B and adding it
// again puts it last under a new id.
TEST_F(cart, lines_keep_first_added_order_and_total_sums_all_lines) {
  auto s = sign_up_and_login(client(), "cart-order");
  auto a = simple_product(client(), "A", 1000, 50);
  auto b = simple_product(client(), "B", 250, 50);
  auto c = simple_product(client(), "C", 7, 50);
  const int64_t a_item = add_ok(s, a, 1)["id"].as_int();
  const int64_t b_item = add_ok(s, b, 2)["id"].as_int();
  add_ok(s, c, 3);
  add_ok(s, a, 4);
  ASSERT_EQ(set_quantity(client(), s.user_id, s.access_token, b_item, 6).status, 200);
  auto doc = parse_json(cart_of(s));
  auto items = doc["items"].elements();
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0]["id"].as_int(), a_item);
  EXPECT_EQ(items[0]["quantity"].as_int(), 5);
  EXPECT_EQ(items[1]["id"].as_int(), b_item);
  EXPECT_EQ(items[1]["quantity"].as_int(), 6);
  EXPECT_EQ(items[2]["product_id"].as_int(), c.id);
  int64_t sum = 0;
  for (const auto& item : items) {
    EXPECT_EQ(item["line_total"].as_int(), item["unit_price"].as_int() * item["quantity"].as_int());
    sum += item["line_total"].as_int();
  }
  EXPECT_EQ(sum, 5 * 1000 + 6 * 250 + 3 * 7);
  EXPECT_EQ(doc["total_amount"].as_int(), sum);

  ASSERT_EQ(delete_item(client(), s.user_id, s.access_token, b_item).status, 204);
  const int64_t b_again = add_ok(s, b, 1)["id"].as_int();
  EXPECT_NE(b_again, b_item);
  EXPECT_EQ(lines_of(s),
            (std::vector<std::pair<int64_t, int64_t>>{{a.cid(), 5}, {c.cid(), 3}, {b.cid(), 1}}));
}

// Goal: unit_price and product_name are the product's current ones. Method: add a line, then
// change the product's base_price and name; GET cart shows the new unit price, line total,
// total_amount and name.
TEST_F(cart, cart_shows_current_price_and_name) {
  auto s = sign_up_and_login(client(), "cart-price");
  auto p = simple_product(client(), "Old name", 1000, 10);
  add_ok(s, p, 3);
  ASSERT_EQ(patch_product(client(), p.id, R"({"base_price":1200,"name":"New name"})").status, 200);
  auto doc = parse_json(cart_of(s));
  EXPECT_EQ(doc["items"][0]["unit_price"].as_int(), 1200);
  EXPECT_EQ(doc["items"][0]["line_total"].as_int(), 3600);
  EXPECT_EQ(doc["items"][0]["product_name"].as_string(), "New name");
  EXPECT_EQ(doc["total_amount"].as_int(), 3600);
}

// Goal: available is false while the product is inactive or its stock is below the line
// quantity, and the line still counts in total_amount. Method: a line of 3 with stock 5; lower
// stock to 2, raise it to 3, deactivate, reactivate; GET cart after each step.
TEST_F(cart, available_follows_sale_status_and_stock) {
  auto s = sign_up_and_login(client(), "cart-avail");
  auto p = simple_product(client(), "Flicker", 100, 5);
  auto other = simple_product(client(), "Steady", 10, 5);
  add_ok(s, p, 3);
  add_ok(s, other, 1);
  auto check = [&](bool available, const char* step) {
    SCOPED_TRACE(step);
    auto doc = parse_json(cart_of(s));
    ASSERT_EQ(doc["items"].size(), 2u);
    EXPECT_EQ(doc["items"][0]["available"].as_bool(), available);
    EXPECT_TRUE(doc["items"][1]["available"].as_bool());
    EXPECT_EQ(doc["items"][0]["line_total"].as_int(), 300);
    EXPECT_EQ(doc["total_amount"].as_int(), 310);
  };
  check(true, "stock 5");
  ASSERT_EQ(adjust_stock(client(), p.id, p.cid(), -3).status, 200);
  check(false, "stock 2 < 3");
  ASSERT_EQ(adjust_stock(client(), p.id, p.cid(), 1).status, 200);
  check(true, "stock 3");
  ASSERT_EQ(patch_product(client(), p.id, R"({"is_active":false})").status, 200);
  check(false, "inactive");
  ASSERT_EQ(patch_product(client(), p.id, R"({"is_active":true})").status, 200);
  check(true, "active again");
}

// Goal: carts reserve nothing. Method: stock 5; two users each add 5 (both 201, each alone fits);
// the stock is still 5.
TEST_F(cart, adding_to_carts_reserves_no_stock) {
  auto a = sign_up_and_login(client(), "cart-res-a");
  auto b = sign_up_and_login(client(), "cart-res-b");
  auto p = simple_product(client(), "Scarce", 100, 5);
  EXPECT_EQ(add(a, p, 5).status, 201);
  EXPECT_EQ(add(b, p, 5).status, 201);
  EXPECT_EQ(stock_of(client(), p.id), 5);
}

// Goal: each refusal of an add has its documented code and leaves the cart as it was. Method: an
// unknown product (404 PRODUCT_NOT_FOUND), another product's combination (404
// COMBINATION_NOT_FOUND), an inactive product (409 PRODUCT_INACTIVE), more than the stock, alone
// or merged (409 OUT_OF_STOCK), a merged quantity over 999 (400 field quantity); the cart and
// the stocks are unchanged after each.
TEST_F(cart, add_refusals_have_their_codes_and_change_nothing) {
  auto s = sign_up_and_login(client(), "cart-refuse");
  auto p = simple_product(client(), "Five", 100, 5);
  auto q = simple_product(client(), "Other", 100, 2000);
  auto off = simple_product(client(), "Off", 100, 5, false);
  auto empty = simple_product(client(), "Empty", 100, 0);
  add_ok(s, p, 2);
  add_ok(s, q, 600);
  const std::string before = cart_of(s);

  expect_problem(add_to_cart(client(), s.user_id, s.access_token, k_missing_id, p.cid(), 1), 404,
                 "PRODUCT_NOT_FOUND");
  expect_problem(add_to_cart(client(), s.user_id, s.access_token, p.id, q.cid(), 1), 404,
                 "COMBINATION_NOT_FOUND");
  expect_problem(add_to_cart(client(), s.user_id, s.access_token, p.id, k_missing_id, 1), 404,
                 "COMBINATION_NOT_FOUND");
  expect_problem(add(s, off, 1), 409, "PRODUCT_INACTIVE");
  expect_problem(add(s, empty, 1), 409, "OUT_OF_STOCK");
  expect_problem(add(s, p, 4), 409, "OUT_OF_STOCK");     // 2 + 4 > 5
  expect_validation_failed(add(s, q, 400), "quantity");  // 600 + 400 > 999
  EXPECT_EQ(cart_of(s), before);
  // The bounds themselves are accepted.
  EXPECT_EQ(add(s, p, 3).status, 201);  // 2 + 3 == 5
  auto top = add(s, q, 399);            // 600 + 399 == 999
  ASSERT_EQ(top.status, 201) << describe(top);
  EXPECT_EQ(parse_json(top.body)["quantity"].as_int(), 999);
  EXPECT_EQ(stock_of(client(), p.id), 5);
  EXPECT_EQ(stock_of(client(), q.id), 2000);
}

// Goal: malformed add bodies are 400 naming the field and add nothing. Method: quantity 0, 1000,
// 1.5, "1", null and missing; product_id and combination_id missing, 0 or a string.
TEST_F(cart, add_with_bad_body_is_400_naming_the_field) {
  auto s = sign_up_and_login(client(), "cart-badbody");
  auto p = simple_product(client(), "Body", 100, 5000);
  const std::string pid = std::to_string(p.id), cid = std::to_string(p.cid());
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"product_id":)" + pid + R"(,"combination_id":)" + cid + R"(,"quantity":0})", "quantity"},
      {R"({"product_id":)" + pid + R"(,"combination_id":)" + cid + R"(,"quantity":1000})",
       "quantity"},
      {R"({"product_id":)" + pid + R"(,"combination_id":)" + cid + R"(,"quantity":-1})",
       "quantity"},
      {R"({"product_id":)" + pid + R"(,"combination_id":)" + cid + R"(,"quantity":1.5})",
       "quantity"},
      {R"({"product_id":)" + pid + R"(,"combination_id":)" + cid + R"(,"quantity":"1"})",
       "quantity"},
      {R"({"product_id":)" + pid + R"(,"combination_id":)" + cid + R"(,"quantity":1e1})",
       "quantity"},
      {R"({"product_id":)" + pid + R"(,"combination_id":)" + cid + R"(,"quantity":null})",
       "quantity"},
      {R"({"product_id":)" + pid + R"(,"combination_id":)" + cid + "}", "quantity"},
      {R"({"combination_id":)" + cid + R"(,"quantity":1})", "product_id"},
      {R"({"product_id":0,"combination_id":)" + cid + R"(,"quantity":1})", "product_id"},
      {R"({"product_id":")" + pid + R"(","combination_id":)" + cid + R"(,"quantity":1})",
       "product_id"},
      {R"({"product_id":)" + pid + R"(,"quantity":1})", "combination_id"},
      {R"({"product_id":)" + pid + R"(,"combination_id":-5,"quantity":1})", "combination_id"},
      {R"({"product_id":)" + pid + R"(,"combination_id":1.0,"quantity":1})", "combination_id"},
  };
  for (const auto& [body, field] : cases) {
    SCOPED_TRACE(body);
    expect_validation_failed(client().request("POST", user_path(s.user_id, "/cart/items"), body,
                                              json_bearer(s.access_token)),
                             field);
  }
  expect_problem(client().request("POST", user_path(s.user_id, "/cart/items"),
                                  "{\"product_id\":", json_bearer(s.access_token)),
                 400, "MALFORMED_JSON");
  expect_problem(client().request("POST", user_path(s.user_id, "/cart/items"), "[1,2]",
                                  json_bearer(s.access_token)),
                 400, "MALFORMED_JSON");
  EXPECT_EQ(parse_json(cart_of(s))["items"].size(), 0u);
}

// Goal: the add route checks in the documented order: 401 → 400 path → 403 → 415 / 400 body → 404
// USER_NOT_FOUND → stored key → 404 PRODUCT_NOT_FOUND → 404 COMBINATION_NOT_FOUND → 400 merged
// quantity → 409 PRODUCT_INACTIVE → 409 CART_FULL → 409 OUT_OF_STOCK. Method: requests that
// break two rules at once get the earlier error.
TEST_F(cart, add_checks_run_in_the_documented_order) {
  auto a = sign_up_and_login(client(), "cart-order-a");
  auto b = sign_up_and_login(client(), "cart-order-b");
  auto p = simple_product(client(), "Ordered", 100, 5);
  auto big = simple_product(client(), "Big", 100, 5000);
  auto off = simple_product(client(), "Off", 100, 0, false);
  const std::string missing_user = "/users/9223372036854775807/cart/items";
  const std::string good = cart_item_body(p.id, p.cid(), 1);
  header_list plain_admin{{"Content-Type", "text/plain"}, {"Authorization", "Bearer " + admin()}};
  header_list plain_a{{"Content-Type", "text/plain"},
                      {"Authorization", "Bearer " + a.access_token}};

  // no token + bad path id → 401
  expect_unauthenticated(client().post_json("/users/abc/cart/items", good));
  // bad path id + another user's token → 400 id
  expect_validation_failed(
      client().post_json("/users/abc/cart/items", good, bearer(a.access_token)), "id");
  // another user's token + wrong media type / bad body → 403
  expect_problem(client().request("POST", user_path(b.user_id, "/cart/items"), good, plain_a), 403,
                 "FORBIDDEN");
  expect_problem(add_to_cart(client(), b.user_id, a.access_token, p.id, p.cid(), 0), 403,
                 "FORBIDDEN");
  // unknown user + wrong media type / bad body → 415 / 400
  expect_problem(client().request("POST", missing_user, good, plain_admin), 415,
                 "UNSUPPORTED_MEDIA_TYPE");
  expect_validation_failed(
      client().post_json(missing_user, cart_item_body(p.id, p.cid(), 1000), bearer(admin())),
      "quantity");
  expect_problem(client().post_json(missing_user, "{", bearer(admin())), 400, "MALFORMED_JSON");
  // unknown user + unknown product → 404 USER_NOT_FOUND
  expect_problem(client().post_json(missing_user, cart_item_body(k_missing_id, k_missing_id, 1),
                                    bearer(admin())),
                 404, "USER_NOT_FOUND");
  // unknown product + foreign combination → PRODUCT_NOT_FOUND
  expect_problem(add_to_cart(client(), a.user_id, a.access_token, k_missing_id, p.cid(), 1), 404,
                 "PRODUCT_NOT_FOUND");
  // inactive product with a combination of another product → COMBINATION_NOT_FOUND
  expect_problem(add_to_cart(client(), a.user_id, a.access_token, off.id, p.cid(), 1), 404,
                 "COMBINATION_NOT_FOUND");
  // merged quantity over 999 on a product that went inactive and lacks stock → 400 quantity
  ASSERT_EQ(add(a, big, 600).status, 201);
  ASSERT_EQ(patch_product(client(), big.id, R"({"is_active":false})").status, 200);
  ASSERT_EQ(adjust_stock(client(), big.id, big.cid(), -4990).status, 200);
  expect_validation_failed(add(a, big, 400), "quantity");
  // inactive + out of stock → PRODUCT_INACTIVE
  expect_problem(add(a, off, 1), 409, "PRODUCT_INACTIVE");
  expect_problem(add(a, big, 1), 409, "PRODUCT_INACTIVE");
  // CART_FULL before OUT_OF_STOCK and PRODUCT_INACTIVE before CART_FULL: see
  // cart_full_at_the_101st_line. Nothing of the above was added.
  EXPECT_EQ(lines_of(a), (std::vector<std::pair<int64_t, int64_t>>{{big.cid(), 600}}));
  EXPECT_EQ(parse_json(cart_of(b))["items"].size(), 0u);
}

// Goal: a cart holds at most 100 lines. Method: one product with 11 × 10 combinations; 100
// different combinations are added (201); the 101st is 409 CART_FULL, also when it is out of
// stock (CART_FULL comes first) — but an inactive product is 409 PRODUCT_INACTIVE (it comes
// before CART_FULL); merging into an existing line still works; after removing a line a new one
// fits again.
TEST_F(cart, cart_full_at_the_101st_line) {
  auto s = sign_up_and_login(client(), "cart-full");
  auto grid = grid_product(client(), "Hundred and ten", 11, 10, 10);
  ASSERT_EQ(grid.cids.size(), 110u);
  auto off = simple_product(client(), "Off", 5, 5, false);
  for (size_t i = 0; i < 100; ++i) {
    auto response = add(s, grid, 1, i);
    ASSERT_EQ(response.status, 201) << "line " << i << ": " << describe(response);
  }
  const std::string full = cart_of(s);
  EXPECT_EQ(parse_json(full)["items"].size(), 100u);

  expect_problem(add(s, grid, 1, 100), 409, "CART_FULL");
  expect_problem(add(s, grid, 11, 101), 409, "CART_FULL");  // over the stock of 10 as well
  expect_problem(add(s, off, 1), 409, "PRODUCT_INACTIVE");
  EXPECT_EQ(cart_of(s), full);

  auto merged = add(s, grid, 2, 0);
  ASSERT_EQ(merged.status, 201) << describe(merged);
  EXPECT_EQ(parse_json(merged.body)["quantity"].as_int(), 3);
  // A merge beyond the stock of a full cart is OUT_OF_STOCK, not CART_FULL.
  expect_problem(add(s, grid, 8, 0), 409, "OUT_OF_STOCK");

  const int64_t first_item = parse_json(full)["items"][0]["id"].as_int();
  ASSERT_EQ(delete_item(client(), s.user_id, s.access_token, first_item).status, 204);
  auto fits = add(s, grid, 1, 100);
  EXPECT_EQ(fits.status, 201) << describe(fits);
  expect_problem(add(s, grid, 1, 101), 409, "CART_FULL");
  auto doc = parse_json(cart_of(s));
  EXPECT_EQ(doc["items"].size(), 100u);
  EXPECT_EQ(doc["items"][99]["combination_id"].as_int(), grid.cids[100]);
}

// --- changing and removing lines ------------------------------------------------------------

// Goal: PATCH sets a line's quantity. Method: set 2 → 7 → 1; each reply is the 200 cart item with
// the new quantity and line_total, the line keeps its id and position, and 999 is accepted.
TEST_F(cart, patch_sets_the_quantity) {
  auto s = sign_up_and_login(client(), "cart-patch");
  auto p = simple_product(client(), "Patched", 300, 1000);
  auto other = simple_product(client(), "After", 1, 10);
  const int64_t item = add_ok(s, p, 2)["id"].as_int();
  add_ok(s, other, 1);
  for (int64_t quantity : {7, 1, 999}) {
    auto response = set_quantity(client(), s.user_id, s.access_token, item, quantity);
    ASSERT_EQ(response.status, 200) << describe(response);
    auto doc = parse_json(response.body);
    EXPECT_EQ(doc["id"].as_int(), item);
    EXPECT_EQ(doc["product_id"].as_int(), p.id);
    EXPECT_EQ(doc["quantity"].as_int(), quantity);
    EXPECT_EQ(doc["unit_price"].as_int(), 300);
    EXPECT_EQ(doc["line_total"].as_int(), 300 * quantity);
    EXPECT_TRUE(doc["available"].as_bool());
    auto listed = parse_json(cart_of(s));
    EXPECT_EQ(listed["items"][0].dump(), doc.root().dump());
    EXPECT_EQ(listed["total_amount"].as_int(), 300 * quantity + 1);
  }
  EXPECT_EQ(stock_of(client(), p.id), 1000);
}

// Goal: PATCH refusals: unknown or foreign item 404 CART_ITEM_NOT_FOUND, inactive product 409
// PRODUCT_INACTIVE (before OUT_OF_STOCK), over the stock 409 OUT_OF_STOCK, bad quantity 400 field
// quantity, bad item id 400 field item_id; the line is unchanged after each.
TEST_F(cart, patch_refusals_change_nothing) {
  auto s = sign_up_and_login(client(), "cart-patch-no");
  auto t = sign_up_and_login(client(), "cart-patch-other");
  auto p = simple_product(client(), "Five", 100, 5);
  const int64_t item = add_ok(s, p, 2)["id"].as_int();
  const int64_t foreign_item = add_ok(t, p, 1)["id"].as_int();
  const std::string before = cart_of(s);

  expect_problem(set_quantity(client(), s.user_id, s.access_token, k_missing_id, 1), 404,
                 "CART_ITEM_NOT_FOUND");
  expect_problem(set_quantity(client(), s.user_id, s.access_token, foreign_item, 1), 404,
                 "CART_ITEM_NOT_FOUND");
  expect_problem(set_quantity(client(), s.user_id, s.access_token, item, 6), 409, "OUT_OF_STOCK");
  for (const char* body : {R"({"quantity":0})", R"({"quantity":1000})", R"({"quantity":1.5})",
                           R"({"quantity":"3"})", R"({})", R"({"quantity":null})"}) {
    SCOPED_TRACE(body);
    expect_validation_failed(patch_item(client(), s.user_id, s.access_token, item, body),
                             "quantity");
  }
  expect_problem(patch_item(client(), s.user_id, s.access_token, item, "{"), 400, "MALFORMED_JSON");
  header_list plain{{"Content-Type", "text/plain"}, {"Authorization", "Bearer " + s.access_token}};
  expect_problem(client().request("PATCH", item_path(s.user_id, item), R"({"quantity":3})", plain),
                 415, "UNSUPPORTED_MEDIA_TYPE");
  for (const char* bad : {"0", "-1", "abc", "1.5", "99999999999999999999"}) {
    SCOPED_TRACE(bad);
    expect_validation_failed(client().request("PATCH", user_path(s.user_id, "/cart/items/") + bad,
                                              R"({"quantity":1})", json_bearer(s.access_token)),
                             "item_id");
  }
  ASSERT_EQ(patch_product(client(), p.id, R"({"is_active":false})").status, 200);
  expect_problem(set_quantity(client(), s.user_id, s.access_token, item, 3), 409,
                 "PRODUCT_INACTIVE");
  expect_problem(set_quantity(client(), s.user_id, s.access_token, item, 6), 409,
                 "PRODUCT_INACTIVE");
  // Body errors come before the item lookup.
  expect_validation_failed(
      patch_item(client(), s.user_id, s.access_token, k_missing_id, R"({"quantity":0})"),
      "quantity");
  ASSERT_EQ(patch_product(client(), p.id, R"({"is_active":true})").status, 200);
  EXPECT_EQ(cart_of(s), before);
  EXPECT_EQ(
      parse_json(cart_body(client(), t.user_id, t.access_token))["items"][0]["quantity"].as_int(),
      1);
}

// Goal: DELETE removes a line with 204 and no body; the rest keep their order; a second DELETE
// and an unknown or foreign item are 404 CART_ITEM_NOT_FOUND; a bad item id is 400 field item_id.
TEST_F(cart, delete_removes_the_line) {
  auto s = sign_up_and_login(client(), "cart-del");
  auto t = sign_up_and_login(client(), "cart-del-other");
  auto a = simple_product(client(), "A", 1, 10);
  auto b = simple_product(client(), "B", 2, 10);
  auto c = simple_product(client(), "C", 3, 10);
  add_ok(s, a, 1);
  const int64_t b_item = add_ok(s, b, 1)["id"].as_int();
  add_ok(s, c, 1);
  const int64_t foreign_item = add_ok(t, a, 1)["id"].as_int();

  auto removed = delete_item(client(), s.user_id, s.access_token, b_item);
  ASSERT_EQ(removed.status, 204) << describe(removed);
  EXPECT_EQ(removed.body, "");
  EXPECT_EQ(lines_of(s), (std::vector<std::pair<int64_t, int64_t>>{{a.cid(), 1}, {c.cid(), 1}}));
  EXPECT_EQ(parse_json(cart_of(s))["total_amount"].as_int(), 4);
  expect_problem(delete_item(client(), s.user_id, s.access_token, b_item), 404,
                 "CART_ITEM_NOT_FOUND");
  expect_problem(set_quantity(client(), s.user_id, s.access_token, b_item, 1), 404,
                 "CART_ITEM_NOT_FOUND");
  expect_problem(delete_item(client(), s.user_id, s.access_token, k_missing_id), 404,
                 "CART_ITEM_NOT_FOUND");
  expect_problem(delete_item(client(), s.user_id, s.access_token, foreign_item), 404,
                 "CART_ITEM_NOT_FOUND");
  for (const char* bad : {"0", "-1", "abc", "1.5", "99999999999999999999"}) {
    SCOPED_TRACE(bad);
    expect_validation_failed(client().request("DELETE", user_path(s.user_id, "/cart/items/") + bad,
                                              {}, bearer(s.access_token)),
                             "item_id");
  }
  EXPECT_EQ(parse_json(cart_body(client(), t.user_id, t.access_token))["items"].size(), 1u);
  EXPECT_EQ(lines_of(s).size(), 2u);
}

// --- access ---------------------------------------------------------------------------------

// Goal: every cart route needs a token of that user or the admin token. Method: no token is 401,
// another user's token 403 on GET, POST, PATCH and DELETE, a bad user id 400 field id; the admin
// token works on all four; nothing changed by the refused requests.
TEST_F(cart, cart_routes_need_the_users_or_the_admin_token) {
  auto s = sign_up_and_login(client(), "cart-owner");
  auto intruder = sign_up_and_login(client(), "cart-intruder");
  auto p = simple_product(client(), "Guarded", 10, 100);
  const int64_t item = add_ok(s, p, 2)["id"].as_int();
  const std::string before = cart_of(s);
  const std::string body = cart_item_body(p.id, p.cid(), 1);
  header_list json_only{{"Content-Type", "application/json"}};

  expect_unauthenticated(client().get(user_path(s.user_id, "/cart")));
  expect_unauthenticated(client().post_json(user_path(s.user_id, "/cart/items"), body));
  expect_unauthenticated(
      client().request("PATCH", item_path(s.user_id, item), R"({"quantity":5})", json_only));
  expect_unauthenticated(client().request("DELETE", item_path(s.user_id, item)));
  expect_unauthenticated(client().get(user_path(s.user_id, "/cart"), bearer("garbage")));

  expect_problem(client().get(user_path(s.user_id, "/cart"), bearer(intruder.access_token)), 403,
                 "FORBIDDEN");
  expect_problem(add_to_cart(client(), s.user_id, intruder.access_token, p.id, p.cid(), 1), 403,
                 "FORBIDDEN");
  expect_problem(set_quantity(client(), s.user_id, intruder.access_token, item, 5), 403,
                 "FORBIDDEN");
  expect_problem(delete_item(client(), s.user_id, intruder.access_token, item), 403, "FORBIDDEN");
  for (const char* bad : {"0", "abc", "99999999999999999999"}) {
    SCOPED_TRACE(bad);
    expect_validation_failed(
        client().get(std::string("/users/") + bad + "/cart", bearer(s.access_token)), "id");
    expect_validation_failed(
        client().request("DELETE", std::string("/users/") + bad + "/cart/items/1", {},
                         bearer(admin())),
        "id");
  }
  EXPECT_EQ(cart_of(s), before);
  EXPECT_EQ(
      parse_json(cart_body(client(), intruder.user_id, intruder.access_token))["items"].size(), 0u);

  // The admin token manages anyone's cart.
  EXPECT_EQ(cart_body(client(), s.user_id, admin()), before);
  EXPECT_EQ(add_to_cart(client(), s.user_id, admin(), p.id, p.cid(), 1).status, 201);
  EXPECT_EQ(set_quantity(client(), s.user_id, admin(), item, 9).status, 200);
  EXPECT_EQ(lines_of(s), (std::vector<std::pair<int64_t, int64_t>>{{p.cid(), 9}}));
  EXPECT_EQ(delete_item(client(), s.user_id, admin(), item).status, 204);
  EXPECT_EQ(lines_of(s).size(), 0u);
}

// Goal: the admin gets 404 USER_NOT_FOUND for an unused user id on every cart route.
// Method: GET, POST, PATCH and DELETE on /users/2^63-1/...
TEST_F(cart, unknown_user_is_404_user_not_found) {
  auto p = simple_product(client(), "Nobody's", 10, 100);
  expect_problem(client().get(user_path(k_missing_id, "/cart"), bearer(admin())), 404,
                 "USER_NOT_FOUND");
  expect_problem(add_to_cart(client(), k_missing_id, admin(), p.id, p.cid(), 1), 404,
                 "USER_NOT_FOUND");
  expect_problem(set_quantity(client(), k_missing_id, admin(), 1, 1), 404, "USER_NOT_FOUND");
  expect_problem(delete_item(client(), k_missing_id, admin(), 1), 404, "USER_NOT_FOUND");
}

// --- idempotency ----------------------------------------------------------------------------

// Goal: an add with an Idempotency-Key is applied once; a replay returns the stored 201 byte for
// byte with Idempotent-Replayed: true, even after the product went inactive (the stored answer
// comes before the product checks); another body with the key is 422 IDEMPOTENCY_KEY_REUSED.
TEST_F(cart, idempotent_add_replays_and_merges_once) {
  auto s = sign_up_and_login(client(), "cart-idem");
  auto p = simple_product(client(), "Once", 100, 50);
  const header_list key{{"Idempotency-Key", "cart-add-1"}};
  auto first = add(s, p, 3, 0, key);
  ASSERT_EQ(first.status, 201) << describe(first);
  EXPECT_NE(first.header_or("Idempotent-Replayed"), "true");
  auto replay = add(s, p, 3, 0, key);
  ASSERT_EQ(replay.status, 201) << describe(replay);
  EXPECT_EQ(replay.header_or("Idempotent-Replayed"), "true");
  EXPECT_EQ(replay.body, first.body);
  EXPECT_EQ(lines_of(s), (std::vector<std::pair<int64_t, int64_t>>{{p.cid(), 3}}));

  ASSERT_EQ(patch_product(client(), p.id, R"({"is_active":false})").status, 200);
  auto late = add(s, p, 3, 0, key);
  EXPECT_EQ(late.status, 201) << describe(late);
  EXPECT_EQ(late.header_or("Idempotent-Replayed"), "true");
  EXPECT_EQ(late.body, first.body);
  ASSERT_EQ(patch_product(client(), p.id, R"({"is_active":true})").status, 200);

  expect_problem(add(s, p, 4, 0, key), 422, "IDEMPOTENCY_KEY_REUSED");
  // The stored key is checked before the product: another body naming an unknown product is 422.
  expect_problem(add_to_cart(client(), s.user_id, s.access_token, k_missing_id, p.cid(), 3, key),
                 422, "IDEMPOTENCY_KEY_REUSED");
  // A malformed key is 400 and adds nothing.
  expect_validation_failed(add(s, p, 1, 0, {{"Idempotency-Key", "has space"}}), "Idempotency-Key");
  EXPECT_EQ(lines_of(s), (std::vector<std::pair<int64_t, int64_t>>{{p.cid(), 3}}));
  // A new key is a new add, merged into the line.
  auto again = add(s, p, 3, 0, {{"Idempotency-Key", "cart-add-2"}});
  ASSERT_EQ(again.status, 201) << describe(again);
  EXPECT_EQ(parse_json(again.body)["quantity"].as_int(), 6);
  // The scope is method + concrete path: a key used on the balance charge route is a new key
  // for the cart.
  header_list charge_key = json_bearer(s.access_token);
  charge_key.emplace_back("Idempotency-Key", "shared-route-key");
  ASSERT_EQ(
      client()
          .request("POST", user_path(s.user_id, "/balance/charge"), R"({"amount":10})", charge_key)
          .status,
      200);
  auto fresh = add(s, p, 1, 0, {{"Idempotency-Key", "shared-route-key"}});
  ASSERT_EQ(fresh.status, 201) << describe(fresh);
  EXPECT_NE(fresh.header_or("Idempotent-Replayed"), "true");
  EXPECT_EQ(parse_json(fresh.body)["quantity"].as_int(), 7);
}

// Goal: a 409 is stored under the key and replayed even after the cause went away; a 400 or 404
// is not stored. Method: key K on an add over the stock (409 OUT_OF_STOCK); raise the stock;
// replaying K still gives the stored 409 and adds nothing. Key L on an unknown product (404),
// then L on a good body: 201, not a replay.
TEST_F(cart, conflict_is_stored_and_404_is_not) {
  auto s = sign_up_and_login(client(), "cart-idem409");
  auto p = simple_product(client(), "Short", 100, 1);
  const header_list k{{"Idempotency-Key", "cart-409"}};
  auto first = add(s, p, 2, 0, k);
  expect_problem(first, 409, "OUT_OF_STOCK");
  ASSERT_EQ(adjust_stock(client(), p.id, p.cid(), 10).status, 200);
  auto replay = add(s, p, 2, 0, k);
  expect_problem(replay, 409, "OUT_OF_STOCK");
  EXPECT_EQ(replay.header_or("Idempotent-Replayed"), "true");
  EXPECT_EQ(replay.body, first.body);
  EXPECT_EQ(lines_of(s).size(), 0u);

  header_list l = json_bearer(s.access_token);
  l.emplace_back("Idempotency-Key", "cart-404");
  expect_problem(client().request("POST", user_path(s.user_id, "/cart/items"),
                                  cart_item_body(k_missing_id, p.cid(), 2), l),
                 404, "PRODUCT_NOT_FOUND");
  expect_validation_failed(client().request("POST", user_path(s.user_id, "/cart/items"),
                                            cart_item_body(p.id, p.cid(), 0), l),
                           "quantity");
  auto ok = client().request("POST", user_path(s.user_id, "/cart/items"),
                             cart_item_body(p.id, p.cid(), 2), l);
  ASSERT_EQ(ok.status, 201) << describe(ok);
  EXPECT_NE(ok.header_or("Idempotent-Replayed"), "true");
  EXPECT_EQ(lines_of(s), (std::vector<std::pair<int64_t, int64_t>>{{p.cid(), 2}}));
}

// Goal: the same key sent from 8 connections at once adds once. Method: 8 threads post the same
// body with the same key; every answer is the 201 (first or replayed, all byte-identical) or 409
// IDEMPOTENCY_KEY_IN_USE; the cart holds one line of the quantity sent once.
TEST_F(cart, concurrent_same_key_adds_once) {
  auto s = sign_up_and_login(client(), "cart-idem-race");
  auto p = simple_product(client(), "Race", 100, 500);
  std::vector<http_response> answers(8);
  std::vector<std::thread> threads;
  std::atomic<int> ready{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      http_client own(server().port());
      own.get("/healthz");  // connect before the race
      ready.fetch_add(1);
      while (ready.load() < 8) std::this_thread::yield();
      answers[t] = add_to_cart(own, s.user_id, s.access_token, p.id, p.cid(), 7,
                               {{"Idempotency-Key", "race-key"}});
    });
  }
  for (auto& thread : threads) thread.join();
  std::string created;
  int fresh = 0;
  for (const auto& answer : answers) {
    if (answer.status == 201) {
      if (created.empty()) created = answer.body;
      EXPECT_EQ(answer.body, created);
      if (answer.header_or("Idempotent-Replayed") != "true") ++fresh;
    } else {
      expect_problem(answer, 409, "IDEMPOTENCY_KEY_IN_USE");
    }
  }
  EXPECT_EQ(fresh, 1) << "exactly one answer is not a replay";
  EXPECT_EQ(lines_of(s), (std::vector<std::pair<int64_t, int64_t>>{{p.cid(), 7}}));
}

// --- concurrency: stock deltas against cart checks -----------------------------------------

class cart_concurrency : public shared_server_test {};

// Goal: admins adjusting one combination's stock from 8 connections while 4 users add and change
// cart lines of it never lose or invent stock and never let it go below 0; carts reserve
// nothing. Method: 8 connections × 100 deltas (30 × +3, 70 × -2 interleaved, net -400 from a stock
// of 50, so refusals must happen); 4 connections add 1 and set quantities 1..20 in a loop.
// Afterwards: final stock = 50 + the sum of the 200 deltas and ≥ 0; only -2 deltas were refused,
// each with 409 OUT_OF_STOCK; the (before, after) pairs of the 200 answers chain from 50 to the
// final stock (one serial order explains them) and pass below 2 (where a -2 is refused); every
// cart answer was 201/200 with available true or 409 OUT_OF_STOCK, and each cart ends with the
// quantity of its last successful answer.
TEST_F(cart_concurrency, stock_deltas_and_cart_checks_stay_consistent) {
  constexpr int k_admins = 8, k_deltas = 100, k_shoppers = 4, k_rounds = 60;
  constexpr int64_t k_initial = 50;
  auto p = simple_product(client(), "Contended", 1000, k_initial);
  std::vector<session> shoppers;
  for (int i = 0; i < k_shoppers; ++i)
    shoppers.push_back(sign_up_and_login(client(), "shopper" + std::to_string(i)));

  struct delta_answer {
    int64_t delta;
    int status;
    int64_t stock;  // when 200
  };
  std::vector<std::vector<delta_answer>> deltas(k_admins);
  std::vector<std::string> errors(k_admins + k_shoppers);
  std::vector<int64_t> last_quantity(k_shoppers, 0);
  std::vector<int> cart_conflicts(k_shoppers, 0), cart_successes(k_shoppers, 0);
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < k_admins; ++t) {
    threads.emplace_back([&, t] {
      http_client own(server().port());
      while (!go.load()) std::this_thread::yield();
      try {
        for (int i = 0; i < k_deltas; ++i) {
          const int64_t delta = (i * 3 + t) % 10 < 3 ? 3 : -2;
          auto response = until_answered([&] { return adjust_stock(own, p.id, p.cid(), delta); });
          delta_answer answer{delta, response.status, -1};
          if (response.status == 200) {
            answer.stock = parse_json(response.body)["stock"].as_int();
          } else if (!is_problem(response, 409, "OUT_OF_STOCK") && errors[t].empty()) {
            errors[t] = "delta " + std::to_string(delta) + ": " + describe(response);
          }
          deltas[t].push_back(answer);
        }
      } catch (const std::exception& e) {
        errors[t] = e.what();
      }
    });
  }
  for (int u = 0; u < k_shoppers; ++u) {
    threads.emplace_back([&, u] {
      http_client own(server().port());
      const session& s = shoppers[u];
      std::string& error = errors[k_admins + u];
      int64_t item = 0;
      auto record = [&](const http_response& response, int ok_status, const char* what) {
        if (response.status == ok_status) {
          auto doc = parse_json(response.body);
          if (!doc["available"].as_bool() && error.empty())
            error = std::string(what) + " succeeded with available false: " + response.body;
          item = doc["id"].as_int();
          last_quantity[u] = doc["quantity"].as_int();
          ++cart_successes[u];
        } else if (is_problem(response, 409, "OUT_OF_STOCK")) {
          ++cart_conflicts[u];
        } else if (error.empty()) {
          error = std::string(what) + ": " + describe(response);
        }
      };
      while (!go.load()) std::this_thread::yield();
      try {
        for (int r = 0; r < k_rounds; ++r) {
          record(until_answered(
                     [&] { return add_to_cart(own, s.user_id, s.access_token, p.id, p.cid(), 1); }),
                 201, "add");
          if (item != 0) {
            const int64_t quantity = 1 + (r * 7 + u) % 20;
            record(until_answered([&] {
                     return set_quantity(own, s.user_id, s.access_token, item, quantity);
                   }),
                   200, "patch");
          }
        }
      } catch (const std::exception& e) {
        error = e.what();
      }
    });
  }
  go = true;
  for (auto& thread : threads) thread.join();
  for (size_t i = 0; i < errors.size(); ++i) EXPECT_EQ(errors[i], "") << "connection " << i;

  int64_t accepted_sum = 0;
  int refused = 0;
  std::vector<std::pair<int64_t, int64_t>> edges;  // (before, after) of each 200
  for (const auto& list : deltas) {
    ASSERT_EQ(list.size(), size_t(k_deltas));
    for (const auto& a : list) {
      if (a.status == 200) {
        accepted_sum += a.delta;
        EXPECT_GE(a.stock, 0);
        edges.emplace_back(a.stock - a.delta, a.stock);
      } else if (a.status == 409) {
        ++refused;
        EXPECT_EQ(a.delta, -2) << "a +3 delta can never take the stock below 0";
      }
    }
  }
  const int64_t final_stock = stock_of(client(), p.id);
  EXPECT_EQ(final_stock, k_initial + accepted_sum);
  EXPECT_GE(final_stock, 0);
  EXPECT_GT(refused, 0) << "the mix asks for 400 more units than there are";
  EXPECT_EQ(int(edges.size()) + refused, k_admins * k_deltas);

  // The 200 answers must fit one serial order: as a multigraph of stock values they form a path
  // from k_initial to final_stock (balanced degrees, one connected component).
  std::map<int64_t, int> out_minus_in;
  std::map<int64_t, int64_t> parent;
  std::function<int64_t(int64_t)> find = [&](int64_t v) {
    if (!parent.count(v)) parent[v] = v;
    return parent[v] == v ? v : parent[v] = find(parent[v]);
  };
  bool below_two = false;
  for (const auto& [before, after] : edges) {
    ++out_minus_in[before];
    --out_minus_in[after];
    parent[find(before)] = find(after);
    below_two = below_two || before < 2 || after < 2;
  }
  for (const auto& [value, balance] : out_minus_in) {
    int expected = 0;
    if (final_stock != k_initial) expected = value == k_initial ? 1 : value == final_stock ? -1 : 0;
    EXPECT_EQ(balance, expected) << "stock value " << value;
  }
  for (const auto& [before, after] : edges) {
    EXPECT_EQ(find(before), find(k_initial)) << "edge " << before << "->" << after;
  }
  EXPECT_TRUE(below_two) << "a -2 was refused, so the stock must have been below 2 at some point";

  // Carts: each ends with the quantity of its last successful answer; nothing was reserved.
  int cart_success_total = 0;
  for (int u = 0; u < k_shoppers; ++u) {
    cart_success_total += cart_successes[u];
    auto doc = parse_json(cart_body(client(), shoppers[u].user_id, shoppers[u].access_token));
    if (last_quantity[u] == 0) {
      EXPECT_EQ(doc["items"].size(), 0u);
    } else {
      ASSERT_EQ(doc["items"].size(), 1u);
      EXPECT_EQ(doc["items"][0]["quantity"].as_int(), last_quantity[u]);
    }
  }
  EXPECT_GT(cart_success_total, 0);
  std::cout << "[ stock ] " << edges.size() << " deltas applied, " << refused
            << " refused; final stock " << final_stock << "; cart successes " << cart_success_total
            << ", cart conflicts "
            << std::accumulate(cart_conflicts.begin(), cart_conflicts.end(), 0) << "\n";
}

}  // namespace
}  // namespace ecom::test
