// A standby's engine side: shards that follow another server's log (apply_log) while they
// run end in the state of the shards that wrote it, entity by entity, and write nothing of
// their own while following.
#include <gtest/gtest.h>

#include <future>
#include <memory>

#include "engine/fan_out.h"
#include "engine/log_batch.h"
#include "tests/support/engine_cluster.h"

namespace ecom::engine {
namespace {

using test::cluster;
using test::t0;

// Feeds `log` (the leader's records, LSN 1..n) to the follower in batches of `batch_size`: into
// its journal first (same LSNs), then every shard applies its part, as the replicator does.
void follow(cluster& follower, const std::vector<record>& log, std::size_t batch_size) {
  std::size_t at = 0;
  std::vector<std::future<bool>> applied;
  while (at < log.size()) {
    auto batch = std::make_shared<log_batch>();
    const std::size_t end = std::min(log.size(), at + batch_size);
    batch->first_lsn = at + 1;
    batch->last_lsn = end;
    for (std::size_t i = at; i < end; ++i) {
      batch->items.push_back({log[i].type, log[i].shard, i + 1,
                              static_cast<std::uint32_t>(batch->bytes.size()),
                              static_cast<std::uint32_t>(log[i].payload.size())});
      batch->bytes += log[i].payload;
    }
    EXPECT_EQ(follower.wal.append(std::span(log.data() + at, end - at), {}), end);
    auto promise = std::make_shared<std::promise<bool>>();
    applied.push_back(promise->get_future());
    apply_log_everywhere(follower.shards, batch, [promise](bool ok) { promise->set_value(ok); });
    at = end;
  }
  for (auto& f : applied) EXPECT_TRUE(f.get());
}

// Goal: the follower's state equals the leader's, entity by entity, after users, charges,
// products, a template and a campaign with issues on both shards, orders paid, failed and
// cancelled; and the follower wrote no record of its own (its sweeps wait while following).
// Method: run all of it on a leader cluster keeping its log; feed the log to a following
// cluster in batches of 7 records while its shards run; stop both and compare each shard's
// whole state (save()) and its invariants.
TEST(log_apply_test, a_following_cluster_ends_in_the_leaders_state) {
  cluster leader;
  leader.start();
  const entity_id rich = leader.user(0, 50'000), poor = leader.user(1, 100),
                  other = leader.user(1, 20'000);
  const product_view p0 = leader.product(0, 1'000, 5), p1 = leader.product(1, 2'500, 3);
  coupon_template t{0, "c", coupon_kind::fixed, 500, 0, 30, 0};
  reply made =
      leader.call([&](reply_callback done) { return leader.engine.create_coupon(t, done); });
  ASSERT_EQ(made.code, errc::ok);
  const auto coupon = std::get<coupon_template>(made.body);
  reply campaign = leader.ask(1, create_campaign{coupon.id, 2, t0 - 1, t0 + day_ms});
  ASSERT_EQ(campaign.code, errc::ok);
  const entity_id campaign_id = std::get<campaign_view>(campaign.body).id;
  for (entity_id user : {rich, poor, other}) {
    leader.call([&](reply_callback done) {
      return leader.engine.issue_coupon(campaign_id, user, nullptr, std::move(done));
    });
  }
  const entity_id paid = leader.order(rich, {p0, p1});
  EXPECT_EQ(leader.pay(rich, paid).code, errc::ok);
  const entity_id failed = leader.order(poor, {p1});
  EXPECT_EQ(leader.pay(poor, failed).code, errc::insufficient_balance);
  const entity_id cancelled = leader.order(other, {p0});
  EXPECT_EQ(leader.cancel(other, cancelled).code, errc::ok);
  EXPECT_EQ(leader.cancel(rich, paid).code, errc::ok);  // a refund
  leader.shards.stop();
  const std::vector<record> log = leader.wal.log();
  ASSERT_GT(log.size(), 20u);

  cluster follower;
  follower.shards.set_following(true);
  follower.start();
  follow(follower, log, 7);
  follower.now = t0 + 40 * day_ms;  // past every expiry: a following shard still writes nothing
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  follower.shards.stop();
  EXPECT_EQ(follower.wal.log().size(), log.size()) << "a following shard wrote a record";
  for (shard_index i = 0; i < 2; ++i) {
    // What time forgets (old keys, old popularity) is forgotten on both before comparing: the
    // following shard's tick may have done it meanwhile, without a record.
    follower.shards.at(i).state_for_load().forget_old(follower.now);
    leader.shards.at(i).state_for_load().forget_old(follower.now);
    EXPECT_EQ(follower.shards.at(i).state_for_load().save(),
              leader.shards.at(i).state_for_load().save())
        << "shard " << i;
    EXPECT_TRUE(follower.shards.at(i).state().check_invariants().empty()) << "shard " << i;
    EXPECT_EQ(follower.shards.at(i).last_lsn(), leader.shards.at(i).last_lsn()) << "shard " << i;
  }
}

// Goal: a record that does not fit the follower's state is refused (the logs parted ways),
// not applied half.
// Method: a follower that never saw the user gets a charge of that user.
TEST(log_apply_test, a_record_that_does_not_fit_is_refused) {
  cluster leader;
  leader.start();
  const entity_id user = leader.user(0, 1'000);
  leader.shards.stop();
  std::vector<record> log = leader.wal.log();
  ASSERT_GE(log.size(), 2u);
  cluster follower;
  follower.shards.set_following(true);
  follower.start();
  auto batch = std::make_shared<log_batch>();
  const record& charge = log.back();  // the charge, without the user it belongs to
  batch->items.push_back(
      {charge.type, charge.shard, 1, 0, static_cast<std::uint32_t>(charge.payload.size())});
  batch->bytes = charge.payload;
  batch->first_lsn = batch->last_lsn = 1;
  std::promise<bool> applied;
  apply_log_everywhere(follower.shards, batch, [&](bool ok) { applied.set_value(ok); });
  EXPECT_FALSE(applied.get_future().get()) << "user " << user;
}

}  // namespace
}  // namespace ecom::engine
