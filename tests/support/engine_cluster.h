// engine_cluster: two real shards on threads of their own over a fake journal that is durable
// at once and keeps the log, with the gateway and the order flow on top and helpers to make
// users, products and orders. For engine tests of the flows that cross shards.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "engine/events.h"
#include "engine/gateway.h"
#include "engine/order_flow.h"
#include "engine/product_rules.h"
#include "engine/shard_set.h"
#include "tests/support/fake_journal.h"
#include "tests/support/state_runner.h"

namespace ecom::test {

using namespace ecom::engine;

struct cluster {
  fake_journal wal;
  std::atomic<time_ms> now{t0};  // the shards' clock; a test may move it
  shard_set shards{2, 1024, [this] { return now.load(); }};
  order_flow flow{shards};  // for recovery's plan and redrive
  gateway engine{shards};   // the way in, as net uses it

  ~cluster() { shards.stop(); }  // before the gateway's flows go
  void start() { shards.start(wal); }

  // Runs one gateway call (or any start function taking the callback) and waits for its
  // answer; the call must start.
  template <class Start>
  reply call(Start start) {
    auto promise = std::make_shared<std::promise<reply>>();
    auto future = promise->get_future();
    bool started = start([promise](reply&& r) { promise->set_value(std::move(r)); });
    EXPECT_TRUE(started);
    return future.get();
  }

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
    // A charge is 1..charge_amount_max; a user without money gets none.
    if (balance > 0) {
      EXPECT_EQ(ask_owner(id, charge_balance{id, balance}).code, errc::ok);
    }
    return id;
  }
  product_view product(shard_index index, std::int64_t price, std::int64_t stock) {
    product_input input;
    input.name = "p";  // appended, not "p" + to_string: GCC 12 warns falsely (-Wrestrict) on that
    input.name += std::to_string(index);
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

}  // namespace ecom::test
