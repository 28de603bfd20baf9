// Catalog: admin product creation (shape, defaults, limits and every validation rule), product
// updates, stock adjustments, the public product detail and the product list with its
// cross-shard pagination, and the --seed-demo catalog.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "tests/e2e/e2e_fixture.h"

namespace ecom::test {
namespace {

// --- helpers --------------------------------------------------------------------------------

http_response create_product(http_client& client, std::string_view body,
                             std::string_view token = k_admin_token) {
  return client.post_json("/admin/products", body, bearer(token));
}

// POST /admin/products; throws unless 201.
json_doc create_product_ok(http_client& client, std::string_view body) {
  auto response = create_product(client, body);
  if (response.status != 201) {
    throw std::runtime_error("create product: " + describe(response) + " for " +
                             std::string(body.substr(0, 300)));
  }
  return parse_json(response.body);
}

http_response patch_product(http_client& client, int64_t id, std::string_view body,
                            std::string_view token = k_admin_token) {
  return client.request("PATCH", "/admin/products/" + std::to_string(id), body, json_bearer(token));
}

std::string stock_path(int64_t product_id, int64_t combination_id) {
  return "/admin/products/" + std::to_string(product_id) + "/combinations/" +
         std::to_string(combination_id) + "/stock";
}

http_response adjust_stock(http_client& client, int64_t product_id, int64_t combination_id,
                           int64_t delta, std::string_view token = k_admin_token) {
  return client.post_json(stock_path(product_id, combination_id),
                          json_object().add("delta", delta).str(), bearer(token));
}

http_response get_product(http_client& client, int64_t id) {
  return client.get("/products/" + std::to_string(id));
}

// Every page of GET /products with that limit (0: no limit parameter).
struct product_walk {
  std::vector<int64_t> ids;
  std::vector<size_t> page_sizes;
  std::vector<std::string> bodies;
  std::map<int64_t, std::string> summaries;  // id → summary JSON
};

product_walk walk_products(http_client& client, int limit = 100) {
  product_walk walk;
  std::string cursor;
  for (int page = 0;; ++page) {
    if (page > 10000) throw std::runtime_error("GET /products pagination does not end");
    std::string target = "/products";
    std::string sep = "?";
    if (limit > 0) {
      target += sep + "limit=" + std::to_string(limit);
      sep = "&";
    }
    if (!cursor.empty()) target += sep + "cursor=" + cursor;
    auto response = client.get(target);
    if (response.status != 200)
      throw std::runtime_error("GET " + target + ": " + describe(response));
    walk.bodies.push_back(response.body);
    auto doc = parse_json(response.body);
    auto items = doc["items"].elements();
    walk.page_sizes.push_back(items.size());
    for (const auto& item : items) {
      walk.ids.push_back(item["id"].as_int());
      walk.summaries[item["id"].as_int()] = item.dump();
    }
    if (doc["next_cursor"].is_null()) return walk;
    cursor = doc["next_cursor"].as_string();
    if (cursor.empty()) throw std::runtime_error("empty next_cursor: " + response.body);
  }
}

std::string repeat(char c, size_t n) {
  return std::string(n, c);
}

// Options color [red, blue] × size [S, L] and the combinations given (raw JSON objects).
const std::string k_two_options =
    R"("options":[{"name":"color","values":["red","blue"]},{"name":"size","values":["S","L"]}])";

std::string combo(std::string_view color, std::string_view size, int64_t extra = 0,
                  int64_t stock = 1) {
  return R"({"options":{"color":")" + std::string(color) + R"(","size":")" + std::string(size) +
         R"("},"additional_price":)" + std::to_string(extra) + R"(,"stock":)" +
         std::to_string(stock) + "}";
}

// A product body with two options (a, b) of na and nb values and every combination of them.
std::string grid_product(std::string_view name, int na, int nb, int64_t stock = 1) {
  std::string body = R"({"name":)" + json_quote(name) + R"(,"base_price":100,"options":[)";
  body += R"({"name":"a","values":[)";
  for (int i = 0; i < na; ++i) body += (i ? "," : "") + json_quote("a" + std::to_string(i));
  body += R"(]},{"name":"b","values":[)";
  for (int j = 0; j < nb; ++j) body += (j ? "," : "") + json_quote("b" + std::to_string(j));
  body += R"(]}],"combinations":[)";
  for (int i = 0; i < na; ++i) {
    for (int j = 0; j < nb; ++j) {
      if (i || j) body += ",";
      body += R"({"options":{"a":"a)" + std::to_string(i) + R"(","b":"b)" + std::to_string(j) +
              R"("},"additional_price":0,"stock":)" + std::to_string(stock) + "}";
    }
  }
  return body + "]}";
}

class catalog : public shared_server_test {
 protected:
  // Every active product id, ascending (one walk with limit 100).
  std::vector<int64_t> active_ids() { return walk_products(client()).ids; }
  // The GET /products summary of one product; throws when it is not listed.
  json_doc summary_of(int64_t id) {
    auto walk = walk_products(client());
    auto it = walk.summaries.find(id);
    if (it == walk.summaries.end()) {
      throw std::runtime_error("product " + std::to_string(id) + " is not in GET /products");
    }
    return parse_json(it->second);
  }
};

// --- creation -------------------------------------------------------------------------------

// Goal: a product without options gets the documented defaults and one "default" combination.
// Method: POST {name, base_price, stock}; check 201, Location, every field, and that GET
// /products/{id} returns the same document. A second product without stock gets stock 0.
TEST_F(catalog, create_without_options_has_one_default_combination) {
  auto response = create_product(client(), R"({"name":"Plain mug","base_price":1000,"stock":5})");
  ASSERT_EQ(response.status, 201) << describe(response);
  EXPECT_TRUE(response.header_or("Content-Type").starts_with("application/json"));
  auto doc = parse_json(response.body);
  const int64_t id = doc["id"].as_int();
  EXPECT_GT(id, 0);
  EXPECT_EQ(response.header_or("Location"), "/products/" + std::to_string(id));
  EXPECT_EQ(doc["name"].as_string(), "Plain mug");
  EXPECT_EQ(doc["description"].as_string(), "");
  EXPECT_EQ(doc["base_price"].as_int(), 1000);
  EXPECT_TRUE(doc["is_active"].as_bool());
  EXPECT_EQ(doc["images"].size(), 0u);
  EXPECT_EQ(doc["options"].size(), 0u);
  ASSERT_EQ(doc["combinations"].size(), 1u);
  auto c = doc["combinations"][0];
  EXPECT_GT(c["id"].as_int(), 0);
  EXPECT_EQ(c["name"].as_string(), "default");
  EXPECT_TRUE(c["options"].is_object());
  EXPECT_EQ(c["options"].size(), 0u);
  EXPECT_EQ(c["additional_price"].as_int(), 0);
  EXPECT_EQ(c["price"].as_int(), 1000);
  EXPECT_EQ(c["stock"].as_int(), 5);
  EXPECT_TRUE(is_rfc3339_utc_millis(doc["created_at"].as_string())) << response.body;
  EXPECT_TRUE(is_rfc3339_utc_millis(doc["updated_at"].as_string())) << response.body;

  auto fetched = get_product(client(), id);
  ASSERT_EQ(fetched.status, 200) << describe(fetched);
  EXPECT_EQ(fetched.body, response.body);

  auto no_stock = create_product_ok(client(), R"({"name":"No stock","base_price":0})");
  EXPECT_EQ(no_stock["combinations"][0]["stock"].as_int(), 0);
  EXPECT_EQ(no_stock["combinations"][0]["price"].as_int(), 0);
  EXPECT_NE(no_stock["id"].as_int(), id);
}

// Goal: options, combinations and images come back as documented. Method: two options with two
// values each, three combinations whose options objects list size before color; check the
// options list (one entry per value, declaration order, distinct ids), the combination names
// (values joined in option order), options maps, prices and stocks, and the images.
TEST_F(catalog, create_with_options_names_combinations_in_option_order) {
  const std::string body =
      R"({"name":"T-shirt","description":"Soft cotton","base_price":20000,"is_active":true,)"
      R"("images":[{"url":"https://img.test/back.jpg","is_main":false,"sort_order":2},)"
      R"({"url":"https://img.test/front.jpg","is_main":true,"sort_order":1}],)" +
      k_two_options +
      R"(,"combinations":[{"options":{"size":"L","color":"red"},"additional_price":1000,"stock":7},)"
      R"({"options":{"size":"S","color":"blue"},"additional_price":-500,"stock":0},)"
      R"({"options":{"color":"red","size":"S"},"additional_price":0,"stock":3}]})";
  auto response = create_product(client(), body);
  ASSERT_EQ(response.status, 201) << describe(response);
  auto doc = parse_json(response.body);
  EXPECT_EQ(doc["description"].as_string(), "Soft cotton");

  auto options = doc["options"].elements();
  ASSERT_EQ(options.size(), 4u);
  const std::vector<std::pair<std::string, std::string>> expected_options = {
      {"color", "red"}, {"color", "blue"}, {"size", "S"}, {"size", "L"}};
  std::set<int64_t> part_ids;
  for (size_t i = 0; i < options.size(); ++i) {
    EXPECT_EQ(options[i]["name"].as_string(), expected_options[i].first) << i;
    EXPECT_EQ(options[i]["value"].as_string(), expected_options[i].second) << i;
    part_ids.insert(options[i]["id"].as_int());
  }
  EXPECT_EQ(part_ids.size(), 4u) << "option value ids are distinct";

  auto combinations = doc["combinations"].elements();
  ASSERT_EQ(combinations.size(), 3u);
  struct expected_combination {
    std::string name, color, size;
    int64_t additional_price, price, stock;
  };
  const std::vector<expected_combination> expected = {{"red-L", "red", "L", 1000, 21000, 7},
                                                      {"blue-S", "blue", "S", -500, 19500, 0},
                                                      {"red-S", "red", "S", 0, 20000, 3}};
  std::set<int64_t> combination_ids;
  for (size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE("combination " + std::to_string(i));
    EXPECT_EQ(combinations[i]["name"].as_string(), expected[i].name);
    EXPECT_EQ(combinations[i]["options"].size(), 2u);
    EXPECT_EQ(combinations[i]["options"]["color"].as_string(), expected[i].color);
    EXPECT_EQ(combinations[i]["options"]["size"].as_string(), expected[i].size);
    EXPECT_EQ(combinations[i]["additional_price"].as_int(), expected[i].additional_price);
    EXPECT_EQ(combinations[i]["price"].as_int(), expected[i].price);
    EXPECT_EQ(combinations[i]["stock"].as_int(), expected[i].stock);
    combination_ids.insert(combinations[i]["id"].as_int());
  }
  EXPECT_EQ(combination_ids.size(), 3u);

  auto images = doc["images"].elements();
  ASSERT_EQ(images.size(), 2u);
  EXPECT_EQ(images[0]["url"].as_string(), "https://img.test/back.jpg");
  EXPECT_FALSE(images[0]["is_main"].as_bool());
  EXPECT_EQ(images[0]["sort_order"].as_int(), 2);
  EXPECT_EQ(images[1]["url"].as_string(), "https://img.test/front.jpg");
  EXPECT_TRUE(images[1]["is_main"].as_bool());
  EXPECT_EQ(images[1]["sort_order"].as_int(), 1);
  EXPECT_NE(images[0]["id"].as_int(), images[1]["id"].as_int());

  auto fetched = get_product(client(), doc["id"].as_int());
  ASSERT_EQ(fetched.status, 200);
  EXPECT_EQ(fetched.body, response.body);
}

// Goal: the upper limits are inclusive. Method: a 200-char name, a 10,000-char description,
// base_price 1,000,000,000 and 0, 20 images (one main) with a 2048-char url, 20 options, an option
// with 100 values and a product with 1,000 combinations are all 201.
TEST_F(catalog, create_accepts_every_upper_limit) {
  std::string images = "[";
  for (int i = 0; i < 20; ++i) {
    images += (i ? "," : "") + json_object()
                                   .add("url", i == 0 ? "https://x/" + repeat('u', 2038)
                                                      : "https://img.test/" + std::to_string(i))
                                   .add("is_main", i == 5)
                                   .add("sort_order", i)
                                   .str();
  }
  images += "]";
  ASSERT_EQ(("https://x/" + repeat('u', 2038)).size(), 2048u);
  auto big = create_product_ok(client(), json_object()
                                             .add("name", repeat('n', 200))
                                             .add("description", repeat('d', 10000))
                                             .add("base_price", 1'000'000'000)
                                             .add_raw("images", images)
                                             .add("stock", 1'000'000'000)
                                             .str());
  EXPECT_EQ(big["name"].as_string().size(), 200u);
  EXPECT_EQ(big["description"].as_string().size(), 10000u);
  EXPECT_EQ(big["images"].size(), 20u);
  EXPECT_EQ(big["combinations"][0]["price"].as_int(), 1'000'000'000);
  EXPECT_EQ(big["combinations"][0]["stock"].as_int(), 1'000'000'000);

  // 20 options of one value each, one combination picking all of them.
  std::string options = "[", picks = "{";
  std::string expected_name;
  for (int i = 0; i < 20; ++i) {
    const std::string name = "o" + std::to_string(i), value = "v" + std::to_string(i);
    options +=
        std::string(i ? "," : "") + R"({"name":")" + name + R"(","values":[")" + value + R"("]})";
    picks += std::string(i ? "," : "") + json_quote(name) + ":" + json_quote(value);
    expected_name += (i ? "-" : "") + value;
  }
  options += "]";
  picks += "}";
  auto twenty = create_product_ok(
      client(), json_object()
                    .add("name", "Twenty options")
                    .add("base_price", 0)
                    .add_raw("options", options)
                    .add_raw("combinations",
                             R"([{"options":)" + picks + R"(,"additional_price":0,"stock":0}])")
                    .str());
  EXPECT_EQ(twenty["options"].size(), 20u);
  EXPECT_EQ(twenty["combinations"][0]["name"].as_string(), expected_name);

  // 10 × 100 values = 1,000 combinations.
  auto grid = create_product_ok(client(), grid_product("Thousand combinations", 10, 100));
  EXPECT_EQ(grid["options"].size(), 110u);
  EXPECT_EQ(grid["combinations"].size(), 1000u);
  EXPECT_EQ(grid["combinations"][999]["name"].as_string(), "a9-b99");
}

// Goal: is_active false creates an inactive product: readable by id, absent from the list.
// Method: create it inactive; GET /products/{id} is 200 with is_active false; GET /products
// does not list it; an active product created after it is listed.
TEST_F(catalog, inactive_product_is_readable_by_id_but_not_listed) {
  auto hidden = create_product_ok(
      client(), R"({"name":"Hidden","base_price":10,"is_active":false,"stock":3})");
  auto shown = create_product_ok(client(), R"({"name":"Shown","base_price":10,"stock":3})");
  auto response = get_product(client(), hidden["id"].as_int());
  ASSERT_EQ(response.status, 200) << describe(response);
  EXPECT_FALSE(parse_json(response.body)["is_active"].as_bool());
  auto ids = active_ids();
  EXPECT_EQ(std::count(ids.begin(), ids.end(), hidden["id"].as_int()), 0);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), shown["id"].as_int()), 1);
}

// Goal: GET /products/{id} error answers. Method: an unused id is 404 PRODUCT_NOT_FOUND; ids that
// are not decimal integers in 1..2^63-1 are 400 field id.
TEST_F(catalog, product_detail_unknown_is_404_and_bad_id_is_400) {
  expect_problem(client().get("/products/9223372036854775807"), 404, "PRODUCT_NOT_FOUND");
  for (const char* id : {"0", "-1", "abc", "1.5", "99999999999999999999", "1e3", "%201"}) {
    SCOPED_TRACE(id);
    expect_validation_failed(client().get(std::string("/products/") + id), "id");
  }
}

// --- admin authorization --------------------------------------------------------------------

// Goal: the admin routes need the admin token: none is 401, a user token 403, and neither
// changes anything. Method: create, patch and stock with no token and with a user token; the
// product and the list are unchanged afterwards.
TEST_F(catalog, admin_routes_need_the_admin_token) {
  auto user = sign_up_and_login(client(), "catalog-user");
  auto product = create_product_ok(client(), R"({"name":"Guarded","base_price":500,"stock":4})");
  const int64_t id = product["id"].as_int();
  const int64_t cid = product["combinations"][0]["id"].as_int();
  const std::string before = get_product(client(), id).body;
  const auto ids_before = active_ids();
  const std::string body = R"({"name":"Sneaky","base_price":1})";

  expect_unauthenticated(client().post_json("/admin/products", body));
  expect_unauthenticated(client().request("PATCH", "/admin/products/" + std::to_string(id),
                                          R"({"name":"Sneaky"})",
                                          {{"Content-Type", "application/json"}}));
  expect_unauthenticated(client().post_json(stock_path(id, cid), R"({"delta":5})"));
  expect_unauthenticated(create_product(client(), body, "not-a-token"));

  expect_problem(create_product(client(), body, user.access_token), 403, "FORBIDDEN");
  expect_problem(patch_product(client(), id, R"({"name":"Sneaky"})", user.access_token), 403,
                 "FORBIDDEN");
  expect_problem(adjust_stock(client(), id, cid, 5, user.access_token), 403, "FORBIDDEN");
  // The token check comes before the path and body checks.
  expect_problem(patch_product(client(), 0, R"({"name":""})", user.access_token), 403, "FORBIDDEN");
  expect_unauthenticated(client().post_json("/admin/products/abc/combinations/x/stock", "{"));

  EXPECT_EQ(get_product(client(), id).body, before);
  EXPECT_EQ(active_ids(), ids_before);
}

// --- validation -----------------------------------------------------------------------------

struct bad_product {
  const char* label;
  std::string body;
  std::string field;
  friend void PrintTo(const bad_product& b, std::ostream* os) { *os << b.label; }
};

std::vector<bad_product> bad_products() {
  const std::string opts = k_two_options;
  const std::string ok_combos = "[" + combo("red", "S") + "]";
  auto with = [](std::string fields) { return "{" + fields + "}"; };
  auto named = [&](std::string rest) { return with(R"("name":"Bad","base_price":1000,)" + rest); };
  std::string many_images = "[";
  for (int i = 0; i < 21; ++i)
    many_images += std::string(i ? "," : "") + R"({"url":"https://img.test/)" + std::to_string(i) +
                   R"(","is_main":false,"sort_order":0})";
  many_images += "]";
  std::string many_options = "[", many_picks = "{";
  for (int i = 0; i < 21; ++i) {
    many_options +=
        std::string(i ? "," : "") + R"({"name":"o)" + std::to_string(i) + R"(","values":["v"]})";
    many_picks += std::string(i ? "," : "") + R"("o)" + std::to_string(i) + R"(":"v")";
  }
  many_options += "]";
  many_picks += "}";
  std::string many_values = "[";
  for (int i = 0; i < 101; ++i)
    many_values += std::string(i ? "," : "") + "\"v" + std::to_string(i) + "\"";
  many_values += "]";

  return {
      // name
      {"missing_name", with(R"("base_price":1000)"), "name"},
      {"empty_name", with(R"("name":"","base_price":1000)"), "name"},
      {"long_name", with(R"("name":")" + repeat('n', 201) + R"(","base_price":1000)"), "name"},
      {"numeric_name", with(R"("name":123,"base_price":1000)"), "name"},
      {"null_name", with(R"("name":null,"base_price":1000)"), "name"},
      // description
      {"long_description", named(R"("description":")" + repeat('d', 10001) + "\""), "description"},
      {"numeric_description", named(R"("description":5)"), "description"},
      // base_price
      {"missing_base_price", with(R"("name":"Bad")"), "base_price"},
      {"negative_base_price", with(R"("name":"Bad","base_price":-1)"), "base_price"},
      {"huge_base_price", with(R"("name":"Bad","base_price":1000000001)"), "base_price"},
      {"fraction_base_price", with(R"("name":"Bad","base_price":1.5)"), "base_price"},
      {"string_base_price", with(R"("name":"Bad","base_price":"100")"), "base_price"},
      {"exponent_base_price", with(R"("name":"Bad","base_price":1e3)"), "base_price"},
      {"decimal_point_base_price", with(R"("name":"Bad","base_price":1000.0)"), "base_price"},
      {"boolean_base_price", with(R"("name":"Bad","base_price":true)"), "base_price"},
      {"null_base_price", with(R"("name":"Bad","base_price":null)"), "base_price"},
      // is_active
      {"string_is_active", named(R"("is_active":"yes")"), "is_active"},
      // stock (no combinations)
      {"negative_stock", named(R"("stock":-1)"), "stock"},
      {"huge_stock", named(R"("stock":1000000001)"), "stock"},
      {"fraction_stock", named(R"("stock":1.5)"), "stock"},
      {"string_stock", named(R"("stock":"3")"), "stock"},
      // images
      {"too_many_images", named(R"("images":)" + many_images), "images"},
      {"two_main_images",
       named(R"("images":[{"url":"https://a","is_main":true,"sort_order":0},)"
             R"({"url":"https://b","is_main":true,"sort_order":1}])"),
       "images"},
      {"empty_image_url", named(R"("images":[{"url":"","is_main":false,"sort_order":0}])"),
       "images[0].url"},
      {"long_image_url",
       named(R"("images":[{"url":"https://a","is_main":false,"sort_order":0},{"url":")" +
             repeat('u', 2049) + R"(","is_main":false,"sort_order":1}])"),
       "images[1].url"},
      {"missing_image_url", named(R"("images":[{"is_main":true,"sort_order":0}])"),
       "images[0].url"},
      // options
      {"too_many_options",
       named(R"("options":)" + many_options + R"(,"combinations":[{"options":)" + many_picks +
             R"(,"additional_price":0,"stock":1}])"),
       "options"},
      {"empty_option_name",
       named(
           R"("options":[{"name":"","values":["x"]}],"combinations":[{"options":{"":"x"},"additional_price":0,"stock":1}])"),
       "options[0].name"},
      {"long_option_name",
       named(R"("options":[{"name":")" + repeat('o', 51) +
             R"(","values":["x"]}],"combinations":[{"options":{")" + repeat('o', 51) +
             R"(":"x"},"additional_price":0,"stock":1}])"),
       "options[0].name"},
      {"option_declared_twice",
       named(R"("options":[{"name":"color","values":["red"]},{"name":"color","values":["blue"]}],)"
             R"("combinations":[{"options":{"color":"red"},"additional_price":0,"stock":1}])"),
       "options[1].name"},
      {"no_option_values",
       named(
           R"("options":[{"name":"color","values":[]}],"combinations":[{"options":{"color":"red"},"additional_price":0,"stock":1}])"),
       "options[0].values"},
      {"too_many_option_values",
       named(R"("options":[{"name":"color","values":)" + many_values +
             R"(}],"combinations":[{"options":{"color":"v0"},"additional_price":0,"stock":1}])"),
       "options[0].values"},
      {"duplicate_option_value",
       named(
           R"("options":[{"name":"color","values":["red","red"]}],"combinations":[{"options":{"color":"red"},"additional_price":0,"stock":1}])"),
       "options[0].values"},
      {"empty_option_value",  // the field names the one empty value
       named(
           R"("options":[{"name":"color","values":["red",""]}],"combinations":[{"options":{"color":"red"},"additional_price":0,"stock":1}])"),
       "options[0].values[1]"},
      // options vs combinations
      {"options_without_combinations", named(opts), "combinations"},
      {"options_with_empty_combinations", named(opts + R"(,"combinations":[])"), "combinations"},
      {"combinations_without_options", named(R"("combinations":)" + ok_combos), "options"},
      {"combinations_with_empty_options", named(R"("options":[],"combinations":)" + ok_combos),
       "options"},
      {"combination_misses_an_option",
       named(opts +
             R"(,"combinations":[{"options":{"color":"red"},"additional_price":0,"stock":1}])"),
       "combinations[0].options"},
      {"combination_picks_undeclared_option",
       named(opts + R"(,"combinations":[)" + combo("red", "S") +
             R"(,{"options":{"color":"red","material":"S"},"additional_price":0,"stock":1}])"),
       "combinations[1].options"},
      {"combination_picks_extra_option",
       named(
           opts +
           R"(,"combinations":[{"options":{"color":"red","size":"S","material":"wool"},"additional_price":0,"stock":1}])"),
       "combinations[0].options"},
      {"combination_picks_an_option_twice",
       named(
           opts +
           R"(,"combinations":[{"options":{"color":"red","color":"blue"},"additional_price":0,"stock":1}])"),
       "combinations[0].options"},
      {"combination_picks_unknown_value",
       named(opts + R"(,"combinations":[)" + combo("green", "S") + "]"), "combinations[0].options"},
      {"duplicate_combination",
       named(opts + R"(,"combinations":[)" + combo("red", "S") + "," + combo("blue", "L") +
             R"(,{"options":{"size":"S","color":"red"},"additional_price":5,"stock":2}])"),
       "combinations[2].options"},
      {"negative_combination_stock",
       named(opts + R"(,"combinations":[)" + combo("red", "S") + "," + combo("red", "L", 0, -1) +
             "]"),
       "combinations[1].stock"},
      {"huge_combination_stock",
       named(opts + R"(,"combinations":[)" + combo("red", "S", 0, 1000000001) + "]"),
       "combinations[0].stock"},
      {"fraction_combination_stock",
       named(
           opts +
           R"(,"combinations":[{"options":{"color":"red","size":"S"},"additional_price":0,"stock":1.5}])"),
       "combinations[0].stock"},
      {"price_below_zero", named(opts + R"(,"combinations":[)" + combo("red", "S", -1001) + "]"),
       "combinations[0].additional_price"},
      {"price_above_one_billion",
       named(opts + R"(,"combinations":[)" + combo("red", "S") + "," +
             combo("red", "L", 999999001) + "]"),
       "combinations[1].additional_price"},
      {"fraction_additional_price",
       named(
           opts +
           R"(,"combinations":[{"options":{"color":"red","size":"S"},"additional_price":1.5,"stock":1}])"),
       "combinations[0].additional_price"},
      {"string_additional_price",
       named(
           opts +
           R"(,"combinations":[{"options":{"color":"red","size":"S"},"additional_price":"100","stock":1}])"),
       "combinations[0].additional_price"},
      {"exponent_additional_price",
       named(
           opts +
           R"(,"combinations":[{"options":{"color":"red","size":"S"},"additional_price":1e3,"stock":1}])"),
       "combinations[0].additional_price"},
      {"thousand_and_one_combinations", grid_product("Too many", 11, 91),  // 1,001 combinations
       "combinations"},
  };
}

class bad_product_body : public catalog, public ::testing::WithParamInterface<bad_product> {};

// Goal: every invalid product input is 400 VALIDATION_FAILED naming the documented field, and no
// product is created. Method: one POST per body; the active product list is the same before
// and after.
TEST_P(bad_product_body, is_400_naming_the_field_and_creates_nothing) {
  const auto before = active_ids();
  auto response = create_product(client(), GetParam().body);
  expect_validation_failed(response, GetParam().field);
  EXPECT_EQ(active_ids(), before);
}

INSTANTIATE_TEST_SUITE_P(bodies, bad_product_body, ::testing::ValuesIn(bad_products()),
                         [](const auto& info) { return std::string(info.param.label); });

// Goal: a product with 10,000 combinations is refused with 400 field combinations. Method: 100 ×
// 100 option values with every combination (a body under 1 MiB); nothing is created.
TEST_F(catalog, ten_thousand_combinations_is_400_and_creates_nothing) {
  const auto before = active_ids();
  const std::string body = grid_product("Ten thousand", 100, 100);
  ASSERT_LT(body.size(), 1024u * 1024u);
  expect_validation_failed(create_product(client(), body), "combinations");
  EXPECT_EQ(active_ids(), before);
}

// Goal: a body over 1 MiB is 413 PAYLOAD_TOO_LARGE; a description one char over the limit is
// 400 field description; neither creates a product. Method: a 1.1 MB description, then a
// 10,001-char one; the list is unchanged; a 10,000-char description still works afterwards.
TEST_F(catalog, megabyte_description_is_413_and_10001_chars_is_400) {
  const auto before = active_ids();
  expect_problem(create_product(client(), json_object()
                                              .add("name", "Huge")
                                              .add("base_price", 1)
                                              .add("description", repeat('d', 1100 * 1024))
                                              .str()),
                 413, "PAYLOAD_TOO_LARGE");
  // The connection may be closed after a 413; the client reconnects.
  expect_validation_failed(create_product(client(), json_object()
                                                        .add("name", "Long")
                                                        .add("base_price", 1)
                                                        .add("description", repeat('d', 10001))
                                                        .str()),
                           "description");
  EXPECT_EQ(active_ids(), before);
  // A multi-byte description of 10,000 characters (20,000 bytes) is within the limit.
  std::string hangul;
  for (int i = 0; i < 10000; ++i) hangul += "\xea\xb0\x80";  // U+AC00
  auto ok = create_product(
      client(),
      json_object().add("name", "Korean").add("base_price", 1).add("description", hangul).str());
  EXPECT_EQ(ok.status, 201) << describe(ok);
}

// Goal: the product routes follow the media-type and JSON conventions. Method: text/plain is
// 415, broken JSON is 400 MALFORMED_JSON, a JSON array is 400 MALFORMED_JSON; nothing created.
TEST_F(catalog, create_rejects_wrong_media_type_and_malformed_json) {
  const auto before = active_ids();
  header_list plain{{"Content-Type", "text/plain"}, {"Authorization", "Bearer " + admin()}};
  expect_problem(
      client().request("POST", "/admin/products", R"({"name":"x","base_price":1})", plain), 415,
      "UNSUPPORTED_MEDIA_TYPE");
  expect_problem(create_product(client(), R"({"name":"x","base_price":)"), 400, "MALFORMED_JSON");
  expect_problem(create_product(client(), R"([{"name":"x","base_price":1}])"), 400,
                 "MALFORMED_JSON");
  EXPECT_EQ(active_ids(), before);
}

// --- update ---------------------------------------------------------------------------------

// Goal: PATCH changes exactly the fields given and prices follow base_price. Method: patch name,
// then description + base_price, then is_active; each reply is the full product, GET agrees,
// combination prices are base + additional, created_at stays and updated_at does not go back.
TEST_F(catalog, patch_updates_given_fields_and_recomputes_prices) {
  auto product = create_product_ok(
      client(), R"({"name":"Jacket","description":"warm","base_price":50000,)" + k_two_options +
                    R"(,"combinations":[)" + combo("red", "S", 2000, 4) + "," +
                    combo("blue", "L", -3000, 0) + "]}");
  const int64_t id = product["id"].as_int();
  const std::string created_at = product["created_at"].as_string();

  auto renamed = patch_product(client(), id, R"({"name":"Winter jacket"})");
  ASSERT_EQ(renamed.status, 200) << describe(renamed);
  auto doc = parse_json(renamed.body);
  EXPECT_EQ(doc["name"].as_string(), "Winter jacket");
  EXPECT_EQ(doc["description"].as_string(), "warm");
  EXPECT_EQ(doc["base_price"].as_int(), 50000);
  EXPECT_TRUE(doc["is_active"].as_bool());

  auto repriced = patch_product(client(), id, R"({"description":"","base_price":3000})");
  ASSERT_EQ(repriced.status, 200) << describe(repriced);
  doc = parse_json(repriced.body);
  EXPECT_EQ(doc["name"].as_string(), "Winter jacket");
  EXPECT_EQ(doc["description"].as_string(), "");
  EXPECT_EQ(doc["base_price"].as_int(), 3000);
  EXPECT_EQ(doc["combinations"][0]["additional_price"].as_int(), 2000);
  EXPECT_EQ(doc["combinations"][0]["price"].as_int(), 5000);
  EXPECT_EQ(doc["combinations"][1]["price"].as_int(), 0);
  EXPECT_EQ(doc["combinations"][0]["stock"].as_int(), 4);
  EXPECT_EQ(doc["created_at"].as_string(), created_at);
  EXPECT_GE(doc["updated_at"].as_string(), created_at);
  EXPECT_EQ(get_product(client(), id).body, repriced.body);

  auto deactivated = patch_product(client(), id, R"({"is_active":false})");
  ASSERT_EQ(deactivated.status, 200) << describe(deactivated);
  EXPECT_FALSE(parse_json(deactivated.body)["is_active"].as_bool());
  auto ids = active_ids();
  EXPECT_EQ(std::count(ids.begin(), ids.end(), id), 0) << "inactive products are not listed";
  ASSERT_EQ(patch_product(client(), id, R"({"is_active":true})").status, 200);
  ids = active_ids();
  EXPECT_EQ(std::count(ids.begin(), ids.end(), id), 1) << "re-activated products are listed";
  auto listed = summary_of(id);
  EXPECT_EQ(listed["name"].as_string(), "Winter jacket");
  EXPECT_EQ(listed["base_price"].as_int(), 3000);
}

// Goal: a base_price that would put any combination's price outside 0..1e9 is 400 field
// base_price and changes nothing. Method: combinations with additional prices -3000 and +2000;
// base_price 2999 (price -1) and 999,998,001 (price 1e9+1) are refused; 3000 and 999,998,000 (the
// bounds) are accepted.
TEST_F(catalog, patch_base_price_keeping_prices_in_range) {
  auto product = create_product_ok(
      client(), R"({"name":"Ranged","base_price":10000,)" + k_two_options + R"(,"combinations":[)" +
                    combo("red", "S", -3000) + "," + combo("red", "L", 2000) + "]}");
  const int64_t id = product["id"].as_int();
  const std::string before = get_product(client(), id).body;
  expect_validation_failed(patch_product(client(), id, R"({"base_price":2999})"), "base_price");
  expect_validation_failed(patch_product(client(), id, R"({"base_price":999998001})"),
                           "base_price");
  EXPECT_EQ(get_product(client(), id).body, before);
  auto low = patch_product(client(), id, R"({"base_price":3000})");
  ASSERT_EQ(low.status, 200) << describe(low);
  EXPECT_EQ(parse_json(low.body)["combinations"][0]["price"].as_int(), 0);
  auto high = patch_product(client(), id, R"({"base_price":999998000})");
  ASSERT_EQ(high.status, 200) << describe(high);
  EXPECT_EQ(parse_json(high.body)["combinations"][1]["price"].as_int(), 1'000'000'000);
}

// Goal: PATCH error answers. Method: unknown product 404 PRODUCT_NOT_FOUND; bad path ids 400
// field id; bad field values 400 naming the field; text/plain 415; the product is unchanged.
TEST_F(catalog, patch_errors_change_nothing) {
  auto product = create_product_ok(client(), R"({"name":"Stable","base_price":700,"stock":2})");
  const int64_t id = product["id"].as_int();
  const std::string before = get_product(client(), id).body;
  expect_problem(patch_product(client(), 9223372036854775807, R"({"name":"x"})"), 404,
                 "PRODUCT_NOT_FOUND");
  for (const char* bad : {"0", "-1", "abc", "1.5", "99999999999999999999"}) {
    SCOPED_TRACE(bad);
    expect_validation_failed(client().request("PATCH", std::string("/admin/products/") + bad,
                                              R"({"name":"x"})", json_bearer(admin())),
                             "id");
  }
  const std::vector<std::pair<std::string, std::string>> bad_fields = {
      {R"({"name":""})", "name"},
      {R"({"name":")" + repeat('n', 201) + "\"}", "name"},
      {R"({"description":")" + repeat('d', 10001) + "\"}", "description"},
      {R"({"base_price":-1})", "base_price"},
      {R"({"base_price":1000000001})", "base_price"},
      {R"({"base_price":1.5})", "base_price"},
      {R"({"base_price":"700"})", "base_price"},
      {R"({"is_active":"false"})", "is_active"},
      {R"({"is_active":null})", "is_active"},
      // A valid field next to a bad one: nothing of it is applied.
      {R"({"name":"Changed","base_price":1e3})", "base_price"},
  };
  for (const auto& [body, field] : bad_fields) {
    SCOPED_TRACE(body.substr(0, 60));
    expect_validation_failed(patch_product(client(), id, body), field);
  }
  header_list plain{{"Content-Type", "text/plain"}, {"Authorization", "Bearer " + admin()}};
  expect_problem(
      client().request("PATCH", "/admin/products/" + std::to_string(id), R"({"name":"x"})", plain),
      415, "UNSUPPORTED_MEDIA_TYPE");
  expect_problem(patch_product(client(), id, R"({"name":)"), 400, "MALFORMED_JSON");
  EXPECT_EQ(get_product(client(), id).body, before);
}

// --- stock ----------------------------------------------------------------------------------

// Goal: stock deltas add and subtract; a result below 0 is 409 OUT_OF_STOCK and a result above
// 1e9 is 400 field delta, both changing nothing. Method: from 5: +10 → 15, -15 → 0, -1 → 409,
// +1e9 → 1e9, +1 → 400, -1e9 → 0; the product detail and in_stock follow each step.
TEST_F(catalog, stock_delta_adjusts_and_refuses_below_zero_or_above_one_billion) {
  auto product = create_product_ok(client(), R"({"name":"Stocked","base_price":100,"stock":5})");
  const int64_t id = product["id"].as_int();
  const int64_t cid = product["combinations"][0]["id"].as_int();
  auto stock_now = [&] {
    return parse_json(get_product(client(), id).body)["combinations"][0]["stock"].as_int();
  };

  auto up = adjust_stock(client(), id, cid, 10);
  ASSERT_EQ(up.status, 200) << describe(up);
  auto doc = parse_json(up.body);
  EXPECT_EQ(doc["product_id"].as_int(), id);
  EXPECT_EQ(doc["combination_id"].as_int(), cid);
  EXPECT_EQ(doc["stock"].as_int(), 15);
  EXPECT_EQ(doc.root().size(), 3u) << up.body;
  EXPECT_EQ(stock_now(), 15);

  auto down = adjust_stock(client(), id, cid, -15);
  ASSERT_EQ(down.status, 200) << describe(down);
  EXPECT_EQ(parse_json(down.body)["stock"].as_int(), 0);
  EXPECT_FALSE(summary_of(id)["in_stock"].as_bool());

  expect_problem(adjust_stock(client(), id, cid, -1), 409, "OUT_OF_STOCK");
  EXPECT_EQ(stock_now(), 0);

  auto max = adjust_stock(client(), id, cid, 1'000'000'000);
  ASSERT_EQ(max.status, 200) << describe(max);
  EXPECT_EQ(parse_json(max.body)["stock"].as_int(), 1'000'000'000);
  EXPECT_TRUE(summary_of(id)["in_stock"].as_bool());
  expect_validation_failed(adjust_stock(client(), id, cid, 1), "delta");
  EXPECT_EQ(stock_now(), 1'000'000'000);
  auto zero = adjust_stock(client(), id, cid, -1'000'000'000);
  ASSERT_EQ(zero.status, 200) << describe(zero);
  EXPECT_EQ(stock_now(), 0);
  // A zero delta is allowed and changes nothing.
  auto same = adjust_stock(client(), id, cid, 0);
  EXPECT_EQ(same.status, 200) << describe(same);
  EXPECT_EQ(stock_now(), 0);
}

// Goal: stock route error answers, in order: token, path ids, body, product, combination.
// Method: unknown product 404 PRODUCT_NOT_FOUND; a combination of another product 404
// COMBINATION_NOT_FOUND; bad product id 400 field id, bad cid 400 field cid; deltas out of range
// or not integers 400 field delta; stock unchanged.
TEST_F(catalog, stock_errors_name_product_combination_and_fields) {
  auto a = create_product_ok(client(), R"({"name":"A","base_price":100,"stock":5})");
  auto b = create_product_ok(client(), R"({"name":"B","base_price":100,"stock":5})");
  const int64_t id = a["id"].as_int();
  const int64_t cid = a["combinations"][0]["id"].as_int();
  const int64_t other_cid = b["combinations"][0]["id"].as_int();
  const std::string before = get_product(client(), id).body;

  expect_problem(adjust_stock(client(), 9223372036854775807, cid, 1), 404, "PRODUCT_NOT_FOUND");
  expect_problem(adjust_stock(client(), id, other_cid, 1), 404, "COMBINATION_NOT_FOUND");
  expect_problem(adjust_stock(client(), id, 9223372036854775807, 1), 404, "COMBINATION_NOT_FOUND");
  // Product before combination: an unknown product with a foreign cid.
  expect_problem(adjust_stock(client(), 9223372036854775807, other_cid, -100), 404,
                 "PRODUCT_NOT_FOUND");
  for (const char* bad : {"0", "-1", "abc", "1.5", "99999999999999999999"}) {
    SCOPED_TRACE(bad);
    expect_validation_failed(
        client().post_json("/admin/products/" + std::string(bad) + "/combinations/" +
                               std::to_string(cid) + "/stock",
                           R"({"delta":1})", bearer(admin())),
        "id");
    expect_validation_failed(client().post_json("/admin/products/" + std::to_string(id) +
                                                    "/combinations/" + std::string(bad) + "/stock",
                                                R"({"delta":1})", bearer(admin())),
                             "cid");
  }
  for (const char* body :
       {R"({})", R"({"delta":1000000001})", R"({"delta":-1000000001})", R"({"delta":1.5})",
        R"({"delta":"1"})", R"({"delta":1e3})", R"({"delta":null})", R"({"delta":true})"}) {
    SCOPED_TRACE(body);
    expect_validation_failed(client().post_json(stock_path(id, cid), body, bearer(admin())),
                             "delta");
  }
  expect_problem(client().post_json(stock_path(id, cid), R"({"delta":)", bearer(admin())), 400,
                 "MALFORMED_JSON");
  // Body errors come before the product lookup.
  expect_validation_failed(
      client().post_json(stock_path(9223372036854775807, cid), R"({"delta":1.5})", bearer(admin())),
      "delta");
  EXPECT_EQ(get_product(client(), id).body, before);
}

// --- list -----------------------------------------------------------------------------------

// Goal: the list summary has exactly {id, name, base_price, main_image_url, in_stock} with the
// documented main image rule. Method: products with an is_main image (not the lowest sort order),
// with images but none main (lowest sort_order wins), with no image (null); in_stock is true when
// any combination has stock.
TEST_F(catalog, list_summary_picks_main_image_and_in_stock) {
  auto with_main =
      create_product_ok(client(), R"({"name":"Main","base_price":10,"stock":0,"images":[)"
                                  R"({"url":"https://img/1","is_main":false,"sort_order":0},)"
                                  R"({"url":"https://img/2","is_main":true,"sort_order":5},)"
                                  R"({"url":"https://img/3","is_main":false,"sort_order":-1}]})");
  auto by_order = create_product_ok(
      client(), R"({"name":"Order","base_price":20,"images":[)"
                R"({"url":"https://img/a","is_main":false,"sort_order":3},)"
                R"({"url":"https://img/b","is_main":false,"sort_order":-2},)"
                R"({"url":"https://img/c","is_main":false,"sort_order":7}],)" +
                    k_two_options + R"(,"combinations":[)" + combo("red", "S", 0, 0) + "," +
                    combo("blue", "L", 0, 2) + "]}");
  auto bare = create_product_ok(client(), R"({"name":"Bare","base_price":30,"stock":1})");

  auto walk = walk_products(client());
  ASSERT_TRUE(walk.summaries.count(with_main["id"].as_int()));
  auto main = parse_json(walk.summaries[with_main["id"].as_int()]);
  EXPECT_EQ(main.root().keys(),
            (std::vector<std::string>{"id", "name", "base_price", "main_image_url", "in_stock"}));
  EXPECT_EQ(main["name"].as_string(), "Main");
  EXPECT_EQ(main["base_price"].as_int(), 10);
  EXPECT_EQ(main["main_image_url"].as_string(), "https://img/2");
  EXPECT_FALSE(main["in_stock"].as_bool());

  auto order = parse_json(walk.summaries.at(by_order["id"].as_int()));
  EXPECT_EQ(order["main_image_url"].as_string(), "https://img/b");
  EXPECT_TRUE(order["in_stock"].as_bool()) << "one combination of two has stock";

  auto none = parse_json(walk.summaries.at(bare["id"].as_int()));
  EXPECT_TRUE(none["main_image_url"].is_null());
  EXPECT_TRUE(none["in_stock"].as_bool());

  // Ascending ids, no duplicates.
  EXPECT_TRUE(std::is_sorted(walk.ids.begin(), walk.ids.end()));
  EXPECT_EQ(std::set<int64_t>(walk.ids.begin(), walk.ids.end()).size(), walk.ids.size());
}

// Goal: limit must be 1..100 and a cursor must be one the server issued. Method: bad limits are
// 400 field limit, bad cursors 400 field cursor; GET /products needs no token.
TEST_F(catalog, list_rejects_bad_limit_and_cursor) {
  create_product_ok(client(), R"({"name":"Listed","base_price":1,"stock":1})");
  auto ok = client().get("/products?limit=1");
  ASSERT_EQ(ok.status, 200) << describe(ok);
  for (const char* limit : {"0", "101", "-1", "abc", "1.5", "", "99999999999999999999"}) {
    SCOPED_TRACE(std::string("limit=") + limit);
    expect_validation_failed(client().get(std::string("/products?limit=") + limit), "limit");
  }
  for (const char* cursor : {"not-a-cursor", "%00%01", "AAAA"}) {
    SCOPED_TRACE(std::string("cursor=") + cursor);
    expect_validation_failed(client().get(std::string("/products?cursor=") + cursor), "cursor");
  }
}

// Goal: pagination walks every active product exactly once, ascending, across shards, for
// limits 1, 7, 100 and the default 20. Method: an own server with 3 shards and 23 products
// created round-robin over the shards, 5 of them inactive (created inactive, or deactivated
// later) and one created inactive then activated; every walk lists exactly the 18 active ids in
// ascending order with the expected page sizes, and only the last page has next_cursor null.
TEST(catalog_pagination, every_active_product_exactly_once_across_shards) {
  server_options options;
  options.shards = 3;
  server_process server(options);
  http_client client(server.port());
  std::vector<int64_t> expected;
  std::vector<int64_t> all;
  for (int i = 0; i < 23; ++i) {
    const bool created_inactive = i == 2 || i == 9 || i == 12 || i == 16 || i == 21;
    auto doc = create_product_ok(client, json_object()
                                             .add("name", "Paged " + std::to_string(i))
                                             .add("base_price", 100 + i)
                                             .add("is_active", !created_inactive)
                                             .add("stock", i % 3)
                                             .str());
    const int64_t id = doc["id"].as_int();
    all.push_back(id);
    bool active = !created_inactive;
    if (i == 5) {  // deactivated after creation
      ASSERT_EQ(patch_product(client, id, R"({"is_active":false})").status, 200);
      active = false;
    }
    if (i == 21) {  // activated after creation
      ASSERT_EQ(patch_product(client, id, R"({"is_active":true})").status, 200);
      active = true;
    }
    if (active) expected.push_back(id);
  }
  std::sort(expected.begin(), expected.end());
  ASSERT_EQ(expected.size(), 18u);
  ASSERT_EQ(std::set<int64_t>(all.begin(), all.end()).size(), 23u);

  auto expected_sizes = [&](size_t limit) {
    std::vector<size_t> sizes;
    for (size_t left = expected.size(); left > 0; left -= std::min(left, limit))
      sizes.push_back(std::min(left, limit));
    return sizes;
  };
  for (int limit : {1, 7, 100, 0}) {
    SCOPED_TRACE("limit " + std::to_string(limit));
    auto walk = walk_products(client, limit);
    EXPECT_EQ(walk.ids, expected);
    EXPECT_EQ(walk.page_sizes, expected_sizes(limit == 0 ? 20 : limit));
    for (size_t p = 0; p + 1 < walk.bodies.size(); ++p) {
      EXPECT_TRUE(parse_json(walk.bodies[p])["next_cursor"].is_string()) << walk.bodies[p];
    }
  }
  // The summaries carry the product's own data.
  auto walk = walk_products(client, 100);
  for (size_t k = 0; k < expected.size(); ++k) {
    auto summary = parse_json(walk.summaries.at(expected[k]));
    auto detail = parse_json(get_product(client, expected[k]).body);
    EXPECT_EQ(summary["name"].as_string(), detail["name"].as_string());
    EXPECT_EQ(summary["base_price"].as_int(), detail["base_price"].as_int());
    EXPECT_EQ(summary["in_stock"].as_bool(), detail["combinations"][0]["stock"].as_int() > 0);
  }
  // A cursor keeps working after a product before it is deactivated and one is added.
  auto first = client.get("/products?limit=7");
  ASSERT_EQ(first.status, 200);
  const std::string cursor = parse_json(first.body)["next_cursor"].as_string();
  ASSERT_EQ(patch_product(client, expected[0], R"({"is_active":false})").status, 200);
  auto added = create_product_ok(client, R"({"name":"Late","base_price":1})");
  std::vector<int64_t> rest;
  std::string next = cursor;
  while (!next.empty()) {
    auto page = client.get("/products?limit=7&cursor=" + next);
    ASSERT_EQ(page.status, 200) << describe(page);
    auto doc = parse_json(page.body);
    for (const auto& item : doc["items"].elements()) rest.push_back(item["id"].as_int());
    next = doc["next_cursor"].is_null() ? "" : doc["next_cursor"].as_string();
  }
  std::vector<int64_t> expected_rest(expected.begin() + 7, expected.end());
  expected_rest.push_back(added["id"].as_int());
  std::sort(expected_rest.begin(), expected_rest.end());
  EXPECT_EQ(rest, expected_rest);
}

// --- demo seed ------------------------------------------------------------------------------

class catalog_seed_demo : public shared_server_test {
 public:
  static void SetUpTestSuite() { start_shared_server({"--seed-demo"}); }
};

// Goal: --seed-demo seeds a browsable catalog. Method: GET /products lists at least 3 active
// products with a main image; scanning GET /products/{id} for ids 1..40 finds an inactive one
// and products whose combinations carry options and differing stock.
TEST_F(catalog_seed_demo, seeds_active_products_with_images_and_an_inactive_one) {
  auto walk = walk_products(client());
  ASSERT_GE(walk.ids.size(), 3u) << (walk.bodies.empty() ? "" : walk.bodies[0]);
  int with_image = 0;
  for (const auto& [id, summary] : walk.summaries) {
    if (parse_json(summary)["main_image_url"].is_string()) ++with_image;
  }
  EXPECT_GE(with_image, 3);
  int inactive = 0;
  bool options_with_differing_stock = false;
  for (int id = 1; id <= 40; ++id) {
    auto response = get_product(client(), id);
    if (response.status == 404) continue;
    ASSERT_EQ(response.status, 200) << describe(response);
    auto doc = parse_json(response.body);
    if (!doc["is_active"].as_bool()) ++inactive;
    std::set<int64_t> stocks;
    for (const auto& c : doc["combinations"].elements()) stocks.insert(c["stock"].as_int());
    if (doc["options"].size() > 0 && stocks.size() > 1) options_with_differing_stock = true;
  }
  EXPECT_GE(inactive, 1);
  EXPECT_TRUE(options_with_differing_stock);
}

// Goal: the demo data is seeded only into an empty data dir. Method: own server with
// --seed-demo; create one more product; restart (same flags): the list shows the seeded
// products once plus the new one, byte for byte as before the restart.
TEST(catalog_seed_demo_restart, demo_data_is_seeded_once) {
  server_options options;
  options.extra_args = {"--seed-demo"};
  server_process server(options);
  http_client client(server.port());
  const auto seeded = walk_products(client);
  ASSERT_GE(seeded.ids.size(), 3u);
  auto extra = create_product_ok(client, R"({"name":"Mine","base_price":1,"stock":1})");
  const auto before = walk_products(client);
  EXPECT_EQ(before.ids.size(), seeded.ids.size() + 1);
  EXPECT_EQ(before.summaries.count(extra["id"].as_int()), 1u);
  server.restart();
  client.set_port(server.port());
  EXPECT_EQ(walk_products(client).bodies, before.bodies);
}

}  // namespace
}  // namespace ecom::test
