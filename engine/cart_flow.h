// cart_flow: the cart steps that cross shards. The user's shard owns the lines; every stock and
// sale-status check reads the facts from the product's owner by message first (nothing is
// cached, nothing reserved). Nothing is recorded before a later step, so there is nothing to
// recover: a crash between steps leaves no trace, and the request was not answered.
//
// Add an item (add_item):
//   product's shard  get_sale_facts                                      (feeds the next step)
//   → user's shard   add_cart_item: checks in the contract's order against the fact, records
//                    cart_item_added (with the key's answer)           (durable: the answer)
// Change a quantity (set_quantity):
//   user's shard     get_cart_line: which combination the line holds    (feeds)
//   → product's shard get_sale_facts                                    (feeds)
//   → user's shard   set_cart_quantity: refused if the line changed meanwhile (durable)
// Show the cart (read):
//   user's shard     get_cart                                          (feeds)
//   → each product shard involved: get_sale_facts (fan-out)            (feeds)
//   → answer: the lines with their current facts, once what they rest on is durable
#pragma once

#include "engine/command.h"
#include "engine/shard_set.h"

namespace ecom::engine {

class cart_flow {
 public:
  explicit cart_flow(shard_set& shards) : shards_(shards) {}

  // False when the first shard's mailbox is full (OVERLOADED): nothing was started. `done`
  // runs once, on any thread, when the answer may leave the engine.
  bool add_item(add_cart_item item, key_ptr key, reply_callback done);
  bool set_quantity(entity_id user_id, entity_id item_id, std::int64_t quantity,
                    reply_callback done);
  bool read(entity_id user_id, reply_callback done);  // cart_contents

 private:
  shard_set& shards_;
};

}  // namespace ecom::engine
