// order_flow across real shards (two shards on their own threads, a journal that keeps every
// record): a payment spanning both shards is all or nothing, parallel payments of one order
// succeed once, and after a "crash" at each step of payment and refund (the log cut there and
// replayed into fresh shards) redrive() leaves order, stock, balance, popularity and events
// agreeing.
#include "engine/order_flow.h"

#include <gtest/gtest.h>

#include <future>
#include <mutex>

#include "engine/product_rules.h"
#include "tests/support/fake_journal.h"
#include "tests/support/state_runner.h"

namespace ecom::engine {
namespace {

using test::t0;

// Two shards on threads of their own, over a journal durable at once that keeps the log.
struct cluster {
  test::fake_journal wal;
  shard_set shards{2, 1024, [] { return t0; }};
  order_flow flow{shards};

  void start() { shards.start(wal); }

  reply ask(shard_index index, command_body body) {
    auto promise = std::make_shared<std::promise<reply>>();
    auto future = promise->get_future();
    command item{std::move(body), [promise](reply&& r) { promise->set_value(std::move(r)); }};
    EXPECT_TRUE(shards.at(index).post(item));
    return future.get();
  }
  reply ask_owner(entity_id id, command_body body) {
    return ask(owner_of(id, shards.size()), std::move(body));
  }
  entity_id user(shard_index index, std::int64_t balance) {
    auto page = std::get<bulk_page>(ask(index, bulk_create_users{1, "u"}).body);
    entity_id id = page.items.at(0).id;
    EXPECT_EQ(ask_owner(id, charge_balance{id, balance}).code, errc::ok);
    return id;
  }
  product_view product(shard_index index, std::int64_t price, std::int64_t stock) {
    product_input input;
    input.name = "p" + std::to_string(index);
    input.base_price = price;
    input.stock = stock;
    product_spec spec;
    EXPECT_FALSE(validate_product(input, spec));
    return std::get<product_view>(ask(index, create_product{spec}).body);
  }
  sale_fact fact(const product_view& p) {
    return std::get<sale_facts>(
               ask_owner(p.id, get_sale_facts{{{p.id, p.combinations[0].id}}}).body)
        .items.at(0);
  }
  std::int64_t stock(const product_view& p) { return fact(p).stock; }
  entity_id order(entity_id user_id, const std::vector<product_view>& products) {
    create_order command;
    command.user_id = user_id;
    for (const auto& p : products)
      command.items.push_back({p.id, p.combinations[0].id, 1, fact(p)});
    reply created = ask_owner(user_id, command);
    EXPECT_EQ(created.code, errc::ok);
    return std::get<order_view>(created.body).id;
  }
  reply pay(entity_id user_id, entity_id order_id) {
    auto promise = std::make_shared<std::promise<reply>>();
    auto future = promise->get_future();
    EXPECT_TRUE(flow.pay(user_id, order_id, nullptr,
                         [promise](reply&& r) { promise->set_value(std::move(r)); }));
    return future.get();
  }
  reply cancel(entity_id user_id, entity_id order_id) {
    auto promise = std::make_shared<std::promise<reply>>();
    auto future = promise->get_future();
    EXPECT_TRUE(flow.cancel(user_id, order_id, nullptr,
                            [promise](reply&& r) { promise->set_value(std::move(r)); }));
    return future.get();
  }
  order_status status(entity_id user_id, entity_id order_id) {
    return std::get<order_view>(ask_owner(user_id, get_order{user_id, order_id}).body).status;
  }
  std::int64_t balance(entity_id user_id) {
    return std::get<balance_view>(ask_owner(user_id, get_balance{user_id}).body).balance;
  }
  std::int64_t sold(const product_view& p) {
    auto items = std::get<popular_page>(ask_owner(p.id, top_products{0, 100}).body).items;
    for (const auto& item : items) {
      if (item.product_id == p.id) return item.sold_quantity;
    }
    return 0;
  }
  std::vector<order_event> events() {
    return std::get<event_page>(ask(event_shard, list_events{0, 1000}).body).items;
  }
};

TEST(order_flow_test, APaymentAcrossShardsIsAllOrNothing) {
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

TEST(order_flow_test, ParallelPaymentsOfOneOrderSucceedOnce) {
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

TEST(order_flow_test, ALongPollWaitsUntilAnEventAfterItsPositionExists) {
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

TEST(order_flow_test, RecoveryRollsBackAPaymentCutBeforeItFinished) {
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

TEST(order_flow_test, RecoveryFinishesAPaidOrderWhoseSaleAndEventWereCut) {
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

TEST(order_flow_test, RecoveryFinishesARefundWhoseStockAndEventWereCut) {
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
