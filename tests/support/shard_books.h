// shard_books: one shard's books driven through the shard's own dispatch (state_runner), with
// the helpers the engine tests share: a user with a balance, a product, a coupon delivered to a
// user, an order, and the whole payment as order_flow runs it on one shard.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "engine/product_rules.h"
#include "tests/support/state_runner.h"

namespace ecom::test {

using namespace ecom::engine;  // NOLINT: test helpers name the domain's types unqualified

// One shard's books, driven through the shard's own dispatch (shard_state::run).
struct shard_books {
  static constexpr engine::time_ms order_ttl_ms = 900'000;

  test::state_runner shard;
  std::vector<record>& log = shard.log;
  user_book& users = shard.state.users;
  wallet_book& wallets = shard.state.wallets;
  order_book& orders = shard.state.orders;
  sales_book& sales = shard.state.sales;
  event_book& events = shard.state.events;

  reply run(const command_body& command, time_ms now = t0) { return shard.run(command, now); }
  bool replay(const record& r) { return shard.state.apply(r.type, r.payload); }

  entity_id user(std::int64_t balance, const std::string& email = "u@x.y") {
    entity_id id = std::get<user_view>(run(create_user{"u", email, "h"}).body).id;
    if (balance > 0) {
      EXPECT_EQ(run(charge_balance{id, balance}).code, errc::ok);
    }
    return id;
  }
  product_view product(std::int64_t price, std::int64_t stock, bool active = true,
                       const std::string& name = "P") {
    product_input input;
    input.name = name;
    input.base_price = price;
    input.is_active = active;
    input.stock = stock;
    product_spec spec;
    EXPECT_FALSE(validate_product(input, spec));
    return std::get<product_view>(run(create_product{spec}).body);
  }
  sale_fact fact(const product_view& p) {
    entity_id c = p.combinations[0].id;
    return std::get<sale_facts>(run(get_sale_facts{{{p.id, c}}}).body).items.at(0);
  }
  entity_id coupon(entity_id user_id, coupon_kind kind, std::int64_t amount,
                   std::int64_t min_order = 0, std::int64_t valid_days = 30) {
    coupon_template t{0, "c", kind, amount, min_order, valid_days, 0};
    entity_id coupon_id = std::get<coupon_template>(run(create_coupon{t}).body).id;
    entity_id campaign =
        std::get<campaign_view>(run(create_campaign{coupon_id, 10, t0 - 1, t0 + day_ms}).body).id;
    reply taken = run(take_coupon{campaign, user_id, nullptr});
    return std::get<user_coupon_view>(
               run(deliver_coupon{std::get<user_coupon_view>(taken.body)}).body)
        .id;
  }
  reply order(entity_id user_id, const std::vector<std::pair<product_view, std::int64_t>>& lines,
              entity_id user_coupon_id = 0, time_ms now = t0) {
    create_order command;
    command.user_id = user_id;
    command.user_coupon_id = user_coupon_id;
    command.ttl_ms = order_ttl_ms;
    for (const auto& [p, quantity] : lines)
      command.items.push_back({p.id, p.combinations[0].id, quantity, fact(p)});
    return run(command, now);
  }
  entity_id order_id(entity_id user_id, const product_view& p, std::int64_t quantity,
                     entity_id user_coupon_id = 0, time_ms now = t0) {
    reply created = order(user_id, {{p, quantity}}, user_coupon_id, now);
    EXPECT_EQ(created.code, errc::ok);
    return std::get<order_view>(created.body).id;
  }
  // The whole payment through the books, as order_flow runs it on one shard.
  reply pay(entity_id user_id, entity_id order_id, time_ms now = t0) {
    reply begun = run(begin_payment{user_id, order_id}, now);
    if (begun.code != errc::ok) return begun;
    const auto& plan = std::get<payment_plan>(begun.body);
    take_stock take{order_id, user_id, {}, plan.check_only};
    for (const auto& line : plan.order.lines)
      take.lines.push_back({line.product_id, line.combination_id, line.quantity});
    errc stock = run(take, now).code;
    reply finished = run(finish_payment{user_id, order_id, stock, plan.check_only}, now);
    if (finished.code == errc::ok) {
      run(commit_sale{order_id, std::get<order_view>(finished.body).paid_at}, now);
      run(record_event{order_event_type::paid, now, std::get<order_view>(finished.body)}, now);
    } else if (stock == errc::ok && !plan.check_only) {
      run(release_stock{order_id}, now);
    }
    return finished;
  }
  order_view get(entity_id user_id, entity_id order_id, time_ms now = t0) {
    return std::get<order_view>(run(get_order{user_id, order_id}, now).body);
  }
  std::int64_t stock(const product_view& p) { return fact(p).stock; }
  std::int64_t balance(entity_id user_id) { return *users.balance(user_id); }
  user_coupon_status coupon_status(entity_id user_id, entity_id user_coupon_id, time_ms now = t0) {
    auto page = std::get<user_coupon_page>(run(list_user_coupons{user_id, 0, 0, 100}, now).body);
    for (const auto& c : page.items) {
      if (c.id == user_coupon_id) return c.status;
    }
    ADD_FAILURE() << "no such coupon";
    return user_coupon_status::expired;
  }
  std::vector<popular_item> popular(time_ms since, std::uint32_t limit = 5) {
    return std::get<popular_page>(run(top_products{since, limit}).body).items;
  }
};

}  // namespace ecom::test
