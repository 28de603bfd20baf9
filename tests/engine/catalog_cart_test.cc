// catalog_book and cart_book on one shard, driven through the shard's own dispatch
// (shard_state) with time as an input: stock changes and their limits, listing, sale facts, and
// the cart's merge, limits and check order. Replay of the emitted records must rebuild the
// same answers.
#include <gtest/gtest.h>

#include "engine/product_rules.h"
#include "tests/support/state_runner.h"

namespace ecom::engine {
namespace {

using test::t0;

struct books {
  test::state_runner shard;
  std::vector<record>& log = shard.log;

  reply run(const command_body& command, time_ms now = t0) { return shard.run(command, now); }

  product_view add_product(std::int64_t stock, std::size_t option_values = 0, bool active = true) {
    product_input input;
    input.name = "P";
    input.base_price = 1'000;
    input.is_active = active;
    input.stock = stock;
    if (option_values > 0) {
      input.options = {{"v", {}}};
      for (std::size_t i = 0; i < option_values; ++i) {
        input.options[0].values.push_back("v" + std::to_string(i));
        input.combinations.push_back(
            {{{"v", "v" + std::to_string(i)}}, static_cast<std::int64_t>(i), stock});
      }
      input.has_options = input.has_combinations = true;
    }
    product_spec spec;
    EXPECT_FALSE(validate_product(input, spec));
    return std::get<product_view>(run(create_product{spec}).body);
  }

  sale_fact fact(entity_id product, entity_id combination) {
    return std::get<sale_facts>(run(get_sale_facts{{{product, combination}}}).body).items.at(0);
  }
};

TEST(catalog_cart_test, stock_delta_never_goes_below_zero_or_above_the_maximum) {
  books b;
  product_view p = b.add_product(5);
  entity_id c = p.combinations[0].id;
  EXPECT_EQ(b.run(adjust_stock{p.id, c, -6}).code, errc::out_of_stock);
  EXPECT_EQ(std::get<stock_view>(b.run(adjust_stock{p.id, c, -5}).body).stock, 0);
  EXPECT_EQ(b.run(adjust_stock{p.id, c, stock_max + 1}).code, errc::stock_out_of_range);
  EXPECT_EQ(std::get<stock_view>(b.run(adjust_stock{p.id, c, stock_max}).body).stock, stock_max);
  EXPECT_EQ(b.run(adjust_stock{p.id, 999, 1}).code, errc::combination_not_found);
  EXPECT_EQ(b.run(adjust_stock{12345, c, 1}).code, errc::product_not_found);
}

TEST(catalog_cart_test, price_change_must_keep_every_combination_in_range) {
  books b;
  product_view p = b.add_product(1, 3);  // additional prices 0, 1, 2
  EXPECT_EQ(b.run(update_product{p.id, {}, {}, price_max - 2, {}}).code, errc::ok);
  EXPECT_EQ(b.run(update_product{p.id, {}, {}, price_max - 1, {}}).code, errc::price_out_of_range);
  reply renamed = b.run(update_product{p.id, std::string("Q"), {}, {}, false});
  EXPECT_EQ(std::get<product_view>(renamed.body).name, "Q");
  EXPECT_FALSE(std::get<product_view>(renamed.body).is_active);
}

TEST(catalog_cart_test, listing_skips_inactive_and_pages_by_id_ascending) {
  books b;
  std::vector<entity_id> active;
  for (int i = 0; i < 10; ++i) {
    product_view p = b.add_product(i, 0, i % 3 != 0);
    if (i % 3 != 0) active.push_back(p.id);
  }
  std::vector<entity_id> seen;
  entity_id after = 0;
  for (;;) {
    auto page = std::get<product_page>(b.run(list_products{after, 2}).body);
    for (const auto& s : page.items) seen.push_back(s.id);
    if (!page.more) break;
    after = page.items.back().id;
  }
  EXPECT_EQ(seen, active);
}

TEST(catalog_cart_test, cart_merges_lines_and_checks_in_the_contract_order) {
  books b;
  entity_id user = std::get<user_view>(b.run(create_user{"u", "u@x.y", "h"}).body).id;
  product_view p = b.add_product(5);
  entity_id c = p.combinations[0].id;
  reply first = b.run(add_cart_item{user, p.id, c, 2, b.fact(p.id, c)});
  ASSERT_EQ(first.code, errc::ok);
  reply merged = b.run(add_cart_item{user, p.id, c, 3, b.fact(p.id, c)});
  ASSERT_EQ(merged.code, errc::ok);
  EXPECT_EQ(std::get<cart_item_view>(merged.body).line.id,
            std::get<cart_item_view>(first.body).line.id);
  EXPECT_EQ(std::get<cart_item_view>(merged.body).line.quantity, 5);
  EXPECT_EQ(b.run(add_cart_item{user, p.id, c, 1, b.fact(p.id, c)}).code, errc::out_of_stock);
  EXPECT_EQ(b.run(add_cart_item{user, p.id, c, 999, b.fact(p.id, c)}).code,
            errc::cart_quantity_too_large)
      << "over 999 outranks stock";
  b.run(update_product{p.id, {}, {}, {}, false});
  EXPECT_EQ(b.run(add_cart_item{user, p.id, c, 999, b.fact(p.id, c)}).code,
            errc::cart_quantity_too_large)
      << "over 999 outranks inactive";
  EXPECT_EQ(b.run(add_cart_item{user, p.id, c, 1, b.fact(p.id, c)}).code, errc::product_inactive);
  EXPECT_EQ(b.run(add_cart_item{user, p.id, 77, 1, b.fact(p.id, 77)}).code,
            errc::combination_not_found);
  EXPECT_EQ(b.run(add_cart_item{user, 99, 77, 1, b.fact(99, 77)}).code, errc::product_not_found);
  EXPECT_EQ(b.run(add_cart_item{12345, p.id, c, 1, b.fact(p.id, c)}).code, errc::user_not_found);
  auto cart = std::get<cart_view>(b.run(get_cart{user}).body);
  ASSERT_EQ(cart.lines.size(), 1u);
  EXPECT_EQ(cart.lines[0].quantity, 5) << "refused adds changed nothing";
}

TEST(catalog_cart_test, the_hundred_and_first_line_is_cart_full) {
  books b;
  entity_id user = std::get<user_view>(b.run(create_user{"u", "u@x.y", "h"}).body).id;
  product_view p = b.add_product(10, 100);
  product_view q = b.add_product(10);
  for (const auto& c : p.combinations)
    ASSERT_EQ(b.run(add_cart_item{user, p.id, c.id, 1, b.fact(p.id, c.id)}).code, errc::ok);
  entity_id qc = q.combinations[0].id;
  EXPECT_EQ(b.run(add_cart_item{user, q.id, qc, 1, b.fact(q.id, qc)}).code, errc::cart_full);
  // Merging into an existing line is still fine at 100 lines.
  EXPECT_EQ(
      b.run(add_cart_item{user, p.id, p.combinations[0].id, 1, b.fact(p.id, p.combinations[0].id)})
          .code,
      errc::ok);
}

TEST(catalog_cart_test, set_quantity_and_remove_use_the_line_the_fact_was_read_for) {
  books b;
  entity_id user = std::get<user_view>(b.run(create_user{"u", "u@x.y", "h"}).body).id;
  product_view p = b.add_product(3, 2);
  entity_id c0 = p.combinations[0].id, c1 = p.combinations[1].id;
  entity_id item =
      std::get<cart_item_view>(b.run(add_cart_item{user, p.id, c0, 1, b.fact(p.id, c0)}).body)
          .line.id;
  EXPECT_EQ(b.run(set_cart_quantity{user, item, 4, b.fact(p.id, c0)}).code, errc::out_of_stock);
  EXPECT_EQ(b.run(set_cart_quantity{user, item, 3, b.fact(p.id, c0)}).code, errc::ok);
  EXPECT_EQ(b.run(set_cart_quantity{user, item, 1, b.fact(p.id, c1)}).code,
            errc::cart_item_not_found)
      << "a fact for another combination";
  EXPECT_EQ(b.run(remove_cart_item{user, item}).code, errc::ok);
  EXPECT_EQ(b.run(remove_cart_item{user, item}).code, errc::cart_item_not_found);
}

TEST(catalog_cart_test, replay_rebuilds_catalog_and_carts) {
  books b;
  entity_id user = std::get<user_view>(b.run(create_user{"u", "u@x.y", "h"}).body).id;
  product_view p = b.add_product(3, 2);
  entity_id c0 = p.combinations[0].id;
  b.run(adjust_stock{p.id, c0, 7});
  b.run(update_product{p.id, std::string("Renamed"), {}, 2'000, {}});
  entity_id item =
      std::get<cart_item_view>(b.run(add_cart_item{user, p.id, c0, 2, b.fact(p.id, c0)}).body)
          .line.id;
  b.run(set_cart_quantity{user, item, 4, b.fact(p.id, c0)});
  books copy;
  ASSERT_TRUE(test::replay(b.log, copy.shard.state));
  auto original = std::get<product_view>(b.run(get_product{p.id}).body);
  auto rebuilt = std::get<product_view>(copy.run(get_product{p.id}).body);
  EXPECT_EQ(rebuilt.name, "Renamed");
  EXPECT_EQ(rebuilt.base_price, 2'000);
  EXPECT_EQ(rebuilt.combinations[0].stock, original.combinations[0].stock);
  EXPECT_EQ(rebuilt.updated_at, original.updated_at);
  auto cart = std::get<cart_view>(copy.run(get_cart{user}).body);
  ASSERT_EQ(cart.lines.size(), 1u);
  EXPECT_EQ(cart.lines[0].quantity, 4);
  // New ids continue after the replayed ones.
  product_view next = copy.add_product(1);
  EXPECT_GT(next.id, p.id);
  EXPECT_GT(next.combinations[0].id, p.combinations[1].id);
}

}  // namespace
}  // namespace ecom::engine
