// Catalog: the commands a product's shard takes (owner: product_id % N) and what it answers.
// New products go to the shards round-robin; the chosen shard allocates an id it owns.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/catalog_types.h"
#include "engine/limits.h"
#include "engine/types.h"

namespace ecom::engine {

// ---- values -----------------------------------------------------------------------------------

struct product_page {
  std::vector<product_summary> items;  // active products with id > after_id, ascending
  bool more = false;                   // one shard's page: it has further active products
  entity_id next_after_id = 0;         // the merged page: where the next one starts (0: none)
};

struct stock_view {
  entity_id product_id = 0;
  entity_id combination_id = 0;
  std::int64_t stock = 0;
};

struct sale_facts {
  std::vector<sale_fact> items;  // in the order asked
};

// ---- commands ---------------------------------------------------------------------------------

struct create_product {  // owner: any shard (round-robin)
  product_spec spec;
};

struct update_product {
  entity_id product_id = 0;
  std::optional<std::string> name;
  std::optional<std::string> description;
  std::optional<std::int64_t> base_price;
  std::optional<bool> is_active;
};

struct adjust_stock {
  entity_id product_id = 0;
  entity_id combination_id = 0;
  std::int64_t delta = 0;  // |delta| <= stock_max
};

struct get_product {
  entity_id product_id = 0;
};

struct list_products {  // one shard's part of the product list (the list is a gather)
  entity_id after_id = 0;
  std::uint32_t limit = page_items_default;
};

// A flow step: what the product's owner knows now about (product, combination) pairs.
struct get_sale_facts {
  std::vector<std::pair<entity_id, entity_id>> items;  // (product_id, combination_id)
};

}  // namespace ecom::engine
