#include "engine/order_flow.h"

#include <algorithm>
#include <latch>
#include <map>
#include <memory>

#include "engine/answer.h"
#include "engine/events.h"
#include "engine/fan_out.h"

namespace ecom::engine {

std::vector<std::pair<shard_index, std::vector<stock_line>>> order_flow::lines_by_shard(
    const order_view& order) const {
  std::map<shard_index, std::vector<stock_line>> grouped;
  for (const auto& line : order.lines) {
    grouped[shards_.owner_of_id(line.product_id)].push_back(
        stock_line{line.product_id, line.combination_id, line.quantity});
  }
  return {grouped.begin(), grouped.end()};
}

// A stored answer is replayed once the first request's later steps are durable too: they were
// queued on their shards (from the user shard's thread) before this replay was even decided,
// so one ordinary read per shard, which waits for that shard's last record, comes after them.
void order_flow::after_every_shard(reply&& answer, reply_callback done) {
  std::vector<std::pair<shard_index, command_body>> reads;
  for (shard_index i = 0; i < shards_.size(); ++i) reads.emplace_back(i, get_shard_figures{});
  finish_after(shards_, std::move(reads), std::move(answer), std::move(done));
}

// ---- create and checkout -----------------------------------------------------------------------

bool order_flow::create_with_facts(create_order order, key_ptr key, lsn_t rests_on, bool bounded,
                                   reply_callback done) {
  std::vector<std::pair<entity_id, entity_id>> asks;
  asks.reserve(order.items.size());
  for (const auto& item : order.items) asks.emplace_back(item.product_id, item.combination_id);
  return read_sale_facts(
      shards_, asks, rests_on, bounded,
      [this, order = std::move(order), key = std::move(key), done = std::move(done)](
          std::vector<sale_fact>&& facts, lsn_t facts_rest_on) mutable {
        for (std::size_t i = 0; i < facts.size(); ++i) order.items[i].fact = std::move(facts[i]);
        shard& user_shard = shards_.at(shards_.owner_of_id(order.user_id));
        command create{std::move(order),    std::move(done),
                       reply_mode::durable, key ? key_step::check : key_step::none,
                       std::move(key),      facts_rest_on};
        [[maybe_unused]] bool posted = user_shard.post_always(create);
      });
}

bool order_flow::create(create_order order, key_ptr key, reply_callback done) {
  return create_with_facts(std::move(order), std::move(key), 0, true, std::move(done));
}

bool order_flow::checkout(checkout_request request, key_ptr key, reply_callback done) {
  const entity_id user_id = request.user_id;
  const key_step use = key ? key_step::check : key_step::none;
  command cart{
      get_cart{user_id},
      [this, request = std::move(request), key, done = std::move(done)](reply&& got) mutable {
        if (got.replayed || got.code != errc::ok)
          return finish_flow(shards_.wal(), std::move(got), std::move(done));
        const auto& lines = std::get<cart_view>(got.body).lines;
        if (lines.empty()) {
          reply empty = refusal(errc::checkout_empty);
          empty.rests_on = got.rests_on;
          return finish_flow(shards_.wal(), std::move(empty), std::move(done));
        }
        create_order order;
        order.user_id = request.user_id;
        order.user_coupon_id = request.user_coupon_id;
        order.ttl_ms = request.ttl_ms;
        const auto& chosen = request.item_ids;
        for (const auto& line : lines) {
          if (chosen && std::find(chosen->begin(), chosen->end(), line.id) == chosen->end())
            continue;
          order.items.push_back(
              order_item_input{line.product_id, line.combination_id, line.quantity, {}});
          order.cart_item_ids.push_back(line.id);
        }
        if (chosen && order.cart_item_ids.size() != chosen->size()) {
          reply missing = refusal(errc::cart_item_not_found);
          missing.rests_on = got.rests_on;
          return finish_flow(shards_.wal(), std::move(missing), std::move(done));
        }
        create_with_facts(std::move(order), std::move(key), got.rests_on, false, std::move(done));
      },
      reply_mode::feeds_next_step, use, key};
  return shards_.at(shards_.owner_of_id(user_id)).post(cart);
}

// ---- pay ---------------------------------------------------------------------------------------

bool order_flow::pay(entity_id user_id, entity_id order_id, key_ptr key, reply_callback done) {
  const key_step use = key ? key_step::claim : key_step::none;
  command begin{begin_payment{user_id, order_id},
                [this, user_id, key, done = std::move(done)](reply&& begun) mutable {
                  if (begun.replayed) return after_every_shard(std::move(begun), std::move(done));
                  if (begun.code != errc::ok)
                    return finish_flow(shards_.wal(), std::move(begun), std::move(done));
                  take_stock_everywhere(user_id, std::move(key), std::move(begun), std::move(done));
                },
                reply_mode::feeds_next_step, use, key};
  return shards_.at(shards_.owner_of_id(user_id)).post(begin);
}

// On the user's shard, right after begin_payment: every product shard takes (or checks) its
// lines; the last answer goes on to finish.
void order_flow::take_stock_everywhere(entity_id user_id, key_ptr key, reply&& begun,
                                       reply_callback done) {
  auto plan = std::get<payment_plan>(std::move(begun.body));
  auto groups = lines_by_shard(plan.order);
  std::vector<std::pair<shard_index, command_body>> takes;
  for (const auto& [shard, lines] : groups)
    takes.emplace_back(shard, take_stock{plan.order.id, user_id, lines, plan.check_only});
  scatter(shards_, std::move(takes), reply_mode::feeds_next_step, begun.rests_on, false,
          [this, user_id, key = std::move(key), plan = std::move(plan), groups = std::move(groups),
           done = std::move(done)](std::vector<reply>&& answers) mutable {
            finish(user_id, std::move(key), std::move(plan), std::move(groups), std::move(answers),
                   std::move(done));
          });
}

// On the last product shard to answer: the user's shard decides (off sale wins across shards,
// then short stock, then the balance).
void order_flow::finish(entity_id user_id, key_ptr key, payment_plan plan,
                        std::vector<std::pair<shard_index, std::vector<stock_line>>> groups,
                        std::vector<reply>&& takes, reply_callback done) {
  bool inactive = false, short_stock = false;
  std::vector<shard_index> taken;  // shards that took stock for the order
  for (std::size_t i = 0; i < takes.size(); ++i) {
    inactive = inactive || takes[i].code == errc::product_inactive;
    short_stock = short_stock || takes[i].code == errc::out_of_stock;
    if (takes[i].code == errc::ok && !plan.check_only) taken.push_back(groups[i].first);
  }
  errc outcome = inactive ? errc::product_inactive : short_stock ? errc::out_of_stock : errc::ok;
  const key_step use = key ? key_step::settle : key_step::none;
  command item{finish_payment{user_id, plan.order.id, outcome, plan.check_only},
               [this, order_id = plan.order.id, taken = std::move(taken),
                done = std::move(done)](reply&& finished) mutable {
                 after_finish(order_id, std::move(taken), std::move(finished), std::move(done));
               },
               reply_mode::feeds_next_step,
               use,
               std::move(key),
               rests_on_all(takes)};
  [[maybe_unused]] bool posted = shards_.at(shards_.owner_of_id(user_id)).post_always(item);
}

// On the user's shard, right after finish_payment: count the sale and record the event (paid),
// or give back what was taken (failed); answer once those are durable.
void order_flow::after_finish(entity_id order_id, std::vector<shard_index> taken, reply&& finished,
                              reply_callback done) {
  std::vector<std::pair<shard_index, command_body>> steps;
  if (finished.code == errc::ok) {
    const auto& order = std::get<order_view>(finished.body);
    for (shard_index shard : taken) steps.emplace_back(shard, commit_sale{order.id, order.paid_at});
    steps.emplace_back(event_shard, record_event{order_event_type::paid, order.paid_at, order});
  } else {
    for (shard_index shard : taken) steps.emplace_back(shard, release_stock{order_id});
  }
  finish_after(shards_, std::move(steps), std::move(finished), std::move(done));
}

// ---- cancel ------------------------------------------------------------------------------------

bool order_flow::cancel(entity_id user_id, entity_id order_id, key_ptr key, reply_callback done) {
  const key_step use = key ? key_step::check : key_step::none;
  command item{cancel_order{user_id, order_id},
               [this, done = std::move(done)](reply&& answer) mutable {
                 if (answer.replayed) return after_every_shard(std::move(answer), std::move(done));
                 if (answer.code != errc::ok)
                   return finish_flow(shards_.wal(), std::move(answer), std::move(done));
                 const auto& order = std::get<order_view>(answer.body);
                 std::vector<std::pair<shard_index, command_body>> steps;
                 if (order.status == order_status::refunded) {
                   for (auto& [shard, lines] : lines_by_shard(order))
                     steps.emplace_back(shard, refund_sale{order.id});
                   steps.emplace_back(event_shard, record_event{order_event_type::refunded,
                                                                order.cancelled_at, order});
                 }
                 finish_after(shards_, std::move(steps), std::move(answer), std::move(done));
               },
               reply_mode::feeds_next_step, use, key};
  return shards_.at(shards_.owner_of_id(user_id)).post(item);
}

// ---- recovery ----------------------------------------------------------------------------------

order_flow::redrive_plan order_flow::plan_redrive() const {
  redrive_plan plan;
  const event_book& events = shards_.at(event_shard).state().events;
  for (shard_index i = 0; i < shards_.size(); ++i) {
    shards_.at(i).state().orders.for_each_order([&](const order_view& order) {
      bool paid = order.status == order_status::paid;
      bool refunded = order.status == order_status::refunded;
      for (auto& [shard, lines] : lines_by_shard(order)) {
        hold_state hold = shards_.at(shard).state().sales.state_of(order.id);
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
      if ((paid || refunded) && !events.has(order.id, order_event_type::paid)) {
        order_view as_paid = order;
        as_paid.status = order_status::paid;
        as_paid.cancelled_at = 0;
        plan.first.push_back(
            step{event_shard, record_event{order_event_type::paid, order.paid_at, as_paid}});
      }
      if (refunded && !events.has(order.id, order_event_type::refunded)) {
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
    std::vector<std::pair<shard_index, command_body>> steps;
    for (auto& s : *phase) steps.emplace_back(s.shard, std::move(s.body));
    std::latch finished(1);
    scatter(shards_, std::move(steps), reply_mode::durable, 0, false,
            [&finished](std::vector<reply>&&) { finished.count_down(); });
    finished.wait();
  }
}

}  // namespace ecom::engine
