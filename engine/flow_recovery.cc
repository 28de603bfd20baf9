#include "engine/flow_recovery.h"

#include <latch>

#include "engine/fan_out.h"

namespace ecom::engine {

flow_recovery_plan plan_flow_recovery(shard_set& shards) {
  flow_recovery_plan plan;
  plan.coupons = coupon_flow(shards).plan_redelivery();
  plan.orders = order_flow(shards).plan_redrive();
  return plan;
}

flow_recovery_report run_flow_recovery(shard_set& shards, flow_recovery_plan plan) {
  flow_recovery_report report;
  report.coupons_redelivered = coupon_flow(shards).redeliver(std::move(plan.coupons));
  report.order_steps_redone = plan.orders.size();
  order_flow(shards).redrive(std::move(plan.orders));
  // Expiry last: a redelivered coupon or a redriven order may be past its own expiry.
  std::vector<std::pair<shard_index, command_body>> catch_ups;
  for (shard_index i = 0; i < shards.size(); ++i) catch_ups.emplace_back(i, catch_up_expiry{});
  std::latch finished(1);
  scatter(shards, std::move(catch_ups), reply_mode::durable, 0, false,
          [&](std::vector<reply>&& replies) {
            for (const auto& answer : replies) {
              const auto& counts = std::get<expiry_counts>(answer.body);
              report.coupons_expired += counts.coupons;
              report.orders_expired += counts.orders;
            }
            finished.count_down();
          });
  finished.wait();
  return report;
}

}  // namespace ecom::engine
