// Catalog values that cross threads: product input (validated at the edge by product_rules),
// product and summary views, and the sale facts a cart asks a product's owner for.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/limits.h"
#include "engine/types.h"

namespace ecom::engine {

struct image_input {
  std::string url;
  bool is_main = false;
  std::int64_t sort_order = 0;
};

struct option_input {
  std::string name;
  std::vector<std::string> values;
};

struct combination_input {
  // As sent: option name → value, in the order they appeared.
  std::vector<std::pair<std::string, std::string>> picks;
  std::int64_t additional_price = 0;
  std::int64_t stock = 0;
};

struct product_input {
  std::string name;
  std::string description;
  std::int64_t base_price = 0;
  bool is_active = true;
  std::vector<image_input> images;
  std::vector<option_input> options;
  bool has_options = false;
  std::vector<combination_input> combinations;
  bool has_combinations = false;
  std::int64_t stock = 0;  // only without combinations
};

// After validation: each combination's values in option order (one per declared option).
struct combination_spec {
  std::vector<std::string> values;
  std::int64_t additional_price = 0;
  std::int64_t stock = 0;
};

struct product_spec {
  std::string name;
  std::string description;
  std::int64_t base_price = 0;
  bool is_active = true;
  std::vector<image_input> images;
  std::vector<option_input> options;
  std::vector<combination_spec> combinations;  // never empty: "default" when none were given
};

struct image_view {
  entity_id id = 0;
  std::string url;
  bool is_main = false;
  std::int64_t sort_order = 0;
};

struct option_value_view {
  entity_id id = 0;
  std::string value;
};

struct option_view {
  std::string name;
  std::vector<option_value_view> values;
};

struct combination_view {
  entity_id id = 0;
  std::vector<std::string> values;  // in option order; empty for "default"
  std::int64_t additional_price = 0;
  std::int64_t stock = 0;
};

struct product_view {
  entity_id id = 0;
  std::string name;
  std::string description;
  std::int64_t base_price = 0;
  bool is_active = true;
  std::vector<image_view> images;
  std::vector<option_view> options;
  std::vector<combination_view> combinations;
  time_ms created_at = 0;
  time_ms updated_at = 0;
};

struct product_summary {
  entity_id id = 0;
  std::string name;
  std::int64_t base_price = 0;
  std::string main_image_url;  // empty: none
  bool in_stock = false;
};

// What a cart needs to know about one combination, read from the product's owner.
struct sale_fact {
  entity_id product_id = 0;
  entity_id combination_id = 0;
  bool product_found = false;
  bool combination_found = false;
  bool active = false;
  std::int64_t stock = 0;
  std::int64_t unit_price = 0;
  std::string product_name;
  std::string combination_name;
};

// "red-L": values joined with '-' in option order; "default" without options.
std::string combination_name(const std::vector<std::string>& values);

}  // namespace ecom::engine
