#include "engine/coupon_flow.h"

#include <latch>

#include "engine/answer.h"
#include "engine/fan_out.h"

namespace ecom::engine {

bool coupon_flow::create_template(coupon_template coupon, reply_callback done) {
  shard_index home = next_home_.fetch_add(1, std::memory_order_relaxed) % shards_.size();
  command create{create_coupon{std::move(coupon)},
                 [this, done = std::move(done)](reply&& created) mutable {
                   if (created.code != errc::ok)
                     return finish_flow(shards_.wal(), std::move(created), std::move(done));
                   std::vector<std::pair<shard_index, command_body>> installs;
                   for (shard_index i = 0; i < shards_.size(); ++i)
                     installs.emplace_back(i,
                                           install_coupon{std::get<coupon_template>(created.body)});
                   // The installs write nothing: the answer rests on the template's own record.
                   finish_after(shards_, std::move(installs), std::move(created), std::move(done),
                                reply_mode::feeds_next_step);
                 },
                 reply_mode::feeds_next_step};
  return shards_.at(home).post(create);
}

bool coupon_flow::issue(entity_id campaign_id, entity_id user_id, key_ptr key,
                        reply_callback done) {
  shard& campaign_shard = shards_.at(shards_.owner_of_id(campaign_id));
  if (key == nullptr) {
    command take{take_coupon{campaign_id, user_id, nullptr},
                 [this, user_id, done = std::move(done)](reply&& taken) mutable {
                   after_take(user_id, nullptr, std::move(taken), std::move(done));
                 },
                 reply_mode::feeds_next_step};
    return campaign_shard.post(take);
  }
  command claim{claim_issue{user_id},
                [this, &campaign_shard, campaign_id, user_id, key,
                 done = std::move(done)](reply&& claimed) mutable {
                  if (claimed.replayed || claimed.code != errc::ok)
                    return finish_flow(shards_.wal(), std::move(claimed), std::move(done));
                  command take{take_coupon{campaign_id, user_id, key},
                               [this, user_id, key, done = std::move(done)](reply&& taken) mutable {
                                 after_take(user_id, key, std::move(taken), std::move(done));
                               },
                               reply_mode::feeds_next_step,
                               key_step::none,
                               nullptr,
                               claimed.rests_on};
                  // The campaign's shard is the flood's target: bounded. Full: the claim is settled
                  // as OVERLOADED (not kept), through the same continuation.
                  if (!campaign_shard.post(take)) {
                    reply full = refusal(errc::overloaded);
                    full.rests_on = claimed.rests_on;
                    take.done(std::move(full));
                  }
                },
                reply_mode::feeds_next_step, key_step::claim, key};
  return shards_.at(shards_.owner_of_id(user_id)).post(claim);
}

// On the campaign's shard, right after the take (or on the user's shard when the take could
// not be sent): hand the coupon to the user's shard, or answer / settle the refusal.
void coupon_flow::after_take(entity_id user_id, key_ptr key, reply&& taken, reply_callback done) {
  shard& wallet_shard = shards_.at(shards_.owner_of_id(user_id));
  const lsn_t rests_on = taken.rests_on;
  const key_step use = key ? key_step::settle : key_step::none;
  if (taken.code == errc::ok) {
    command deliver{deliver_coupon{std::move(std::get<user_coupon_view>(taken.body))},
                    std::move(done),
                    reply_mode::durable,
                    use,
                    std::move(key),
                    rests_on};
    // Past the bound: a taken unit must reach its wallet.
    [[maybe_unused]] bool posted = wallet_shard.post_always(deliver);
    return;
  }
  if (key == nullptr) return finish_flow(shards_.wal(), std::move(taken), std::move(done));
  command settle{settle_issue{user_id, taken.code},
                 std::move(done),
                 reply_mode::durable,
                 use,
                 std::move(key),
                 rests_on};
  [[maybe_unused]] bool posted = wallet_shard.post_always(settle);
}

coupon_flow::redelivery_plan coupon_flow::plan_redelivery() const {
  redelivery_plan plan;
  for (shard_index i = 0; i < shards_.size(); ++i) {
    for (auto& unit : shards_.at(i).state().campaigns.taken_units()) {
      const auto& coupon = unit.coupon;
      const shard& wallet_shard = shards_.at(shards_.owner_of_id(coupon.user_id));
      if (!wallet_shard.state().wallets.holds(coupon.user_id, coupon.campaign_id))
        plan.deliveries.push_back(std::move(unit));
    }
  }
  return plan;
}

std::size_t coupon_flow::redeliver(redelivery_plan plan) {
  const std::size_t count = plan.deliveries.size();
  if (count == 0) return 0;
  // The last callback counts down and is done touching the latch before wait() can return.
  std::latch delivered(static_cast<std::ptrdiff_t>(count));
  for (auto& unit : plan.deliveries) {
    // A keyed issue keeps its 201 under the key now, so the client's retry gets it replayed.
    const key_step use = unit.key ? key_step::settle : key_step::none;
    command deliver{deliver_coupon{std::move(unit.coupon)},
                    [&delivered](reply&&) { delivered.count_down(); }, reply_mode::durable, use,
                    std::move(unit.key)};
    shard& owner =
        shards_.at(shards_.owner_of_id(std::get<deliver_coupon>(deliver.body).coupon.user_id));
    [[maybe_unused]] bool posted = owner.post_always(deliver);
  }
  delivered.wait();
  return count;
}

}  // namespace ecom::engine
