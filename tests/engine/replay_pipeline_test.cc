// replay_pipeline: recovery's replay with the shards applying at once ends in the state a
// replay on one thread builds, shard by shard and byte for byte (templates on every shard
// included), for any thread count; and the first record a shard refuses is named.
#include "engine/replay_pipeline.h"

#include <gtest/gtest.h>

#include "tests/support/engine_cluster.h"

namespace ecom::engine {
namespace {

using test::cluster;
using test::t0;

// A log of both shards: templates (applied on every shard), users, charges, campaigns on both
// shards, issues across shards, products, orders paid and cancelled.
std::vector<record> mixed_log() {
  cluster c;
  c.start();
  std::vector<entity_id> campaigns;
  for (shard_index index = 0; index < 2; ++index) {
    coupon_template t{0, "c", coupon_kind::fixed, 100, 0, 30, 0};
    reply created = c.call([&](reply_callback done) { return c.engine.create_coupon(t, done); });
    auto coupon = std::get<coupon_template>(created.body);
    reply made = c.ask(index, create_campaign{coupon.id, 4500, t0 - 1, t0 + day_ms});
    EXPECT_EQ(made.code, errc::ok);
    campaigns.push_back(std::get<campaign_view>(made.body).id);
  }
  std::vector<entity_id> users;
  for (shard_index index = 0; index < 2; ++index) {
    const bulk_page page = std::get<bulk_page>(c.ask(index, bulk_create_users{5000, "r"}).body);
    for (const auto& u : page.items) users.push_back(u.id);
  }
  for (std::size_t i = 0; i < users.size(); ++i) {
    c.call([&](reply_callback done) {
      return c.engine.issue_coupon(campaigns[i % 2], users[i], nullptr, std::move(done));
    });
  }
  std::vector<product_view> products{c.product(0, 10, 1000), c.product(1, 20, 1000)};
  for (std::size_t i = 0; i < 60; ++i) {
    const entity_id user = users[i * 37 % users.size()];
    EXPECT_EQ(c.ask_owner(user, charge_balance{user, 500}).code, errc::ok);
    entity_id order = c.order(user, products);
    if (i % 3 == 0) {
      c.cancel(user, order);
    } else {
      c.pay(user, order);
    }
  }
  c.shards.stop();
  return c.wal.log();
}

std::vector<std::string> saved(shard_set& shards) {
  std::vector<std::string> out;
  for (shard_index i = 0; i < shards.size(); ++i)
    out.push_back(shards.at(i).state_for_load().save());
  return out;
}

TEST(replay_pipeline_test, shards_applying_at_once_build_the_state_one_thread_builds) {
  const std::vector<record> log = mixed_log();
  ASSERT_GT(log.size(), 4 * replay_batch_records_max) << "batches are handed over and reused";
  cluster one;
  for (std::size_t i = 0; i < log.size(); ++i)
    ASSERT_TRUE(one.shards.replay(log[i].type, log[i].shard, log[i].payload, i + 1));
  const std::vector<std::string> expected = saved(one.shards);
  for (std::size_t threads : {1, 2, 3}) {
    cluster at_once;
    {
      replay_pipeline pipeline(at_once.shards, threads);
      for (std::size_t i = 0; i < log.size(); ++i)
        ASSERT_TRUE(pipeline.add(log[i].type, log[i].shard, log[i].payload, i + 1));
      EXPECT_FALSE(pipeline.finish().has_value());
    }
    EXPECT_EQ(saved(at_once.shards), expected) << threads << " threads";
    for (shard_index i = 0; i < 2; ++i) {
      EXPECT_EQ(at_once.shards.at(i).last_lsn(), one.shards.at(i).last_lsn());
      EXPECT_TRUE(at_once.shards.at(i).state().check_invariants().empty());
    }
  }
}

TEST(replay_pipeline_test, the_first_record_a_shard_refuses_is_named_and_stops_the_replay) {
  std::vector<record> log = mixed_log();
  const std::size_t bad = log.size() / 2;
  log[bad].payload = log[bad].payload.substr(0, 1);  // does not decode
  for (std::size_t threads : {1, 2}) {
    cluster c;
    replay_pipeline pipeline(c.shards, threads);
    std::size_t handed = 0;
    for (std::size_t i = 0; i < log.size(); ++i, ++handed) {
      if (!pipeline.add(log[i].type, log[i].shard, log[i].payload, i + 1)) break;
    }
    auto failure = pipeline.finish();
    ASSERT_TRUE(failure.has_value()) << threads << " threads";
    EXPECT_EQ(failure->lsn, bad + 1);
    EXPECT_EQ(failure->shard, log[bad].shard);
    EXPECT_EQ(failure->type, log[bad].type);
    EXPECT_GE(handed, bad);
    EXPECT_LE(c.shards.at(log[bad].shard).last_lsn(), bad + 1) << "nothing after it applied";
  }
  cluster c;
  replay_pipeline pipeline(c.shards, 2);
  EXPECT_FALSE(pipeline.add(log[0].type, 7, log[0].payload, 1)) << "a shard beyond the count";
  ASSERT_TRUE(pipeline.finish().has_value());
}

}  // namespace
}  // namespace ecom::engine
