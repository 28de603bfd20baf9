// lsn_waiters (the stream-ack and read-your-writes waits) and the data dir fingerprint a
// replication stream carries.
#include <atomic>
#include <chrono>
#include <vector>

#include <gtest/gtest.h>

#include "persistence/replication.h"

namespace ecom::persistence {
namespace {

using steady = std::chrono::steady_clock;

// Goal: a waiter runs once: true when its LSN is reached (at once if it already is), false
// when its deadline passes first, false when all are failed; never twice.
TEST(lsn_waiters, release_expire_and_fail_each_run_a_waiter_once) {
  lsn_waiters waiters;
  std::atomic<engine::lsn_t> reached{10};
  std::vector<int> outcomes(6, -1);
  const auto record = [&](int i) { return [&outcomes, i](bool ok) { outcomes[i] = ok ? 1 : 0; }; };
  const auto later = steady::now() + std::chrono::hours(1);
  waiters.add(5, later, record(0), reached);  // reached already
  EXPECT_EQ(outcomes[0], 1);
  waiters.add(11, later, record(1), reached);
  waiters.add(12, later, record(2), reached);
  waiters.add(20, steady::now() - std::chrono::milliseconds(1), record(3), reached);
  waiters.add(30, later, record(4), reached);
  EXPECT_EQ(waiters.size(), 4u);
  reached = 12;
  waiters.release(12);
  EXPECT_EQ(outcomes[1], 1);
  EXPECT_EQ(outcomes[2], 1);
  EXPECT_EQ(outcomes[3], -1);
  EXPECT_EQ(waiters.expire(steady::now()), 1u);
  EXPECT_EQ(outcomes[3], 0);
  EXPECT_EQ(outcomes[4], -1);
  waiters.fail_all();
  EXPECT_EQ(outcomes[4], 0);
  EXPECT_EQ(waiters.size(), 0u);
  waiters.release(100);  // nothing left to run twice
  EXPECT_EQ(outcomes[4], 0);
}

// Goal: the fingerprint tells data dirs apart by secret and by shard count, and reveals
// neither (fixed length, hex).
TEST(replication, fingerprint_differs_by_secret_and_shard_count) {
  const std::string secret(32, 'a');
  const std::string other(32, 'b');
  const std::string fp = replication_fingerprint(secret, 4);
  EXPECT_EQ(fp.size(), 32u);
  EXPECT_EQ(fp.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(fp, replication_fingerprint(secret, 4));
  EXPECT_NE(fp, replication_fingerprint(other, 4));
  EXPECT_NE(fp, replication_fingerprint(secret, 2));
}

}  // namespace
}  // namespace ecom::persistence
