#include "engine/order_flow.h"

#include <atomic>
#include <latch>
#include <map>
#include <memory>
#include <mutex>

#include "engine/events.h"

namespace ecom::engine {

struct payment_state {
  begin_payment command;
  reply_callback done;
  payment_plan plan;
  std::mutex mutex;
  std::size_t pending = 0;
  bool inactive = false;
  bool short_stock = false;
  std::vector<shard_index> taken;  // shards that took stock for the order
};

std::vector<std::pair<shard_index, std::vector<stock_line>>> order_flow::lines_by_shard(
    const order_view& order) const {
  std::map<shard_index, std::vector<stock_line>> grouped;
  for (const auto& line : order.lines) {
    grouped[owner_of(line.product_id, shards_.size())].push_back(
        stock_line{line.product_id, line.combination_id, line.quantity});
  }
  return {grouped.begin(), grouped.end()};
}

void order_flow::post_all(std::vector<step> steps, std::function<void()> all_done) {
  if (steps.empty()) return all_done();
  auto pending = std::make_shared<std::atomic<std::size_t>>(steps.size());
  auto shared_done = std::make_shared<std::function<void()>>(std::move(all_done));
  for (auto& s : steps) {
    command item{std::move(s.body),
                 [pending, shared_done](reply&&) {
                   if (pending->fetch_sub(1) == 1) (*shared_done)();
                 },
                 {}};
    [[maybe_unused]] bool posted = shards_.at(s.shard).post_always(item);
  }
}

// A stored answer is replayed once the first request's later steps are durable too: they were
// queued on their shards (from the user shard's thread) before this replay was even decided,
// so one ordinary read per shard, which waits for that shard's last record, comes after them.
void order_flow::after_every_shard(reply&& answer, reply_callback done) {
  std::vector<step> reads;
  for (shard_index i = 0; i < shards_.size(); ++i) reads.push_back(step{i, get_shard_figures{}});
  auto shared = std::make_shared<reply>(std::move(answer));
  post_all(std::move(reads),
           [shared, done = std::move(done)]() mutable { done(std::move(*shared)); });
}

bool order_flow::pay(begin_payment request, reply_callback done) {
  auto state = std::make_shared<payment_state>();
  state->command = request;  // the key goes on to finish_payment
  state->done = std::move(done);
  entity_id user_id = request.user_id;
  command item{std::move(request),
               [this, state](reply&& answer) {
                 if (answer.replayed) return after_every_shard(std::move(answer), state->done);
                 if (answer.code != errc::ok) {
                   // Answered before durability (below): a refusal goes out only once
                   // everything it could rest on is durable.
                   auto shared = std::make_shared<reply>(std::move(answer));
                   wal_.append({}, [state, shared] { state->done(std::move(*shared)); });
                   return;
                 }
                 state->plan = std::move(std::get<payment_plan>(answer.body));
                 auto groups = lines_by_shard(state->plan.order);
                 state->pending = groups.size();
                 for (auto& [shard, lines] : groups) {
                   command take{take_stock{state->plan.order.id, state->plan.order.user_id,
                                           std::move(lines), state->plan.check_only},
                                [this, state, shard = shard](reply&& taken) {
                                  std::unique_lock lock(state->mutex);
                                  if (taken.code == errc::product_inactive) state->inactive = true;
                                  if (taken.code == errc::out_of_stock) state->short_stock = true;
                                  if (taken.code == errc::ok && !state->plan.check_only)
                                    state->taken.push_back(shard);
                                  if (--state->pending > 0) return;
                                  lock.unlock();
                                  finish(state);
                                },
                                {},
                                true};
                   [[maybe_unused]] bool posted = shards_.at(shard).post_always(take);
                 }
               },
               {},
               true};  // begin and take only feed finish_payment, which always writes
  return shards_.owner_of_id(user_id).post(item);
}

void order_flow::finish(std::shared_ptr<payment_state> state) {
  errc outcome = state->inactive      ? errc::product_inactive
                 : state->short_stock ? errc::out_of_stock
                                      : errc::ok;
  // Failed: give back what was taken, then answer (the order is PAYMENT_FAILED by now).
  auto failed = [this, state](reply&& answer) {
    std::vector<step> releases;
    for (shard_index shard : state->taken)
      releases.push_back(step{shard, release_stock{state->plan.order.id}});
    auto shared = std::make_shared<reply>(std::move(answer));
    post_all(std::move(releases), [state, shared] { state->done(std::move(*shared)); });
  };
  // Paid (on the user's shard, right after its record): count the sale and record the event;
  // answer once those are durable (the order's record precedes them in the log).
  auto paid = [this, state](reply&& answer) {
    const auto& order = std::get<order_view>(answer.body);
    std::vector<step> steps;
    for (shard_index shard : state->taken)
      steps.push_back(step{shard, commit_sale{order.id, order.paid_at}});
    steps.push_back(step{event_shard, record_event{order_event_type::paid, order.paid_at, order}});
    auto shared = std::make_shared<reply>(std::move(answer));
    post_all(std::move(steps), [state, shared] { state->done(std::move(*shared)); });
  };
  command item{finish_payment{state->command.user_id, state->command.order_id, outcome,
                              state->plan.check_only, std::move(state->command.idempotency)},
               std::move(failed), std::move(paid)};
  [[maybe_unused]] bool posted = shards_.owner_of_id(state->command.user_id).post_always(item);
}

bool order_flow::cancel(cancel_order request, reply_callback done) {
  auto shared_done = std::make_shared<reply_callback>(std::move(done));
  entity_id user_id = request.user_id;
  command item{std::move(request),
               // Refused (after the shard's last record is durable), or replayed.
               [this, shared_done](reply&& answer) {
                 if (answer.replayed) return after_every_shard(std::move(answer), *shared_done);
                 (*shared_done)(std::move(answer));
               },
               // Written: CANCELLED needs only its own record durable; REFUNDED also gives the
               // stock back, reduces popularity and records the event first.
               [this, shared_done](reply&& answer) {
                 auto shared = std::make_shared<reply>(std::move(answer));
                 const auto& order = std::get<order_view>(shared->body);
                 std::vector<step> steps;
                 if (order.status == order_status::refunded) {
                   for (auto& [shard, lines] : lines_by_shard(order))
                     steps.push_back(step{shard, refund_sale{order.id}});
                   steps.push_back(step{event_shard, record_event{order_event_type::refunded,
                                                                  order.cancelled_at, order}});
                 }
                 auto answer_now = [shared_done, shared] { (*shared_done)(std::move(*shared)); };
                 if (steps.empty()) {
                   wal_.append({}, std::move(answer_now));
                 } else {
                   post_all(std::move(steps), std::move(answer_now));
                 }
               }};
  return shards_.owner_of_id(user_id).post(item);
}

order_flow::redrive_plan order_flow::plan_redrive() const {
  redrive_plan plan;
  const shard& events = shards_.at(event_shard);
  for (shard_index i = 0; i < shards_.size(); ++i) {
    shards_.at(i).for_each_order([&](const order_view& order) {
      bool paid = order.status == order_status::paid;
      bool refunded = order.status == order_status::refunded;
      for (auto& [shard, lines] : lines_by_shard(order)) {
        hold_state hold = shards_.at(shard).hold_of(order.id);
        if (hold == hold_state::none) continue;
        if (paid && hold == hold_state::taken) {
          plan.first.push_back(step{shard, commit_sale{order.id, order.paid_at}});
        } else if (refunded) {
          plan.second.push_back(step{shard, refund_sale{order.id}});
        } else if (!paid && hold == hold_state::taken) {
          // Not paid (a payment cut off, or failed before its release): give it back.
          plan.first.push_back(step{shard, release_stock{order.id}});
        }
      }
      if ((paid || refunded) && !events.has_event(order.id, order_event_type::paid)) {
        order_view as_paid = order;
        as_paid.status = order_status::paid;
        as_paid.cancelled_at = 0;
        plan.first.push_back(
            step{event_shard, record_event{order_event_type::paid, order.paid_at, as_paid}});
      }
      if (refunded && !events.has_event(order.id, order_event_type::refunded)) {
        plan.second.push_back(
            step{event_shard, record_event{order_event_type::refunded, order.cancelled_at, order}});
      }
    });
  }
  return plan;
}

void order_flow::redrive(redrive_plan plan) {
  for (auto* phase : {&plan.first, &plan.second}) {
    if (phase->empty()) continue;
    std::latch finished(1);
    post_all(std::move(*phase), [&finished] { finished.count_down(); });
    finished.wait();
  }
}

}  // namespace ecom::engine
