#include "engine/catalog.h"

#include <algorithm>
#include <cassert>

namespace ecom::engine {

namespace {

enum update_field : std::uint8_t {
  field_name = 1,
  field_description = 2,
  field_base_price = 4,
  field_is_active = 8
};

void write_product(payload_writer& w, const product_view& p) {
  w.put(p.id);
  w.put(p.created_at);
  w.put_bytes(p.name);
  w.put_bytes(p.description);
  w.put(p.base_price);
  w.put<std::uint8_t>(p.is_active ? 1 : 0);
  w.put(static_cast<std::uint32_t>(p.images.size()));
  for (const auto& image : p.images) {
    w.put(image.id);
    w.put_bytes(image.url);
    w.put<std::uint8_t>(image.is_main ? 1 : 0);
    w.put(image.sort_order);
  }
  w.put(static_cast<std::uint32_t>(p.options.size()));
  for (const auto& option : p.options) {
    w.put_bytes(option.name);
    w.put(static_cast<std::uint32_t>(option.values.size()));
    for (const auto& value : option.values) {
      w.put(value.id);
      w.put_bytes(value.value);
    }
  }
  w.put(static_cast<std::uint32_t>(p.combinations.size()));
  for (const auto& combination : p.combinations) {
    w.put(combination.id);
    w.put(static_cast<std::uint32_t>(combination.values.size()));
    for (const auto& value : combination.values) w.put_bytes(value);
    w.put(combination.additional_price);
    w.put(combination.stock);
  }
}

// Bounded reads: a count above the product limits means a payload we never wrote.
bool read_product(payload_reader& in, product_view& p) {
  p.id = in.get<entity_id>();
  p.created_at = p.updated_at = in.get<time_ms>();
  p.name = in.get_bytes();
  p.description = in.get_bytes();
  p.base_price = in.get<std::int64_t>();
  p.is_active = in.get<std::uint8_t>() != 0;
  auto images = in.get<std::uint32_t>();
  if (in.failed() || images > product_images_max) return false;
  for (std::uint32_t i = 0; i < images; ++i) {
    image_view image;
    image.id = in.get<entity_id>();
    image.url = in.get_bytes();
    image.is_main = in.get<std::uint8_t>() != 0;
    image.sort_order = in.get<std::int64_t>();
    p.images.push_back(std::move(image));
  }
  auto options = in.get<std::uint32_t>();
  if (in.failed() || options > product_options_max) return false;
  for (std::uint32_t o = 0; o < options; ++o) {
    option_view option;
    option.name = in.get_bytes();
    auto values = in.get<std::uint32_t>();
    if (in.failed() || values > option_values_max) return false;
    for (std::uint32_t v = 0; v < values; ++v) {
      option_value_view value;
      value.id = in.get<entity_id>();
      value.value = in.get_bytes();
      option.values.push_back(std::move(value));
    }
    p.options.push_back(std::move(option));
  }
  auto combinations = in.get<std::uint32_t>();
  if (in.failed() || combinations > product_combinations_max || combinations == 0) return false;
  for (std::uint32_t c = 0; c < combinations; ++c) {
    combination_view combination;
    combination.id = in.get<entity_id>();
    auto values = in.get<std::uint32_t>();
    if (in.failed() || values != options) return false;
    for (std::uint32_t v = 0; v < values; ++v) combination.values.push_back(in.get_bytes());
    combination.additional_price = in.get<std::int64_t>();
    combination.stock = in.get<std::int64_t>();
    p.combinations.push_back(std::move(combination));
  }
  return !in.failed();
}

product_summary summarize(const product_view& p) {
  product_summary summary{p.id, p.name, p.base_price, {}, false};
  // The main image, or else the first by sort order.
  const image_view* main = nullptr;
  for (const auto& image : p.images) {
    if (image.is_main) main = &image;
  }
  for (const auto& image : p.images) {
    if (main == nullptr || (!main->is_main && image.sort_order < main->sort_order)) main = &image;
  }
  if (main) summary.main_image_url = main->url;
  for (const auto& c : p.combinations) summary.in_stock = summary.in_stock || c.stock > 0;
  return summary;
}

}  // namespace

catalog_book::catalog_book(shard_index index, std::uint32_t shard_count)
    : index_(index), shard_count_(shard_count) {
  assert(index < shard_count);
}

void catalog_book::emit(record_type type, std::string payload, step_context& ctx) {
  emit_record(*this, type, index_, std::move(payload), ctx.out);
}

const combination_view* catalog_book::find_combination(const product_view& product,
                                                       entity_id id) const {
  for (const auto& c : product.combinations) {
    if (c.id == id) return &c;
  }
  return nullptr;
}

reply catalog_book::handle(const create_product& command, step_context& ctx) {
  const product_spec& spec = command.spec;
  assert(!spec.combinations.empty());
  product_view p;
  p.id = make_id(product_sequence_ + 1, index_, shard_count_);
  p.name = spec.name;
  p.description = spec.description;
  p.base_price = spec.base_price;
  p.is_active = spec.is_active;
  p.created_at = p.updated_at = ctx.now;
  std::uint64_t part = part_sequence_;
  auto next_part = [&] { return make_id(++part, index_, shard_count_); };
  for (const auto& image : spec.images)
    p.images.push_back({next_part(), image.url, image.is_main, image.sort_order});
  for (const auto& option : spec.options) {
    option_view view{option.name, {}};
    for (const auto& value : option.values) view.values.push_back({next_part(), value});
    p.options.push_back(std::move(view));
  }
  for (const auto& c : spec.combinations)
    p.combinations.push_back({next_part(), c.values, c.additional_price, c.stock});
  std::string payload;
  payload_writer w(payload);
  write_product(w, p);
  emit(record_type::product_created, std::move(payload), ctx);
  return reply{errc::ok, products_.at(p.id), false};
}

reply catalog_book::handle(const update_product& command, step_context& ctx) {
  auto it = products_.find(command.product_id);
  if (it == products_.end()) return refusal(errc::product_not_found);
  if (command.base_price) {
    std::vector<std::int64_t> extras;
    for (const auto& c : it->second.combinations) extras.push_back(c.additional_price);
    if (!prices_in_range(*command.base_price, extras)) return refusal(errc::price_out_of_range);
  }
  std::uint8_t fields =
      (command.name ? field_name : 0) | (command.description ? field_description : 0) |
      (command.base_price ? field_base_price : 0) | (command.is_active ? field_is_active : 0);
  std::string payload;
  payload_writer w(payload);
  w.put(command.product_id);
  w.put(ctx.now);
  w.put(fields);
  if (command.name) w.put_bytes(*command.name);
  if (command.description) w.put_bytes(*command.description);
  if (command.base_price) w.put(*command.base_price);
  if (command.is_active) w.put<std::uint8_t>(*command.is_active ? 1 : 0);
  emit(record_type::product_updated, std::move(payload), ctx);
  return reply{errc::ok, it->second, false};
}

reply catalog_book::handle(const adjust_stock& command, step_context& ctx) {
  auto it = products_.find(command.product_id);
  if (it == products_.end()) return refusal(errc::product_not_found);
  const combination_view* combination = find_combination(it->second, command.combination_id);
  if (combination == nullptr) return refusal(errc::combination_not_found);
  // Both are bounded (|delta| <= stock_max at the edge), so the sum cannot overflow.
  std::int64_t after = combination->stock + command.delta;
  if (after < 0) return refusal(errc::out_of_stock);
  if (after > stock_max) return refusal(errc::stock_out_of_range);
  std::string payload;
  payload_writer w(payload);
  w.put(command.product_id);
  w.put(command.combination_id);
  w.put(command.delta);
  w.put(after);
  w.put(ctx.now);
  emit(record_type::stock_adjusted, std::move(payload), ctx);
  return reply{errc::ok, stock_view{command.product_id, command.combination_id, after}, false};
}

reply catalog_book::handle(const get_product& command, step_context&) {
  auto it = products_.find(command.product_id);
  if (it == products_.end()) return refusal(errc::product_not_found);
  return reply{errc::ok, it->second, false};
}

reply catalog_book::handle(const list_products& command, step_context&) {
  product_page page;
  page.items.reserve(command.limit);
  for (auto it = products_.upper_bound(command.after_id); it != products_.end(); ++it) {
    if (!it->second.is_active) continue;
    if (page.items.size() == command.limit) {
      page.more = true;
      break;
    }
    page.items.push_back(summarize(it->second));
  }
  return reply{errc::ok, std::move(page), false};
}

reply catalog_book::handle(const get_sale_facts& command, step_context&) {
  sale_facts facts;
  facts.items.reserve(command.items.size());
  for (const auto& [product_id, combination_id] : command.items) {
    sale_fact fact;
    fact.product_id = product_id;
    fact.combination_id = combination_id;
    auto it = products_.find(product_id);
    if (it != products_.end()) {
      fact.product_found = true;
      fact.active = it->second.is_active;
      fact.product_name = it->second.name;
      if (const combination_view* c = find_combination(it->second, combination_id)) {
        fact.combination_found = true;
        fact.stock = c->stock;
        fact.unit_price = it->second.base_price + c->additional_price;
        fact.combination_name = combination_name(c->values);
      }
    }
    facts.items.push_back(std::move(fact));
  }
  return reply{errc::ok, std::move(facts), false};
}

bool catalog_book::apply(record_type type, std::string_view payload) {
  payload_reader in(payload);
  bool ok = false;
  switch (type) {
    case record_type::product_created:
      ok = apply_product_created(in);
      break;
    case record_type::product_updated:
      ok = apply_product_updated(in);
      break;
    case record_type::stock_adjusted:
      ok = apply_stock_adjusted(in);
      break;
    default:
      return false;
  }
  return ok && !in.failed() && in.at_end();
}

void catalog_book::note_part_id(entity_id id) {
  part_sequence_ = std::max(part_sequence_, sequence_of(id, shard_count_));
}

bool catalog_book::apply_product_created(payload_reader& in) {
  product_view p;
  if (!read_product(in, p) || products_.contains(p.id) || owner_of(p.id, shard_count_) != index_)
    return false;
  product_sequence_ = std::max(product_sequence_, sequence_of(p.id, shard_count_));
  for (const auto& image : p.images) note_part_id(image.id);
  for (const auto& option : p.options) {
    for (const auto& value : option.values) note_part_id(value.id);
  }
  for (const auto& c : p.combinations) note_part_id(c.id);
  products_.emplace(p.id, std::move(p));
  return true;
}

bool catalog_book::apply_product_updated(payload_reader& in) {
  auto id = in.get<entity_id>();
  auto at = in.get<time_ms>();
  auto fields = in.get<std::uint8_t>();
  product_view* changed = changing(id);
  if (in.failed() || changed == nullptr) return false;
  product_view& p = *changed;
  if (fields & field_name) p.name = in.get_bytes();
  if (fields & field_description) p.description = in.get_bytes();
  if (fields & field_base_price) p.base_price = in.get<std::int64_t>();
  if (fields & field_is_active) p.is_active = in.get<std::uint8_t>() != 0;
  p.updated_at = at;
  return !in.failed();
}

bool catalog_book::apply_stock_adjusted(payload_reader& in) {
  auto product_id = in.get<entity_id>();
  auto combination_id = in.get<entity_id>();
  auto delta = in.get<std::int64_t>();
  auto after = in.get<std::int64_t>();
  auto at = in.get<time_ms>();
  product_view* p = changing(product_id);
  if (in.failed() || p == nullptr) return false;
  for (auto& c : p->combinations) {
    if (c.id != combination_id) continue;
    if (c.stock + delta != after || after < 0) return false;  // the chain must hold on replay
    c.stock = after;
    p->updated_at = at;
    return true;
  }
  return false;
}

const product_view* catalog_book::product(entity_id product_id) const {
  auto it = products_.find(product_id);
  return it == products_.end() ? nullptr : &it->second;
}

std::int64_t* catalog_book::stock_slot(entity_id product_id, entity_id combination_id) {
  product_view* p = changing(product_id);
  if (p == nullptr) return nullptr;
  for (auto& c : p->combinations) {
    if (c.id == combination_id) return &c.stock;
  }
  return nullptr;
}

// ---- snapshot --------------------------------------------------------------------------------

namespace {
void write_product_entity(payload_writer& w, const product_view& p) {
  write_product(w, p);
  w.put(p.updated_at);
}
}  // namespace

product_view* catalog_book::changing(entity_id product_id) {
  auto it = products_.find(product_id);
  product_view* p = it == products_.end() ? nullptr : &it->second;
  capture_products_.changing(sequence_of(product_id, shard_count_), p, write_product_entity);
  return p;
}

void catalog_book::begin_capture(capture_buffer& out) {
  put_entity(
      out, snapshot_key(snapshot_table::books, static_cast<std::uint64_t>(snapshot_book::catalog)),
      [&](payload_writer& w) {
        w.put(product_sequence_);
        w.put(part_sequence_);
      });
  capture_products_.begin(out, product_sequence_);
}

bool catalog_book::capture_step(capture_buffer& out, capture_budget& budget) {
  return capture_products_.step(out, products_, index_, shard_count_, budget, write_product_entity);
}

void catalog_book::end_capture() {
  capture_products_.end();
}

bool catalog_book::load(const snapshot_key& key, std::string_view value) {
  payload_reader in(value);
  if (key.table() == snapshot_table::books) {
    product_sequence_ = in.get<std::uint64_t>();
    part_sequence_ = in.get<std::uint64_t>();
    return !in.failed() && in.at_end();
  }
  product_view p;
  if (key.table() != snapshot_table::products || !read_product(in, p)) return false;
  p.updated_at = in.get<time_ms>();  // a record carries created_at only; an entity both
  if (in.failed() || !in.at_end() || p.id != make_id(key.a(), index_, shard_count_)) return false;
  return products_.emplace(p.id, std::move(p)).second;
}

void catalog_book::check_invariants(std::vector<std::string>& broken) const {
  for (const auto& [id, product] : products_) {
    for (const auto& c : product.combinations) {
      if (c.stock < 0 || c.stock > stock_max) {
        broken.push_back("product " + std::to_string(id) + " combination " + std::to_string(c.id) +
                         ": stock " + std::to_string(c.stock));
      }
    }
  }
}

}  // namespace ecom::engine
