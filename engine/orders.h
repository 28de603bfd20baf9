// order_book: one shard's orders (owner: the user's shard, user_id % N; order ids are allocated
// here). It decides creation, the user's side of payment (balance USE, coupon), cancellation,
// refund (balance REFUND, coupon RESTORE) and expiry; the products' side (stock, popularity)
// and the event feed are other shards', reached by order_flow. Like the other books, handle()
// decides and emits a record and apply() alone changes state, live and on replay.
//
// A payment in progress is a mark in memory only: the durable trace of a payment a crash cut
// off is the stock holds its product shards recorded under the order id, which recovery
// releases (order_flow::redrive) while the order is still PENDING_PAYMENT here.
#pragma once

#include <functional>
#include <set>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine/cart.h"
#include "engine/codec.h"
#include "engine/idempotency.h"
#include "engine/order_commands.h"
#include "engine/record.h"
#include "engine/reply.h"
#include "engine/snapshot.h"
#include "engine/step_context.h"
#include "engine/user_book.h"
#include "engine/wallets.h"

namespace ecom::engine {

class order_book {
 public:
  // An order's records change more than the order: order_created uses the coupon (wallets),
  // order_paid debits the balance (users) and takes lines out of the cart (carts), closing
  // records restore the coupon, order_refunded credits the balance. apply() makes those
  // changes through the named apply_* methods of those books; handle() only reads them.
  order_book(shard_index index, std::uint32_t shard_count, user_book& users, wallet_book& wallets,
             cart_book& carts, idempotency_table& keys);

  reply handle(const create_order& command, step_context& ctx);
  reply handle(const get_order& command, step_context& ctx);
  reply handle(const list_orders& command, step_context& ctx);
  reply handle(const begin_payment& command, step_context& ctx);
  reply handle(const finish_payment& command, step_context& ctx);
  reply handle(const cancel_order& command, step_context& ctx);

  // Records EXPIRED (coupon RESTORE) for pending orders past expires_at that no payment is
  // working on (also those that expired while the server was down), at most
  // expiries_per_tick_max; returns how many. The shard runs it before each batch when
  // has_due() and from its periodic tick, so no answer shows an order that should have
  // expired as pending, nor its coupon as still used.
  std::size_t expire(time_ms now, std::vector<record>& out);
  bool has_due(time_ms now) const;

  bool apply(record_type type, std::string_view payload);

  // Recovery, before start: every order of this shard.
  void for_each_order(const std::function<void(const order_view&)>& visit) const;
  std::uint64_t order_count() const { return order_count_; }
  // Invariants: every paid (or since refunded) order's amount is one USE in its user's
  // history; no user coupon is held by two live (pending or paid) orders.
  void check_invariants(std::vector<std::string>& broken) const;

  // Snapshot (snapshot.h; the same five steps in every book). end_load rebuilds the queue of
  // pending orders; payments in progress are memory only (recovery redrives them).
  void begin_capture(capture_buffer& out);
  bool capture_step(capture_buffer& out, capture_budget& budget);
  void end_capture();
  bool load(const snapshot_key& key, std::string_view value);
  void end_load();

 private:
  using user_orders = std::vector<order_view>;
  order_view* find(entity_id user_id, entity_id order_id);
  // The user's orders about to change (apply only; null when none and !create), their value
  // at the cut written first if needed.
  user_orders* changing(entity_id user_id, bool create);
  static void write_orders(payload_writer& w, const user_orders& orders);
  static bool expired_at(const order_view& order, time_ms now);
  void emit(record_type type, std::string payload, std::vector<record>& out);
  // Writes a status change with its coupon RESTORE (when the order used one) and key entry.
  void emit_closing(record_type type, const order_view& order, time_ms at,
                    const idempotency_entry* stored, std::vector<record>& out);
  static void write_money_move(payload_writer& w, const order_view& order, time_ms at,
                               entity_id entry_id, std::int64_t balance, std::int64_t amount);
  order_view* read_money_move(payload_reader& in, order_status to, balance_entry& entry);
  bool apply_created(payload_reader& in);
  bool apply_paid(payload_reader& in);
  bool apply_closing(record_type type, payload_reader& in);
  bool apply_refunded(payload_reader& in);
  void leave_pending(const order_view& order);

  shard_index index_;
  std::uint32_t shard_count_;
  user_book& users_;
  wallet_book& wallets_;
  cart_book& carts_;
  idempotency_table& keys_;
  std::unordered_map<entity_id, std::vector<order_view>> orders_;  // per user, ascending id
  std::set<std::tuple<time_ms, entity_id, entity_id>> expiries_;   // (expires_at, order, user)
  std::unordered_set<entity_id> paying_;  // orders between begin_payment and finish_payment
  std::uint64_t order_sequence_ = 0;
  std::uint64_t order_count_ = 0;
  sequence_capture<snapshot_table::orders> capture_orders_;
};

}  // namespace ecom::engine
