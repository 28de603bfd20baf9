// Durability of orders and payment under kill -9: a payment (and a refund) acknowledged right
// before the kill is fully present after the restart (order, stock, balance and its history,
// coupon, event, popular, the stored idempotent answer); a pending order that expired while the
// server was down is EXPIRED after the restart; and a mixed workload (charges, orders with and
// without coupons, payments, cancels and refunds, admin restocks, products on both shards, several
// client threads) killed at random moments several times ends, after the final restart, in a
// state where every acknowledged answer is reflected and every invariant holds: balances equal
// their histories (one USE per paid order, one REFUND per refunded one that cost money), stock
// equals initial + restocks - paid quantities, no payment is half done, used coupons belong to
// exactly one live order, and the event feed is gap-free with one ORDER_PAID per paid-or-refunded
// order and one ORDER_REFUNDED per refunded order.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "tests/support/api.h"
#include "tests/support/commerce.h"
#include "tests/support/http_client.h"
#include "tests/support/json.h"
#include "tests/support/server_process.h"

namespace ecom::test {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view k_bulk_prefix = "ocrash";

// Status plus code, for logs: "200", "409 OUT_OF_STOCK", "0".
std::string outcome_of(const http_response& response) {
  std::string out = std::to_string(response.status);
  if (response.status >= 400) out += " " + code_of(response);
  return out;
}

// A product with one option of `sizes` values (additional price 100 × i), every combination
// with that stock, whose id has that parity (with 2 shards: odd and even ids live on different
// shards).
product_ref product_with_parity(http_client& client, int parity, std::string_view name,
                                int64_t base_price, int sizes, int64_t stock) {
  std::vector<int64_t> additional;
  for (int i = 0; i < sizes; ++i) additional.push_back(100 * i);
  return product_with_parity(client, parity,
                             sized_product_body(name, base_price, additional, stock));
}

// A campaign of a new coupon template (FIXED or PERCENT), open from a minute ago for two hours.
int64_t open_campaign(http_client& client, std::string_view type, int64_t amount,
                      int64_t min_order_amount) {
  return open_campaign_for(client, create_coupon_template(client, "Crash " + std::string(type),
                                                          type, amount, min_order_amount, 7));
}

int64_t stock_of_combination(http_client& client, int64_t product_id, int64_t combination_id) {
  auto response = client.get("/products/" + std::to_string(product_id));
  if (response.status != 200) throw std::runtime_error("GET product: " + describe(response));
  for (const auto& c : parse_json(response.body)["combinations"].elements())
    if (c["id"].as_int() == combination_id) return c["stock"].as_int();
  throw std::runtime_error("combination not found");
}

// product id → sold_quantity in /products/popular?days=30&limit=100.
std::map<int64_t, int64_t> popular(http_client& client) {
  auto response = client.get("/products/popular?days=30&limit=100");
  if (response.status != 200) throw std::runtime_error("GET popular: " + describe(response));
  std::map<int64_t, int64_t> out;
  for (const auto& item : parse_json(response.body)["items"].elements())
    out[item["product_id"].as_int()] = item["sold_quantity"].as_int();
  return out;
}

// --- deterministic: kill -9 right after the acknowledgement ---------------------------------

// Goal: a payment acknowledged right before kill -9 is fully there after the restart: the
// order PAID byte for byte, the stock of lines on both shards, the balance with its USE entry,
// the coupon USED, the ORDER_PAID event (seq 1), popular counts, and the keyed payment replays
// its stored 200. Then the same for a refund acknowledged right before a second kill -9:
// REFUNDED, stock and balance back, REFUND entry, coupon AVAILABLE, ORDER_REFUNDED (seq 2),
// popular empty.
TEST(order_crash, payment_and_refund_acknowledged_right_before_kill_9_are_durable) {
  server_process server;
  http_client client(server.port());
  auto odd = product_with_parity(client, 1, "Crash odd", 1000, 2, 50);
  auto even = product_with_parity(client, 0, "Crash even", 700, 1, 50);
  auto user = bulk_users(client, 1, k_bulk_prefix).at(0);
  ASSERT_EQ(charge(client, user.id, user.token, 100'000).status, 200);
  const int64_t coupon = issue_coupon(client, open_campaign(client, "FIXED", 1500, 0), user.token);
  auto created = create_order(
      client, user.id, user.token,
      order_body({{odd.id, odd.cids[0], 2}, {odd.id, odd.cids[1], 1}, {even.id, even.cids[0], 3}},
                 coupon));
  ASSERT_EQ(created.status, 201) << describe(created);
  const int64_t id = parse_json(created.body)["id"].as_int();
  const int64_t final_amount = parse_json(created.body)["final_amount"].as_int();
  ASSERT_EQ(final_amount, 2000 + 1100 + 2100 - 1500);
  const header_list key{{"Idempotency-Key", "crash-pay"}};
  auto paid = pay(client, user.id, user.token, id, key);
  ASSERT_EQ(paid.status, 200) << describe(paid);
  server.kill_hard();
  server.restart();
  client.set_port(server.port());

  EXPECT_EQ(order_of(client, user.id, id).root().dump(), parse_json(paid.body).root().dump());
  EXPECT_EQ(stock_of_combination(client, odd.id, odd.cids[0]), 48);
  EXPECT_EQ(stock_of_combination(client, odd.id, odd.cids[1]), 49);
  EXPECT_EQ(stock_of_combination(client, even.id, even.cids[0]), 47);
  EXPECT_EQ(fetch_balance(client, user.id, user.token), 100'000 - final_amount);
  auto history = money_history(client, user.id);
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0].type, "USE");
  EXPECT_EQ(history[0].amount, -final_amount);
  EXPECT_EQ(history[0].order_id, id);
  EXPECT_TRUE(history_consistent(fetch_history(client, user.id, user.token),
                                 fetch_balance(client, user.id, user.token)));
  EXPECT_EQ(coupon_status(client, user.id, coupon), "USED");
  auto events = all_events(client);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].seq, 1);
  EXPECT_EQ(events[0].type, "ORDER_PAID");
  EXPECT_EQ(events[0].order, parse_json(paid.body).root().dump());
  EXPECT_EQ(popular(client), (std::map<int64_t, int64_t>{{odd.id, 3}, {even.id, 3}}));
  auto replay = pay(client, user.id, user.token, id, key);
  ASSERT_EQ(replay.status, 200) << describe(replay);
  EXPECT_EQ(replay.header_or("Idempotent-Replayed"), "true");
  EXPECT_EQ(replay.body, paid.body);
  EXPECT_EQ(fetch_balance(client, user.id, user.token), 100'000 - final_amount);

  auto refunded = cancel(client, user.id, user.token, id);
  ASSERT_EQ(refunded.status, 200) << describe(refunded);
  ASSERT_EQ(parse_json(refunded.body)["status"].as_string(), "REFUNDED");
  server.kill_hard();
  server.restart();
  client.set_port(server.port());

  EXPECT_EQ(order_of(client, user.id, id).root().dump(), parse_json(refunded.body).root().dump());
  EXPECT_EQ(stock_of_combination(client, odd.id, odd.cids[0]), 50);
  EXPECT_EQ(stock_of_combination(client, odd.id, odd.cids[1]), 50);
  EXPECT_EQ(stock_of_combination(client, even.id, even.cids[0]), 50);
  EXPECT_EQ(fetch_balance(client, user.id, user.token), 100'000);
  history = money_history(client, user.id);
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history[0].type, "REFUND");
  EXPECT_EQ(history[0].amount, final_amount);
  EXPECT_EQ(history[0].order_id, id);
  EXPECT_EQ(coupon_status(client, user.id, coupon), "AVAILABLE");
  events = all_events(client);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].seq, 2);
  EXPECT_EQ(events[1].type, "ORDER_REFUNDED");
  EXPECT_EQ(events[1].order, parse_json(refunded.body).root().dump());
  EXPECT_TRUE(popular(client).empty());
  // Still working: the restored coupon buys again.
  auto again =
      create_order(client, user.id, user.token, order_body({{even.id, even.cids[0], 1}}, coupon));
  EXPECT_EQ(again.status, 201) << describe(again);
}

// Goal: a pending order whose expires_at passes while the server is down is EXPIRED soon after
// the restart, with its coupon AVAILABLE again (RESTORE); a pending order created after the
// restart expires too. Method: --order-ttl 2; create with a coupon, kill -9 at once, stay down 3
// s, restart, poll.
TEST(order_crash, order_that_expired_while_down_is_expired_after_restart) {
  server_options options;
  options.extra_args = {"--order-ttl", "2"};
  server_process server(options);
  http_client client(server.port());
  auto p = product_with_parity(client, 1, "Expire", 1000, 1, 10);
  auto user = bulk_users(client, 1, k_bulk_prefix).at(0);
  const int64_t coupon = issue_coupon(client, open_campaign(client, "FIXED", 100, 0), user.token);
  auto created =
      create_order(client, user.id, user.token, order_body({{p.id, p.cids[0], 1}}, coupon));
  ASSERT_EQ(created.status, 201) << describe(created);
  const int64_t id = parse_json(created.body)["id"].as_int();
  server.kill_hard();
  std::this_thread::sleep_for(3s);
  server.restart();
  client.set_port(server.port());
  std::string status;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    status = order_of(client, user.id, id)["status"].as_string();
    if (status != "PENDING_PAYMENT") break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(status, "EXPIRED");
  EXPECT_EQ(coupon_status(client, user.id, coupon), "AVAILABLE");
  bool restored = false;
  for (const auto& item : list_all(client, user_path(user.id, "/coupons/history"))) {
    restored = restored || (item["action"].as_string() == "RESTORE" &&
                            !item["order_id"].is_null() && item["order_id"].as_int() == id);
  }
  EXPECT_TRUE(restored);
  EXPECT_EQ(stock_of_combination(client, p.id, p.cids[0]), 10);
}

// --- the mixed workload ---------------------------------------------------------------------

const std::set<std::string> k_statuses = {"PENDING_PAYMENT", "PAID",    "PAYMENT_FAILED",
                                          "CANCELLED",       "EXPIRED", "REFUNDED"};

// What one client knows about one of its orders: the statuses the acknowledged answers so far
// allow (unanswered requests widen the set, answers narrow it).
struct order_track {
  int64_t id = 0;
  std::set<std::string> possible;
  int64_t final_amount = 0;
  int64_t user_coupon_id = 0;
  std::string items;  // the created order's items, minified
  std::string log;    // the operations and their answers, for messages
};

struct user_track {
  int64_t id = 0;
  std::string token;
  std::vector<int64_t> coupons;
  std::vector<int64_t> acked_charges;
  std::vector<int64_t> unanswered_charges;
  std::map<int64_t, order_track> orders;
  int unanswered_creates = 0;
};

struct combination_track {
  int64_t product_id = 0;
  int64_t combination_id = 0;
  int64_t initial = 0;
  int64_t acked_restock = 0;
  std::vector<int64_t> unanswered_restocks;
};

// The server's port and restart generation as the workload threads see them.
struct live_server {
  std::atomic<uint16_t> port{0};
  std::atomic<int> generation{0};
  std::atomic<bool> stop{false};
  // After an answer-less request begun in generation `seen`: waits for the restart (or stop)
  // and points the client at the new port.
  void await_restart(http_client& client, int seen) const {
    while (!stop.load() && generation.load() == seen) std::this_thread::sleep_for(2ms);
    client.set_port(port.load());
  }
};

void widen(std::set<std::string>& possible, const std::string& from, const std::string& to) {
  if (possible.count(from)) possible.insert(to);
}

// Applies one payment answer to what the client knows; returns an error or "".
std::string on_payment(order_track& o, const http_response& r) {
  const std::string code = code_of(r);
  o.log += " pay:" + outcome_of(r);
  if (r.status == 200) {
    if (!o.possible.count("PENDING_PAYMENT")) return "payment 200 of an order that was not pending";
    const std::string status = parse_json(r.body)["status"].as_string();
    if (status != "PAID") return "payment 200 with status " + status;
    o.possible = {"PAID"};
  } else if (r.status == 409 && code == "ORDER_NOT_PAYABLE") {
    o.possible.erase("PENDING_PAYMENT");
    if (o.possible.empty()) return "ORDER_NOT_PAYABLE for an order that must be pending";
  } else if (r.status == 409 && (code == "INSUFFICIENT_BALANCE" || code == "OUT_OF_STOCK" ||
                                 code == "PRODUCT_INACTIVE")) {
    if (!o.possible.count("PENDING_PAYMENT")) return "payment failure of a non-pending order";
    o.possible = {"PAYMENT_FAILED"};
  } else if (r.status == 0) {
    widen(o.possible, "PENDING_PAYMENT", "PAID");
    widen(o.possible, "PENDING_PAYMENT", "PAYMENT_FAILED");
  } else if (!(r.status == 503 && code == "OVERLOADED")) {
    return "payment: " + describe(r);
  }
  return "";
}

std::string on_cancel(order_track& o, const http_response& r) {
  const std::string code = code_of(r);
  o.log += " cancel:" + outcome_of(r);
  if (r.status == 200) {
    const std::string status = parse_json(r.body)["status"].as_string();
    if (status == "CANCELLED" && !o.possible.count("PENDING_PAYMENT"))
      return "CANCELLED for an order that could not be pending";
    if (status == "REFUNDED" && !o.possible.count("PAID"))
      return "REFUNDED for an order that could not be paid";
    if (status != "CANCELLED" && status != "REFUNDED") return "cancel 200 with status " + status;
    o.possible = {status};
  } else if (r.status == 409 && code == "ORDER_NOT_CANCELLABLE") {
    o.possible.erase("PENDING_PAYMENT");
    o.possible.erase("PAID");
    if (o.possible.empty()) return "ORDER_NOT_CANCELLABLE for an order that must be cancellable";
  } else if (r.status == 0) {
    widen(o.possible, "PENDING_PAYMENT", "CANCELLED");
    widen(o.possible, "PAID", "REFUNDED");
  } else if (!(r.status == 503 && code == "OVERLOADED")) {
    return "cancel: " + describe(r);
  }
  return "";
}

// True when diff is the sum of some sub-multiset of values (all positive, few).
bool subset_sum(const std::vector<int64_t>& values, int64_t diff) {
  std::set<int64_t> reachable = {0};
  for (int64_t v : values) {
    std::set<int64_t> next = reachable;
    for (int64_t r : reachable) next.insert(r + v);
    reachable.swap(next);
  }
  return reachable.count(diff) > 0;
}

// Goal: a mixed order workload on both shards, killed with SIGKILL at random moments several
// times, leaves every acknowledged answer reflected and every invariant intact after the final
// restart. Method: 16 bulk users (each with a FIXED and a PERCENT coupon with a minimum) on 4
// client threads (each user on one thread, so its answers are ordered) doing charges, order
// creation (1-3 lines over 4 products with 2 combinations each, 2 per shard; some with a coupon),
// payments and cancels/refunds, plus an admin thread restocking; the server is killed 6 times at
// random 300-1200 ms moments and restarted (threads wait and carry on), then once more at the
// end; keyed requests cut off by a kill are retried with their key after the restart and must
// then apply exactly once. Audit through the API: statuses, balances vs. histories (USE/REFUND per
// order), charges, stock per combination, popular, coupons and the event feed.
TEST(order_crash, mixed_workload_killed_at_random_moments_stays_consistent) {
  constexpr int k_threads = 4, k_users = 16, k_kills = 6;
  const unsigned seed = std::random_device{}();
  std::cout << "[ info ] seed " << seed << "\n";
  std::mt19937 main_random(seed);

  server_process server;
  http_client client(server.port());
  std::vector<product_ref> products = {product_with_parity(client, 1, "Mix odd A", 500, 2, 40),
                                       product_with_parity(client, 0, "Mix even A", 800, 2, 40),
                                       product_with_parity(client, 1, "Mix odd B", 1200, 2, 25),
                                       product_with_parity(client, 0, "Mix even B", 300, 2, 60)};
  std::vector<combination_track> combos;
  for (const auto& p : products)
    for (size_t i = 0; i < p.cids.size(); ++i) {
      combination_track c;
      c.product_id = p.id;
      c.combination_id = p.cids[i];
      c.initial = p.stocks[i];
      combos.push_back(c);
    }
  const int64_t fixed_campaign = open_campaign(client, "FIXED", 300, 0);
  const int64_t percent_campaign = open_campaign(client, "PERCENT", 10, 3000);
  std::vector<user_track> users;
  for (const auto& u : bulk_users(client, k_users, k_bulk_prefix)) {
    user_track t;
    t.id = u.id;
    t.token = u.token;
    t.coupons = {issue_coupon(client, fixed_campaign, u.token),
                 issue_coupon(client, percent_campaign, u.token)};
    auto charged = charge(client, u.id, u.token, 20'000);
    if (charged.status != 200) FAIL() << describe(charged);
    t.acked_charges.push_back(20'000);
    users.push_back(std::move(t));
  }

  live_server live;
  live.port = server.port();
  std::vector<std::string> errors(k_threads + 1);
  std::atomic<int> operations{0}, unanswered{0}, keyed_retries{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < k_threads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 random(seed + 1 + t);
      http_client own(live.port.load(), 5000ms);
      auto pick = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(random); };
      auto fail = [&](const std::string& what) {
        if (errors[t].empty()) errors[t] = what;
      };
      int key_counter = 0;
      int generation = 0;
      // Half of the requests carry an Idempotency-Key; one the kill cut off is sent again with
      // the same key after the restart, and that answer counts (the stored one, or the first
      // processing if the original was not applied). Unkeyed ones stay unanswered.
      auto send = [&](const std::function<http_response(const header_list&)>& request) {
        header_list extra;
        if (pick(2) == 0)
          extra.emplace_back("Idempotency-Key",
                             "w" + std::to_string(t) + "-" + std::to_string(++key_counter));
        auto r = request(extra);
        while (r.status == 0 && !extra.empty() && !live.stop.load()) {
          unanswered.fetch_add(1);
          keyed_retries.fetch_add(1);
          live.await_restart(own, generation);
          generation = live.generation.load();
          if (live.stop.load()) break;
          r = request(extra);
        }
        return r;
      };
      try {
        while (!live.stop.load()) {
          user_track& u = users[t + k_threads * pick(k_users / k_threads)];
          generation = live.generation.load();
          if (own.port() != live.port.load()) own.set_port(live.port.load());
          const int dice = pick(100);
          http_response r;
          if (dice < 12) {
            const int64_t amount = 1000 + pick(19'000);
            r = send([&](const header_list& extra) {
              return charge(own, u.id, u.token, amount, extra);
            });
            if (r.status == 200) {
              u.acked_charges.push_back(amount);
            } else if (r.status == 0) {
              u.unanswered_charges.push_back(amount);
            } else if (!(r.status == 503 && code_of(r) == "OVERLOADED")) {
              fail("charge: " + describe(r));
            }
          } else if (dice < 45 || u.orders.empty()) {
            std::vector<order_line> lines;
            const int n = 1 + pick(3);
            for (int i = 0; i < n; ++i) {
              const auto& c = combos[pick(int(combos.size()))];
              lines.push_back({c.product_id, c.combination_id, 1 + pick(3)});
            }
            std::optional<int64_t> coupon;
            if (pick(100) < 35) coupon = u.coupons[pick(2)];
            const std::string body = order_body(lines, coupon);
            r = send([&](const header_list& extra) {
              return create_order(own, u.id, u.token, body, extra);
            });
            const std::string code = code_of(r);
            if (r.status == 201) {
              auto doc = parse_json(r.body);
              order_track o;
              o.id = doc["id"].as_int();
              o.possible = {"PENDING_PAYMENT"};
              o.final_amount = doc["final_amount"].as_int();
              o.user_coupon_id =
                  doc["user_coupon_id"].is_null() ? 0 : doc["user_coupon_id"].as_int();
              o.items = doc["items"].dump();
              o.log = "create:201";
              if (doc["status"].as_string() != "PENDING_PAYMENT") fail("create status: " + r.body);
              if (u.orders.count(o.id)) fail("order id reused: " + r.body);
              u.orders[o.id] = std::move(o);
            } else if (r.status == 0) {
              ++u.unanswered_creates;
            } else if (!(r.status == 409 &&
                         (code == "OUT_OF_STOCK" || code == "COUPON_NOT_USABLE" ||
                          code == "MIN_ORDER_AMOUNT_NOT_MET")) &&
                       !(r.status == 503 && code == "OVERLOADED")) {
              fail("create: " + describe(r));
            }
          } else {
            // Prefer orders that may still be pending.
            std::vector<order_track*> pending, any;
            for (auto& [id, o] : u.orders) {
              any.push_back(&o);
              if (o.possible.count("PENDING_PAYMENT")) pending.push_back(&o);
            }
            order_track& o = (!pending.empty() && pick(100) < 80)
                                 ? *pending[pick(int(pending.size()))]
                                 : *any[pick(int(any.size()))];
            if (dice < 82) {
              r = send(
                  [&](const header_list& extra) { return pay(own, u.id, u.token, o.id, extra); });
              if (auto e = on_payment(o, r); !e.empty())
                fail("user " + std::to_string(u.id) + " order " + std::to_string(o.id) + ": " + e +
                     " (" + o.log + ")");
            } else {
              r = send([&](const header_list& extra) {
                return cancel(own, u.id, u.token, o.id, extra);
              });
              if (auto e = on_cancel(o, r); !e.empty())
                fail("user " + std::to_string(u.id) + " order " + std::to_string(o.id) + ": " + e +
                     " (" + o.log + ")");
            }
          }
          operations.fetch_add(1);
          if (r.status == 0) {
            unanswered.fetch_add(1);
            live.await_restart(own, generation);
          }
        }
      } catch (const std::exception& e) {
        fail(e.what());
      }
    });
  }
  // The admin restocks now and then.
  threads.emplace_back([&] {
    std::mt19937 random(seed + 100);
    http_client own(live.port.load(), 5000ms);
    try {
      while (!live.stop.load()) {
        const int generation = live.generation.load();
        if (own.port() != live.port.load()) own.set_port(live.port.load());
        auto& c = combos[std::uniform_int_distribution<int>(0, int(combos.size()) - 1)(random)];
        const int64_t delta = std::uniform_int_distribution<int>(1, 6)(random);
        auto r = adjust_stock(own, c.product_id, c.combination_id, delta);
        if (r.status == 200) {
          c.acked_restock += delta;
        } else if (r.status == 0) {
          c.unanswered_restocks.push_back(delta);
          live.await_restart(own, generation);
        } else if (!(r.status == 503 && code_of(r) == "OVERLOADED") && errors[k_threads].empty()) {
          errors[k_threads] = "restock: " + describe(r);
        }
        std::this_thread::sleep_for(
            std::chrono::milliseconds(std::uniform_int_distribution<int>(20, 80)(random)));
      }
    } catch (const std::exception& e) {
      errors[k_threads] = e.what();
    }
  });

  const auto started = std::chrono::steady_clock::now();
  for (int k = 0; k < k_kills; ++k) {
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(300, 1200)(main_random)));
    const int before = operations.load();
    server.kill_hard();
    server.restart();
    live.port = server.port();
    live.generation.fetch_add(1);
    std::cout << "[ info ] kill " << k + 1 << " after " << before << " operations\n";
  }
  std::this_thread::sleep_for(
      std::chrono::milliseconds(std::uniform_int_distribution<int>(300, 1200)(main_random)));
  // The final kill lands mid-load too; the threads stop on their next answer-less request.
  live.stop = true;
  server.kill_hard();
  for (auto& thread : threads) thread.join();
  server.restart();
  client.set_port(server.port());
  const auto load_time = std::chrono::steady_clock::now() - started;
  for (size_t i = 0; i < errors.size(); ++i) EXPECT_EQ(errors[i], "") << "thread " << i;

  // ---- audit ----
  std::map<int64_t, int64_t> paid_quantity;     // combination id → quantity in PAID orders
  std::map<int64_t, int64_t> sold;              // product id → quantity in PAID orders
  std::map<int64_t, std::string> status_by_id;  // every order of every user
  std::map<int64_t, int64_t> final_by_id;
  std::map<int64_t, std::vector<int64_t>> live_holders;  // user coupon → PENDING/PAID orders
  int tracked = 0, untracked = 0;
  std::map<std::string, int> status_count;
  for (auto& u : users) {
    SCOPED_TRACE("user " + std::to_string(u.id));
    std::set<int64_t> seen;
    int unknown = 0;
    for (const auto& order : list_all(client, user_path(u.id, "/orders"))) {
      const int64_t id = order["id"].as_int();
      const std::string status = order["status"].as_string();
      seen.insert(id);
      status_by_id[id] = status;
      final_by_id[id] = order["final_amount"].as_int();
      ++status_count[status];
      EXPECT_EQ(order["user_id"].as_int(), u.id);
      EXPECT_TRUE(k_statuses.count(status)) << order.dump();
      if (status == "PAID") {
        for (const auto& item : order["items"].elements()) {
          paid_quantity[item["combination_id"].as_int()] += item["quantity"].as_int();
          sold[item["product_id"].as_int()] += item["quantity"].as_int();
        }
      }
      if (!order["user_coupon_id"].is_null() && (status == "PENDING_PAYMENT" || status == "PAID")) {
        live_holders[order["user_coupon_id"].as_int()].push_back(id);
      }
      // paid_at / cancelled_at match the status.
      EXPECT_EQ(order["paid_at"].is_null(), status != "PAID" && status != "REFUNDED")
          << order.dump();
      EXPECT_EQ(order["cancelled_at"].is_null(), status != "CANCELLED" && status != "REFUNDED")
          << order.dump();
      auto it = u.orders.find(id);
      if (it == u.orders.end()) {
        ++unknown;
        ++untracked;
        // Only an unanswered create can have made it, and nothing else touched it.
        EXPECT_EQ(status, "PENDING_PAYMENT") << "order " << id << " nobody was told of";
        continue;
      }
      ++tracked;
      const order_track& o = it->second;
      EXPECT_TRUE(o.possible.count(status))
          << "order " << id << " is " << status << "; the answers allow only "
          << ::testing::PrintToString(o.possible) << " (" << o.log << ")";
      EXPECT_EQ(order["items"].dump(), o.items) << "order " << id;
      EXPECT_EQ(order["final_amount"].as_int(), o.final_amount) << "order " << id;
    }
    EXPECT_LE(unknown, u.unanswered_creates) << "orders nobody created";
    for (const auto& [id, o] : u.orders)
      EXPECT_TRUE(seen.count(id)) << "acknowledged order " << id << " is gone (" << o.log << ")";

    // Balance: history chain, and each order's money moved exactly as its status says.
    const int64_t balance = fetch_balance(client, u.id, k_admin_token);
    EXPECT_GE(balance, 0);
    EXPECT_TRUE(history_consistent(fetch_history(client, u.id, k_admin_token), balance));
    std::multiset<int64_t> charges, acked(u.acked_charges.begin(), u.acked_charges.end()),
        maybe(u.unanswered_charges.begin(), u.unanswered_charges.end());
    std::map<int64_t, std::vector<int64_t>> uses, refunds;
    for (const auto& e : money_history(client, u.id)) {
      if (e.type == "CHARGE") {
        EXPECT_EQ(e.order_id, 0);
        charges.insert(e.amount);
      } else if (e.type == "USE") {
        uses[e.order_id].push_back(e.amount);
      } else if (e.type == "REFUND") {
        refunds[e.order_id].push_back(e.amount);
      } else {
        ADD_FAILURE() << "history type " << e.type;
      }
    }
    for (int64_t a : acked) {
      auto it = charges.find(a);
      if (it == charges.end()) {
        ADD_FAILURE() << "acknowledged charge of " << a << " is not in the history";
      } else {
        charges.erase(it);
      }
    }
    for (int64_t extra : charges) {
      auto it = maybe.find(extra);
      if (it == maybe.end()) {
        ADD_FAILURE() << "charge of " << extra << " in the history that no request made";
      } else {
        maybe.erase(it);
      }
    }
    for (const auto& [id, amounts] : uses) {
      auto st = status_by_id.find(id);
      ASSERT_NE(st, status_by_id.end()) << "USE entry for unknown order " << id;
      EXPECT_TRUE(st->second == "PAID" || st->second == "REFUNDED")
          << "USE entry for order " << id << " that is " << st->second;
      EXPECT_EQ(amounts, std::vector<int64_t>{-final_by_id[id]}) << "USE of order " << id;
    }
    for (const auto& [id, amounts] : refunds) {
      auto st = status_by_id.find(id);
      ASSERT_NE(st, status_by_id.end()) << "REFUND entry for unknown order " << id;
      EXPECT_EQ(st->second, "REFUNDED") << "REFUND entry for order " << id;
      EXPECT_EQ(amounts, std::vector<int64_t>{final_by_id[id]}) << "REFUND of order " << id;
    }
    for (const auto& [id, o] : u.orders) {
      const std::string& st = status_by_id[id];
      if (st == "PAID" || st == "REFUNDED") {
        EXPECT_TRUE(uses.count(id)) << "order " << id << " is " << st << " without a USE entry";
      }
      // REFUND entries have amount > 0: a refunded free order records none.
      if (st == "REFUNDED") {
        EXPECT_EQ(refunds.count(id), final_by_id[id] > 0 ? 1u : 0u)
            << "REFUND entries of refunded order " << id << " (final_amount " << final_by_id[id]
            << ")";
      }
    }

    // Coupons: USED exactly when one PENDING/PAID order holds it.
    for (const auto& item : list_all(client, user_path(u.id, "/coupons"))) {
      const int64_t uc = item["id"].as_int();
      const std::string status = item["status"].as_string();
      const auto holders = live_holders.count(uc) ? live_holders[uc] : std::vector<int64_t>{};
      if (status == "USED") {
        EXPECT_EQ(holders.size(), 1u)
            << "USED coupon " << uc << " held by " << ::testing::PrintToString(holders);
      } else {
        EXPECT_EQ(status, "AVAILABLE") << "coupon " << uc;
        EXPECT_TRUE(holders.empty()) << "AVAILABLE coupon " << uc << " held by live orders "
                                     << ::testing::PrintToString(holders);
      }
    }
  }

  // Stock: initial + restocks - paid quantities, up to restocks whose answer the kill cut off.
  for (const auto& c : combos) {
    SCOPED_TRACE("combination " + std::to_string(c.combination_id));
    const int64_t stock = stock_of_combination(client, c.product_id, c.combination_id);
    EXPECT_GE(stock, 0);
    const int64_t expected = c.initial + c.acked_restock - paid_quantity[c.combination_id];
    EXPECT_TRUE(subset_sum(c.unanswered_restocks, stock - expected))
        << "stock " << stock << ", expected " << expected << " plus some of "
        << ::testing::PrintToString(c.unanswered_restocks) << " (initial " << c.initial
        << ", restocked " << c.acked_restock << ", paid " << paid_quantity[c.combination_id] << ")";
  }

  // Popular = quantities of PAID orders (refunded ones subtracted).
  auto pop = popular(client);
  for (const auto& p : products) EXPECT_EQ(pop[p.id], sold[p.id]) << "product " << p.id;

  // Events: gap-free from 1; one ORDER_PAID per PAID/REFUNDED order, one ORDER_REFUNDED per
  // REFUNDED order, after its ORDER_PAID.
  auto events = all_events(client);
  std::map<int64_t, int64_t> paid_seq, refunded_seq;
  for (size_t i = 0; i < events.size(); ++i) {
    const auto& e = events[i];
    EXPECT_EQ(e.seq, int64_t(i) + 1) << "the feed has a gap or is out of order";
    if (e.type == "ORDER_PAID") {
      EXPECT_EQ(paid_seq.count(e.order_id), 0u) << "second ORDER_PAID for " << e.order_id;
      paid_seq[e.order_id] = e.seq;
      EXPECT_EQ(e.order_status, "PAID");
    } else if (e.type == "ORDER_REFUNDED") {
      EXPECT_EQ(refunded_seq.count(e.order_id), 0u) << "second ORDER_REFUNDED for " << e.order_id;
      refunded_seq[e.order_id] = e.seq;
      EXPECT_EQ(e.order_status, "REFUNDED");
    } else {
      ADD_FAILURE() << "event type " << e.type;
    }
  }
  for (const auto& [id, status] : status_by_id) {
    const bool was_paid = status == "PAID" || status == "REFUNDED";
    EXPECT_EQ(paid_seq.count(id), was_paid ? 1u : 0u) << "ORDER_PAID of " << status << " " << id;
    EXPECT_EQ(refunded_seq.count(id), status == "REFUNDED" ? 1u : 0u)
        << "ORDER_REFUNDED of " << status << " " << id;
    if (status == "REFUNDED" && paid_seq.count(id) && refunded_seq.count(id)) {
      EXPECT_LT(paid_seq[id], refunded_seq[id]) << "order " << id;
    }
  }
  for (const auto& [id, seq] : paid_seq)
    EXPECT_TRUE(status_by_id.count(id)) << "ORDER_PAID for unknown order " << id;

  std::cout << "[ info ] " << operations.load() << " operations in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(load_time).count() << " ms, "
            << unanswered.load() << " unanswered (" << keyed_retries.load()
            << " retried with their key); orders: " << tracked << " acknowledged, " << untracked
            << " from unanswered creates;";
  for (const auto& [status, n] : status_count) std::cout << " " << status << " " << n;
  std::cout << "; " << events.size() << " events\n";
  EXPECT_GT(status_count["PAID"] + status_count["REFUNDED"], 0) << "the workload paid nothing";

  // The server keeps working: a new order is paid.
  auto& u = users[0];
  ASSERT_EQ(charge(client, u.id, u.token, 10'000).status, 200);
  auto created = create_order(client, u.id, u.token,
                              order_body({{combos[0].product_id, combos[0].combination_id, 1}}));
  if (created.status == 201) {
    auto paid = pay(client, u.id, u.token, parse_json(created.body)["id"].as_int());
    EXPECT_TRUE(paid.status == 200 || code_of(paid) == "OUT_OF_STOCK") << describe(paid);
  } else {
    EXPECT_EQ(code_of(created), "OUT_OF_STOCK") << describe(created);
  }
}

}  // namespace
}  // namespace ecom::test
