// Durability of the catalog and the carts: after a graceful restart (SIGTERM) or kill -9,
// products, stock and carts read back byte-identical in their JSON (GET /products/{id}, every
// GET /products page, GET /users/{id}/cart), new ids never collide with old ones, and under
// load every acknowledged stock change and cart line survives a kill -9.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "tests/support/api.h"
#include "tests/support/http_client.h"
#include "tests/support/json.h"
#include "tests/support/server_process.h"

namespace ecom::test {
namespace {

using namespace std::chrono_literals;

http_response create_product(http_client& client, std::string_view body) {
  return client.post_json("/admin/products", body, bearer(k_admin_token));
}

json_doc create_product_ok(http_client& client, std::string_view body) {
  auto response = create_product(client, body);
  if (response.status != 201) {
    throw std::runtime_error("create product: " + describe(response) + " for " +
                             std::string(body.substr(0, 200)));
  }
  return parse_json(response.body);
}

std::string stock_path(int64_t product_id, int64_t combination_id) {
  return "/admin/products/" + std::to_string(product_id) + "/combinations/" +
         std::to_string(combination_id) + "/stock";
}

http_response adjust_stock(http_client& client, int64_t product_id, int64_t combination_id,
                           int64_t delta) {
  return client.post_json(stock_path(product_id, combination_id),
                          json_object().add("delta", delta).str(), bearer(k_admin_token));
}

http_response add_item(http_client& client, const session& s, int64_t product_id,
                       int64_t combination_id, int64_t quantity) {
  return client.request("POST", user_path(s.user_id, "/cart/items"),
                        json_object()
                            .add("product_id", product_id)
                            .add("combination_id", combination_id)
                            .add("quantity", quantity)
                            .str(),
                        json_bearer(s.access_token));
}

// Everything the catalog and the carts show, as raw response bodies.
struct visible_state {
  std::map<int64_t, std::string> products;        // GET /products/{id}
  std::map<int, std::vector<std::string>> pages;  // limit → GET /products page bodies
  std::map<int64_t, std::string> carts;           // user id → GET /users/{id}/cart

  bool operator==(const visible_state&) const = default;
};

visible_state read_state(http_client& client, const std::vector<int64_t>& product_ids,
                         const std::vector<session>& users) {
  visible_state state;
  for (int64_t id : product_ids) {
    auto response = client.get("/products/" + std::to_string(id));
    if (response.status != 200) throw std::runtime_error("GET product: " + describe(response));
    state.products[id] = response.body;
  }
  for (int limit : {1, 7, 100}) {
    std::string cursor;
    for (int page = 0; page < 1000; ++page) {
      std::string target = "/products?limit=" + std::to_string(limit);
      if (!cursor.empty()) target += "&cursor=" + cursor;
      auto response = client.get(target);
      if (response.status != 200)
        throw std::runtime_error("GET " + target + ": " + describe(response));
      state.pages[limit].push_back(response.body);
      auto next = parse_json(response.body)["next_cursor"];
      if (next.is_null()) break;
      cursor = next.as_string();
    }
  }
  for (const auto& user : users) {
    // The user's own token: access tokens stay valid across restarts.
    auto response = client.get(user_path(user.user_id, "/cart"), bearer(user.access_token));
    if (response.status != 200) throw std::runtime_error("GET cart: " + describe(response));
    state.carts[user.user_id] = response.body;
  }
  return state;
}

// Reports the first difference between two states.
::testing::AssertionResult same_state(const visible_state& before, const visible_state& after) {
  if (before == after) return ::testing::AssertionSuccess();
  auto failure = ::testing::AssertionFailure();
  for (const auto& [id, body] : before.products) {
    auto it = after.products.find(id);
    if (it == after.products.end() || it->second != body) {
      return failure << "product " << id << " differs:\nbefore " << body << "\nafter  "
                     << (it == after.products.end() ? "<missing>" : it->second);
    }
  }
  for (const auto& [limit, bodies] : before.pages) {
    const auto& other = after.pages.at(limit);
    for (size_t i = 0; i < std::max(bodies.size(), other.size()); ++i) {
      std::string a = i < bodies.size() ? bodies[i] : "<none>";
      std::string b = i < other.size() ? other[i] : "<none>";
      if (a != b) {
        return failure << "GET /products?limit=" << limit << " page " << i << " differs:\nbefore "
                       << a << "\nafter  " << b;
      }
    }
  }
  for (const auto& [user, body] : before.carts) {
    if (after.carts.at(user) != body) {
      return failure << "cart of user " << user << " differs:\nbefore " << body << "\nafter  "
                     << after.carts.at(user);
    }
  }
  return failure << "states differ";
}

// Builds a catalog with options, images, inactive products and adjusted stock, and carts with
// merged, changed and removed lines. Returns the product ids.
std::vector<int64_t> build_catalog_and_carts(http_client& client,
                                             const std::vector<session>& users) {
  std::vector<int64_t> ids;
  auto shirt = create_product_ok(
      client,
      R"({"name":"Shirt","description":"cotton \"premium\" \u00e9","base_price":20000,)"
      R"("images":[{"url":"https://img/1","is_main":false,"sort_order":2},)"
      R"({"url":"https://img/2","is_main":true,"sort_order":1}],)"
      R"("options":[{"name":"color","values":["red","blue"]},{"name":"size","values":["S","L"]}],)"
      R"("combinations":[{"options":{"size":"L","color":"red"},"additional_price":1000,"stock":7},)"
      R"({"options":{"color":"blue","size":"S"},"additional_price":-500,"stock":0},)"
      R"({"options":{"color":"red","size":"S"},"additional_price":0,"stock":30}]})");
  ids.push_back(shirt["id"].as_int());
  for (int i = 0; i < 11; ++i) {
    auto doc = create_product_ok(client, json_object()
                                             .add("name", "Item " + std::to_string(i))
                                             .add("base_price", 100 * (i + 1))
                                             .add("stock", 10 + i)
                                             .add("is_active", i % 4 != 3)
                                             .str());
    ids.push_back(doc["id"].as_int());
  }
  auto patch = client.request("PATCH", "/admin/products/" + std::to_string(ids[2]),
                              R"({"name":"Renamed","base_price":999,"is_active":false})",
                              json_bearer(k_admin_token));
  if (patch.status != 200) throw std::runtime_error("patch: " + describe(patch));
  const int64_t red_l = shirt["combinations"][0]["id"].as_int();
  const int64_t red_s = shirt["combinations"][2]["id"].as_int();
  for (int64_t delta : {5, -3, 11, -2}) {
    auto response = adjust_stock(client, ids[0], red_l, delta);
    if (response.status != 200) throw std::runtime_error("stock: " + describe(response));
  }
  auto item_of = [&](int index) {
    auto doc = parse_json(client.get("/products/" + std::to_string(ids[index])).body);
    return doc["combinations"][0]["id"].as_int();
  };
  for (size_t u = 0; u < users.size(); ++u) {
    const auto& s = users[u];
    auto check = [](const http_response& r, int status) {
      if (r.status != status) throw std::runtime_error("cart setup: " + describe(r));
      return parse_json(r.body);
    };
    check(add_item(client, s, ids[0], red_l, 1 + int(u)), 201);
    auto line = check(add_item(client, s, ids[1], item_of(1), 2), 201);
    check(add_item(client, s, ids[0], red_s, 4), 201);
    check(add_item(client, s, ids[0], red_l, 1), 201);  // merged
    check(add_item(client, s, ids[5], item_of(5), 3), 201);
    auto changed = client.request(
        "PATCH", user_path(s.user_id, "/cart/items/" + std::to_string(line["id"].as_int())),
        R"({"quantity":5})", json_bearer(s.access_token));
    check(changed, 200);
    auto third = parse_json(client.get(user_path(s.user_id, "/cart"), bearer(s.access_token)).body);
    const int64_t removed = third["items"][2]["id"].as_int();
    auto deleted =
        client.request("DELETE", user_path(s.user_id, "/cart/items/" + std::to_string(removed)), {},
                       bearer(s.access_token));
    if (deleted.status != 204) throw std::runtime_error("delete: " + describe(deleted));
  }
  // A line whose stock later ran short (available false).
  {
    auto response = add_item(client, users[0], ids[6], item_of(6), 15);
    if (response.status != 201) throw std::runtime_error("add: " + describe(response));
    if (adjust_stock(client, ids[6], item_of(6), -10).status != 200)
      throw std::runtime_error("stock");
  }
  return ids;
}

// After a restart the server keeps working: a new product and a new cart line get ids that
// were never used, and an old combination's stock can still be changed.
void expect_new_ids_are_fresh(http_client& client, const visible_state& state,
                              const std::vector<int64_t>& ids, const session& user) {
  auto created = create_product_ok(client, R"({"name":"After restart","base_price":5,"stock":5})");
  const int64_t new_id = created["id"].as_int();
  EXPECT_EQ(state.products.count(new_id), 0u) << "product id " << new_id << " reused";
  std::set<int64_t> old_parts;
  for (const auto& [id, body] : state.products) {
    auto doc = parse_json(body);
    for (const auto& c : doc["combinations"].elements()) old_parts.insert(c["id"].as_int());
  }
  EXPECT_EQ(old_parts.count(created["combinations"][0]["id"].as_int()), 0u);
  std::set<int64_t> old_items;
  for (const auto& [uid, body] : state.carts) {
    for (const auto& item : parse_json(body)["items"].elements())
      old_items.insert(item["id"].as_int());
  }
  auto line = add_item(client, user, new_id, created["combinations"][0]["id"].as_int(), 1);
  ASSERT_EQ(line.status, 201) << describe(line);
  EXPECT_EQ(old_items.count(parse_json(line.body)["id"].as_int()), 0u) << "cart item id reused";
  auto shirt = parse_json(state.products.at(ids[0]));
  const int64_t red_s = shirt["combinations"][2]["id"].as_int();
  auto adjusted = adjust_stock(client, ids[0], red_s, -1);
  ASSERT_EQ(adjusted.status, 200) << describe(adjusted);
  EXPECT_EQ(parse_json(adjusted.body)["stock"].as_int(),
            shirt["combinations"][2]["stock"].as_int() - 1);
}

// Goal: a graceful restart keeps products, stock and carts byte-identical. Method: own server
// with 3 shards; build products (options, images, inactive, patched, stock adjusted) and two
// carts (merged, changed, removed lines, an unavailable line); read everything; SIGTERM (exit 0)
// and restart; read again: identical. Then new ids are fresh, and a second SIGTERM restart still
// shows the state after those writes.
TEST(catalog_restart, sigterm_restart_keeps_products_stock_and_carts_byte_identical) {
  server_options options;
  options.shards = 3;
  server_process server(options);
  http_client client(server.port());
  std::vector<session> users = {sign_up_and_login(client, "durable-a"),
                                sign_up_and_login(client, "durable-b")};
  auto ids = build_catalog_and_carts(client, users);
  auto before = read_state(client, ids, users);
  ASSERT_EQ(before.pages.at(1).size(), 9u) << "9 active products, one per page";

  EXPECT_EQ(server.terminate(), 0);
  server.restart();
  client.set_port(server.port());
  auto after = read_state(client, ids, users);
  EXPECT_TRUE(same_state(before, after));

  expect_new_ids_are_fresh(client, before, ids, users[1]);
  auto second_before = read_state(client, ids, users);
  EXPECT_EQ(server.terminate(), 0);
  server.restart();
  client.set_port(server.port());
  EXPECT_TRUE(same_state(second_before, read_state(client, ids, users)));
}

// Goal: kill -9 keeps every acknowledged product, stock change and cart change byte-identical.
// Method: as the SIGTERM test but the server is killed with SIGKILL right after the last
// acknowledged write, twice (once more after writes made following the first restart).
TEST(catalog_restart, kill_9_restart_keeps_products_stock_and_carts_byte_identical) {
  server_options options;
  options.shards = 3;
  server_process server(options);
  http_client client(server.port());
  std::vector<session> users = {sign_up_and_login(client, "killed-a"),
                                sign_up_and_login(client, "killed-b")};
  auto ids = build_catalog_and_carts(client, users);
  auto before = read_state(client, ids, users);

  server.kill_hard();
  server.restart();
  client.set_port(server.port());
  EXPECT_TRUE(same_state(before, read_state(client, ids, users)));

  expect_new_ids_are_fresh(client, before, ids, users[0]);
  auto second_before = read_state(client, ids, users);
  server.kill_hard();
  server.restart();
  client.set_port(server.port());
  EXPECT_TRUE(same_state(second_before, read_state(client, ids, users)));
}

// Goal: idempotency keys of cart adds survive kill -9, for a stored 201 and a stored 409.
// Method: add with key K1 (201) and, over the stock, with K2 (409 OUT_OF_STOCK); kill -9 and
// restart; raise the stock; K1 and K2 replay their stored answers byte for byte with
// Idempotent-Replayed: true, K1 with another body is 422, and the cart still holds one line.
TEST(catalog_restart, cart_idempotency_keys_survive_kill_9) {
  server_process server;
  http_client client(server.port());
  session user = sign_up_and_login(client, "cart-keys");
  auto product = create_product_ok(client, R"({"name":"Keyed","base_price":10,"stock":3})");
  const int64_t pid = product["id"].as_int();
  const int64_t cid = product["combinations"][0]["id"].as_int();
  auto keyed = [&](std::string_view key, int64_t quantity) {
    header_list headers = json_bearer(user.access_token);
    headers.emplace_back("Idempotency-Key", key);
    return client.request("POST", user_path(user.user_id, "/cart/items"),
                          json_object()
                              .add("product_id", pid)
                              .add("combination_id", cid)
                              .add("quantity", quantity)
                              .str(),
                          headers);
  };
  auto first = keyed("k1", 2);
  ASSERT_EQ(first.status, 201) << describe(first);
  auto refused = keyed("k2", 5);
  ASSERT_EQ(refused.status, 409) << describe(refused);
  server.kill_hard();
  server.restart();
  client.set_port(server.port());
  ASSERT_EQ(adjust_stock(client, pid, cid, 100).status, 200);
  auto replay = keyed("k1", 2);
  EXPECT_EQ(replay.status, 201) << describe(replay);
  EXPECT_EQ(replay.header_or("Idempotent-Replayed"), "true");
  EXPECT_EQ(replay.body, first.body);
  auto refused_again = keyed("k2", 5);
  EXPECT_EQ(refused_again.status, 409) << describe(refused_again);
  EXPECT_EQ(refused_again.header_or("Idempotent-Replayed"), "true");
  EXPECT_EQ(refused_again.body, refused.body);
  expect_problem(keyed("k1", 3), 422, "IDEMPOTENCY_KEY_REUSED");
  auto cart = client.get(user_path(user.user_id, "/cart"), bearer(user.access_token));
  ASSERT_EQ(cart.status, 200);
  auto doc = parse_json(cart.body);
  ASSERT_EQ(doc["items"].size(), 1u) << cart.body;
  EXPECT_EQ(doc["items"][0]["quantity"].as_int(), 2);
}

// Goal: under load, kill -9 loses no acknowledged stock change or cart add and applies no
// unacknowledged one in part. Method: 4 admin connections add +1 to their own combination, 2
// users add 1 to their own cart line, until the server is killed about 300 ms after all have
// had a first answer; after the restart each stock is initial + acknowledged (+1 when the
// request in flight at the kill was applied), each cart line holds acknowledged (+1) units, and
// a second (graceful) restart shows byte-identical products and carts.
TEST(catalog_restart, kill_9_under_stock_and_cart_load_keeps_every_acknowledged_change) {
  constexpr int k_admins = 4, k_shoppers = 2;
  server_options options;
  options.shards = 3;
  server_process server(options);
  http_client client(server.port());
  std::vector<session> users;
  for (int u = 0; u < k_shoppers; ++u)
    users.push_back(sign_up_and_login(client, "load" + std::to_string(u)));
  std::string combos = "[";
  for (int c = 0; c < k_admins; ++c) {
    combos += std::string(c ? "," : "") + R"({"options":{"slot":"s)" + std::to_string(c) +
              R"("},"additional_price":0,"stock":100})";
  }
  combos += "]";
  auto stocked = create_product_ok(
      client,
      R"({"name":"Loaded","base_price":10,"options":[{"name":"slot","values":["s0","s1","s2","s3"]}],"combinations":)" +
          combos + "}");
  auto basket = create_product_ok(client, R"({"name":"Basket","base_price":1,"stock":1000000})");
  const int64_t stocked_id = stocked["id"].as_int();
  const int64_t basket_id = basket["id"].as_int();
  const int64_t basket_cid = basket["combinations"][0]["id"].as_int();

  struct worker {
    int64_t acknowledged = 0;
    bool in_flight = false;
    std::string error;
  };
  std::vector<worker> workers(k_admins + k_shoppers);
  std::atomic<bool> killed{false};
  std::atomic<int> started{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < k_admins + k_shoppers; ++w) {
    threads.emplace_back([&, w] {
      http_client own(server.port());
      worker& me = workers[w];
      bool counted = false;
      while (!killed.load() && me.acknowledged < 900) {
        http_response response =
            w < k_admins
                ? adjust_stock(own, stocked_id, stocked["combinations"][w]["id"].as_int(), 1)
                : add_item(own, users[w - k_admins], basket_id, basket_cid, 1);
        const int ok = w < k_admins ? 200 : 201;
        if (response.status == ok) {
          ++me.acknowledged;
          if (!counted) {
            counted = true;
            started.fetch_add(1);
          }
        } else if (response.status == 0) {
          me.in_flight = true;  // no answer: may or may not have been applied
          break;
        } else {
          me.error = describe(response);
          break;
        }
      }
      if (!counted) started.fetch_add(1);
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (started.load() < k_admins + k_shoppers && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(300ms);
  killed = true;
  server.kill_hard();
  for (auto& thread : threads) thread.join();

  server.restart();
  client.set_port(server.port());
  auto product = parse_json(client.get("/products/" + std::to_string(stocked_id)).body);
  for (int w = 0; w < k_admins; ++w) {
    SCOPED_TRACE("admin " + std::to_string(w));
    EXPECT_EQ(workers[w].error, "");
    EXPECT_GT(workers[w].acknowledged, 0);
    const int64_t stock = product["combinations"][w]["stock"].as_int();
    const int64_t low = 100 + workers[w].acknowledged;
    EXPECT_GE(stock, low);
    EXPECT_LE(stock, low + (workers[w].in_flight ? 1 : 0));
  }
  for (int u = 0; u < k_shoppers; ++u) {
    SCOPED_TRACE("shopper " + std::to_string(u));
    const worker& me = workers[k_admins + u];
    EXPECT_EQ(me.error, "");
    EXPECT_GT(me.acknowledged, 0);
    auto cart = client.get(user_path(users[u].user_id, "/cart"), bearer(users[u].access_token));
    ASSERT_EQ(cart.status, 200) << describe(cart);
    auto doc = parse_json(cart.body);
    ASSERT_EQ(doc["items"].size(), 1u) << cart.body;
    const int64_t quantity = doc["items"][0]["quantity"].as_int();
    EXPECT_GE(quantity, me.acknowledged);
    EXPECT_LE(quantity, me.acknowledged + (me.in_flight ? 1 : 0));
  }
  EXPECT_EQ(
      parse_json(
          client.get("/products/" + std::to_string(basket_id)).body)["combinations"][0]["stock"]
          .as_int(),
      1000000)
      << "cart adds reserve nothing";

  auto recovered = read_state(client, {stocked_id, basket_id}, users);
  EXPECT_EQ(server.terminate(), 0);
  server.restart();
  client.set_port(server.port());
  EXPECT_TRUE(same_state(recovered, read_state(client, {stocked_id, basket_id}, users)));
}

}  // namespace
}  // namespace ecom::test
