// order_flow across real shards (two shards on their own threads, a journal that keeps every
// record): a payment spanning both shards is all or nothing, parallel payments of one order
// succeed once, and after a "crash" at each step of payment and refund (the log cut there and
// replayed into fresh shards) redrive() leaves order, stock, balance, popularity and events
// agreeing.
#include "engine/order_flow.h"

#include <gtest/gtest.h>

#include "tests/support/engine_cluster.h"

namespace ecom::engine {
namespace {

using test::t0;

using test::cluster;

TEST(order_flow_test, a_payment_across_shards_is_all_or_nothing) {
  cluster c;
  c.start();
  entity_id u = c.user(1, 100'000);
  product_view a = c.product(0, 1'000, 5), b = c.product(1, 2'000, 1);
  ASSERT_NE(owner_of(a.id, 2), owner_of(b.id, 2));
  entity_id o1 = c.order(u, {a, b});
  ASSERT_EQ(c.ask_owner(b.id, adjust_stock{b.id, b.combinations[0].id, -1}).code, errc::ok);
  EXPECT_EQ(c.pay(u, o1).code, errc::out_of_stock);
  EXPECT_EQ(c.status(u, o1), order_status::payment_failed);
  EXPECT_EQ(c.stock(a), 5) << "the other shard's take was given back";
  EXPECT_EQ(c.balance(u), 100'000);
  ASSERT_EQ(c.ask_owner(b.id, adjust_stock{b.id, b.combinations[0].id, 1}).code, errc::ok);
  entity_id o2 = c.order(u, {a, b});
  reply paid = c.pay(u, o2);
  ASSERT_EQ(paid.code, errc::ok);
  EXPECT_EQ(c.stock(a), 4);
  EXPECT_EQ(c.stock(b), 0);
  EXPECT_EQ(c.balance(u), 97'000);
  EXPECT_EQ(c.sold(a), 1);
  EXPECT_EQ(c.sold(b), 1);
  ASSERT_EQ(c.events().size(), 1u);
  EXPECT_EQ(c.events()[0].order.id, o2);
  ASSERT_EQ(c.cancel(u, o2).code, errc::ok);
  EXPECT_EQ(c.stock(a), 5);
  EXPECT_EQ(c.stock(b), 1);
  EXPECT_EQ(c.sold(a), 0);
  EXPECT_EQ(c.balance(u), 100'000);
  ASSERT_EQ(c.events().size(), 2u);
  EXPECT_EQ(c.events()[1].type, order_event_type::refunded);
  c.shards.stop();
}

TEST(order_flow_test, parallel_payments_of_one_order_succeed_once) {
  cluster c;
  c.start();
  entity_id u = c.user(0, 100'000);
  product_view a = c.product(1, 1'000, 50);
  for (int round = 0; round < 20; ++round) {
    entity_id o = c.order(u, {a});
    std::vector<std::future<reply>> answers;
    for (int i = 0; i < 3; ++i)
      answers.push_back(std::async(std::launch::async, [&] { return c.pay(u, o); }));
    int ok = 0, refused = 0;
    for (auto& f : answers) {
      errc code = f.get().code;
      ok += code == errc::ok;
      refused += code == errc::order_not_payable;
    }
    EXPECT_EQ(ok, 1);
    EXPECT_EQ(refused, 2);
  }
  EXPECT_EQ(c.stock(a), 30);
  EXPECT_EQ(c.balance(u), 80'000);
  c.shards.stop();
}

TEST(order_flow_test, a_long_poll_waits_until_an_event_after_its_position_exists) {
  cluster c;
  c.start();
  auto promise = std::make_shared<std::promise<reply>>();
  auto polled = promise->get_future();
  command watch{watch_events{1, 10, 60'000},
                [promise](reply&& r) { promise->set_value(std::move(r)); }};
  ASSERT_TRUE(c.shards.at(event_shard).post(watch));
  order_view o;
  o.id = 5;
  c.ask(event_shard, record_event{order_event_type::paid, t0, o});  // seq 1: not after 1
  EXPECT_EQ(polled.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout);
  c.ask(event_shard, record_event{order_event_type::refunded, t0, o});  // seq 2
  ASSERT_EQ(polled.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  auto page = std::get<event_page>(polled.get().body);
  ASSERT_EQ(page.items.size(), 1u);
  EXPECT_EQ(page.items[0].seq, 2u);
  EXPECT_EQ(page.last_seq, 2u);
  c.shards.stop();
}

// Runs a scenario on one cluster, then for every prefix of its log that ends at a record of
// `cut_after`, replays the prefix into a fresh cluster, redrives, and checks it.
template <class Check>
void for_each_crash(const std::vector<record>& log, record_type cut_after, Check check) {
  int cuts = 0;
  for (std::size_t end = 1; end <= log.size(); ++end) {
    if (log[end - 1].type != cut_after) continue;
    ++cuts;
    cluster again;
    for (std::size_t i = 0; i < end; ++i)
      ASSERT_TRUE(again.shards.replay(log[i].type, log[i].shard, log[i].payload, i + 1));
    auto plan = again.flow.plan_redrive();
    again.start();
    again.flow.redrive(std::move(plan));
    check(again);
    EXPECT_EQ(again.flow.plan_redrive().size(), 0u) << "redrive leaves nothing to redo";
    again.shards.stop();
  }
  EXPECT_GT(cuts, 0);
}

// The recovery tests' start: a user on shard 1 pays one order of a product on each shard
// (stock 5 each, prices 1,000 and 2,000, balance 100,000). The shards keep running.
struct paid_order_across_shards : cluster {
  entity_id u = 0, o = 0;
  product_view a, b;
  paid_order_across_shards() {
    start();
    u = user(1, 100'000);
    a = product(0, 1'000, 5);
    b = product(1, 2'000, 5);
    o = order(u, {a, b});
    EXPECT_EQ(pay(u, o).code, errc::ok);
  }
};

TEST(order_flow_test, recovery_rolls_back_a_payment_cut_before_it_finished) {
  paid_order_across_shards c;
  const entity_id u = c.u, o = c.o;
  const product_view &a = c.a, &b = c.b;
  c.shards.stop();
  // Cut after the first and after the second stock hold: the order never reached PAID.
  for_each_crash(c.wal.log(), record_type::stock_taken, [&](cluster& after) {
    EXPECT_EQ(after.status(u, o), order_status::pending_payment);
    EXPECT_EQ(after.stock(a), 5);
    EXPECT_EQ(after.stock(b), 5);
    EXPECT_EQ(after.balance(u), 100'000);
    EXPECT_TRUE(after.events().empty());
    EXPECT_EQ(after.pay(u, o).code, errc::ok) << "the client's retry pays it";
    EXPECT_EQ(after.stock(a), 4);
  });
}

TEST(order_flow_test, recovery_finishes_a_paid_order_whose_sale_and_event_were_cut) {
  paid_order_across_shards c;
  const entity_id u = c.u, o = c.o;
  const product_view &a = c.a, &b = c.b;
  c.shards.stop();
  auto check = [&](cluster& after) {
    EXPECT_EQ(after.status(u, o), order_status::paid);
    EXPECT_EQ(after.stock(a), 4);
    EXPECT_EQ(after.stock(b), 4);
    EXPECT_EQ(after.balance(u), 97'000);
    EXPECT_EQ(after.sold(a), 1);
    EXPECT_EQ(after.sold(b), 1);
    ASSERT_EQ(after.events().size(), 1u);
    EXPECT_EQ(after.events()[0].seq, 1u);
    EXPECT_EQ(after.events()[0].order.status, order_status::paid);
  };
  for_each_crash(c.wal.log(), record_type::order_paid, check);
  for_each_crash(c.wal.log(), record_type::sale_committed, check);
}

TEST(order_flow_test, recovery_finishes_a_refund_whose_stock_and_event_were_cut) {
  paid_order_across_shards c;
  const entity_id u = c.u, o = c.o;
  const product_view &a = c.a, &b = c.b;
  ASSERT_EQ(c.cancel(u, o).code, errc::ok);
  c.shards.stop();
  auto check = [&](cluster& after) {
    EXPECT_EQ(after.status(u, o), order_status::refunded);
    EXPECT_EQ(after.stock(a), 5);
    EXPECT_EQ(after.stock(b), 5);
    EXPECT_EQ(after.balance(u), 100'000);
    EXPECT_EQ(after.sold(a), 0);
    auto events = after.events();
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[0].type, order_event_type::paid);
    EXPECT_EQ(events[1].type, order_event_type::refunded);
  };
  for_each_crash(c.wal.log(), record_type::order_refunded, check);
  for_each_crash(c.wal.log(), record_type::sale_refunded, check);
}

}  // namespace
}  // namespace ecom::engine
