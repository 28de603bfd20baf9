// product_rules: each rule of the product input on its own, combination naming, and price
// arithmetic at the limits. Each test starts from a valid input and breaks one thing.
#include "engine/product_rules.h"

#include <gtest/gtest.h>

namespace ecom::engine {
namespace {

product_input shirt() {
  product_input p;
  p.name = "Shirt";
  p.base_price = 10'000;
  p.options = {{"color", {"red", "blue"}}, {"size", {"M", "L"}}};
  p.has_options = p.has_combinations = true;
  p.combinations = {{{{"color", "red"}, {"size", "M"}}, 0, 5},
                    {{{"size", "L"}, {"color", "blue"}}, 500, 0}};
  return p;
}

std::string violated_field(const product_input& p) {
  product_spec spec;
  auto v = validate_product(p, spec);
  return v ? v->field : "";
}

TEST(product_rules_test, a_valid_product_normalizes_combinations_to_option_order) {
  product_spec spec;
  ASSERT_FALSE(validate_product(shirt(), spec));
  ASSERT_EQ(spec.combinations.size(), 2u);
  EXPECT_EQ(spec.combinations[1].values, (std::vector<std::string>{"blue", "L"}));
  EXPECT_EQ(combination_name(spec.combinations[1].values), "blue-L");
}

TEST(product_rules_test, without_options_the_product_gets_one_default_combination) {
  product_input p;
  p.name = "Mug";
  p.base_price = 9'000;
  p.stock = 7;
  product_spec spec;
  ASSERT_FALSE(validate_product(p, spec));
  ASSERT_EQ(spec.combinations.size(), 1u);
  EXPECT_TRUE(spec.combinations[0].values.empty());
  EXPECT_EQ(spec.combinations[0].stock, 7);
  EXPECT_EQ(spec.combinations[0].additional_price, 0);
  EXPECT_EQ(combination_name(spec.combinations[0].values), "default");
}

TEST(product_rules_test, options_need_combinations_and_combinations_need_options) {
  product_input p = shirt();
  p.combinations.clear();
  p.has_combinations = false;
  EXPECT_EQ(violated_field(p), "combinations");
  p.has_combinations = true;
  EXPECT_EQ(violated_field(p), "combinations") << "empty combinations";
  product_input q = shirt();
  q.options.clear();
  EXPECT_EQ(violated_field(q), "options");
}

TEST(product_rules_test, every_option_picked_exactly_once_with_a_declared_value) {
  product_input missing = shirt();
  missing.combinations[0].picks.pop_back();
  EXPECT_EQ(violated_field(missing), "combinations[0].options");
  product_input unknown_value = shirt();
  unknown_value.combinations[1].picks[0].second = "XL";
  EXPECT_EQ(violated_field(unknown_value), "combinations[1].options");
  product_input unknown_option = shirt();
  unknown_option.combinations[0].picks[1].first = "material";
  EXPECT_EQ(violated_field(unknown_option), "combinations[0].options");
  product_input twice = shirt();
  twice.combinations[0].picks[1] = {"color", "blue"};
  EXPECT_EQ(violated_field(twice), "combinations[0].options");
}

TEST(product_rules_test, no_two_combinations_pick_the_same_values) {
  product_input p = shirt();
  p.combinations[1].picks = {{"size", "M"}, {"color", "red"}};  // same as [0], other order
  EXPECT_EQ(violated_field(p), "combinations[1].options");
}

TEST(product_rules_test, options_are_distinct_non_empty_and_bounded) {
  product_input dup_name = shirt();
  dup_name.options[1].name = "color";
  EXPECT_EQ(violated_field(dup_name), "options[1].name");
  product_input dup_value = shirt();
  dup_value.options[0].values = {"red", "red"};
  EXPECT_EQ(violated_field(dup_value), "options[0].values");
  product_input empty = shirt();
  empty.options[0].values.clear();
  EXPECT_EQ(violated_field(empty), "options[0].values");
  product_input many = shirt();
  many.options.resize(21, option_input{"x", {"1"}});
  EXPECT_EQ(violated_field(many), "options");
}

TEST(product_rules_test, combination_count_is_bounded) {
  product_input p;
  p.name = "Grid";
  p.options = {{"a", {}}, {"b", {}}};
  for (int i = 0; i < 100; ++i) p.options[0].values.push_back("a" + std::to_string(i));
  for (int i = 0; i < 11; ++i) p.options[1].values.push_back("b" + std::to_string(i));
  p.has_options = p.has_combinations = true;
  for (int i = 0; i < 100; ++i) {
    for (int j = 0; j < 11; ++j)
      p.combinations.push_back(
          {{{"a", "a" + std::to_string(i)}, {"b", "b" + std::to_string(j)}}, 0, 1});
  }
  EXPECT_EQ(violated_field(p), "combinations") << "1100 > 1000";
  p.combinations.resize(1000);
  EXPECT_EQ(violated_field(p), "");
}

TEST(product_rules_test, prices_stay_within_zero_and_the_maximum) {
  product_input p = shirt();
  p.base_price = 0;
  p.combinations[1].additional_price = -1;
  EXPECT_EQ(violated_field(p), "combinations[1].additional_price");
  p.combinations[1].additional_price = 0;
  EXPECT_EQ(violated_field(p), "");
  p.base_price = price_max;
  p.combinations[1].additional_price = 1;
  EXPECT_EQ(violated_field(p), "combinations[1].additional_price");
  EXPECT_TRUE(prices_in_range(price_max, {0, -price_max}));
  EXPECT_FALSE(prices_in_range(0, {-1}));
  EXPECT_FALSE(prices_in_range(price_max, {1}));
  p.base_price = -1;
  EXPECT_EQ(violated_field(p), "base_price");
}

TEST(product_rules_test, stock_is_never_negative) {
  product_input p = shirt();
  p.combinations[0].stock = -1;
  EXPECT_EQ(violated_field(p), "combinations[0].stock");
  product_input simple;
  simple.name = "x";
  simple.stock = -1;
  EXPECT_EQ(violated_field(simple), "stock");
}

TEST(product_rules_test, at_most_one_main_image) {
  product_input p = shirt();
  p.images = {{"u1", true, 1}, {"u2", true, 2}};
  EXPECT_EQ(violated_field(p), "images");
}

}  // namespace
}  // namespace ecom::engine
