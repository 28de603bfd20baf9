// cart_book: the carts of one shard's users (owner: user_id % N). Stock and sale status are not
// known here: every check uses a sale_fact read from the product's owner by message just
// before the command, never a copy kept here. Nothing is reserved.
#pragma once

#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/cart_commands.h"
#include "engine/codec.h"
#include "engine/idempotency.h"
#include "engine/record.h"
#include "engine/reply.h"
#include "engine/snapshot.h"
#include "engine/step_context.h"
#include "engine/user_book.h"

namespace ecom::engine {

class cart_book {
 public:
  // Reads users (does the user exist); entries written with an added line go into `keys`.
  cart_book(shard_index index, std::uint32_t shard_count, const user_book& users,
            idempotency_table& keys);

  reply handle(const add_cart_item& command, step_context& ctx);
  reply handle(const get_cart& command, step_context& ctx);
  reply handle(const get_cart_line& command, step_context& ctx);
  reply handle(const set_cart_quantity& command, step_context& ctx);
  reply handle(const remove_cart_item& command, step_context& ctx);

  bool apply(record_type type, std::string_view payload);
  std::uint64_t line_count() const;
  bool has_line(entity_id user_id, entity_id item_id) const {
    return find_line(user_id, item_id) != nullptr;
  }
  // An order of these lines was paid: they leave the cart (those still there).
  void remove_lines(entity_id user_id, const std::vector<entity_id>& item_ids);

  // Snapshot (snapshot.h; the same five steps in every book).
  void begin_capture(capture_buffer& out);
  bool capture_step(capture_buffer& out, capture_budget& budget);
  void end_capture();
  bool load(const snapshot_key& key, std::string_view value);
  void end_load() {}

 private:
  struct cart {
    std::vector<cart_line> lines;  // in the order first added
  };
  // The user's cart about to change (apply only; null when none and !create), its value at
  // the cut written first if needed.
  cart* changing(entity_id user_id, bool create);
  static void write_cart(payload_writer& w, const cart& c);
  const cart_line* find_line(entity_id user_id, entity_id item_id) const;
  // The product-side checks of a line with `quantity` against `fact`, in the contract's order.
  static errc check_fact(const sale_fact& fact, std::int64_t quantity);
  void emit(record_type type, std::string payload, step_context& ctx);
  bool apply_item_added(payload_reader& in);
  bool apply_quantity_set(payload_reader& in);
  bool apply_item_removed(payload_reader& in);

  shard_index index_;
  std::uint32_t shard_count_;
  const user_book& users_;
  idempotency_table& keys_;
  std::unordered_map<entity_id, cart> carts_;
  std::uint64_t item_sequence_ = 0;
  sequence_capture<snapshot_table::carts> capture_carts_;
};

}  // namespace ecom::engine
