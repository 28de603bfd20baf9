#include "engine/orders.h"

#include <algorithm>
#include <cassert>

#include "engine/check.h"
#include "engine/sharding.h"
#include "engine/value_codec.h"

namespace ecom::engine {

namespace {

order_status closing_status(record_type type) {
  switch (type) {
    case record_type::order_payment_failed:
      return order_status::payment_failed;
    case record_type::order_cancelled:
      return order_status::cancelled;
    case record_type::order_expired:
      return order_status::expired;
    default:
      return order_status::pending_payment;  // not a closing record
  }
}

}  // namespace

// ---- pricing and transitions (order_types.h) ---------------------------------------------------

order_amounts price_order(const std::vector<order_line>& lines, const coupon_template* coupon) {
  order_amounts amounts;
  for (const auto& line : lines) amounts.total += line.unit_price * line.quantity;
  if (coupon != nullptr)
    amounts.discount = discount_of(coupon->kind, coupon->amount, amounts.total);
  amounts.final_amount = amounts.total - amounts.discount;
  return amounts;
}

bool order_transition_allowed(order_status from, order_status to) {
  switch (from) {
    case order_status::pending_payment:
      return to == order_status::paid || to == order_status::payment_failed ||
             to == order_status::cancelled || to == order_status::expired;
    case order_status::paid:
      return to == order_status::refunded;
    default:
      return false;
  }
}

// ---- order_book --------------------------------------------------------------------------------

order_book::order_book(shard_index index, std::uint32_t shard_count, user_book& users,
                       wallet_book& wallets, cart_book& carts, idempotency_table& keys)
    : index_(index),
      shard_count_(shard_count),
      users_(users),
      wallets_(wallets),
      carts_(carts),
      keys_(keys) {}

void order_book::emit(record_type type, std::string payload, std::vector<record>& out) {
  emit_record(*this, type, index_, std::move(payload), out);
}

order_view* order_book::find(entity_id user_id, entity_id order_id) {
  auto it = orders_.find(user_id);
  if (it == orders_.end()) return nullptr;
  auto& orders = it->second;
  auto at = std::lower_bound(orders.begin(), orders.end(), order_id,
                             [](const order_view& o, entity_id id) { return o.id < id; });
  return at != orders.end() && at->id == order_id ? &*at : nullptr;
}

reply order_book::handle(const create_order& command, step_context& ctx) {
  if (!users_.exists(command.user_id)) return refusal(errc::user_not_found);
  for (entity_id item_id : command.cart_item_ids) {
    if (!carts_.has_line(command.user_id, item_id)) return refusal(errc::cart_item_not_found);
  }
  // The contract's order: every line exists, then every line is on sale, then stock.
  for (const auto& item : command.items) {
    if (!item.fact.product_found) return refusal(errc::product_not_found);
    if (!item.fact.combination_found) return refusal(errc::combination_not_found);
  }
  for (const auto& item : command.items) {
    if (!item.fact.active) return refusal(errc::product_inactive);
  }
  for (const auto& item : command.items) {
    if (item.fact.stock < item.quantity) return refusal(errc::out_of_stock);
  }
  const user_coupon_view* coupon = nullptr;
  if (command.user_coupon_id != 0) {
    coupon = wallets_.usable(command.user_id, command.user_coupon_id, ctx.now);
    if (coupon == nullptr) return refusal(errc::coupon_not_usable);
  }
  order_view order;
  order.id = make_id(order_sequence_ + 1, index_, shard_count_);
  order.user_id = command.user_id;
  order.status = order_status::pending_payment;
  order.lines.reserve(command.items.size());
  for (const auto& item : command.items) {
    order.lines.push_back(order_line{item.product_id, item.combination_id, item.fact.product_name,
                                     item.fact.combination_name, item.quantity,
                                     item.fact.unit_price, item.fact.unit_price * item.quantity});
  }
  order_amounts amounts = price_order(order.lines, coupon ? &coupon->coupon : nullptr);
  if (coupon != nullptr && amounts.total < coupon->coupon.min_order_amount)
    return refusal(errc::min_order_amount_not_met);
  order.total_amount = amounts.total;
  order.discount_amount = amounts.discount;
  order.final_amount = amounts.final_amount;
  order.user_coupon_id = command.user_coupon_id;
  order.ordered_at = ctx.now;
  order.expires_at = ctx.now + command.ttl_ms;
  order.cart_item_ids = command.cart_item_ids;
  reply answer{errc::ok, order, false};
  auto stored = ctx.entry_for(answer);
  std::string payload;
  payload_writer w(payload);
  write_value(w, order);
  w.put(coupon != nullptr ? wallets_.next_history_id() : entity_id{0});
  idempotency_table::encode(w, stored ? &*stored : nullptr);
  emit(record_type::order_created, std::move(payload), ctx.out);
  return answer;
}

// Past expires_at a pending order can no longer be paid or cancelled, even in the moment
// before the sweep (which the shard runs before every batch) has recorded it EXPIRED.
bool order_book::expired_at(const order_view& order, time_ms now) {
  return order.status == order_status::pending_payment && now >= order.expires_at;
}

bool order_book::has_due(time_ms now) const {
  return !expiries_.empty() && std::get<0>(*expiries_.begin()) <= now;
}

reply order_book::handle(const get_order& command, step_context&) {
  if (!users_.exists(command.user_id)) return refusal(errc::user_not_found);
  order_view* order = find(command.user_id, command.order_id);
  if (order == nullptr) return refusal(errc::order_not_found);
  return reply{errc::ok, *order, false};
}

reply order_book::handle(const list_orders& command, step_context&) {
  if (!users_.exists(command.user_id)) return refusal(errc::user_not_found);
  order_page page;
  auto it = orders_.find(command.user_id);
  if (it == orders_.end()) return reply{errc::ok, std::move(page), false};
  const auto& orders = it->second;
  auto end = command.before_id == 0
                 ? orders.end()
                 : std::lower_bound(orders.begin(), orders.end(), command.before_id,
                                    [](const order_view& o, entity_id id) { return o.id < id; });
  for (auto at = end; at != orders.begin();) {
    --at;
    if (command.status != 0 && static_cast<std::uint8_t>(at->status) != command.status) continue;
    if (page.items.size() == command.limit) {
      page.next_before_id = page.items.back().id;
      break;
    }
    page.items.push_back(*at);
  }
  return reply{errc::ok, std::move(page), false};
}

reply order_book::handle(const begin_payment& command, step_context& ctx) {
  if (!users_.exists(command.user_id)) return refusal(errc::user_not_found);
  order_view* order = find(command.user_id, command.order_id);
  if (order == nullptr) return refusal(errc::order_not_found);
  if (order->status != order_status::pending_payment || paying_.contains(order->id) ||
      expired_at(*order, ctx.now)) {
    return refusal(errc::order_not_payable);
  }
  // Memory only, like the key's claim (the kernel's): both end at finish_payment, or with the
  // process.
  paying_.insert(order->id);
  bool short_now = *users_.balance(command.user_id) < order->final_amount;
  return reply{errc::ok, payment_plan{*order, short_now}, false};
}

reply order_book::handle(const finish_payment& command, step_context& ctx) {
  order_view* order = find(command.user_id, command.order_id);
  ECOM_CHECK(order != nullptr && paying_.contains(command.order_id),
             "finish_payment without begin_payment");
  paying_.erase(command.order_id);
  errc outcome = command.stock_outcome;
  std::int64_t balance = *users_.balance(command.user_id);
  if (outcome == errc::ok && (command.check_only || balance < order->final_amount))
    outcome = errc::insufficient_balance;
  if (outcome != errc::ok) {
    reply answer = refusal(outcome);
    auto stored = ctx.entry_for(answer);
    emit_closing(record_type::order_payment_failed, *order, ctx.now, stored ? &*stored : nullptr,
                 ctx.out);
    return answer;
  }
  order_view paid = *order;
  paid.status = order_status::paid;
  paid.paid_at = ctx.now;
  reply answer{errc::ok, paid, false};
  auto stored = ctx.entry_for(answer);
  std::string payload;
  payload_writer w(payload);
  write_money_move(w, *order, ctx.now, users_.next_entry_id(), balance, -order->final_amount);
  idempotency_table::encode(w, stored ? &*stored : nullptr);
  emit(record_type::order_paid, std::move(payload), ctx.out);
  return answer;
}

reply order_book::handle(const cancel_order& command, step_context& ctx) {
  if (!users_.exists(command.user_id)) return refusal(errc::user_not_found);
  order_view* order = find(command.user_id, command.order_id);
  if (order == nullptr) return refusal(errc::order_not_found);
  if (paying_.contains(order->id) || expired_at(*order, ctx.now) ||
      (order->status != order_status::pending_payment && order->status != order_status::paid)) {
    return refusal(errc::order_not_cancellable);
  }
  order_view after = *order;
  after.cancelled_at = ctx.now;
  if (order->status == order_status::pending_payment) {
    after.status = order_status::cancelled;
    reply answer{errc::ok, after, false};
    auto stored = ctx.entry_for(answer);
    emit_closing(record_type::order_cancelled, *order, ctx.now, stored ? &*stored : nullptr,
                 ctx.out);
    return answer;
  }
  after.status = order_status::refunded;
  reply answer{errc::ok, after, false};
  auto stored = ctx.entry_for(answer);
  std::int64_t balance = *users_.balance(command.user_id);
  std::string payload;
  payload_writer w(payload);
  // REFUND entries have amount > 0 (API.md): a free order gives nothing back, so it writes none.
  write_money_move(w, *order, ctx.now, order->final_amount > 0 ? users_.next_entry_id() : 0,
                   balance, order->final_amount);
  w.put(order->user_coupon_id != 0 ? wallets_.next_history_id() : entity_id{0});
  idempotency_table::encode(w, stored ? &*stored : nullptr);
  emit(record_type::order_refunded, std::move(payload), ctx.out);
  return answer;
}

void order_book::emit_closing(record_type type, const order_view& order, time_ms at,
                              const idempotency_entry* stored, std::vector<record>& out) {
  std::string payload;
  payload_writer w(payload);
  w.put(order.user_id);
  w.put(order.id);
  w.put(at);
  w.put(order.user_coupon_id != 0 ? wallets_.next_history_id() : entity_id{0});
  idempotency_table::encode(w, stored);
  emit(type, std::move(payload), out);
}

std::size_t order_book::expire(time_ms now, std::vector<record>& out) {
  std::vector<std::pair<entity_id, entity_id>> due;  // (user, order); emitting edits expiries_
  for (const auto& [expires_at, order_id, user_id] : expiries_) {
    if (expires_at > now || due.size() == expiries_per_tick_max) break;
    if (!paying_.contains(order_id)) due.emplace_back(user_id, order_id);
  }
  for (auto [user_id, order_id] : due) {
    const order_view* order = find(user_id, order_id);
    // Recorded at the expiry instant, whenever the sweep runs (also after downtime).
    emit_closing(record_type::order_expired, *order, order->expires_at, nullptr, out);
  }
  return due.size();
}

// ---- apply -------------------------------------------------------------------------------------

bool order_book::apply(record_type type, std::string_view payload) {
  payload_reader in(payload);
  bool ok = false;
  switch (type) {
    case record_type::order_created:
      ok = apply_created(in);
      break;
    case record_type::order_paid:
      ok = apply_paid(in);
      break;
    case record_type::order_payment_failed:
    case record_type::order_cancelled:
    case record_type::order_expired:
      ok = apply_closing(type, in);
      break;
    case record_type::order_refunded:
      ok = apply_refunded(in);
      break;
    default:
      return false;
  }
  return ok && !in.failed() && in.at_end();
}

void order_book::leave_pending(const order_view& order) {
  expiries_.erase({order.expires_at, order.id, order.user_id});
}

bool order_book::apply_created(payload_reader& in) {
  order_view order;
  read_value(in, order);
  auto history_id = in.get<entity_id>();
  auto stored = idempotency_table::decode(in);
  if (in.failed() || !users_.exists(order.user_id) ||
      order.status != order_status::pending_payment || owner_of(order.id, shard_count_) != index_) {
    return false;
  }
  auto& orders = *changing(order.user_id, true);
  if (!orders.empty() && orders.back().id >= order.id) return false;
  if (order.user_coupon_id != 0 && !wallets_.apply_use(order.user_id, order.user_coupon_id,
                                                       order.id, history_id, order.ordered_at)) {
    return false;
  }
  order_sequence_ = std::max(order_sequence_, sequence_of(order.id, shard_count_));
  expiries_.emplace(order.expires_at, order.id, order.user_id);
  orders.push_back(std::move(order));
  ++order_count_;
  if (stored) keys_.insert(std::move(*stored));
  return true;
}

// The head of order_paid and order_refunded: the order, when, and the balance entry (id 0: none).
void order_book::write_money_move(payload_writer& w, const order_view& order, time_ms at,
                                  entity_id entry_id, std::int64_t balance, std::int64_t amount) {
  w.put(order.user_id);
  w.put(order.id);
  w.put(at);
  w.put(entry_id);
  w.put(balance);
  w.put(balance + amount);
}

order_view* order_book::read_money_move(payload_reader& in, order_status to, balance_entry& entry) {
  auto user_id = in.get<entity_id>();
  auto order_id = in.get<entity_id>();
  entry.created_at = in.get<time_ms>();
  entry.id = in.get<entity_id>();
  entry.balance_before = in.get<std::int64_t>();
  entry.balance_after = in.get<std::int64_t>();
  changing(user_id, false);
  order_view* order = find(user_id, order_id);
  if (in.failed() || order == nullptr || !order_transition_allowed(order->status, to))
    return nullptr;
  entry.order_id = order_id;
  return order;
}

bool order_book::apply_paid(payload_reader& in) {
  balance_entry entry;
  order_view* order = read_money_move(in, order_status::paid, entry);
  auto stored = idempotency_table::decode(in);
  if (order == nullptr || in.failed()) return false;
  entity_id user_id = order->user_id;
  time_ms at = entry.created_at;
  entry.kind = balance_entry_kind::use;
  entry.amount = -order->final_amount;
  if (!users_.apply_order_entry(user_id, entry)) return false;
  carts_.remove_lines(user_id, order->cart_item_ids);
  leave_pending(*order);
  order->status = order_status::paid;
  order->paid_at = at;
  if (stored) keys_.insert(std::move(*stored));
  return true;
}

bool order_book::apply_closing(record_type type, payload_reader& in) {
  auto user_id = in.get<entity_id>();
  auto order_id = in.get<entity_id>();
  auto at = in.get<time_ms>();
  auto history_id = in.get<entity_id>();
  auto stored = idempotency_table::decode(in);
  changing(user_id, false);
  order_view* order = find(user_id, order_id);
  order_status to = closing_status(type);
  if (in.failed() || order == nullptr || !order_transition_allowed(order->status, to)) return false;
  if (order->user_coupon_id != 0 &&
      !wallets_.apply_restore(user_id, order->user_coupon_id, order_id, history_id, at)) {
    return false;
  }
  leave_pending(*order);
  order->status = to;
  if (to == order_status::cancelled) order->cancelled_at = at;
  if (stored) keys_.insert(std::move(*stored));
  return true;
}

bool order_book::apply_refunded(payload_reader& in) {
  balance_entry entry;
  order_view* order = read_money_move(in, order_status::refunded, entry);
  auto history_id = in.get<entity_id>();
  auto stored = idempotency_table::decode(in);
  if (order == nullptr || in.failed()) return false;
  entity_id user_id = order->user_id, order_id = order->id;
  time_ms at = entry.created_at;
  entry.kind = balance_entry_kind::refund;
  entry.amount = order->final_amount;
  if ((entry.id == 0) != (entry.amount == 0)) return false;
  if (entry.id != 0 && !users_.apply_order_entry(user_id, entry)) return false;
  if (order->user_coupon_id != 0 &&
      !wallets_.apply_restore(user_id, order->user_coupon_id, order_id, history_id, at)) {
    return false;
  }
  order->status = order_status::refunded;
  order->cancelled_at = at;
  if (stored) keys_.insert(std::move(*stored));
  return true;
}

void order_book::for_each_order(const std::function<void(const order_view&)>& visit) const {
  for (const auto& [user_id, orders] : orders_) {
    for (const auto& order : orders) visit(order);
  }
}

void order_book::check_invariants(std::vector<std::string>& broken) const {
  for (const auto& [user_id, orders] : orders_) {
    const auto uses = users_.entries_by_order(user_id, balance_entry_kind::use);
    std::unordered_map<entity_id, int> coupon_orders;
    for (const auto& order : orders) {
      const bool charged =
          order.status == order_status::paid || order.status == order_status::refunded;
      auto used = uses.find(order.id);
      const int count = used == uses.end() ? 0 : used->second;
      if (count != (charged ? 1 : 0)) {
        broken.push_back("order " + std::to_string(order.id) + " (" +
                         std::to_string(static_cast<int>(order.status)) + ") has " +
                         std::to_string(count) + " USE entries in user " + std::to_string(user_id) +
                         "'s history");
      }
      const bool live =
          order.status == order_status::pending_payment || order.status == order_status::paid;
      if (live && order.user_coupon_id != 0 && ++coupon_orders[order.user_coupon_id] > 1) {
        broken.push_back("user coupon " + std::to_string(order.user_coupon_id) +
                         " is used by two live orders of user " + std::to_string(user_id));
      }
    }
  }
}

// ---- snapshot --------------------------------------------------------------------------------

order_book::user_orders* order_book::changing(entity_id user_id, bool create) {
  auto it = orders_.find(user_id);
  const std::uint64_t position = sequence_of(user_id, shard_count_);
  capture_orders_.changing(position, it == orders_.end() ? nullptr : &it->second, write_orders);
  if (it != orders_.end()) return &it->second;
  return create ? &orders_[user_id] : nullptr;
}

void order_book::write_orders(payload_writer& w, const user_orders& orders) {
  w.put(static_cast<std::uint32_t>(orders.size()));
  for (const auto& order : orders) write_value(w, order);
}

void order_book::begin_capture(capture_buffer& out) {
  put_entity(out,
             snapshot_key(snapshot_table::books, static_cast<std::uint64_t>(snapshot_book::orders)),
             [&](payload_writer& w) {
               w.put(order_sequence_);
               w.put(order_count_);
             });
  capture_orders_.begin(out, users_.user_sequence());
}

bool order_book::capture_step(capture_buffer& out, capture_budget& budget) {
  return capture_orders_.step(out, orders_, index_, shard_count_, budget, write_orders);
}

void order_book::end_capture() {
  capture_orders_.end();
}

bool order_book::load(const snapshot_key& key, std::string_view value) {
  payload_reader in(value);
  if (key.table() == snapshot_table::books) {
    order_sequence_ = in.get<std::uint64_t>();
    order_count_ = in.get<std::uint64_t>();
    return !in.failed() && in.at_end();
  }
  if (key.table() != snapshot_table::orders) return false;
  const entity_id user_id = make_id(key.a(), index_, shard_count_);
  user_orders loaded;
  auto count = in.get<std::uint32_t>();
  for (std::uint32_t i = 0; i < count && !in.failed(); ++i) {
    order_view order;
    read_value(in, order);
    if (order.user_id != user_id || (!loaded.empty() && loaded.back().id >= order.id)) return false;
    loaded.push_back(std::move(order));
  }
  if (in.failed() || !in.at_end()) return false;
  return orders_.emplace(user_id, std::move(loaded)).second;
}

void order_book::end_load() {
  for (const auto& [user_id, orders] : orders_) {
    for (const auto& order : orders) {
      if (order.status == order_status::pending_payment)
        expiries_.emplace(order.expires_at, order.id, user_id);
    }
  }
}

}  // namespace ecom::engine
