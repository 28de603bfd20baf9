// flow_recovery: the engine's part of start-up, after the log is replayed: each cross-shard
// flow's recovery step, in order, then the expiry catch-up. persistence::recover drives it;
// nothing here knows files.
//
//   plan (before the shards start; reads their state from one thread):
//     coupon_flow::plan_redelivery   takes whose wallet entry a crash cut off
//     order_flow::plan_redrive       payments and refunds a crash cut between shards
//   run (after the shards started on their threads; returns when all is durable):
//     1. redeliver those coupons (with the take's key)
//     2. redrive those order steps (payments' steps, then refunds')
//     3. expire everything that expired while the server was down (coupons, pending orders)
#pragma once

#include <cstdint>

#include "engine/coupon_flow.h"
#include "engine/order_flow.h"
#include "engine/shard_set.h"

namespace ecom::engine {

struct flow_recovery_plan {
  coupon_flow::redelivery_plan coupons;
  order_flow::redrive_plan orders;
};

struct flow_recovery_report {
  std::uint64_t coupons_redelivered = 0;
  std::uint64_t order_steps_redone = 0;
  std::uint64_t coupons_expired = 0;
  std::uint64_t orders_expired = 0;
};

flow_recovery_plan plan_flow_recovery(shard_set& shards);
flow_recovery_report run_flow_recovery(shard_set& shards, flow_recovery_plan plan);

}  // namespace ecom::engine
