// order_flow: the order steps that cross shards. The user's order is the authority; every step
// on another shard is keyed by order id and applies at most once, so a step sent again after a
// crash is harmless.
//
// Create (create):
//   each product shard involved  get_sale_facts (fan-out)                 (feeds the next step)
//   → user's shard  create_order: exists → on sale → stock → coupon usable → minimum; records
//                   order_created with the coupon USE and the key's answer (durable: answer)
// Checkout (checkout):
//   user's shard    get_cart: the key's stored answer replays from here   (feeds)
//   → as create, with the cart's lines (or the chosen ones), which leave the cart when paid
// Pay (pay):
//   user's shard    begin_payment: PENDING_PAYMENT, not being paid; marks it (memory) and
//                   claims the key                                        (feeds)
//   → each product shard involved  take_stock: all or none per shard, records stock_taken
//                   under the order id (only checks when the balance is short already) (feeds)
//   → user's shard  finish_payment: off sale / short stock / balance decide; records
//                   order_paid (balance USE, cart lines out) or order_payment_failed (coupon
//                   RESTORE), with the key's answer                       (feeds)
//   → paid: each product shard commit_sale (popularity) + the event shard ORDER_PAID;
//     failed: each product shard that took stock release_stock        (durable: the answer
//     goes out once the last of these is durable)
// Cancel (cancel):
//   user's shard    cancel_order: PENDING_PAYMENT → CANCELLED (coupon back), or PAID →
//                   REFUNDED (balance REFUND, coupon back), with the key's answer (feeds)
//   → refunded: each product shard refund_sale (stock back, popularity down) + the event shard
//     ORDER_REFUNDED                                                       (durable: answer)
// A replayed payment or cancel answer goes out after one ordinary read on every shard: the
// first request's later steps were queued on those shards before the replay was decided, so
// the reads come after them and the retry sees what the first answer promised.
//
// Recovery (plan_redrive before the shards start, redrive after): what a crash cut between
// steps is found by comparing each order's status with its product shards' holds and the
// event feed, and finished or rolled back: holds of an order that is not PAID are released
// (its payment is rolled back; the client's retry pays again), a PAID order's holds are
// committed and its ORDER_PAID recorded if missing, a REFUNDED order's holds are refunded and
// its events recorded (paid before refunded: two phases).
#pragma once

#include <utility>
#include <vector>

#include "engine/command.h"
#include "engine/shard_set.h"

namespace ecom::engine {

class order_flow {
 public:
  explicit order_flow(shard_set& shards) : shards_(shards) {}

  // False when the first step's mailbox is full (OVERLOADED): nothing was started. `done` runs
  // once, on any thread, with the order (PENDING_PAYMENT / PAID / CANCELLED / REFUNDED) or the
  // refusal, when the answer may leave the engine.
  bool create(create_order order, key_ptr key, reply_callback done);
  bool checkout(checkout_request request, key_ptr key, reply_callback done);
  bool pay(entity_id user_id, entity_id order_id, key_ptr key, reply_callback done);
  bool cancel(entity_id user_id, entity_id order_id, key_ptr key, reply_callback done);

  struct step {
    shard_index shard = 0;
    command_body body;
  };
  struct redrive_plan {
    std::vector<step> first;
    std::vector<step> second;
    std::size_t size() const { return first.size() + second.size(); }
  };
  // Before the shards start (reads their state).
  redrive_plan plan_redrive() const;
  // After they started: runs the plan; returns once every step is durable.
  void redrive(redrive_plan plan);

  // The stock lines of an order grouped by the shard that owns each product.
  std::vector<std::pair<shard_index, std::vector<stock_line>>> lines_by_shard(
      const order_view& order) const;

 private:
  void take_stock_everywhere(entity_id user_id, key_ptr key, reply&& begun, reply_callback done);
  void finish(entity_id user_id, key_ptr key, payment_plan plan,
              std::vector<std::pair<shard_index, std::vector<stock_line>>> groups,
              std::vector<reply>&& takes, reply_callback done);
  void after_finish(entity_id order_id, std::vector<shard_index> taken, reply&& finished,
                    reply_callback done);
  // Reads the lines' facts, then the user's shard decides and records the order. `bounded`:
  // the facts are the flow's first step (false: a mailbox was full, nothing started).
  bool create_with_facts(create_order order, key_ptr key, lsn_t rests_on, bool bounded,
                         reply_callback done);
  void after_every_shard(reply&& answer, reply_callback done);

  shard_set& shards_;
};

}  // namespace ecom::engine
