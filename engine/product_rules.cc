#include "engine/product_rules.h"

#include <algorithm>
#include <set>

namespace ecom::engine {

std::string combination_name(const std::vector<std::string>& values) {
  if (values.empty()) return "default";
  std::string name;
  for (const auto& v : values) {
    if (!name.empty()) name.push_back('-');
    name += v;
  }
  return name;
}

namespace {

std::string at(const char* list, std::size_t index) {
  return std::string(list) + "[" + std::to_string(index) + "]";
}

std::optional<rule_violation> check_options(const product_input& input) {
  if (input.options.size() > product_options_max) {
    return rule_violation{"options", "at most 20 options"};
  }
  std::set<std::string> names;
  for (std::size_t i = 0; i < input.options.size(); ++i) {
    const auto& option = input.options[i];
    if (!names.insert(option.name).second)
      return rule_violation{at("options", i) + ".name", "is declared twice"};
    if (option.values.empty())
      return rule_violation{at("options", i) + ".values", "must not be empty"};
    if (option.values.size() > option_values_max) {
      return rule_violation{at("options", i) + ".values", "at most 100 values"};
    }
    std::set<std::string> values(option.values.begin(), option.values.end());
    if (values.size() != option.values.size()) {
      return rule_violation{at("options", i) + ".values", "has a duplicate value"};
    }
  }
  return std::nullopt;
}

std::optional<rule_violation> check_images(const product_input& input) {
  if (input.images.size() > product_images_max)
    return rule_violation{"images", "at most 20 images"};
  int mains = 0;
  for (const auto& image : input.images) mains += image.is_main ? 1 : 0;
  if (mains > 1) return rule_violation{"images", "at most one image may be is_main"};
  return std::nullopt;
}

// One declared value of every declared option, nothing else; returns values in option order.
std::optional<rule_violation> pick_values(const product_input& input, std::size_t index,
                                          std::vector<std::string>& values) {
  const auto& combination = input.combinations[index];
  std::string field = at("combinations", index) + ".options";
  if (combination.picks.size() != input.options.size()) {
    return rule_violation{field, "must pick exactly one value of every option"};
  }
  values.assign(input.options.size(), {});
  std::vector<bool> picked(input.options.size(), false);
  for (const auto& [name, value] : combination.picks) {
    std::size_t o = 0;
    while (o < input.options.size() && input.options[o].name != name) ++o;
    if (o == input.options.size())
      return rule_violation{field, "\"" + name + "\" is not a declared option"};
    if (picked[o]) return rule_violation{field, "picks \"" + name + "\" twice"};
    const auto& declared = input.options[o].values;
    if (std::find(declared.begin(), declared.end(), value) == declared.end()) {
      return rule_violation{field, "\"" + value + "\" is not a value of \"" + name + "\""};
    }
    picked[o] = true;
    values[o] = value;
  }
  return std::nullopt;
}

}  // namespace

bool prices_in_range(std::int64_t base_price, const std::vector<std::int64_t>& additional_prices) {
  for (std::int64_t extra : additional_prices) {
    // Both are within ±price_max, so the sum cannot overflow.
    std::int64_t price = base_price + extra;
    if (price < 0 || price > price_max) return false;
  }
  return true;
}

std::optional<rule_violation> validate_product(const product_input& input, product_spec& out) {
  if (input.base_price < 0 || input.base_price > price_max) {
    return rule_violation{"base_price", "must be between 0 and 1000000000"};
  }
  if (auto v = check_images(input)) return v;
  if (auto v = check_options(input)) return v;
  if (input.has_options && !input.options.empty() && !input.has_combinations) {
    return rule_violation{"combinations", "is required when options are given"};
  }
  if (input.has_combinations && input.combinations.empty()) {
    return rule_violation{"combinations", "must not be empty"};
  }
  if (input.has_combinations && input.options.empty()) {
    return rule_violation{"options", "is required when combinations are given"};
  }
  if (input.combinations.size() > product_combinations_max) {
    return rule_violation{"combinations", "at most 1000 combinations"};
  }
  out = product_spec{
      input.name, input.description, input.base_price, input.is_active, input.images, input.options,
      {}};
  if (!input.has_combinations) {
    if (input.stock < 0 || input.stock > stock_max)
      return rule_violation{"stock", "must be between 0 and 1000000000"};
    out.combinations.push_back(combination_spec{{}, 0, input.stock});
    return std::nullopt;
  }
  std::set<std::vector<std::string>> seen;
  for (std::size_t i = 0; i < input.combinations.size(); ++i) {
    const auto& combination = input.combinations[i];
    combination_spec spec{{}, combination.additional_price, combination.stock};
    if (auto v = pick_values(input, i, spec.values)) return v;
    if (!seen.insert(spec.values).second) {
      return rule_violation{at("combinations", i) + ".options",
                            "the same values as an earlier combination"};
    }
    if (combination.stock < 0 || combination.stock > stock_max) {
      return rule_violation{at("combinations", i) + ".stock", "must be between 0 and 1000000000"};
    }
    if (!prices_in_range(input.base_price, {combination.additional_price})) {
      return rule_violation{at("combinations", i) + ".additional_price",
                            "base_price + additional_price must be between 0 and 1000000000"};
    }
    out.combinations.push_back(std::move(spec));
  }
  return std::nullopt;
}

}  // namespace ecom::engine
