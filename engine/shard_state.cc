#include "engine/shard_state.h"

#include <cassert>
#include <concepts>

#include "engine/check.h"

namespace ecom::engine {

namespace {

template <class Book, class C>
concept handled_by = requires(Book& book, const C& command, step_context& ctx) {
  { book.handle(command, ctx) } -> std::same_as<reply>;
};

template <class C>
constexpr int handler_count =
    int{handled_by<user_book, C>} + int{handled_by<catalog_book, C>} +
    int{handled_by<cart_book, C>} + int{handled_by<campaign_book, C>} +
    int{handled_by<wallet_book, C>} + int{handled_by<order_book, C>} +
    int{handled_by<sales_book, C>} + int{handled_by<event_book, C>} + int{is_control_command<C>};

// Instantiated once per command type, so a failure names the type.
template <class C>
struct has_one_handler {
  static_assert(handler_count<C> == 1,
                "every command type needs exactly one handler: one book's handle(), or the shard "
                "runtime's (is_control_command)");
  static constexpr bool value = true;
};

template <class... C>
constexpr bool every_command_has_one_handler(std::variant<C...>*) {
  return (has_one_handler<C>::value && ...);
}
static_assert(every_command_has_one_handler(static_cast<command_body*>(nullptr)));

}  // namespace

shard_state::shard_state(shard_index index, std::uint32_t shard_count,
                         std::size_t login_throttle_emails_max)
    : keys(index),
      users(index, shard_count, keys, login_throttle_emails_max),
      catalog(index, shard_count),
      carts(index, shard_count, users, keys),
      campaigns(index, shard_count),
      wallets(index, shard_count, users, campaigns, keys),
      orders(index, shard_count, users, wallets, carts, keys),
      sales(index, catalog),
      events(index),
      index_(index) {
  assert(shard_count > 0 && shard_count <= shard_count_max);
  assert(index < shard_count);
}

template <class C>
reply shard_state::dispatch(const C& command, step_context& ctx) {
  if constexpr (handled_by<user_book, C>) {
    return users.handle(command, ctx);
  } else if constexpr (handled_by<catalog_book, C>) {
    return catalog.handle(command, ctx);
  } else if constexpr (handled_by<cart_book, C>) {
    return carts.handle(command, ctx);
  } else if constexpr (handled_by<campaign_book, C>) {
    return campaigns.handle(command, ctx);
  } else if constexpr (handled_by<wallet_book, C>) {
    return wallets.handle(command, ctx);
  } else if constexpr (handled_by<order_book, C>) {
    return orders.handle(command, ctx);
  } else if constexpr (handled_by<sales_book, C>) {
    return sales.handle(command, ctx);
  } else if constexpr (handled_by<event_book, C>) {
    return events.handle(command, ctx);
  } else {
    static_assert(is_control_command<C>);
    ECOM_CHECK(false, "a command of the shard runtime reached shard_state::run");
    return refusal(errc::internal);
  }
}

reply shard_state::run(const command_body& body, key_step use, const idempotency_key* key,
                       time_ms now, std::vector<record>& out) {
  assert((use == key_step::none) == (key == nullptr));
  assert(out.empty());
  if (key != nullptr && (use == key_step::check || use == key_step::claim)) {
    if (auto early = keys.screen(*key, now)) return std::move(*early);
  }
  step_context ctx{now, out, key};
  reply answer = std::visit([&](const auto& command) { return dispatch(command, ctx); }, body);
  if (key != nullptr && answer.code != errc::ok && out.empty()) {
    // A refusal the contract keeps changed nothing else: it gets a record of its own.
    if (auto entry = idempotency_table::entry_for(*key, answer, now)) keys.emit(*entry, out);
  } else if (key != nullptr && !out.empty()) {
    // A change that answers a keyed request carries the kept answer in its own record.
    assert(ctx.entry_written || !idempotency_table::entry_for(*key, answer, now));
  }
  return answer;
}

void shard_state::settle_key(key_step use, const idempotency_key* key, errc code, bool replayed,
                             lsn_t lsn) {
  if (key == nullptr) return;
  // Answered by the screening: nothing of this request's own to track.
  if (replayed || code == errc::idempotency_key_in_use || code == errc::idempotency_key_reused) {
    return;
  }
  switch (use) {
    case key_step::none:
      return;
    case key_step::check:
      if (lsn != 0) keys.mark_in_flight(*key, lsn);
      return;
    case key_step::claim:
      if (code == errc::ok) {
        keys.claim(*key);
      } else if (lsn != 0) {
        keys.mark_in_flight(*key, lsn);
      }
      return;
    case key_step::settle:
      if (lsn != 0) {
        keys.mark_in_flight(*key, lsn);
      } else {
        keys.release(*key);
      }
      return;
  }
}

std::optional<record_book> shard_state::book_of(record_type type) {
  switch (type) {
    case record_type::user_created:
    case record_type::users_bulk_created:
    case record_type::session_opened:
    case record_type::session_rotated:
    case record_type::session_closed:
    case record_type::session_family_revoked:
    case record_type::balance_charged:
      return record_book::users;
    case record_type::idempotent_reply_stored:
      return record_book::keys;
    case record_type::product_created:
    case record_type::product_updated:
    case record_type::stock_adjusted:
      return record_book::catalog;
    case record_type::cart_item_added:
    case record_type::cart_item_quantity_set:
    case record_type::cart_item_removed:
      return record_book::carts;
    case record_type::coupon_created:
    case record_type::campaign_created:
    case record_type::campaign_taken:
      return record_book::campaigns;
    case record_type::coupon_delivered:
    case record_type::coupon_expired:
      return record_book::wallets;
    case record_type::order_created:
    case record_type::order_paid:
    case record_type::order_payment_failed:
    case record_type::order_cancelled:
    case record_type::order_expired:
    case record_type::order_refunded:
      return record_book::orders;
    case record_type::stock_taken:
    case record_type::stock_released:
    case record_type::sale_committed:
    case record_type::sale_refunded:
      return record_book::sales;
    case record_type::event_recorded:
      return record_book::events;
  }
  return std::nullopt;
}

bool shard_state::apply(record_type type, std::string_view payload) {
  auto book = book_of(type);
  if (!book) return false;  // a type this build does not know
  switch (*book) {
    case record_book::users:
      return users.apply(type, payload);
    case record_book::keys:
      return keys.apply(type, payload);
    case record_book::catalog:
      return catalog.apply(type, payload);
    case record_book::carts:
      return carts.apply(type, payload);
    case record_book::campaigns:
      return campaigns.apply(type, payload);
    case record_book::wallets:
      return wallets.apply(type, payload);
    case record_book::orders:
      return orders.apply(type, payload);
    case record_book::sales:
      return sales.apply(type, payload);
    case record_book::events:
      return events.apply(type, payload);
  }
  return false;
}

void shard_state::forget_old(time_ms now) {
  keys.sweep(now);
  sales.prune(now);
}

expiry_counts shard_state::tick(time_ms now, std::vector<record>& out) {
  forget_old(now);
  expiry_counts counts;
  counts.coupons = wallets.expire(now, out);
  counts.orders = orders.expire(now, out);
  return counts;
}

shard_figures shard_state::figures() const {
  shard_figures figures;
  figures.shard = index_;
  users.fill(figures);
  figures.idempotency_entries = keys.size();
  figures.products = catalog.product_count();
  figures.cart_lines = carts.line_count();
  figures.campaigns = campaigns.campaign_count();
  figures.user_coupons = wallets.coupon_count();
  figures.orders = orders.order_count();
  figures.stock_holds = sales.hold_count();
  figures.events = events.last_seq();
  return figures;
}

std::vector<std::string> shard_state::check_invariants() const {
  std::vector<std::string> broken;
  users.check_invariants(broken);
  catalog.check_invariants(broken);
  campaigns.check_invariants(broken);
  wallets.check_invariants(broken);
  orders.check_invariants(broken);
  events.check_invariants(broken);
  return broken;
}

// ---- snapshot --------------------------------------------------------------------------------

void shard_state::begin_capture(capture_buffer& out) {
  assert(!capturing_);
  // Headers first, in book order: their keys sort before every table.
  users.begin_capture(out);
  keys.begin_capture(out);
  catalog.begin_capture(out);
  carts.begin_capture(out);
  campaigns.begin_capture(out);
  wallets.begin_capture(out);
  orders.begin_capture(out);
  sales.begin_capture(out);
  events.begin_capture(out);
  capturing_ = true;
  capture_book_ = 0;
}

bool shard_state::capture_step(capture_buffer& out, capture_budget& budget) {
  assert(capturing_);
  // Walked in table order (snapshot_table), so a capture with no change in between writes
  // its keys in ascending order.
  for (;;) {
    bool done = false;
    switch (capture_book_) {
      case 0:
        done = users.capture_step(out, budget);
        break;
      case 1:
        done = keys.capture_step(out, budget);
        break;
      case 2:
        done = catalog.capture_step(out, budget);
        break;
      case 3:
        done = carts.capture_step(out, budget);
        break;
      case 4:
        done = campaigns.capture_step(out, budget);
        break;
      case 5:
        done = wallets.capture_step(out, budget);
        break;
      case 6:
        done = orders.capture_step(out, budget);
        break;
      case 7:
        done = sales.capture_step(out, budget);
        break;
      case 8:
        done = events.capture_step(out, budget);
        break;
      default:
        return true;
    }
    if (!done) return false;
    ++capture_book_;
  }
}

void shard_state::end_capture() {
  users.end_capture();
  keys.end_capture();
  catalog.end_capture();
  carts.end_capture();
  campaigns.end_capture();
  wallets.end_capture();
  orders.end_capture();
  sales.end_capture();
  events.end_capture();
  capturing_ = false;
}

std::string shard_state::save() {
  capture_buffer out;
  begin_capture(out);
  capture_budget budget{SIZE_MAX};
  ECOM_CHECK(capture_step(out, budget), "a capture with no budget limit did not finish");
  end_capture();
  return std::move(out.bytes());
}

bool shard_state::load(std::string_view key_bytes, std::string_view value) {
  auto key = snapshot_key::parse(key_bytes);
  if (!key) return false;
  switch (key->table()) {
    case snapshot_table::books:
      switch (static_cast<snapshot_book>(key->a())) {
        case snapshot_book::users:
          return users.load(*key, value);
        case snapshot_book::keys:
          return keys.load(*key, value);
        case snapshot_book::catalog:
          return catalog.load(*key, value);
        case snapshot_book::carts:
          return carts.load(*key, value);
        case snapshot_book::campaigns:
          return campaigns.load(*key, value);
        case snapshot_book::wallets:
          return wallets.load(*key, value);
        case snapshot_book::orders:
          return orders.load(*key, value);
        case snapshot_book::sales:
        case snapshot_book::events:
          return false;  // they have no header
      }
      return false;
    case snapshot_table::users:
      return users.load(*key, value);
    case snapshot_table::keys:
      return keys.load(*key, value);
    case snapshot_table::products:
      return catalog.load(*key, value);
    case snapshot_table::carts:
      return carts.load(*key, value);
    case snapshot_table::templates:
    case snapshot_table::campaigns:
    case snapshot_table::issued:
      return campaigns.load(*key, value);
    case snapshot_table::wallets:
      return wallets.load(*key, value);
    case snapshot_table::orders:
      return orders.load(*key, value);
    case snapshot_table::holds:
    case snapshot_table::sold:
      return sales.load(*key, value);
    case snapshot_table::events:
      return events.load(*key, value);
  }
  return false;
}

void shard_state::end_load() {
  users.end_load();
  keys.end_load();
  catalog.end_load();
  carts.end_load();
  campaigns.end_load();
  wallets.end_load();
  orders.end_load();
  sales.end_load();
  events.end_load();
}

void shard_state::size_for_users() {
  campaigns.size_for_users(users.user_count());
  wallets.size_for_users(users.user_count());
}

}  // namespace ecom::engine
