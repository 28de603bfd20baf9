#include "engine/orders.h"

#include <algorithm>
#include <cassert>

#include "engine/sharding.h"

namespace ecom::engine {

namespace {

reply error(errc code) {
  return reply{code, {}, false};
}

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

// ---- payloads ----------------------------------------------------------------------------------

void write_order(payload_writer& w, const order_view& order) {
  w.put(order.id);
  w.put(order.user_id);
  w.put(order.status);
  w.put(static_cast<std::uint32_t>(order.lines.size()));
  for (const auto& line : order.lines) {
    w.put(line.product_id);
    w.put(line.combination_id);
    w.put_bytes(line.product_name);
    w.put_bytes(line.combination_name);
    w.put(line.quantity);
    w.put(line.unit_price);
    w.put(line.line_total);
  }
  w.put(order.total_amount);
  w.put(order.discount_amount);
  w.put(order.final_amount);
  w.put(order.user_coupon_id);
  w.put(order.ordered_at);
  w.put(order.expires_at);
  w.put(order.paid_at);
  w.put(order.cancelled_at);
  w.put(static_cast<std::uint32_t>(order.cart_item_ids.size()));
  for (entity_id id : order.cart_item_ids) w.put(id);
}

order_view read_order(payload_reader& in) {
  order_view order;
  order.id = in.get<entity_id>();
  order.user_id = in.get<entity_id>();
  order.status = in.get<order_status>();
  auto line_count = in.get<std::uint32_t>();
  if (line_count > checkout_lines_max) in.fail();
  for (std::uint32_t i = 0; i < line_count && !in.failed(); ++i) {
    order_line line;
    line.product_id = in.get<entity_id>();
    line.combination_id = in.get<entity_id>();
    line.product_name = in.get_bytes();
    line.combination_name = in.get_bytes();
    line.quantity = in.get<std::int64_t>();
    line.unit_price = in.get<std::int64_t>();
    line.line_total = in.get<std::int64_t>();
    order.lines.push_back(std::move(line));
  }
  order.total_amount = in.get<std::int64_t>();
  order.discount_amount = in.get<std::int64_t>();
  order.final_amount = in.get<std::int64_t>();
  order.user_coupon_id = in.get<entity_id>();
  order.ordered_at = in.get<time_ms>();
  order.expires_at = in.get<time_ms>();
  order.paid_at = in.get<time_ms>();
  order.cancelled_at = in.get<time_ms>();
  auto cart_count = in.get<std::uint32_t>();
  if (cart_count > checkout_lines_max) in.fail();
  for (std::uint32_t i = 0; i < cart_count && !in.failed(); ++i)
    order.cart_item_ids.push_back(in.get<entity_id>());
  return order;
}

// ---- order_book --------------------------------------------------------------------------------

order_book::order_book(shard_index index, std::uint32_t shard_count, user_book& users,
                       coupon_book& coupons, cart_book& carts, idempotency_table& idempotency)
    : index_(index),
      shard_count_(shard_count),
      users_(users),
      coupons_(coupons),
      carts_(carts),
      idempotency_(idempotency) {}

void order_book::emit(record_type type, std::string payload, std::vector<record>& out) {
  check_applied(apply(type, payload), type);
  out.push_back(record{type, index_, std::move(payload)});
}

order_view* order_book::find(entity_id user_id, entity_id order_id) {
  auto it = orders_.find(user_id);
  if (it == orders_.end()) return nullptr;
  auto& orders = it->second;
  auto at = std::lower_bound(orders.begin(), orders.end(), order_id,
                             [](const order_view& o, entity_id id) { return o.id < id; });
  return at != orders.end() && at->id == order_id ? &*at : nullptr;
}

// A 409 the key keeps (if the request had one); other errors are not stored.
reply order_book::refuse(errc code, entity_id user_id, const idempotency_request& key, time_ms now,
                         std::vector<record>& out) {
  reply answer = error(code);
  users_.store_rejection(user_id, key, answer, now, out);
  return answer;
}

reply order_book::handle(const create_order& command, time_ms now, std::vector<record>& out) {
  if (!users_.exists(command.user_id)) return error(errc::user_not_found);
  if (auto early = idempotency_.screen(command.user_id, command.idempotency, now))
    return std::move(*early);
  for (entity_id item_id : command.cart_item_ids) {
    if (!carts_.has_line(command.user_id, item_id)) return error(errc::cart_item_not_found);
  }
  // The contract's order: every line exists, then every line is on sale, then stock.
  for (const auto& item : command.items) {
    if (!item.fact.product_found) return error(errc::product_not_found);
    if (!item.fact.combination_found) return error(errc::combination_not_found);
  }
  for (const auto& item : command.items) {
    if (!item.fact.active)
      return refuse(errc::product_inactive, command.user_id, command.idempotency, now, out);
  }
  for (const auto& item : command.items) {
    if (item.fact.stock < item.quantity)
      return refuse(errc::out_of_stock, command.user_id, command.idempotency, now, out);
  }
  const user_coupon_view* coupon = nullptr;
  if (command.user_coupon_id != 0) {
    coupon = coupons_.usable(command.user_id, command.user_coupon_id, now);
    if (coupon == nullptr)
      return refuse(errc::coupon_not_usable, command.user_id, command.idempotency, now, out);
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
    return refuse(errc::min_order_amount_not_met, command.user_id, command.idempotency, now, out);
  order.total_amount = amounts.total;
  order.discount_amount = amounts.discount;
  order.final_amount = amounts.final_amount;
  order.user_coupon_id = command.user_coupon_id;
  order.ordered_at = now;
  order.expires_at = now + command.ttl_ms;
  order.cart_item_ids = command.cart_item_ids;
  reply answer{errc::ok, order, false};
  auto stored = make_idempotency_entry(command.user_id, command.idempotency, answer, now);
  std::string payload;
  payload_writer w(payload);
  write_order(w, order);
  w.put(coupon != nullptr ? coupons_.next_history_id() : entity_id{0});
  idempotency_table::encode(w, stored ? &*stored : nullptr);
  emit(record_type::order_created, std::move(payload), out);
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

reply order_book::handle(const get_order& command, time_ms, std::vector<record>&) {
  if (!users_.exists(command.user_id)) return error(errc::user_not_found);
  order_view* order = find(command.user_id, command.order_id);
  if (order == nullptr) return error(errc::order_not_found);
  return reply{errc::ok, *order, false};
}

reply order_book::handle(const list_orders& command, time_ms, std::vector<record>&) {
  if (!users_.exists(command.user_id)) return error(errc::user_not_found);
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

reply order_book::handle(const begin_payment& command, time_ms now, std::vector<record>& out) {
  if (!users_.exists(command.user_id)) return error(errc::user_not_found);
  if (auto early = idempotency_.screen(command.user_id, command.idempotency, now))
    return std::move(*early);
  order_view* order = find(command.user_id, command.order_id);
  if (order == nullptr) return error(errc::order_not_found);
  if (order->status != order_status::pending_payment || paying_.contains(order->id) ||
      expired_at(*order, now)) {
    return refuse(errc::order_not_payable, command.user_id, command.idempotency, now, out);
  }
  // Memory only, like the key's claim: both end at finish_payment, or with the process.
  paying_.insert(order->id);
  idempotency_.claim(command.user_id, command.idempotency);
  bool short_now = *users_.balance(command.user_id) < order->final_amount;
  return reply{errc::ok, payment_plan{*order, short_now}, false};
}

reply order_book::handle(const finish_payment& command, time_ms now, std::vector<record>& out) {
  order_view* order = find(command.user_id, command.order_id);
  if (order == nullptr || !paying_.contains(command.order_id)) {
    assert(false && "finish_payment without begin_payment");
    idempotency_.release(command.user_id, command.idempotency);
    return error(errc::order_not_payable);
  }
  paying_.erase(command.order_id);
  errc outcome = command.stock_outcome;
  std::int64_t balance = *users_.balance(command.user_id);
  if (outcome == errc::ok && (command.check_only || balance < order->final_amount))
    outcome = errc::insufficient_balance;
  if (outcome != errc::ok) {
    reply answer = error(outcome);
    auto stored = make_idempotency_entry(command.user_id, command.idempotency, answer, now);
    emit_closing(record_type::order_payment_failed, *order, now, stored ? &*stored : nullptr, out);
    return answer;
  }
  order_view paid = *order;
  paid.status = order_status::paid;
  paid.paid_at = now;
  reply answer{errc::ok, paid, false};
  auto stored = make_idempotency_entry(command.user_id, command.idempotency, answer, now);
  std::string payload;
  payload_writer w(payload);
  write_money_move(w, *order, now, users_.next_entry_id(), balance, -order->final_amount);
  idempotency_table::encode(w, stored ? &*stored : nullptr);
  emit(record_type::order_paid, std::move(payload), out);
  return answer;
}

reply order_book::handle(const cancel_order& command, time_ms now, std::vector<record>& out) {
  if (!users_.exists(command.user_id)) return error(errc::user_not_found);
  if (auto early = idempotency_.screen(command.user_id, command.idempotency, now))
    return std::move(*early);
  order_view* order = find(command.user_id, command.order_id);
  if (order == nullptr) return error(errc::order_not_found);
  if (paying_.contains(order->id) || expired_at(*order, now) ||
      (order->status != order_status::pending_payment && order->status != order_status::paid)) {
    return refuse(errc::order_not_cancellable, command.user_id, command.idempotency, now, out);
  }
  order_view after = *order;
  after.cancelled_at = now;
  if (order->status == order_status::pending_payment) {
    after.status = order_status::cancelled;
    reply answer{errc::ok, after, false};
    auto stored = make_idempotency_entry(command.user_id, command.idempotency, answer, now);
    emit_closing(record_type::order_cancelled, *order, now, stored ? &*stored : nullptr, out);
    return answer;
  }
  after.status = order_status::refunded;
  reply answer{errc::ok, after, false};
  auto stored = make_idempotency_entry(command.user_id, command.idempotency, answer, now);
  std::int64_t balance = *users_.balance(command.user_id);
  std::string payload;
  payload_writer w(payload);
  // REFUND entries have amount > 0 (API.md): a free order gives nothing back, so it writes none.
  write_money_move(w, *order, now, order->final_amount > 0 ? users_.next_entry_id() : 0, balance,
                   order->final_amount);
  w.put(order->user_coupon_id != 0 ? coupons_.next_history_id() : entity_id{0});
  idempotency_table::encode(w, stored ? &*stored : nullptr);
  emit(record_type::order_refunded, std::move(payload), out);
  return answer;
}

void order_book::emit_closing(record_type type, const order_view& order, time_ms at,
                              const idempotency_entry* stored, std::vector<record>& out) {
  std::string payload;
  payload_writer w(payload);
  w.put(order.user_id);
  w.put(order.id);
  w.put(at);
  w.put(order.user_coupon_id != 0 ? coupons_.next_history_id() : entity_id{0});
  idempotency_table::encode(w, stored);
  emit(type, std::move(payload), out);
}

void order_book::expire(time_ms now, std::vector<record>& out) {
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
}

// ---- apply -------------------------------------------------------------------------------------

bool order_book::owns(record_type type) {
  switch (type) {
    case record_type::order_created:
    case record_type::order_paid:
    case record_type::order_payment_failed:
    case record_type::order_cancelled:
    case record_type::order_expired:
    case record_type::order_refunded:
      return true;
    default:
      return false;
  }
}

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
  order_view order = read_order(in);
  auto history_id = in.get<entity_id>();
  auto stored = idempotency_table::decode(in);
  if (in.failed() || !users_.exists(order.user_id) ||
      order.status != order_status::pending_payment || owner_of(order.id, shard_count_) != index_) {
    return false;
  }
  auto& orders = orders_[order.user_id];
  if (!orders.empty() && orders.back().id >= order.id) return false;
  if (order.user_coupon_id != 0 && !coupons_.apply_use(order.user_id, order.user_coupon_id,
                                                       order.id, history_id, order.ordered_at)) {
    return false;
  }
  order_sequence_ = std::max(order_sequence_, sequence_of(order.id, shard_count_));
  expiries_.emplace(order.expires_at, order.id, order.user_id);
  orders.push_back(std::move(order));
  ++order_count_;
  if (stored) idempotency_.insert(std::move(*stored));
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
  if (stored) idempotency_.insert(std::move(*stored));
  return true;
}

bool order_book::apply_closing(record_type type, payload_reader& in) {
  auto user_id = in.get<entity_id>();
  auto order_id = in.get<entity_id>();
  auto at = in.get<time_ms>();
  auto history_id = in.get<entity_id>();
  auto stored = idempotency_table::decode(in);
  order_view* order = find(user_id, order_id);
  order_status to = closing_status(type);
  if (in.failed() || order == nullptr || !order_transition_allowed(order->status, to)) return false;
  if (order->user_coupon_id != 0 &&
      !coupons_.apply_restore(user_id, order->user_coupon_id, order_id, history_id, at)) {
    return false;
  }
  leave_pending(*order);
  order->status = to;
  if (to == order_status::cancelled) order->cancelled_at = at;
  if (stored) idempotency_.insert(std::move(*stored));
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
      !coupons_.apply_restore(user_id, order->user_coupon_id, order_id, history_id, at)) {
    return false;
  }
  order->status = order_status::refunded;
  order->cancelled_at = at;
  if (stored) idempotency_.insert(std::move(*stored));
  return true;
}

void order_book::for_each_order(const std::function<void(const order_view&)>& visit) const {
  for (const auto& [user_id, orders] : orders_) {
    for (const auto& order : orders) visit(order);
  }
}

}  // namespace ecom::engine
