// Orders on one shard with time as an input: pricing and discount math at its limits, the state
// machine (every illegal transition refused, by the handlers and by apply), the create checks in
// the contract's order, payment through the books (take, finish, commit / release), refunds,
// expiry (also after downtime, never while a payment runs), popularity windows and ties, the
// event feed's seq, and replay rebuilding the same state.
#include <gtest/gtest.h>

#include "engine/product_rules.h"
#include "tests/support/shard_books.h"

namespace ecom::engine {
namespace {

using test::t0;
constexpr time_ms ttl = test::shard_books::order_ttl_ms;

using books = test::shard_books;

// ---- pricing ------------------------------------------------------------------------------------

TEST(order_pricing_test, fixed_discount_never_exceeds_the_total) {
  std::vector<order_line> lines{{1, 1, "a", "x", 2, 1'500, 3'000}, {2, 2, "b", "y", 1, 700, 700}};
  coupon_template fixed{1, "f", coupon_kind::fixed, 1'000, 0, 1, 0};
  auto a = price_order(lines, &fixed);
  EXPECT_EQ(a.total, 3'700);
  EXPECT_EQ(a.discount, 1'000);
  EXPECT_EQ(a.final_amount, 2'700);
  fixed.amount = 5'000;
  a = price_order(lines, &fixed);
  EXPECT_EQ(a.discount, 3'700);
  EXPECT_EQ(a.final_amount, 0);
  a = price_order(lines, nullptr);
  EXPECT_EQ(a.discount, 0);
  EXPECT_EQ(a.final_amount, 3'700);
}

TEST(order_pricing_test, percent_discount_rounds_down_and_stays_exact_at_the_largest_total) {
  coupon_template percent{1, "p", coupon_kind::percent, 33, 0, 1, 0};
  std::vector<order_line> lines{{1, 1, "a", "x", 1, 999, 999}};
  EXPECT_EQ(price_order(lines, &percent).discount, 329);  // 329.67 → 329
  percent.amount = 100;
  EXPECT_EQ(price_order(lines, &percent).final_amount, 0);
  // 50 lines × 999 × 1e9 won: the largest total an order can have.
  std::vector<order_line> big(50, order_line{1, 1, "a", "x", 999, 1'000'000'000, 0});
  percent.amount = 99;
  auto a = price_order(big, &percent);
  EXPECT_EQ(a.total, 49'950'000'000'000);
  EXPECT_EQ(a.discount, 49'450'500'000'000);
  EXPECT_EQ(a.total - a.discount, a.final_amount);
}

TEST(order_state_test, only_the_contracts_transitions_are_allowed) {
  const order_status all[] = {order_status::pending_payment, order_status::paid,
                              order_status::payment_failed,  order_status::cancelled,
                              order_status::expired,         order_status::refunded};
  int allowed = 0;
  for (auto from : all) {
    for (auto to : all) {
      bool legal = (from == order_status::pending_payment &&
                    (to == order_status::paid || to == order_status::payment_failed ||
                     to == order_status::cancelled || to == order_status::expired)) ||
                   (from == order_status::paid && to == order_status::refunded);
      EXPECT_EQ(order_transition_allowed(from, to), legal)
          << static_cast<int>(from) << " -> " << static_cast<int>(to);
      allowed += legal;
    }
  }
  EXPECT_EQ(allowed, 5);
}

// ---- create
// ---------------------------------------------------------------------------------------

TEST(order_test, create_checks_run_in_the_contracts_order) {
  books b;
  entity_id u = b.user(0);
  product_view on = b.product(1'000, 5), off = b.product(1'000, 5, false);
  create_order missing;
  missing.user_id = u;
  missing.items.push_back({on.id, on.combinations[0].id, 1, b.fact(on)});
  missing.items.push_back({999, 1, 1, sale_fact{}});  // not found outranks the rest
  missing.items.push_back({off.id, off.combinations[0].id, 1, b.fact(off)});
  EXPECT_EQ(b.run(missing).code, errc::product_not_found);
  sale_fact no_combination = b.fact(on);
  no_combination.combination_found = false;
  missing.items[1] = {on.id, 777, 1, no_combination};
  EXPECT_EQ(b.run(missing).code, errc::combination_not_found);
  // Inactive outranks out of stock, which outranks the coupon.
  EXPECT_EQ(b.order(u, {{on, 6}, {off, 1}}, 12345).code, errc::product_inactive);
  EXPECT_EQ(b.order(u, {{on, 6}}, 12345).code, errc::out_of_stock);
  EXPECT_EQ(b.order(u, {{on, 5}}, 12345).code, errc::coupon_not_usable);
  entity_id c = b.coupon(u, coupon_kind::fixed, 500, 5'001);
  EXPECT_EQ(b.order(u, {{on, 5}}, c).code, errc::min_order_amount_not_met);
  EXPECT_EQ(b.coupon_status(u, c), user_coupon_status::available) << "a refusal changes nothing";
  EXPECT_EQ(b.run(create_order{12345, {}, 0, {}, ttl}).code, errc::user_not_found);
  EXPECT_EQ(b.orders.order_count(), 0u);
}

TEST(order_test, create_uses_the_coupon_and_prices_the_lines_as_they_were_read) {
  books b;
  entity_id u = b.user(0), other = b.user(0, "o@x.y");
  product_view p = b.product(2'000, 10), q = b.product(300, 10);
  entity_id c = b.coupon(u, coupon_kind::percent, 10, 4'000);
  reply created = b.order(u, {{p, 2}, {q, 3}}, c);
  ASSERT_EQ(created.code, errc::ok);
  const auto& o = std::get<order_view>(created.body);
  EXPECT_EQ(o.status, order_status::pending_payment);
  EXPECT_EQ(o.total_amount, 4'900);
  EXPECT_EQ(o.discount_amount, 490);
  EXPECT_EQ(o.final_amount, 4'410);
  EXPECT_EQ(o.lines[1].line_total, 900);
  EXPECT_EQ(o.expires_at, t0 + ttl);
  EXPECT_EQ(b.coupon_status(u, c), user_coupon_status::used);
  // Used now: a second order may not use it, nor may another user.
  EXPECT_EQ(b.order(u, {{p, 2}}, c).code, errc::coupon_not_usable);
  EXPECT_EQ(b.order(other, {{p, 2}}, c).code, errc::coupon_not_usable);
  EXPECT_EQ(b.stock(p), 10) << "creating an order reserves nothing";
}

// ---- payment -----------------------------------------------------------------------------------

TEST(order_test, payment_takes_stock_and_balance_and_counts_the_sale) {
  books b;
  entity_id u = b.user(10'000);
  product_view p = b.product(1'000, 5);
  entity_id o = b.order_id(u, p, 3);
  reply paid = b.pay(u, o, t0 + 10);
  ASSERT_EQ(paid.code, errc::ok);
  EXPECT_EQ(b.get(u, o).status, order_status::paid);
  EXPECT_EQ(b.get(u, o).paid_at, t0 + 10);
  EXPECT_EQ(b.stock(p), 2);
  EXPECT_EQ(b.balance(u), 7'000);
  auto top = b.popular(t0);
  ASSERT_EQ(top.size(), 1u);
  EXPECT_EQ(top[0].sold_quantity, 3);
  EXPECT_EQ(b.events.last_seq(), 1u);
  auto history = std::get<history_page>(b.run(list_balance_history{u, 0, 10}).body).items;
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0].kind, balance_entry_kind::use);
  EXPECT_EQ(history[0].amount, -3'000);
  EXPECT_EQ(history[0].order_id, o);
}

TEST(order_test, a_failed_payment_changes_nothing_but_the_order_and_restores_the_coupon) {
  books b;
  entity_id u = b.user(1'000);
  product_view p = b.product(1'000, 5), q = b.product(500, 1);
  entity_id c = b.coupon(u, coupon_kind::fixed, 100);
  // Balance short (checked last): 409, stock untouched, coupon back.
  entity_id o1 = b.order_id(u, p, 2, c);
  EXPECT_EQ(b.pay(u, o1).code, errc::insufficient_balance);
  EXPECT_EQ(b.get(u, o1).status, order_status::payment_failed);
  EXPECT_EQ(b.coupon_status(u, c), user_coupon_status::available);
  EXPECT_EQ(b.stock(p), 5);
  EXPECT_EQ(b.balance(u), 1'000);
  // Stock short outranks balance short.
  entity_id o2 = b.order_id(u, q, 1);
  EXPECT_EQ(b.run(adjust_stock{q.id, q.combinations[0].id, -1}).code, errc::ok);
  EXPECT_EQ(b.pay(u, o2).code, errc::out_of_stock);
  // A product taken off sale fails the payment before stock is looked at.
  entity_id o3 = b.order_id(u, p, 1);
  EXPECT_EQ(b.run(update_product{p.id, {}, {}, {}, false}).code, errc::ok);
  EXPECT_EQ(b.pay(u, o3).code, errc::product_inactive);
  EXPECT_EQ(b.stock(p), 5);
  EXPECT_EQ(b.sales.hold_count(), 0u) << "no stock hold is left behind";
}

TEST(order_test, stock_taken_for_a_payment_that_fails_on_balance_is_given_back) {
  books b;
  entity_id u = b.user(1'000);
  product_view p = b.product(1'000, 5);
  entity_id o = b.order_id(u, p, 1);
  reply begun = b.run(begin_payment{u, o});
  ASSERT_FALSE(std::get<payment_plan>(begun.body).check_only);
  ASSERT_EQ(b.run(take_stock{o, u, {{p.id, p.combinations[0].id, 1}}, false}).code, errc::ok);
  EXPECT_EQ(b.stock(p), 4);
  // Meanwhile another order of the user spent the balance.
  entity_id other = b.order_id(u, p, 1);
  ASSERT_EQ(b.pay(u, other).code, errc::ok);
  EXPECT_EQ(b.run(finish_payment{u, o, errc::ok, false}).code, errc::insufficient_balance);
  b.run(release_stock{o});
  EXPECT_EQ(b.stock(p), 4) << "one unit sold, the failed payment's unit back";
  EXPECT_EQ(b.balance(u), 0);
}

TEST(order_test, every_illegal_transition_is_refused) {
  books b;
  entity_id u = b.user(100'000);
  product_view p = b.product(1'000, 100);
  entity_id paid = b.order_id(u, p, 1), cancelled = b.order_id(u, p, 1);
  entity_id failed = b.order_id(u, p, 1), refunded = b.order_id(u, p, 1);
  entity_id expired = b.order_id(u, p, 1);
  ASSERT_EQ(b.pay(u, paid).code, errc::ok);
  ASSERT_EQ(b.run(cancel_order{u, cancelled}).code, errc::ok);
  ASSERT_EQ(b.run(update_product{p.id, {}, {}, {}, false}).code, errc::ok);
  ASSERT_EQ(b.pay(u, failed).code, errc::product_inactive);
  ASSERT_EQ(b.run(update_product{p.id, {}, {}, {}, true}).code, errc::ok);
  ASSERT_EQ(b.pay(u, refunded).code, errc::ok);
  ASSERT_EQ(std::get<order_view>(b.run(cancel_order{u, refunded}).body).status,
            order_status::refunded);
  std::vector<record> out;
  b.orders.expire(t0 + ttl, out);  // `expired` (the others are no longer pending)
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(b.get(u, expired).status, order_status::expired);
  for (entity_id o : {paid, cancelled, failed, refunded, expired}) {
    EXPECT_EQ(b.run(begin_payment{u, o}).code, errc::order_not_payable) << o;
  }
  for (entity_id o : {cancelled, failed, refunded, expired}) {
    EXPECT_EQ(b.run(cancel_order{u, o}).code, errc::order_not_cancellable) << o;
  }
  EXPECT_EQ(b.run(begin_payment{u, 424242}).code, errc::order_not_found);
  // apply() refuses them too: a record replayed twice, or out of order, does not fit.
  for (const record& r : b.log) {
    if (shard_state::book_of(r.type) == record_book::orders &&
        r.type != record_type::order_created) {
      EXPECT_FALSE(b.orders.apply(r.type, r.payload)) << static_cast<int>(r.type);
    }
  }
}

TEST(order_test, a_payment_in_progress_blocks_a_second_payment_cancel_and_expiry) {
  books b;
  entity_id u = b.user(10'000);
  product_view p = b.product(1'000, 5);
  entity_id o = b.order_id(u, p, 1);
  ASSERT_EQ(b.run(begin_payment{u, o}).code, errc::ok);
  EXPECT_EQ(b.run(begin_payment{u, o}).code, errc::order_not_payable);
  EXPECT_EQ(b.run(cancel_order{u, o}).code, errc::order_not_cancellable);
  std::vector<record> out;
  b.orders.expire(t0 + ttl + 1, out);
  EXPECT_TRUE(out.empty()) << "a running payment decides the order, not the sweep";
  ASSERT_EQ(b.run(take_stock{o, u, {{p.id, p.combinations[0].id, 1}}, false}).code, errc::ok);
  EXPECT_EQ(b.run(finish_payment{u, o, errc::ok, false}).code, errc::ok);
}

TEST(order_test, refund_returns_balance_stock_coupon_and_popularity) {
  books b;
  entity_id u = b.user(10'000);
  product_view p = b.product(1'000, 5);
  entity_id c = b.coupon(u, coupon_kind::fixed, 400);
  entity_id o = b.order_id(u, p, 2, c);
  ASSERT_EQ(b.pay(u, o).code, errc::ok);
  EXPECT_EQ(b.balance(u), 8'400);
  reply refunded = b.run(cancel_order{u, o}, t0 + 5);
  ASSERT_EQ(refunded.code, errc::ok);
  EXPECT_EQ(std::get<order_view>(refunded.body).cancelled_at, t0 + 5);
  b.run(refund_sale{o});
  EXPECT_EQ(b.balance(u), 10'000);
  EXPECT_EQ(b.stock(p), 5);
  EXPECT_EQ(b.coupon_status(u, c), user_coupon_status::available);
  EXPECT_TRUE(b.popular(t0).empty()) << "a refunded order no longer counts";
  EXPECT_EQ(b.run(refund_sale{o}).code, errc::ok);
  EXPECT_EQ(b.stock(p), 5) << "a refund step sent again changes nothing";
}

TEST(order_test, a_restored_coupon_past_its_expiry_ends_expired) {
  books b;
  entity_id u = b.user(10'000);
  product_view p = b.product(1'000, 5);
  entity_id c = b.coupon(u, coupon_kind::fixed, 100, 0, 1);  // valid one day
  entity_id o = b.order_id(u, p, 1, c);
  ASSERT_EQ(b.pay(u, o).code, errc::ok);
  time_ms later = t0 + 2 * day_ms;
  ASSERT_EQ(b.run(cancel_order{u, o}, later).code, errc::ok);
  EXPECT_EQ(b.coupon_status(u, c, later), user_coupon_status::expired);
  std::vector<record> out;
  b.wallets.expire(later, out);
  EXPECT_EQ(out.size(), 1u) << "the sweep records the EXPIRE once restored";
}

TEST(order_test, refunding_a_free_order_writes_no_refund_entry) {
  books b;
  entity_id u = b.user(1'000);
  product_view p = b.product(500, 5);
  entity_id c = b.coupon(u, coupon_kind::fixed, 1'000);
  entity_id o = b.order_id(u, p, 1, c);
  ASSERT_EQ(b.get(u, o).final_amount, 0);
  ASSERT_EQ(b.pay(u, o).code, errc::ok);  // a USE entry of 0 (the contract asks for it)
  ASSERT_EQ(b.run(cancel_order{u, o}).code, errc::ok);
  auto history = std::get<history_page>(b.run(list_balance_history{u, 0, 10}).body).items;
  ASSERT_EQ(history.size(), 2u) << "CHARGE and USE 0; a REFUND must have amount > 0";
  EXPECT_EQ(history[0].kind, balance_entry_kind::use);
  EXPECT_EQ(history[0].amount, 0);
  EXPECT_EQ(b.balance(u), 1'000);
}

// ---- expiry ------------------------------------------------------------------------------------

TEST(order_test, pending_orders_expire_at_their_instant_also_after_downtime) {
  books b;
  entity_id u = b.user(0);
  product_view p = b.product(1'000, 5);
  entity_id c = b.coupon(u, coupon_kind::fixed, 100);
  entity_id o = b.order_id(u, p, 1, c);
  std::vector<record> out;
  b.orders.expire(t0 + ttl - 1, out);
  EXPECT_TRUE(out.empty());
  b.orders.expire(t0 + ttl + 3 * day_ms, out);  // the server was down for days
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(b.get(u, o).status, order_status::expired);
  EXPECT_EQ(b.coupon_status(u, c), user_coupon_status::available);
  auto history = std::get<coupon_history_page>(b.run(list_coupon_history{u, 0, 10}).body).items;
  ASSERT_FALSE(history.empty());
  EXPECT_EQ(history[0].action, coupon_action::restore);
  EXPECT_EQ(history[0].order_id, o);
  EXPECT_EQ(history[0].created_at, t0 + ttl) << "recorded at the expiry instant";
}

TEST(order_test, an_order_past_its_expiry_cannot_be_paid_or_cancelled_even_before_the_sweep) {
  books b;
  entity_id u = b.user(10'000);
  product_view p = b.product(1'000, 5);
  entity_id o = b.order_id(u, p, 1);
  EXPECT_FALSE(b.orders.has_due(t0 + ttl - 1));
  EXPECT_TRUE(b.orders.has_due(t0 + ttl));
  EXPECT_EQ(b.run(begin_payment{u, o}, t0 + ttl).code, errc::order_not_payable);
  EXPECT_EQ(b.run(cancel_order{u, o}, t0 + ttl).code, errc::order_not_cancellable);
  std::vector<record> out;
  b.orders.expire(t0 + ttl, out);
  EXPECT_FALSE(b.orders.has_due(t0 + ttl + day_ms));
  auto page = std::get<order_page>(b.run(list_orders{u, 5, 0, 10}, t0 + ttl).body);  // EXPIRED
  ASSERT_EQ(page.items.size(), 1u);
  EXPECT_EQ(page.items[0].id, o);
}

// ---- popularity --------------------------------------------------------------------------------

TEST(order_test, popularity_window_includes_its_start_and_breaks_ties_by_product_id) {
  books b;
  entity_id u = b.user(1'000'000);
  product_view p1 = b.product(10, 100, true, "one"), p2 = b.product(10, 100, true, "two");
  product_view p3 = b.product(10, 100, true, "three");
  ASSERT_EQ(b.pay(u, b.order_id(u, p3, 4), t0).code, errc::ok);
  ASSERT_EQ(b.pay(u, b.order_id(u, p2, 4, 0, t0 + day_ms), t0 + day_ms).code, errc::ok);
  ASSERT_EQ(b.pay(u, b.order_id(u, p1, 1, 0, t0 + 2 * day_ms), t0 + 2 * day_ms).code, errc::ok);
  ASSERT_EQ(b.pay(u, b.order_id(u, p1, 2, 0, t0 + 2 * day_ms), t0 + 2 * day_ms).code, errc::ok);
  auto all = b.popular(t0);
  ASSERT_EQ(all.size(), 3u);
  // p2 and p3 tie at 4: the smaller id first; p1 has 3.
  EXPECT_EQ(all[0].product_id, std::min(p2.id, p3.id));
  EXPECT_EQ(all[1].product_id, std::max(p2.id, p3.id));
  EXPECT_EQ(all[2].product_id, p1.id);
  EXPECT_EQ(all[2].sold_quantity, 3);
  EXPECT_EQ(all[0].name, p2.id < p3.id ? "two" : "three");
  auto recent = b.popular(t0 + day_ms);  // p3's sale is one ms outside
  ASSERT_EQ(recent.size(), 2u);
  EXPECT_EQ(recent[0].product_id, p2.id);
  EXPECT_EQ(b.popular(t0 + 1).size(), 2u);
  EXPECT_EQ(b.popular(t0, 1).size(), 1u);
  b.sales.prune(t0 + 40 * day_ms);
  EXPECT_TRUE(b.popular(0).empty()) << "older than any window: forgotten";
}

// ---- events ------------------------------------------------------------------------------------

TEST(order_test, events_are_gap_free_and_each_order_event_is_recorded_once) {
  books b;
  order_view o;
  o.id = 7;
  EXPECT_EQ(b.run(record_event{order_event_type::paid, t0, o}).code, errc::ok);
  b.run(record_event{order_event_type::paid, t0, o});  // sent again after a crash
  b.run(record_event{order_event_type::refunded, t0 + 1, o});
  o.id = 8;
  b.run(record_event{order_event_type::paid, t0 + 2, o});
  EXPECT_EQ(b.events.last_seq(), 3u);
  auto page = b.events.page(1, 1);
  ASSERT_EQ(page.items.size(), 1u);
  EXPECT_EQ(page.items[0].seq, 2u);
  EXPECT_EQ(page.items[0].type, order_event_type::refunded);
  EXPECT_EQ(page.last_seq, 2u);
  EXPECT_EQ(b.events.page(3, 10).last_seq, 3u) << "nothing after: last_seq is `after`";
  EXPECT_TRUE(b.events.page(3, 10).items.empty());
}

// ---- replay ------------------------------------------------------------------------------------

TEST(order_test, replay_rebuilds_orders_balances_stock_coupons_popularity_and_events) {
  books b;
  entity_id u = b.user(50'000);
  product_view p = b.product(1'000, 20);
  entity_id c = b.coupon(u, coupon_kind::percent, 50);
  entity_id o1 = b.order_id(u, p, 2, c);
  entity_id o2 = b.order_id(u, p, 3);
  entity_id o3 = b.order_id(u, p, 1);
  b.pay(u, o1);
  b.pay(u, o2, t0 + 1);
  b.run(cancel_order{u, o2}, t0 + 2);
  b.run(refund_sale{o2});
  b.run(record_event{order_event_type::refunded, t0 + 2, b.get(u, o2)});
  std::vector<record> out;
  b.orders.expire(t0 + ttl, out);
  b.log.insert(b.log.end(), out.begin(), out.end());

  books again;
  for (const record& r : b.log) ASSERT_TRUE(again.replay(r)) << static_cast<int>(r.type);
  for (entity_id o : {o1, o2, o3}) {
    EXPECT_EQ(again.get(u, o).status, b.get(u, o).status);
    EXPECT_EQ(again.get(u, o).final_amount, b.get(u, o).final_amount);
  }
  EXPECT_EQ(again.get(u, o3).status, order_status::expired);
  EXPECT_EQ(again.balance(u), b.balance(u));
  EXPECT_EQ(again.stock(p), b.stock(p));
  EXPECT_EQ(again.stock(p), 18);
  EXPECT_EQ(again.coupon_status(u, c), user_coupon_status::used);
  ASSERT_EQ(again.popular(t0).size(), 1u);
  EXPECT_EQ(again.popular(t0)[0].sold_quantity, 2);
  EXPECT_EQ(again.events.last_seq(), 3u);
  // Ids continue where they were: the next order does not reuse one.
  EXPECT_GT(again.order_id(u, p, 1), o3);
}

}  // namespace
}  // namespace ecom::engine
