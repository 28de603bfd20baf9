// order_flow: the steps of an order that cross shards, driven by messages (no locks):
//
//   pay:    user shard begin_payment → each product shard take_stock (all or none per shard)
//           → user shard finish_payment → PAID: product shards commit_sale + event shard
//           ORDER_PAID; PAYMENT_FAILED: product shards release_stock.
//   cancel: user shard cancel_order → REFUNDED: product shards refund_sale + event shard
//           ORDER_REFUNDED.
//
// The answer goes out once every step it depends on is durable. A crash can cut a flow
// between steps; each step is keyed by order id and applies at most once, and the user's
// order is the authority, so redrive() finishes what the order's status says (or rolls back
// a payment that never reached finish_payment) before the server serves again.
#pragma once

#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "engine/commands.h"
#include "engine/journal.h"
#include "engine/shard_set.h"

namespace ecom::engine {

struct payment_state;

class order_flow {
 public:
  order_flow(shard_set& shards, journal& wal) : shards_(shards), wal_(wal) {}

  // `done` runs once, on any thread, with the order (PAID / CANCELLED / REFUNDED) or the
  // refusal. False when the user's shard is full (OVERLOADED): nothing was started.
  bool pay(begin_payment request, reply_callback done);
  bool cancel(cancel_order request, reply_callback done);

  // Recovery, before the shards start: the steps that finish or roll back what a crash cut
  // off, in two phases (a refund's steps come after the payment's).
  struct step {
    shard_index shard = 0;
    command_body body;
  };
  struct redrive_plan {
    std::vector<step> first;
    std::vector<step> second;
    std::size_t size() const { return first.size() + second.size(); }
  };
  redrive_plan plan_redrive() const;
  // After start: runs the plan; returns once every step is durable.
  void redrive(redrive_plan plan);

  // The stock lines of an order grouped by the shard that owns each product.
  std::vector<std::pair<shard_index, std::vector<stock_line>>> lines_by_shard(
      const order_view& order) const;

 private:
  // Posts every step (past the mailbox bound: each flow has a bounded number of them) and runs
  // `all_done` once all have answered, i.e. all are durable.
  void post_all(std::vector<step> steps, std::function<void()> all_done);
  void finish(std::shared_ptr<payment_state> state);
  void after_every_shard(reply&& answer, reply_callback done);

  shard_set& shards_;
  journal& wal_;
};

}  // namespace ecom::engine
