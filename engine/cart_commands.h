// Cart: the commands a user's shard takes for the user's cart (owner: user_id % N) and what it
// answers. Stock and sale status come from the product's owner by message just before, as a
// sale_fact (see cart_flow); nothing is cached or reserved here.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/catalog_types.h"
#include "engine/types.h"

namespace ecom::engine {

// ---- values -----------------------------------------------------------------------------------

struct cart_line {
  entity_id id = 0;
  entity_id product_id = 0;
  entity_id combination_id = 0;
  std::int64_t quantity = 0;
};

// A line with the product facts it was checked against (current at the time of the answer).
struct cart_item_view {
  cart_line line;
  sale_fact fact;
};

struct cart_view {
  std::vector<cart_line> lines;  // in the order first added
};

// The cart as GET shows it: every line with its product's current facts.
struct cart_contents {
  std::vector<cart_item_view> items;  // in the order first added
};

// ---- commands ---------------------------------------------------------------------------------

// Adds `quantity` to the cart line for the combination (a new line, or merged), checked
// against `fact`. Takes an Idempotency-Key.
struct add_cart_item {
  entity_id user_id = 0;
  entity_id product_id = 0;
  entity_id combination_id = 0;
  std::int64_t quantity = 0;  // 1..cart_line_quantity_max
  sale_fact fact;             // set by cart_flow from the product's owner
};

// The lines (a flow step of cart read and checkout; checkout's key replays from here).
struct get_cart {
  entity_id user_id = 0;
};

struct get_cart_line {  // a flow step of set_cart_quantity: which combination the line holds
  entity_id user_id = 0;
  entity_id item_id = 0;
};

struct set_cart_quantity {
  entity_id user_id = 0;
  entity_id item_id = 0;
  std::int64_t quantity = 0;  // 1..cart_line_quantity_max
  sale_fact fact;             // set by cart_flow
};

struct remove_cart_item {
  entity_id user_id = 0;
  entity_id item_id = 0;
};

}  // namespace ecom::engine
