// judge_mixed and unexpected_answers on synthetic data: a consistent world built order by order
// passes, and each broken invariant (stock, balance, history chain, client 2xx, coupons,
// events, amounts, answers) is reported by name.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "tools/ecom_load/mixed_types.h"

namespace ecom::load {
namespace {

struct world {
  mixed_catalog catalog;
  std::vector<user_record> users;
  mixed_server_state server;
  op_table ops;
  std::int64_t next_order_id = 1000;
  std::int64_t next_entry_id = 1;
  std::map<std::int64_t, std::int64_t> sold;  // product → PAID quantity

  // The popular list a correct server shows: sold products, most sold first, ties by id.
  void rank_popular() {
    server.popular.clear();
    for (auto [product, quantity] : sold) {
      if (quantity > 0) server.popular.push_back({0, product, quantity});
    }
    std::sort(server.popular.begin(), server.popular.end(),
              [](const popular_item& x, const popular_item& y) {
                return x.sold_quantity != y.sold_quantity ? x.sold_quantity > y.sold_quantity
                                                          : x.product_id < y.product_id;
              });
    for (std::size_t i = 0; i < server.popular.size(); ++i) {
      server.popular[i].rank = static_cast<std::int64_t>(i) + 1;
    }
  }

  world() {
    catalog.products = {{10, {{101, 1000, 50}}}, {20, {{201, 2000, 30}, {202, 2500, 3}}}};
    catalog.coupon = {"FIXED", 3000, 5000};
    catalog.campaign_id = 7;
    for (const auto& p : catalog.products) {
      for (const auto& c : p.combinations) server.stock[c.id] = c.initial_stock;
    }
  }

  std::size_t add_user(std::int64_t id, std::int64_t charge, std::int64_t coupon_id = 0) {
    user_record record;
    record.user_id = id;
    record.charged = charge;
    record.user_coupon_id = coupon_id;
    users.push_back(record);
    user_snapshot snapshot;
    snapshot.user_id = id;
    snapshot.balance = charge;
    snapshot.history.push_back({next_entry_id++, "CHARGE", charge, 0, charge, 0});
    if (coupon_id) snapshot.coupons.push_back({coupon_id, "AVAILABLE", catalog.campaign_id});
    server.users.push_back(snapshot);
    return users.size() - 1;
  }

  std::int64_t price_of(std::int64_t combination) const {
    for (const auto& p : catalog.products) {
      for (const auto& c : p.combinations) {
        if (c.id == combination) return c.price;
      }
    }
    return 0;
  }

  std::int64_t product_of(std::int64_t combination) const { return combination / 10; }

  void add_entry(user_snapshot& u, const std::string& type, std::int64_t amount,
                 std::int64_t order_id) {
    // history is listed newest first
    u.history.insert(u.history.begin(),
                     {next_entry_id++, type, amount, u.balance, u.balance + amount, order_id});
    u.balance += amount;
  }

  void add_event(const std::string& type, std::int64_t order_id) {
    server.events.push_back({static_cast<std::int64_t>(server.events.size()) + 1, type, order_id,
                             type == "ORDER_PAID" ? "PAID" : "REFUNDED"});
  }

  // An order that reached status, consistent in the order list, the client's record, balance
  // history, stock, coupons and events.
  std::int64_t add_order(std::size_t user, const std::string& status,
                         std::vector<std::pair<std::int64_t, std::int64_t>> lines,
                         bool use_coupon = false) {
    user_record& record = users[user];
    user_snapshot& snapshot = server.users[user];
    server_order o;
    o.id = next_order_id++;
    o.user_id = record.user_id;
    o.status = status;
    for (auto [combination, quantity] : lines) {
      std::int64_t price = price_of(combination);
      o.items.push_back({product_of(combination), combination, quantity, price, quantity * price});
      o.total_amount += quantity * price;
    }
    o.user_coupon_id = use_coupon ? record.user_coupon_id : 0;
    o.discount_amount = use_coupon ? discount_for(catalog.coupon, o.total_amount) : 0;
    o.final_amount = o.total_amount - o.discount_amount;
    snapshot.orders.insert(snapshot.orders.begin(), o);

    order_record r;
    r.order_id = o.id;
    r.user_coupon_id = o.user_coupon_id;
    r.final_amount = o.final_amount;
    if (status == "PAID" || status == "REFUNDED") r.payment = step_result::ok;
    if (status == "PAYMENT_FAILED") {
      r.payment = step_result::rejected;
      r.payment_code = "INSUFFICIENT_BALANCE";
    }
    if (status == "CANCELLED" || status == "REFUNDED") {
      r.cancel = step_result::ok;
      r.cancel_status = status;
    }
    record.orders.push_back(r);

    if (status == "PAID" || status == "REFUNDED") {
      add_entry(snapshot, "USE", -o.final_amount, o.id);
      add_event("ORDER_PAID", o.id);
      if (status == "PAID") {
        for (const auto& line : o.items) {
          server.stock[line.combination_id] -= line.quantity;
          sold[line.product_id] += line.quantity;
        }
        rank_popular();
      }
    }
    if (status == "REFUNDED") {
      add_entry(snapshot, "REFUND", o.final_amount, o.id);
      add_event("ORDER_REFUNDED", o.id);
    }
    if (use_coupon && (status == "PENDING_PAYMENT" || status == "PAID")) {
      for (auto& c : snapshot.coupons) {
        if (c.id == o.user_coupon_id) c.status = "USED";
      }
    }
    return o.id;
  }

  mixed_verdict judge() const { return judge_mixed(catalog, users, server, ops); }

  // A user of each kind: paid with coupon, refunded, cancelled, payment failed, pending.
  void populate() {
    std::size_t a = add_user(1, 50'000, 501);
    std::size_t b = add_user(2, 9'000);
    add_order(a, "PAID", {{101, 2}, {201, 2}}, true);
    add_order(a, "REFUNDED", {{202, 1}});
    add_order(a, "CANCELLED", {{101, 1}});
    add_order(b, "PAID", {{201, 3}});
    add_order(b, "PAYMENT_FAILED", {{202, 2}});
    add_order(b, "PENDING_PAYMENT", {{101, 1}});
    server.events.insert(server.events.begin(), {1, "ORDER_PAID", 1, "PAID"});  // another run's
    for (std::size_t i = 0; i < server.events.size(); ++i) {
      server.events[i].seq = static_cast<std::int64_t>(i) + 1;
    }
  }
};

bool has_failure(const mixed_verdict& v, const std::string& text) {
  return std::any_of(v.failures.begin(), v.failures.end(),
                     [&](const std::string& f) { return f.find(text) != std::string::npos; });
}

std::string failures_of(const mixed_verdict& v) {
  std::string text;
  for (const auto& f : v.failures) text += f + "\n";
  return text;
}

TEST(mixed_audit, discount_arithmetic) {
  EXPECT_EQ(discount_for({"FIXED", 3000, 0}, 10'000), 3000);
  EXPECT_EQ(discount_for({"FIXED", 3000, 0}, 2'000), 2000);
  EXPECT_EQ(discount_for({"PERCENT", 15, 0}, 9'999), 1499);
  EXPECT_EQ(discount_for({"PERCENT", 100, 0}, 7), 7);
}

TEST(mixed_audit, consistent_world_passes) {
  world w;
  w.populate();
  auto v = w.judge();
  EXPECT_TRUE(v.pass()) << failures_of(v);
  EXPECT_EQ(v.users_audited, 2);
  EXPECT_EQ(v.orders_seen, 6);
  EXPECT_EQ(v.order_status_counts["PAID"], 2);
  EXPECT_EQ(v.combinations_checked, 3);
  EXPECT_EQ(v.coupons_used, 1);
  EXPECT_EQ(v.events_read, 5);
  EXPECT_EQ(v.run_paid_events, 3);
  EXPECT_EQ(v.run_refunded_events, 1);
  EXPECT_EQ(w.server.stock.at(202), 3);  // refunded: returned
  EXPECT_EQ(w.server.stock.at(201), 25);
}

TEST(mixed_audit, stock_off_by_one_fails) {
  world w;
  w.populate();
  w.server.stock[201] += 1;
  auto v = w.judge();
  EXPECT_TRUE(has_failure(v,
                          "stock != initial + restocks - PAID quantities: 1 (product 20 "
                          "combination 201: 30 + 0 - 5 != 26)"))
      << failures_of(v);
}

TEST(mixed_audit, restocks_count_in_the_stock_balance) {
  world w;
  w.populate();
  w.catalog.restocks[101] = 10;
  EXPECT_FALSE(w.judge().pass());
  w.server.stock[101] += 10;
  EXPECT_TRUE(w.judge().pass()) << failures_of(w.judge());
}

TEST(mixed_audit, combination_with_a_lost_restock_answer_is_not_balanced) {
  world w;
  w.populate();
  w.server.stock[101] += 7;  // a restock whose answer was lost
  EXPECT_FALSE(w.judge().pass());
  w.catalog.restock_uncertain[101] = true;
  EXPECT_TRUE(w.judge().pass()) << failures_of(w.judge());
  w.server.stock[101] = -1;  // never below 0, though
  EXPECT_TRUE(has_failure(w.judge(), "negative stock")) << failures_of(w.judge());
}

TEST(mixed_audit, negative_stock_fails) {
  world w;
  w.populate();
  w.server.stock[202] = -1;
  auto v = w.judge();
  EXPECT_TRUE(has_failure(v, "negative stock: 1")) << failures_of(v);
}

TEST(mixed_audit, balance_not_sum_of_history_fails) {
  world w;
  w.populate();
  w.server.users[0].balance += 100;
  auto v = w.judge();
  EXPECT_TRUE(has_failure(v, "balance != sum of history: 1 (user 1")) << failures_of(v);
  EXPECT_TRUE(has_failure(v, "last balance_after != balance")) << failures_of(v);
}

TEST(mixed_audit, broken_history_chain_fails) {
  world w;
  w.populate();
  auto& newest = w.server.users[0].history.front();
  newest.balance_before += 5;
  newest.balance_after += 5;
  auto v = w.judge();
  EXPECT_TRUE(has_failure(v, "balance history chain broken")) << failures_of(v);
  EXPECT_FALSE(has_failure(v, "balance_after != balance_before + amount")) << failures_of(v);
}

TEST(mixed_audit, entry_arithmetic_and_negative_balance_fail) {
  world w;
  std::size_t u = w.add_user(3, 1000);
  w.server.users[u].history.front().balance_after = 999;
  w.add_entry(w.server.users[u], "USE", -2000, 0);
  auto v = w.judge();
  EXPECT_TRUE(has_failure(v, "balance_after != balance_before + amount")) << failures_of(v);
  EXPECT_TRUE(has_failure(v, "negative balance")) << failures_of(v);
}

TEST(mixed_audit, paid_order_without_use_entry_fails) {
  world w;
  w.populate();
  auto& history = w.server.users[1].history;
  auto use = std::find_if(history.begin(), history.end(),
                          [](const balance_entry& e) { return e.type == "USE"; });
  ASSERT_NE(use, history.end());
  history.erase(use);
  auto v = w.judge();
  EXPECT_TRUE(has_failure(v, "USE entries differ from paid orders")) << failures_of(v);
}

TEST(mixed_audit, payment_200_not_reflected_fails) {
  world w;
  w.populate();
  // the client saw 200 for the pending order's payment
  auto& record = w.users[1].orders.back();
  record.payment = step_result::ok;
  auto v = w.judge();
  EXPECT_TRUE(has_failure(v,
                          "order status contradicts a client's answer: 1 (order 1005 (user 2) "
                          "is PENDING_PAYMENT, expected PAID)"))
      << failures_of(v);
}

TEST(mixed_audit, cancel_200_not_reflected_fails) {
  world w;
  w.populate();
  auto& paid = w.users[1].orders.front();  // PAID on the server
  paid.cancel = step_result::ok;
  paid.cancel_status = "REFUNDED";
  auto v = w.judge();
  EXPECT_TRUE(has_failure(v, "is PAID, expected REFUNDED")) << failures_of(v);
}

TEST(mixed_audit, uncertain_payment_allows_any_state) {
  world w;
  w.populate();
  w.users[1].orders.back().payment = step_result::uncertain;  // pending on the server
  EXPECT_TRUE(w.judge().pass()) << failures_of(w.judge());
}

TEST(mixed_audit, order_created_with_201_but_missing_fails) {
  world w;
  w.populate();
  w.users[0].orders.push_back({424242, 0, 1000, step_result::none, "", step_result::none, ""});
  auto v = w.judge();
  EXPECT_TRUE(has_failure(v, "orders answered 201 but not listed: 1 (user 1 order 424242)"))
      << failures_of(v);
}

TEST(mixed_audit, unexplained_orders_need_an_uncertain_create) {
  world w;
  w.populate();
  w.users[1].orders.pop_back();  // the pending order's 201 was lost
  auto v = w.judge();
  EXPECT_TRUE(has_failure(v, "orders no client created: 1 (user 2 has 1, uncertain creates 0)"))
      << failures_of(v);
  w.users[1].uncertain_creates = 1;
  EXPECT_TRUE(w.judge().pass()) << failures_of(w.judge());
}

TEST(mixed_audit, used_coupon_without_order_fails) {
  world w;
  std::size_t u = w.add_user(5, 10'000, 777);
  w.server.users[u].coupons.front().status = "USED";
  auto v = w.judge();
  EXPECT_TRUE(has_failure(v,
                          "USED coupons not on exactly one PENDING_PAYMENT or PAID order: 1 "
                          "(user 5 coupon 777 USED on 0)"))
      << failures_of(v);
}

TEST(mixed_audit, coupon_on_two_live_orders_fails) {
  world w;
  std::size_t u = w.add_user(5, 100'000, 777);
  w.add_order(u, "PENDING_PAYMENT", {{201, 3}}, true);
  w.add_order(u, "PAID", {{201, 3}}, true);
  auto v = w.judge();
  EXPECT_TRUE(has_failure(v, "coupon 777 USED on 2")) << failures_of(v);
}

TEST(mixed_audit, coupon_restored_but_still_used_fails) {
  world w;
  std::size_t u = w.add_user(5, 100'000, 777);
  w.add_order(u, "PAYMENT_FAILED", {{201, 3}}, true);
  w.server.users[u].coupons.front().status = "USED";
  auto v = w.judge();
  EXPECT_TRUE(has_failure(v, "USED on 0")) << failures_of(v);
}

TEST(mixed_audit, available_coupon_on_a_paid_order_fails) {
  world w;
  std::size_t u = w.add_user(5, 100'000, 777);
  w.add_order(u, "PAID", {{201, 3}}, true);
  w.server.users[u].coupons.front().status = "AVAILABLE";
  auto v = w.judge();
  EXPECT_TRUE(has_failure(v, "coupons on a PENDING_PAYMENT or PAID order but not USED"))
      << failures_of(v);
}

TEST(mixed_audit, wrong_discount_fails) {
  world w;
  std::size_t u = w.add_user(5, 100'000, 777);
  w.add_order(u, "PENDING_PAYMENT", {{201, 3}}, true);
  w.server.users[u].orders.front().discount_amount = 2000;
  auto v = w.judge();
  EXPECT_TRUE(has_failure(v, "order amounts wrong: 1 (order")) << failures_of(v);
}

TEST(mixed_audit, wrong_unit_price_fails) {
  world w;
  std::size_t u = w.add_user(5, 100'000);
  w.add_order(u, "PENDING_PAYMENT", {{201, 1}});
  auto& line = w.server.users[u].orders.front().items.front();
  line.unit_price = 1999;
  line.line_total = 1999;
  auto v = w.judge();
  EXPECT_TRUE(has_failure(v, "unit_price differs from the combination's price")) << failures_of(v);
}

TEST(mixed_audit, event_gap_fails) {
  world w;
  w.populate();
  w.server.events.erase(w.server.events.begin() + 1);
  auto v = w.judge();
  EXPECT_TRUE(has_failure(v, "event seq not gap-free from 1")) << failures_of(v);
  EXPECT_TRUE(has_failure(v, "ORDER_PAID events differ from PAID/REFUNDED orders"))
      << failures_of(v);
}

TEST(mixed_audit, missing_refund_event_fails) {
  world w;
  w.populate();
  auto& events = w.server.events;
  events.erase(std::find_if(events.begin(), events.end(),
                            [](const event_record& e) { return e.type == "ORDER_REFUNDED"; }));
  for (std::size_t i = 0; i < events.size(); ++i) events[i].seq = static_cast<std::int64_t>(i) + 1;
  auto v = w.judge();
  EXPECT_TRUE(has_failure(v, "ORDER_REFUNDED events differ from REFUNDED orders: 1"))
      << failures_of(v);
  EXPECT_FALSE(has_failure(v, "gap-free")) << failures_of(v);
}

TEST(mixed_audit, event_with_the_wrong_order_status_fails) {
  world w;
  w.populate();
  w.server.events[1].order_status = "PENDING_PAYMENT";
  auto v = w.judge();
  EXPECT_TRUE(has_failure(v,
                          "event's order in another status than the event: 1 (seq 2 "
                          "ORDER_PAID order 1000 PENDING_PAYMENT)"))
      << failures_of(v);
}

TEST(mixed_audit, refunded_free_order_needs_no_refund_entry) {
  world w;
  std::size_t u = w.add_user(5, 1000, 777);
  w.catalog.coupon = {"FIXED", 100'000, 0};
  w.add_order(u, "REFUNDED", {{101, 1}}, true);
  auto& history = w.server.users[u].history;
  EXPECT_EQ(history.front().type, "REFUND");
  EXPECT_EQ(history.front().amount, 0);
  // with a REFUND entry of 0: the contract says REFUND amounts are > 0
  EXPECT_TRUE(has_failure(w.judge(), "balance entry type/sign wrong")) << failures_of(w.judge());
  history.erase(history.begin());
  w.server.users[u].balance = history.front().balance_after;
  EXPECT_TRUE(w.judge().pass()) << failures_of(w.judge());
}

TEST(mixed_audit, duplicate_paid_event_fails) {
  world w;
  w.populate();
  w.add_event("ORDER_PAID", w.server.users[1].orders.back().id + 0);  // the pending order
  auto v = w.judge();
  EXPECT_TRUE(has_failure(v, "ORDER_PAID events differ")) << failures_of(v);
}

TEST(mixed_audit, popular_products_match_paid_quantities) {
  world w;
  w.populate();
  ASSERT_EQ(w.server.popular.size(), 2u);
  EXPECT_EQ(w.server.popular[0].product_id, 20);
  EXPECT_EQ(w.server.popular[0].sold_quantity, 5);  // 2 + 3 paid, the refunded 1 left out

  world counted_refund = w;
  counted_refund.server.popular[0].sold_quantity = 6;
  auto v = counted_refund.judge();
  EXPECT_TRUE(has_failure(v, "popular sold_quantity != PAID quantities: 1 (product 20: 6 vs 5)"))
      << failures_of(v);

  world missing = w;
  missing.server.popular.pop_back();
  v = missing.judge();
  EXPECT_TRUE(has_failure(v, "popular products missing: 1 (product 10 sold 2 but is not listed)"))
      << failures_of(v);

  world unordered = w;
  std::swap(unordered.server.popular[0].product_id, unordered.server.popular[1].product_id);
  std::swap(unordered.server.popular[0].sold_quantity, unordered.server.popular[1].sold_quantity);
  v = unordered.judge();
  EXPECT_TRUE(has_failure(v, "popular list not ranked by sold_quantity")) << failures_of(v);

  // a full list of other runs' best sellers may leave ours out
  world crowded = w;
  crowded.server.popular.clear();
  for (int i = 0; i < 100; ++i) crowded.server.popular.push_back({i + 1, 9000 + i, 50});
  EXPECT_TRUE(crowded.judge().pass()) << failures_of(crowded.judge());
}

TEST(mixed_audit, unreadable_parts_fail) {
  world w;
  w.populate();
  w.server.users[1].read_error = "GET /users/2/orders: 500";
  w.server.events_error = "GET /admin/events: 404 NOT_FOUND";
  w.server.popular_error = "GET /products/popular: 500";
  auto v = w.judge();
  EXPECT_TRUE(has_failure(v, "users unreadable: 1 (user 2: GET /users/2/orders: 500)"))
      << failures_of(v);
  EXPECT_TRUE(has_failure(v, "events unreadable")) << failures_of(v);
  EXPECT_TRUE(has_failure(v, "popular products unreadable")) << failures_of(v);
}

TEST(mixed_audit, unexpected_answers_are_listed) {
  op_table ops;
  auto& pay = ops[static_cast<std::size_t>(mixed_op::pay)];
  pay.record_answer(200, 100);
  pay.record_answer(409, 100);
  pay.record_problem(409, "INSUFFICIENT_BALANCE");
  pay.record_answer(409, 100);
  pay.record_problem(409, "ORDER_NOT_PAYABLE");
  pay.record_answer(503, 100);
  pay.record_problem(503, "OVERLOADED");
  pay.record_transport_failure();
  auto& browse = ops[static_cast<std::size_t>(mixed_op::browse)];
  browse.record_answer(500, 100);
  browse.record_problem(500, "INTERNAL");
  auto& cancel = ops[static_cast<std::size_t>(mixed_op::cancel)];
  cancel.record_answer(409, 10);
  auto found = unexpected_answers(ops);
  std::vector<std::string> expected{"browse 500 x1", "pay 409 ORDER_NOT_PAYABLE x1",
                                    "cancel 409 without code x1"};
  EXPECT_EQ(found, expected);

  world w;
  w.populate();
  w.ops = ops;
  auto v = w.judge();
  EXPECT_TRUE(has_failure(v, "unexpected answers: browse 500 x1, pay 409 ORDER_NOT_PAYABLE x1"))
      << failures_of(v);
}

TEST(mixed_audit, repeated_delete_finding_the_line_gone_is_excused) {
  op_table ops;
  auto& remove = ops[static_cast<std::size_t>(mixed_op::remove_from_cart)];
  remove.record_transport_failure();
  remove.record_answer(404, 5);
  remove.record_problem(404, std::string("CART_ITEM_NOT_FOUND") + std::string(lost_answer_suffix));
  EXPECT_TRUE(unexpected_answers(ops).empty());
  remove.record_answer(404, 5);
  remove.record_problem(404, "CART_ITEM_NOT_FOUND");
  EXPECT_EQ(unexpected_answers(ops), std::vector<std::string>{"remove_from_cart 404 x1"});
}

TEST(mixed_audit, expected_answers_pass) {
  op_table ops;
  auto& add = ops[static_cast<std::size_t>(mixed_op::add_to_cart)];
  add.record_answer(201, 5);
  add.record_answer(409, 5);
  add.record_problem(409, "OUT_OF_STOCK");
  auto& remove = ops[static_cast<std::size_t>(mixed_op::remove_from_cart)];
  remove.record_answer(204, 5);
  auto& restock = ops[static_cast<std::size_t>(mixed_op::restock)];
  restock.record_answer(200, 5);
  restock.record_answer(409, 5);
  restock.record_problem(409, "OUT_OF_STOCK");
  auto& checkout = ops[static_cast<std::size_t>(mixed_op::checkout)];
  checkout.record_answer(409, 5);
  checkout.record_problem(409, "IDEMPOTENCY_KEY_IN_USE");
  EXPECT_TRUE(unexpected_answers(ops).empty());
}

}  // namespace
}  // namespace ecom::load
