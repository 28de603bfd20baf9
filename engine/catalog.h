// catalog_book: one shard's products (id % N == shard) with their images, options and
// combinations with stock. Lives on its shard's thread. Like user_book, handle() decides and
// emits a record, apply() is the only code that changes state, live and on replay.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "engine/catalog_commands.h"
#include "engine/catalog_types.h"
#include "engine/codec.h"
#include "engine/product_rules.h"
#include "engine/record.h"
#include "engine/reply.h"
#include "engine/sharding.h"
#include "engine/snapshot.h"
#include "engine/step_context.h"

namespace ecom::engine {

class catalog_book {
 public:
  catalog_book(shard_index index, std::uint32_t shard_count);

  reply handle(const create_product& command, step_context& ctx);
  reply handle(const update_product& command, step_context& ctx);
  reply handle(const adjust_stock& command, step_context& ctx);
  reply handle(const get_product& command, step_context& ctx);
  reply handle(const list_products& command, step_context& ctx);
  reply handle(const get_sale_facts& command, step_context& ctx);

  bool apply(record_type type, std::string_view payload);
  std::uint64_t product_count() const { return products_.size(); }
  std::uint64_t product_sequence() const { return product_sequence_; }
  std::uint32_t shard_count() const { return shard_count_; }
  // Invariants: every combination's stock is within 0..stock_max.
  void check_invariants(std::vector<std::string>& broken) const;

  // For sales_book on this shard: a product, and the stock of one of its combinations to
  // change from a sales record's apply (null when either does not exist).
  const product_view* product(entity_id product_id) const;
  std::int64_t* stock_slot(entity_id product_id, entity_id combination_id);

  // Snapshot (snapshot.h; the same five steps in every book).
  void begin_capture(capture_buffer& out);
  bool capture_step(capture_buffer& out, capture_budget& budget);
  void end_capture();
  bool load(const snapshot_key& key, std::string_view value);
  void end_load() {}

 private:
  // The product about to change (apply only), its value at the cut written first if needed.
  product_view* changing(entity_id product_id);
  const combination_view* find_combination(const product_view& product, entity_id id) const;
  void emit(record_type type, std::string payload, step_context& ctx);
  bool apply_product_created(payload_reader& in);
  bool apply_product_updated(payload_reader& in);
  bool apply_stock_adjusted(payload_reader& in);
  void note_part_id(entity_id id);

  shard_index index_;
  std::uint32_t shard_count_;
  std::map<entity_id, product_view> products_;  // ordered: listing walks ids ascending
  sequence_capture<snapshot_table::products> capture_products_;
  std::uint64_t product_sequence_ = 0;
  std::uint64_t part_sequence_ = 0;  // images, option values, combinations
};

}  // namespace ecom::engine
