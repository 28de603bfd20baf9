// product_rules: the validation of a product input (API.md "product input"), pure and
// deterministic so it can be unit-tested rule by rule. net/ calls it after parsing JSON.
#pragma once

#include <optional>
#include <string>

#include "engine/catalog_types.h"

namespace ecom::engine {

struct rule_violation {
  std::string field;  // e.g. "combinations[3].options"
  std::string detail;
};

// Checks every rule and, when they hold, fills `out` with the normalized spec (combinations in
// option order; the single "default" combination when none were given).
std::optional<rule_violation> validate_product(const product_input& input, product_spec& out);

// base_price + additional_price within 0..price_max, for every combination.
bool prices_in_range(std::int64_t base_price, const std::vector<std::int64_t>& additional_prices);

}  // namespace ecom::engine
