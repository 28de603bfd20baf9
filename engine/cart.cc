#include "engine/cart.h"

#include <algorithm>
#include <cassert>

#include "engine/sharding.h"

namespace ecom::engine {

cart_book::cart_book(shard_index index, std::uint32_t shard_count, const user_book& users,
                     idempotency_table& keys)
    : index_(index), shard_count_(shard_count), users_(users), keys_(keys) {}

void cart_book::emit(record_type type, std::string payload, step_context& ctx) {
  emit_record(*this, type, index_, std::move(payload), ctx.out);
}

const cart_line* cart_book::find_line(entity_id user_id, entity_id item_id) const {
  auto it = carts_.find(user_id);
  if (it == carts_.end()) return nullptr;
  for (const auto& line : it->second.lines) {
    if (line.id == item_id) return &line;
  }
  return nullptr;
}

errc cart_book::check_fact(const sale_fact& fact, std::int64_t quantity) {
  if (!fact.product_found) return errc::product_not_found;
  if (!fact.combination_found) return errc::combination_not_found;
  if (quantity > cart_line_quantity_max) return errc::cart_quantity_too_large;
  if (!fact.active) return errc::product_inactive;
  return errc::ok;
}

reply cart_book::handle(const add_cart_item& command, step_context& ctx) {
  if (!users_.exists(command.user_id)) return refusal(errc::user_not_found);
  assert(command.quantity >= 1 && command.quantity <= cart_line_quantity_max);
  const cart_line* existing = nullptr;
  std::size_t line_count = 0;
  if (auto it = carts_.find(command.user_id); it != carts_.end()) {
    line_count = it->second.lines.size();
    for (const auto& line : it->second.lines) {
      if (line.combination_id == command.combination_id && line.product_id == command.product_id)
        existing = &line;
    }
  }
  std::int64_t quantity = command.quantity + (existing ? existing->quantity : 0);
  errc verdict = check_fact(command.fact, quantity);
  if (verdict == errc::ok && !existing && line_count >= cart_lines_max) verdict = errc::cart_full;
  if (verdict == errc::ok && command.fact.stock < quantity) verdict = errc::out_of_stock;
  if (verdict != errc::ok) return refusal(verdict);
  cart_line line{existing ? existing->id : make_id(item_sequence_ + 1, index_, shard_count_),
                 command.product_id, command.combination_id, quantity};
  reply answer{errc::ok, cart_item_view{line, command.fact}, false};
  auto stored = ctx.entry_for(answer);
  std::string payload;
  payload_writer w(payload);
  w.put(command.user_id);
  w.put(line.id);
  w.put(line.product_id);
  w.put(line.combination_id);
  w.put(line.quantity);
  w.put(ctx.now);
  idempotency_table::encode(w, stored ? &*stored : nullptr);
  emit(record_type::cart_item_added, std::move(payload), ctx);
  return answer;
}

reply cart_book::handle(const get_cart& command, step_context&) {
  if (!users_.exists(command.user_id)) return refusal(errc::user_not_found);
  cart_view view;
  if (auto it = carts_.find(command.user_id); it != carts_.end()) view.lines = it->second.lines;
  return reply{errc::ok, std::move(view), false};
}

reply cart_book::handle(const get_cart_line& command, step_context&) {
  if (!users_.exists(command.user_id)) return refusal(errc::user_not_found);
  const cart_line* line = find_line(command.user_id, command.item_id);
  if (line == nullptr) return refusal(errc::cart_item_not_found);
  return reply{errc::ok, *line, false};
}

reply cart_book::handle(const set_cart_quantity& command, step_context& ctx) {
  if (!users_.exists(command.user_id)) return refusal(errc::user_not_found);
  const cart_line* line = find_line(command.user_id, command.item_id);
  if (line == nullptr) return refusal(errc::cart_item_not_found);
  // The line may have been removed and re-added between the hops: check it is still the one
  // the fact was read for.
  if (line->product_id != command.fact.product_id ||
      line->combination_id != command.fact.combination_id) {
    return refusal(errc::cart_item_not_found);
  }
  errc verdict = check_fact(command.fact, command.quantity);
  if (verdict == errc::ok && command.fact.stock < command.quantity) verdict = errc::out_of_stock;
  if (verdict != errc::ok) return refusal(verdict);
  std::string payload;
  payload_writer w(payload);
  w.put(command.user_id);
  w.put(command.item_id);
  w.put(command.quantity);
  w.put(ctx.now);
  emit(record_type::cart_item_quantity_set, std::move(payload), ctx);
  return reply{errc::ok, cart_item_view{*find_line(command.user_id, command.item_id), command.fact},
               false};
}

reply cart_book::handle(const remove_cart_item& command, step_context& ctx) {
  if (!users_.exists(command.user_id)) return refusal(errc::user_not_found);
  if (find_line(command.user_id, command.item_id) == nullptr)
    return refusal(errc::cart_item_not_found);
  std::string payload;
  payload_writer w(payload);
  w.put(command.user_id);
  w.put(command.item_id);
  emit(record_type::cart_item_removed, std::move(payload), ctx);
  return reply{};
}

std::uint64_t cart_book::line_count() const {
  std::uint64_t count = 0;
  for (const auto& [user, c] : carts_) count += c.lines.size();
  return count;
}

bool cart_book::apply(record_type type, std::string_view payload) {
  payload_reader in(payload);
  bool ok = false;
  switch (type) {
    case record_type::cart_item_added:
      ok = apply_item_added(in);
      break;
    case record_type::cart_item_quantity_set:
      ok = apply_quantity_set(in);
      break;
    case record_type::cart_item_removed:
      ok = apply_item_removed(in);
      break;
    default:
      return false;
  }
  return ok && !in.failed() && in.at_end();
}

bool cart_book::apply_item_added(payload_reader& in) {
  cart_line line;
  auto user_id = in.get<entity_id>();
  line.id = in.get<entity_id>();
  line.product_id = in.get<entity_id>();
  line.combination_id = in.get<entity_id>();
  line.quantity = in.get<std::int64_t>();
  in.get<time_ms>();
  auto stored = idempotency_table::decode(in);
  if (in.failed() || !users_.exists(user_id) || line.quantity < 1 ||
      line.quantity > cart_line_quantity_max) {
    return false;
  }
  auto& lines = changing(user_id, true)->lines;
  auto it =
      std::find_if(lines.begin(), lines.end(), [&](const cart_line& l) { return l.id == line.id; });
  if (it != lines.end()) {
    it->quantity = line.quantity;  // merged into the existing line
  } else {
    if (lines.size() >= cart_lines_max) return false;
    item_sequence_ = std::max(item_sequence_, sequence_of(line.id, shard_count_));
    lines.push_back(line);
  }
  if (stored) keys_.insert(std::move(*stored));
  return true;
}

bool cart_book::apply_quantity_set(payload_reader& in) {
  auto user_id = in.get<entity_id>();
  auto item_id = in.get<entity_id>();
  auto quantity = in.get<std::int64_t>();
  in.get<time_ms>();
  cart* c = changing(user_id, false);
  if (in.failed() || c == nullptr || quantity < 1 || quantity > cart_line_quantity_max)
    return false;
  for (auto& line : c->lines) {
    if (line.id == item_id) {
      line.quantity = quantity;
      return true;
    }
  }
  return false;
}

bool cart_book::apply_item_removed(payload_reader& in) {
  auto user_id = in.get<entity_id>();
  auto item_id = in.get<entity_id>();
  cart* c = changing(user_id, false);
  if (in.failed() || c == nullptr) return false;
  auto& lines = c->lines;
  auto before = lines.size();
  std::erase_if(lines, [&](const cart_line& l) { return l.id == item_id; });
  return lines.size() + 1 == before;
}

void cart_book::remove_lines(entity_id user_id, const std::vector<entity_id>& item_ids) {
  if (item_ids.empty()) return;
  cart* c = changing(user_id, false);
  if (c == nullptr) return;
  std::erase_if(c->lines, [&](const cart_line& l) {
    return std::find(item_ids.begin(), item_ids.end(), l.id) != item_ids.end();
  });
}

// ---- snapshot --------------------------------------------------------------------------------

cart_book::cart* cart_book::changing(entity_id user_id, bool create) {
  auto it = carts_.find(user_id);
  const std::uint64_t position = sequence_of(user_id, shard_count_);
  capture_carts_.changing(position, it == carts_.end() ? nullptr : &it->second, write_cart);
  if (it != carts_.end()) return &it->second;
  return create ? &carts_[user_id] : nullptr;
}

void cart_book::write_cart(payload_writer& w, const cart& c) {
  w.put(static_cast<std::uint32_t>(c.lines.size()));
  for (const auto& line : c.lines) {
    w.put(line.id);
    w.put(line.product_id);
    w.put(line.combination_id);
    w.put(line.quantity);
  }
}

void cart_book::begin_capture(capture_buffer& out) {
  put_entity(out,
             snapshot_key(snapshot_table::books, static_cast<std::uint64_t>(snapshot_book::carts)),
             [&](payload_writer& w) { w.put(item_sequence_); });
  capture_carts_.begin(out, users_.user_sequence());
}

bool cart_book::capture_step(capture_buffer& out, capture_budget& budget) {
  return capture_carts_.step(out, carts_, index_, shard_count_, budget, write_cart);
}

void cart_book::end_capture() {
  capture_carts_.end();
}

bool cart_book::load(const snapshot_key& key, std::string_view value) {
  payload_reader in(value);
  if (key.table() == snapshot_table::books) {
    item_sequence_ = in.get<std::uint64_t>();
    return !in.failed() && in.at_end();
  }
  if (key.table() != snapshot_table::carts) return false;
  cart c;
  auto count = in.get<std::uint32_t>();
  if (in.failed() || count > cart_lines_max) return false;
  for (std::uint32_t i = 0; i < count; ++i) {
    cart_line line;
    line.id = in.get<entity_id>();
    line.product_id = in.get<entity_id>();
    line.combination_id = in.get<entity_id>();
    line.quantity = in.get<std::int64_t>();
    c.lines.push_back(line);
  }
  if (in.failed() || !in.at_end()) return false;
  return carts_.emplace(make_id(key.a(), index_, shard_count_), std::move(c)).second;
}

}  // namespace ecom::engine
