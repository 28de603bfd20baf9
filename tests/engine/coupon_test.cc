// campaign_book and wallet_book on one shard, driven through the shard's own dispatch
// (shard_state) with time as an input: the issue rules in the contract's order,
// window edges (start inclusive, end exclusive), quantity never over-issued, delivery at most
// once per (campaign, user), expiry recorded once (also after downtime), discount arithmetic
// at the limits, and replay rebuilding the same state.
#include <gtest/gtest.h>

#include "tests/support/state_runner.h"

namespace ecom::engine {
namespace {

using test::t0;

struct books {
  test::state_runner shard;
  std::vector<record>& log = shard.log;
  campaign_book& campaigns = shard.state.campaigns;
  wallet_book& wallets = shard.state.wallets;

  reply run(const command_body& command, time_ms now = t0) { return shard.run(command, now); }
  entity_id user(const std::string& email) {
    return std::get<user_view>(run(create_user{"u", email, "h"}).body).id;
  }
  entity_id campaign(std::int64_t quantity, time_ms start, time_ms end,
                     std::int64_t valid_days = 30) {
    coupon_template c{0, "c", coupon_kind::fixed, 1000, 0, valid_days, 0};
    entity_id coupon_id = std::get<coupon_template>(run(create_coupon{c}).body).id;
    return std::get<campaign_view>(run(create_campaign{coupon_id, quantity, start, end}).body).id;
  }
  // take + deliver, as coupon_flow does.
  reply issue(entity_id campaign_id, entity_id user_id, time_ms now = t0) {
    reply taken = run(take_coupon{campaign_id, user_id}, now);
    if (taken.code != errc::ok) return taken;
    return run(deliver_coupon{std::get<user_coupon_view>(taken.body)}, now);
  }
};

TEST(coupon_test, rules_apply_in_the_contract_order) {
  books b;
  entity_id u1 = b.user("a@x.y"), u2 = b.user("b@x.y");
  entity_id c = b.campaign(1, t0, t0 + 1000);
  EXPECT_EQ(b.issue(12345, u1).code, errc::coupon_not_found);
  EXPECT_EQ(b.issue(c, u1, t0 - 1).code, errc::coupon_not_active);
  ASSERT_EQ(b.issue(c, u1).code, errc::ok);
  // Already issued outranks sold out; not active outranks both.
  EXPECT_EQ(b.issue(c, u1).code, errc::coupon_already_issued);
  EXPECT_EQ(b.issue(c, u2).code, errc::coupon_sold_out);
  EXPECT_EQ(b.issue(c, u1, t0 + 1000).code, errc::coupon_not_active);
}

TEST(coupon_test, window_start_is_inclusive_and_end_exclusive) {
  books b;
  entity_id u1 = b.user("a@x.y"), u2 = b.user("b@x.y"), u3 = b.user("c@x.y");
  entity_id c = b.campaign(10, t0, t0 + 1000);
  EXPECT_EQ(b.issue(c, u1, t0 - 1).code, errc::coupon_not_active);
  EXPECT_EQ(b.issue(c, u1, t0).code, errc::ok);
  EXPECT_EQ(b.issue(c, u2, t0 + 999).code, errc::ok);
  EXPECT_EQ(b.issue(c, u3, t0 + 1000).code, errc::coupon_not_active);
  auto at = [&](time_ms now) {
    return std::get<campaign_view>(b.run(get_campaign{c}, now).body).status;
  };
  EXPECT_EQ(at(t0 - 1), campaign_status::upcoming);
  EXPECT_EQ(at(t0), campaign_status::open);
  EXPECT_EQ(at(t0 + 1000), campaign_status::closed);
}

TEST(coupon_test, never_issues_more_than_the_quantity_and_never_twice_to_one_user) {
  books b;
  entity_id c = b.campaign(30, t0, t0 + 1000);
  int issued = 0, sold_out = 0;
  std::vector<entity_id> users;
  for (int i = 0; i < 100; ++i) users.push_back(b.user("u" + std::to_string(i) + "@x.y"));
  for (int round = 0; round < 2; ++round) {
    for (entity_id u : users) {
      errc code = b.issue(c, u).code;
      issued += code == errc::ok;
      sold_out += code == errc::coupon_sold_out;
    }
  }
  EXPECT_EQ(issued, 30);
  EXPECT_EQ(sold_out, 140);  // 70 in round one, 70 in round two; the 30 holders get ALREADY_ISSUED
  auto view = std::get<campaign_view>(b.run(get_campaign{c}).body);
  EXPECT_EQ(view.remaining_quantity, 0);
  EXPECT_EQ(view.status, campaign_status::sold_out);
}

TEST(coupon_test, delivery_applies_once_per_campaign_and_user) {
  books b;
  entity_id u = b.user("a@x.y");
  entity_id c = b.campaign(5, t0, t0 + 1000);
  reply taken = b.run(take_coupon{c, u});
  auto coupon = std::get<user_coupon_view>(taken.body);
  std::size_t before = b.log.size();
  ASSERT_EQ(b.run(deliver_coupon{coupon}).code, errc::ok);
  ASSERT_EQ(b.run(deliver_coupon{coupon}).code, errc::ok) << "a re-sent outbox entry is harmless";
  EXPECT_EQ(b.log.size(), before + 1) << "only the first delivery writes";
  auto wallet = std::get<user_coupon_page>(b.run(list_user_coupons{u, 0, 0, 100}).body);
  EXPECT_EQ(wallet.items.size(), 1u);
  EXPECT_TRUE(b.wallets.holds(u, c));
}

TEST(coupon_test, expiry_reads_expired_at_once_and_is_recorded_once) {
  books b;
  entity_id u = b.user("a@x.y");
  entity_id c = b.campaign(5, t0, t0 + 10 * day_ms, 1);
  ASSERT_EQ(b.issue(c, u).code, errc::ok);
  time_ms later = t0 + day_ms;  // exactly at expires_at
  auto wallet = std::get<user_coupon_page>(b.run(list_user_coupons{u, 0, 0, 10}, later).body);
  EXPECT_EQ(wallet.items.at(0).status, user_coupon_status::expired) << "before any sweep";
  EXPECT_EQ(b.shard.tick(later + 5 * day_ms).coupons, 1u);  // the server was down for days
  EXPECT_EQ(b.shard.tick(later + 6 * day_ms).coupons, 0u) << "EXPIRE is recorded once";
  auto history = std::get<coupon_history_page>(b.run(list_coupon_history{u, 0, 10}).body);
  ASSERT_EQ(history.items.size(), 2u);
  EXPECT_EQ(history.items[0].action, coupon_action::expire);
  EXPECT_EQ(history.items[0].created_at, later) << "recorded at the expiry instant";
  EXPECT_EQ(history.items[1].action, coupon_action::issue);
  auto expired = std::get<user_coupon_page>(b.run(list_user_coupons{u, 3, 0, 10}, t0).body);
  EXPECT_EQ(expired.items.size(), 1u) << "status filter EXPIRED";
}

// A keyed take records its key, so the re-delivery after a crash can store the 201 under it.
TEST(coupon_test, the_take_carries_the_issue_key_for_re_delivery) {
  books b;
  entity_id u = b.user("a@x.y");
  entity_id c = b.campaign(5, t0, t0 + 1000);
  auto key = std::make_shared<idempotency_key>(
      test::make_key(u, "retry-me", "POST /coupons/fcfs/1/issue"));
  key->body_sha256[3] = 7;
  ASSERT_EQ(b.run(take_coupon{c, u, key}).code, errc::ok);
  books copy;
  ASSERT_TRUE(test::replay(b.log, copy.shard.state));
  auto taken = copy.campaigns.taken_units();
  ASSERT_EQ(taken.size(), 1u);
  ASSERT_NE(taken[0].key, nullptr);
  EXPECT_EQ(taken[0].key->key, "retry-me");
  EXPECT_EQ(taken[0].key->scope, key->scope);
  EXPECT_EQ(taken[0].key->body_sha256, key->body_sha256);
  EXPECT_EQ(taken[0].key->user_id, u);
  EXPECT_EQ(taken[0].coupon.user_id, u);
}

TEST(coupon_test, discounts_at_the_limits) {
  EXPECT_EQ(discount_of(coupon_kind::fixed, 1000, 999), 999) << "never more than the total";
  EXPECT_EQ(discount_of(coupon_kind::fixed, 1000, 5000), 1000);
  EXPECT_EQ(discount_of(coupon_kind::percent, 100, 12345), 12345);
  EXPECT_EQ(discount_of(coupon_kind::percent, 10, 999), 99) << "floor";
  EXPECT_EQ(discount_of(coupon_kind::percent, 1, 99), 0);
  std::int64_t big = 999LL * 50 * 1'000'000'000;  // the largest possible order total
  EXPECT_EQ(discount_of(coupon_kind::percent, 100, big), big);
  EXPECT_EQ(discount_of(coupon_kind::percent, 33, big), big / 100 * 33 + (big % 100) * 33 / 100);
  EXPECT_EQ(discount_of(coupon_kind::fixed, 5, 0), 0);
}

TEST(coupon_test, replay_rebuilds_campaigns_wallets_and_templates) {
  books b;
  entity_id u1 = b.user("a@x.y"), u2 = b.user("b@x.y");
  entity_id c = b.campaign(2, t0, t0 + 1000);
  ASSERT_EQ(b.issue(c, u1).code, errc::ok);
  reply taken = b.run(take_coupon{c, u2, nullptr});  // taken, never delivered: a crash between
  ASSERT_EQ(taken.code, errc::ok);
  books copy;
  ASSERT_TRUE(test::replay(b.log, copy.shard.state));
  auto view = std::get<campaign_view>(copy.run(get_campaign{c}).body);
  EXPECT_EQ(view.remaining_quantity, 0);
  EXPECT_TRUE(copy.wallets.holds(u1, c));
  EXPECT_FALSE(copy.wallets.holds(u2, c)) << "the cut-off delivery";
  auto taken_list = copy.campaigns.taken_units();
  EXPECT_EQ(taken_list.size(), 2u) << "both takes are in the outbox for re-delivery";
  EXPECT_EQ(copy.issue(c, u2).code, errc::coupon_already_issued);
}

}  // namespace
}  // namespace ecom::engine
