// coupon_flow: the first-come coupon steps that cross shards.
//
// Template (create_template):
//   home shard (round-robin)  create_coupon: records coupon_created      (feeds the next step)
//   → every shard             install_coupon: a copy in memory         (fan-out, feeds)
//   → answer once the template's record is durable; every shard has it before the 201, so a
//     campaign created after it finds it wherever it lands.
//   Recovery: replay applies coupon_created on every shard, whichever shard wrote it, so a
//   copy a crash cut off needs nothing (campaign_book::apply_coupon_created).
//
// Issue without an Idempotency-Key (issue, the hot path):
//   campaign's shard  take_coupon: the rules in arrival order; a take records campaign_taken
//                     (the outbox entry) before anything is sent      (feeds the next step)
//   → user's shard    deliver_coupon: coupon_delivered (wallet entry + ISSUE history), at
//                     most once per (campaign, user)                   (durable: the answer)
//   A refusal (not found, not active, already issued, sold out) answers from the campaign's
//   shard, once what it rests on is durable: one hop. A user that does not exist (a valid
//   token for a user this state does not hold) is refused USER_NOT_FOUND at the delivery; its
//   unit stays taken (recovery offers it again, and it is refused again).
//
// Issue with a key:
//   user's shard      claim_issue: the kernel screens (stored answer, in use, other body) and
//                     claims the key; USER_NOT_FOUND before any unit is taken (feeds)
//   → campaign's shard take_coupon, recording the key with the take  (feeds)
//   → user's shard    deliver_coupon, keeping the 201 with the key (settle), or settle_issue
//                     keeping the refusal when the contract does      (durable: the answer)
//
// Recovery (plan_redelivery before the shards start, redeliver after): every take whose
// wallet entry is missing (the crash fell between the two records) is delivered again, with
// the take's key, before the server serves; delivery applies at most once per wallet.
#pragma once

#include <atomic>
#include <vector>

#include "engine/campaigns.h"
#include "engine/command.h"
#include "engine/shard_set.h"

namespace ecom::engine {

class coupon_flow {
 public:
  explicit coupon_flow(shard_set& shards) : shards_(shards) {}

  // False when the first shard's mailbox is full (OVERLOADED): nothing was started. `done`
  // runs once, on any thread, when the answer may leave the engine.
  bool create_template(coupon_template coupon, reply_callback done);
  bool issue(entity_id campaign_id, entity_id user_id, key_ptr key, reply_callback done);

  struct redelivery_plan {
    std::vector<campaign_book::taken_unit> deliveries;
  };
  // Before the shards start (reads their state).
  redelivery_plan plan_redelivery() const;
  // After they started: delivers, and returns once every delivery is durable.
  std::size_t redeliver(redelivery_plan plan);

 private:
  void after_take(entity_id user_id, key_ptr key, reply&& taken, reply_callback done);

  shard_set& shards_;
  std::atomic<std::uint32_t> next_home_{0};
};

}  // namespace ecom::engine
