// judge_fcfs: the invariants on hand-made outcomes and wallets.
#include <gtest/gtest.h>

#include "tools/ecom_load/fcfs_types.h"

namespace ecom::load {
namespace {

struct scenario {
  std::vector<user_result> users;
  std::vector<wallet_result> wallets;
  issue_measurements measurements;

  void add(issue_outcome outcome, std::int64_t held, std::int64_t user_coupon_id = 0) {
    std::int64_t id = static_cast<std::int64_t>(users.size()) + 1;
    users.push_back({id, outcome, outcome == issue_outcome::issued ? user_coupon_id : 0});
    wallets.push_back({true, "", held, held > 0 ? user_coupon_id : 0});
  }
  verdict judge(std::int64_t quantity, std::int64_t remaining) const {
    campaign_info after{1, quantity, remaining, remaining == 0 ? "SOLD_OUT" : "OPEN"};
    return judge_fcfs(quantity, after, "", users, wallets, measurements);
  }
};

TEST(verdict, sold_out_run_passes) {
  scenario s;
  for (int i = 0; i < 3; ++i) s.add(issue_outcome::issued, 1, 100 + i);
  for (int i = 0; i < 5; ++i) s.add(issue_outcome::sold_out, 0);
  auto v = s.judge(3, 0);
  EXPECT_TRUE(v.pass()) << v.failures.size();
  EXPECT_EQ(v.issued, 3);
  EXPECT_EQ(v.users_asked, 8);
  EXPECT_EQ(v.wallets_checked, 8);
}

TEST(verdict, coupons_issued_outside_the_run_fail_on_remaining_quantity) {
  scenario s;
  for (int i = 0; i < 4; ++i) s.add(issue_outcome::issued, 1, 100 + i);
  auto v = s.judge(10, 5);  // one was issued before the run
  ASSERT_FALSE(v.pass());
  EXPECT_NE(v.failures[0].find("remaining_quantity 5"), std::string::npos) << v.failures[0];
}

TEST(verdict, sold_out_before_quantity_fails) {
  scenario s;
  s.add(issue_outcome::issued, 1, 7);
  s.add(issue_outcome::sold_out, 0);
  auto v = s.judge(5, 4);
  ASSERT_FALSE(v.pass());
  EXPECT_NE(v.failures[0].find("issued 1, expected"), std::string::npos) << v.failures[0];
}

TEST(verdict, wallet_mismatches_fail) {
  scenario two;
  two.add(issue_outcome::issued, 2, 9);
  EXPECT_FALSE(two.judge(1, 0).pass());
  scenario none;
  none.add(issue_outcome::issued, 0, 9);
  EXPECT_FALSE(none.judge(1, 0).pass());
  scenario unexplained;
  unexplained.add(issue_outcome::sold_out, 1, 9);
  EXPECT_FALSE(unexplained.judge(1, 1).pass());
}

TEST(verdict, uncertain_users_count_by_their_wallet) {
  scenario s;
  s.add(issue_outcome::issued, 1, 1);
  s.add(issue_outcome::uncertain, 1, 2);
  s.add(issue_outcome::sold_out, 0);
  auto v = s.judge(2, 0);
  EXPECT_TRUE(v.pass());
  EXPECT_EQ(v.issued, 2);
}

TEST(verdict, first_request_already_issued_fails) {
  scenario s;
  s.add(issue_outcome::already_issued, 0);
  EXPECT_FALSE(s.judge(5, 5).pass());
}

TEST(verdict, unreadable_campaign_fails) {
  scenario s;
  auto v = judge_fcfs(5, std::nullopt, "GET failed", s.users, s.wallets, s.measurements);
  ASSERT_FALSE(v.pass());
  EXPECT_NE(v.failures[0].find("GET failed"), std::string::npos);
}

}  // namespace
}  // namespace ecom::load
