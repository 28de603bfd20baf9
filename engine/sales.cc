#include "engine/sales.h"

#include <algorithm>

namespace ecom::engine {

sales_book::sales_book(shard_index index, catalog_book& catalog)
    : index_(index), catalog_(catalog) {}

void sales_book::emit(record_type type, std::string payload, step_context& ctx) {
  emit_record(*this, type, index_, std::move(payload), ctx.out);
}

hold_state sales_book::state_of(entity_id order_id) const {
  auto it = holds_.find(order_id);
  return it == holds_.end() ? hold_state::none : it->second.state;
}

reply sales_book::handle(const take_stock& command, step_context& ctx) {
  if (!command.check_only && holds_.contains(command.order_id)) return reply{};  // sent again
  // The contract's order across all lines: on sale first, then stock. A product cannot vanish
  // after an order named it; a missing one reads as not on sale.
  for (const auto& line : command.lines) {
    const product_view* product = catalog_.product(line.product_id);
    if (product == nullptr || !product->is_active) return refusal(errc::product_inactive);
  }
  for (const auto& line : command.lines) {
    const std::int64_t* stock = catalog_.stock_slot(line.product_id, line.combination_id);
    if (stock == nullptr) return refusal(errc::product_inactive);
    if (*stock < line.quantity) return refusal(errc::out_of_stock);
  }
  if (command.check_only) return reply{};
  std::string payload;
  payload_writer w(payload);
  w.put(command.order_id);
  w.put(static_cast<std::uint32_t>(command.lines.size()));
  for (const auto& line : command.lines) {
    w.put(line.product_id);
    w.put(line.combination_id);
    w.put(line.quantity);
    w.put(*catalog_.stock_slot(line.product_id, line.combination_id) - line.quantity);
  }
  emit(record_type::stock_taken, std::move(payload), ctx);
  return reply{};
}

reply sales_book::handle(const release_stock& command, step_context& ctx) {
  if (state_of(command.order_id) != hold_state::taken) return reply{};
  std::string payload;
  payload_writer w(payload);
  w.put(command.order_id);
  emit(record_type::stock_released, std::move(payload), ctx);
  return reply{};
}

reply sales_book::handle(const commit_sale& command, step_context& ctx) {
  if (state_of(command.order_id) != hold_state::taken) return reply{};
  std::string payload;
  payload_writer w(payload);
  w.put(command.order_id);
  w.put(command.paid_at);
  emit(record_type::sale_committed, std::move(payload), ctx);
  return reply{};
}

reply sales_book::handle(const refund_sale& command, step_context& ctx) {
  if (state_of(command.order_id) == hold_state::none) return reply{};
  std::string payload;
  payload_writer w(payload);
  w.put(command.order_id);
  emit(record_type::sale_refunded, std::move(payload), ctx);
  return reply{};
}

reply sales_book::handle(const top_products& command, step_context&) {
  popular_page page;
  for (const auto& [product_id, by_time] : sold_) {
    std::int64_t quantity = 0;
    for (auto it = by_time.lower_bound(command.since); it != by_time.end(); ++it)
      quantity += it->second;
    if (quantity <= 0) continue;
    const product_view* product = catalog_.product(product_id);
    page.items.push_back(popular_item{product_id, product ? product->name : "", quantity});
  }
  std::size_t keep = std::min<std::size_t>(page.items.size(), command.limit);
  std::partial_sort(page.items.begin(), page.items.begin() + static_cast<std::ptrdiff_t>(keep),
                    page.items.end(), more_popular);
  page.items.resize(keep);
  return reply{errc::ok, std::move(page), false};
}

void sales_book::prune(time_ms now) {
  time_ms horizon = now - static_cast<time_ms>(popular_days_max + 1) * day_ms;
  for (auto it = sold_.begin(); it != sold_.end();) {
    auto& by_time = it->second;
    if (!by_time.empty() && by_time.begin()->first < horizon) changing_sold(it->first);
    by_time.erase(by_time.begin(), by_time.lower_bound(horizon));
    it = by_time.empty() ? sold_.erase(it) : std::next(it);
  }
}

// ---- apply ----------------------------------------------------------------------------------

bool sales_book::apply(record_type type, std::string_view payload) {
  payload_reader in(payload);
  bool ok = false;
  switch (type) {
    case record_type::stock_taken:
      ok = apply_taken(in);
      break;
    case record_type::stock_released:
      ok = apply_released(in);
      break;
    case record_type::sale_committed:
      ok = apply_committed(in);
      break;
    case record_type::sale_refunded:
      ok = apply_refunded(in);
      break;
    default:
      return false;
  }
  return ok && !in.failed() && in.at_end();
}

bool sales_book::apply_taken(payload_reader& in) {
  auto order_id = in.get<entity_id>();
  auto count = in.get<std::uint32_t>();
  if (in.failed() || count == 0 || count > checkout_lines_max || holds_.contains(order_id))
    return false;
  hold h;
  std::vector<std::int64_t> after(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    stock_line line;
    line.product_id = in.get<entity_id>();
    line.combination_id = in.get<entity_id>();
    line.quantity = in.get<std::int64_t>();
    after[i] = in.get<std::int64_t>();
    h.lines.push_back(line);
  }
  if (in.failed()) return false;
  // Check every line before changing any: the chain must hold on replay as it did live.
  for (std::uint32_t i = 0; i < count; ++i) {
    const auto& line = h.lines[i];
    std::int64_t* stock = catalog_.stock_slot(line.product_id, line.combination_id);
    if (stock == nullptr || line.quantity <= 0 || *stock - line.quantity != after[i] ||
        after[i] < 0) {
      return false;
    }
  }
  for (std::uint32_t i = 0; i < count; ++i) {
    *catalog_.stock_slot(h.lines[i].product_id, h.lines[i].combination_id) = after[i];
  }
  changing_hold(order_id);  // made after a cut: not in that snapshot
  holds_.emplace(order_id, std::move(h));
  return true;
}

bool sales_book::give_back(const hold& h) {
  for (const auto& line : h.lines) {
    std::int64_t* stock = catalog_.stock_slot(line.product_id, line.combination_id);
    if (stock == nullptr) return false;
    *stock += line.quantity;
  }
  return true;
}

void sales_book::count_sold(const hold& h, std::int64_t sign) {
  for (const auto& line : h.lines) {
    changing_sold(line.product_id);
    auto& by_time = sold_[line.product_id];
    std::int64_t& quantity = by_time[h.paid_at];
    quantity += sign * line.quantity;
    if (quantity == 0) by_time.erase(h.paid_at);
    if (by_time.empty()) sold_.erase(line.product_id);  // never kept empty (as prune does)
  }
}

bool sales_book::apply_released(payload_reader& in) {
  auto order_id = in.get<entity_id>();
  changing_hold(order_id);
  auto it = holds_.find(order_id);
  if (in.failed() || it == holds_.end() || it->second.state != hold_state::taken) return false;
  if (!give_back(it->second)) return false;
  holds_.erase(it);
  return true;
}

bool sales_book::apply_committed(payload_reader& in) {
  auto order_id = in.get<entity_id>();
  auto paid_at = in.get<time_ms>();
  changing_hold(order_id);
  auto it = holds_.find(order_id);
  if (in.failed() || it == holds_.end() || it->second.state != hold_state::taken) return false;
  it->second.state = hold_state::committed;
  it->second.paid_at = paid_at;
  count_sold(it->second, +1);
  return true;
}

bool sales_book::apply_refunded(payload_reader& in) {
  auto order_id = in.get<entity_id>();
  changing_hold(order_id);
  auto it = holds_.find(order_id);
  if (in.failed() || it == holds_.end()) return false;
  if (!give_back(it->second)) return false;
  if (it->second.state == hold_state::committed) count_sold(it->second, -1);
  holds_.erase(it);
  return true;
}

// ---- snapshot --------------------------------------------------------------------------------

void sales_book::write_hold(payload_writer& w, const hold& h) {
  w.put(h.state);
  w.put(h.paid_at);
  w.put(static_cast<std::uint32_t>(h.lines.size()));
  for (const auto& line : h.lines) {
    w.put(line.product_id);
    w.put(line.combination_id);
    w.put(line.quantity);
  }
}

void sales_book::write_sold(payload_writer& w, const sold_by_time& sold) {
  w.put(static_cast<std::uint32_t>(sold.size()));
  for (const auto& [at, quantity] : sold) {
    w.put(at);
    w.put(quantity);
  }
}

void sales_book::changing_hold(entity_id order_id) {
  if (capture_ == nullptr || !capture_holds_.claim(static_cast<std::uint64_t>(order_id))) return;
  if (auto it = holds_.find(order_id); it != holds_.end()) {
    put_entity(*capture_, snapshot_key(snapshot_table::holds, static_cast<std::uint64_t>(order_id)),
               [&](payload_writer& w) { write_hold(w, it->second); });
  }
}

void sales_book::changing_sold(entity_id product_id) {
  auto it = sold_.find(product_id);
  capture_sold_.changing(sequence_of(product_id, catalog_.shard_count()),
                         it == sold_.end() ? nullptr : &it->second, write_sold);
}

void sales_book::begin_capture(capture_buffer& out) {
  capture_ = &out;
  capture_holds_.start(0, static_cast<std::uint64_t>(INT64_MAX));
  capture_sold_.begin(out, catalog_.product_sequence());
}

bool sales_book::capture_step(capture_buffer& out, capture_budget& budget) {
  // Holds: order ids of every shard, so a walk over the ordered map, not over a sequence.
  auto at = holds_.lower_bound(static_cast<entity_id>(capture_holds_.cursor()));
  while (!capture_holds_.done()) {
    if (budget.spent()) return false;
    if (at == holds_.end()) {
      capture_holds_.advance_to(capture_holds_.last() + 1);
      break;
    }
    budget.spend();
    const auto position = static_cast<std::uint64_t>(at->first);
    capture_holds_.advance_to(position + 1);
    if (!capture_holds_.written_early(position)) {
      put_entity(out, snapshot_key(snapshot_table::holds, position),
                 [&](payload_writer& w) { write_hold(w, at->second); });
    }
    ++at;
  }
  return capture_sold_.step(out, sold_, index_, catalog_.shard_count(), budget, write_sold);
}

void sales_book::end_capture() {
  capture_ = nullptr;
  capture_holds_.stop();
  capture_sold_.end();
}

bool sales_book::load(const snapshot_key& key, std::string_view value) {
  payload_reader in(value);
  if (key.table() == snapshot_table::holds) {
    hold h;
    h.state = in.get<hold_state>();
    h.paid_at = in.get<time_ms>();
    auto count = in.get<std::uint32_t>();
    if (in.failed() || count == 0 || count > checkout_lines_max ||
        (h.state != hold_state::taken && h.state != hold_state::committed))
      return false;
    for (std::uint32_t i = 0; i < count; ++i) {
      stock_line line;
      line.product_id = in.get<entity_id>();
      line.combination_id = in.get<entity_id>();
      line.quantity = in.get<std::int64_t>();
      h.lines.push_back(line);
    }
    if (in.failed() || !in.at_end()) return false;
    return holds_.emplace(static_cast<entity_id>(key.a()), std::move(h)).second;
  }
  if (key.table() != snapshot_table::sold) return false;
  sold_by_time sold;
  auto count = in.get<std::uint32_t>();
  for (std::uint32_t i = 0; i < count && !in.failed(); ++i) {
    auto at = in.get<time_ms>();
    sold[at] = in.get<std::int64_t>();
  }
  if (in.failed() || !in.at_end() || sold.empty()) return false;
  return sold_.emplace(make_id(key.a(), index_, catalog_.shard_count()), std::move(sold)).second;
}

}  // namespace ecom::engine
