// fan_out: the flows that send one step to several shards and merge what comes back, and the
// primitive they share (scatter). A fan-out's replies are collected by whichever arrives last:
// each reply writes only its own slot, and an atomic count of the replies still to come orders
// those writes before the last reply reads them, so the gathered state belongs to the last
// reply and no lock is taken.
//
//   list_products, list_campaigns:  every shard (its page after the cursor) → merged by id
//   popular_products:               every shard (its top `limit`) → merged top `limit`
//   shard_figures:                  every shard → the list by shard index
//   bulk_create_users:              every shard (its share of the count) → one page
//   read_sale_facts:                each product shard involved (one ask each) → in the order
//                                   asked (a step of the cart and order flows)
//
// Reads record nothing; bulk_create_users records users on each shard, each shard's part
// alone (recovery: nothing to redo; a crash may leave some shards' parts, the request was not
// answered and a retry creates others).
#pragma once

#include <functional>
#include <utility>
#include <vector>

#include "engine/command.h"
#include "engine/shard_set.h"

namespace ecom::engine {

using gathered_callback = std::function<void(std::vector<reply>&&)>;

// Sends one step per (shard, body), answered in `mode` and resting on `rests_on`; `gathered`
// runs once, on the thread of the last reply, with the replies in the order asked. `bounded`
// (a first step): false when a mailbox is full, nothing further is sent and `gathered` never
// runs (nothing the fan-out asked for changes anything: it is for reads and later steps).
// Otherwise past the mailbox bound. An empty fan-out runs `gathered` at once.
bool scatter(shard_set& shards, std::vector<std::pair<shard_index, command_body>> asks,
             reply_mode mode, lsn_t rests_on, bool bounded, gathered_callback gathered);

// Sends `steps` (past the mailbox bound; by default each answered when durable) and then ends
// the flow with `answer` (finish_flow): a flow's last steps, whose own replies say nothing new.
// Steps that write nothing (installing a template in memory) may be feeds_next_step.
void finish_after(shard_set& shards, std::vector<std::pair<shard_index, command_body>> steps,
                  reply&& answer, reply_callback done, reply_mode mode = reply_mode::durable);

// The largest rests_on of a set of feeds_next_step replies.
lsn_t rests_on_all(const std::vector<reply>& replies);

using facts_callback = std::function<void(std::vector<sale_fact>&& facts, lsn_t rests_on)>;
// The sale facts of (product, combination) pairs from their owners (feeds_next_step), in the
// order asked; `then` runs on the thread of the last reply.
bool read_sale_facts(shard_set& shards, const std::vector<std::pair<entity_id, entity_id>>& items,
                     lsn_t rests_on, bool bounded, facts_callback then);

// The reads below answer when durable (reply_mode::durable on every shard), bounded.
bool list_products_everywhere(shard_set& shards, entity_id after_id, std::uint32_t limit,
                              reply_callback done);
bool list_campaigns_everywhere(shard_set& shards, entity_id after_id, std::uint32_t limit,
                               reply_callback done);
bool popular_products(shard_set& shards, time_ms since, std::uint32_t limit, reply_callback done);
bool shard_figures_everywhere(shard_set& shards, reply_callback done);
// A standby: every shard applies its part of `batch` (apply_log), past the mailbox bound (the
// follower bounds how many batches it has in flight); `applied` runs on the thread of the
// last shard, with false when a shard refused a record.
void apply_log_everywhere(shard_set& shards, std::shared_ptr<const log_batch> batch,
                          std::function<void(bool applied)> applied);
// Past the mailbox bound (one command per shard), so the request is never half done.
void bulk_create_users_everywhere(shard_set& shards, std::uint32_t count, std::string name_prefix,
                                  reply_callback done);

}  // namespace ecom::engine
