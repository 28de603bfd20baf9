// The flows that cross shards, through the gateway as net uses it, on two real shards with
// threads of their own: the template install, coupon issue with and without a key (replay,
// other body, kept and unkept refusals), re-delivery of a take a crash cut off, the cart and
// checkout flows, the merged lists, a long poll that times out on the shard's own timer, and
// the expiry catch-up of start-up. (order_flow_test covers payment, cancel and redrive.)
#include <gtest/gtest.h>

#include <chrono>

#include "engine/flow_recovery.h"
#include "tests/support/engine_cluster.h"

namespace ecom::engine {
namespace {

using test::cluster;
using test::t0;

key_ptr key_of(entity_id user_id, const std::string& key, std::uint8_t body = 0) {
  auto out = std::make_shared<idempotency_key>(test::make_key(
      user_id, key, "POST /coupons/fcfs/x/issue",
      {errc::coupon_not_active, errc::coupon_sold_out, errc::coupon_already_issued}));
  out->body_sha256[0] = body;
  return out;
}

// A template on one shard and a campaign of it on `index`.
entity_id campaign_on(cluster& c, shard_index index, std::int64_t quantity) {
  coupon_template t{0, "c", coupon_kind::fixed, 1000, 0, 30, 0};
  reply created = c.call([&](reply_callback done) { return c.engine.create_coupon(t, done); });
  auto coupon = std::get<coupon_template>(created.body);
  reply made = c.ask(index, create_campaign{coupon.id, quantity, t0 - 1, t0 + day_ms});
  EXPECT_EQ(made.code, errc::ok);
  return std::get<campaign_view>(made.body).id;
}

reply issue(cluster& c, entity_id campaign, entity_id user, key_ptr key = nullptr) {
  return c.call([&](reply_callback done) {
    return c.engine.issue_coupon(campaign, user, key, std::move(done));
  });
}

std::size_t wallet_size(cluster& c, entity_id user) {
  return std::get<user_coupon_page>(c.ask_owner(user, list_user_coupons{user, 0, 0, 100}).body)
      .items.size();
}

// The 201 of a template goes out only once every shard has it: a campaign made right after,
// on any shard, finds it.
TEST(flows_test, a_template_is_on_every_shard_before_its_answer) {
  cluster c;
  c.start();
  for (int round = 0; round < 10; ++round) {
    coupon_template t{0, "t", coupon_kind::percent, 10, 0, 7, 0};
    reply created = c.call([&](reply_callback done) { return c.engine.create_coupon(t, done); });
    ASSERT_EQ(created.code, errc::ok);
    entity_id id = std::get<coupon_template>(created.body).id;
    for (shard_index i = 0; i < 2; ++i) {
      EXPECT_EQ(c.ask(i, create_campaign{id, 1, t0, t0 + 1}).code, errc::ok) << "shard " << i;
    }
  }
}

// A signed token can name a user the engine does not hold (fuzz_http_request: the delivery
// asserted the user exists; without assertions it made a wallet for no user). With a key the
// claim refuses before a unit is taken; without one the delivery refuses and no wallet is made
// (the unit stays taken).
TEST(flows_test, an_issue_for_a_user_that_does_not_exist_is_user_not_found) {
  cluster c;
  c.start();
  entity_id campaign = campaign_on(c, 1, 5);
  entity_id real = c.user(0, 0);
  const entity_id ghosts[] = {make_id(1000, 0, 2), make_id(1000, 1, 2)};
  for (entity_id ghost : ghosts) {
    EXPECT_EQ(issue(c, campaign, ghost, key_of(ghost, "k")).code, errc::user_not_found);
    EXPECT_EQ(issue(c, campaign, ghost).code, errc::user_not_found);
  }
  EXPECT_EQ(issue(c, campaign, real).code, errc::ok);
  EXPECT_EQ(wallet_size(c, real), 1u);
  c.shards.stop();  // the state may be read now
  for (entity_id ghost : ghosts) {
    EXPECT_FALSE(c.shards.at(owner_of(ghost, 2)).state().wallets.holds(ghost, campaign));
  }
  for (shard_index i = 0; i < 2; ++i)
    EXPECT_TRUE(c.shards.at(i).state().check_invariants().empty());
}

TEST(flows_test, an_issue_across_shards_takes_one_unit_and_fills_one_wallet) {
  cluster c;
  c.start();
  entity_id campaign = campaign_on(c, 1, 2);
  entity_id u1 = c.user(0, 0), u2 = c.user(0, 0), u3 = c.user(1, 0);
  reply first = issue(c, campaign, u1);
  ASSERT_EQ(first.code, errc::ok);
  const auto& coupon = std::get<user_coupon_view>(first.body);
  EXPECT_EQ(owner_of(coupon.id, 2), 0u) << "the wallet's shard allocates the coupon's id";
  EXPECT_EQ(issue(c, campaign, u1).code, errc::coupon_already_issued);
  EXPECT_EQ(issue(c, campaign, u3).code, errc::ok) << "same shard as the campaign";
  EXPECT_EQ(issue(c, campaign, u2).code, errc::coupon_sold_out);
  EXPECT_EQ(wallet_size(c, u1), 1u);
  EXPECT_EQ(wallet_size(c, u2), 0u);
  EXPECT_EQ(issue(c, 999'999, u2).code, errc::coupon_not_found);
}

TEST(flows_test, a_keyed_issue_replays_refuses_another_body_and_keeps_only_409s) {
  cluster c;
  c.start();
  entity_id campaign = campaign_on(c, 1, 1);
  entity_id u = c.user(0, 0), other = c.user(0, 0);
  reply first = issue(c, campaign, u, key_of(u, "k"));
  ASSERT_EQ(first.code, errc::ok);
  reply again = issue(c, campaign, u, key_of(u, "k"));
  ASSERT_TRUE(again.replayed);
  EXPECT_EQ(again.code, errc::ok);
  EXPECT_EQ(std::get<user_coupon_view>(again.body).id, std::get<user_coupon_view>(first.body).id);
  EXPECT_EQ(issue(c, campaign, u, key_of(u, "k", 1)).code, errc::idempotency_key_reused);
  // A refusal the contract keeps (409 sold out) replays; one it does not (404) does not.
  EXPECT_EQ(issue(c, campaign, other, key_of(other, "s")).code, errc::coupon_sold_out);
  reply sold_out_again = issue(c, campaign, other, key_of(other, "s"));
  EXPECT_TRUE(sold_out_again.replayed);
  EXPECT_EQ(sold_out_again.code, errc::coupon_sold_out);
  EXPECT_EQ(issue(c, 999'999, other, key_of(other, "n")).code, errc::coupon_not_found);
  EXPECT_FALSE(issue(c, 999'999, other, key_of(other, "n")).replayed);
  EXPECT_EQ(wallet_size(c, u), 1u) << "issued once";
}

// A crash right after the take (the outbox entry) and before the wallet entry: recovery
// delivers it, with the issue's key, so the client's retry gets the 201 replayed.
TEST(flows_test, recovery_delivers_a_take_whose_wallet_entry_a_crash_cut_off) {
  cluster c;
  c.start();
  entity_id campaign = campaign_on(c, 1, 5);
  entity_id u = c.user(0, 0);
  auto key = key_of(u, "cut");
  c.ask(1, take_coupon{campaign, u, key});  // the take alone, as if the delivery never came
  c.shards.stop();
  cluster after;
  auto log = c.wal.log();
  for (std::size_t i = 0; i < log.size(); ++i)
    ASSERT_TRUE(after.shards.replay(log[i].type, log[i].shard, log[i].payload, i + 1));
  flow_recovery_plan plan = plan_flow_recovery(after.shards);
  EXPECT_EQ(plan.coupons.deliveries.size(), 1u);
  after.start();
  flow_recovery_report report = run_flow_recovery(after.shards, std::move(plan));
  EXPECT_EQ(report.coupons_redelivered, 1u);
  EXPECT_EQ(wallet_size(after, u), 1u);
  reply retried = issue(after, campaign, u, key_of(u, "cut"));
  EXPECT_TRUE(retried.replayed);
  EXPECT_EQ(retried.code, errc::ok);
  EXPECT_EQ(plan_flow_recovery(after.shards).coupons.deliveries.size(), 0u)
      << "nothing left to deliver";
}

TEST(flows_test, cart_steps_check_against_the_product_owners_facts) {
  cluster c;
  c.start();
  entity_id u = c.user(0, 0);
  product_view p = c.product(1, 1'000, 3);
  entity_id combination = p.combinations[0].id;
  reply added = c.call([&](reply_callback done) {
    return c.engine.add_cart_item(add_cart_item{u, p.id, combination, 2, {}}, nullptr, done);
  });
  ASSERT_EQ(added.code, errc::ok);
  entity_id item = std::get<cart_item_view>(added.body).line.id;
  EXPECT_EQ(std::get<cart_item_view>(added.body).fact.stock, 3);
  EXPECT_EQ(
      c.call([&](reply_callback done) {
         return c.engine.add_cart_item(add_cart_item{u, p.id, combination, 2, {}}, nullptr, done);
       }).code,
      errc::out_of_stock)
      << "2 + 2 merged is more than the stock";
  EXPECT_EQ(c.call([&](reply_callback done) {
               return c.engine.set_cart_quantity(u, item, 4, done);
             }).code,
            errc::out_of_stock);
  EXPECT_EQ(c.call([&](reply_callback done) {
               return c.engine.set_cart_quantity(u, item, 3, done);
             }).code,
            errc::ok);
  reply cart = c.call([&](reply_callback done) { return c.engine.read_cart(u, done); });
  const auto& contents = std::get<cart_contents>(cart.body);
  ASSERT_EQ(contents.items.size(), 1u);
  EXPECT_EQ(contents.items[0].line.quantity, 3);
  EXPECT_EQ(contents.items[0].fact.unit_price, 1'000);
}

TEST(flows_test, checkout_refuses_an_empty_cart_and_unknown_lines_then_orders_the_cart) {
  cluster c;
  c.start();
  entity_id u = c.user(0, 10'000);
  product_view p = c.product(1, 1'000, 3);
  auto checkout = [&](std::optional<std::vector<entity_id>> ids) {
    return c.call([&](reply_callback done) {
      return c.engine.checkout(checkout_request{u, ids, 0, 60'000}, nullptr, done);
    });
  };
  EXPECT_EQ(checkout(std::nullopt).code, errc::checkout_empty);
  reply added = c.call([&](reply_callback done) {
    return c.engine.add_cart_item(add_cart_item{u, p.id, p.combinations[0].id, 2, {}}, nullptr,
                                  done);
  });
  entity_id item = std::get<cart_item_view>(added.body).line.id;
  EXPECT_EQ(checkout(std::vector<entity_id>{item + 2}).code, errc::cart_item_not_found);
  reply ordered = checkout(std::vector<entity_id>{item});
  ASSERT_EQ(ordered.code, errc::ok);
  const auto& order = std::get<order_view>(ordered.body);
  EXPECT_EQ(order.cart_item_ids, std::vector<entity_id>{item});
  EXPECT_EQ(order.total_amount, 2'000);
  EXPECT_EQ(order.expires_at, order.ordered_at + 60'000);
}

TEST(flows_test, lists_merge_every_shard_by_id_and_page_on) {
  cluster c;
  c.start();
  std::vector<entity_id> made;
  for (int i = 0; i < 7; ++i) made.push_back(c.product(i % 2, 100 + i, 1).id);
  std::sort(made.begin(), made.end());
  std::vector<entity_id> seen;
  entity_id after = 0;
  for (int pages = 0; pages < 10; ++pages) {
    reply page =
        c.call([&](reply_callback done) { return c.engine.list_products(after, 3, done); });
    const auto& merged = std::get<product_page>(page.body);
    for (const auto& item : merged.items) seen.push_back(item.id);
    if (merged.next_after_id == 0) break;
    after = merged.next_after_id;
  }
  EXPECT_EQ(seen, made);
}

// Nothing after `after`: the poll waits on the event shard and its own timer ends it, empty.
TEST(flows_test, a_long_poll_with_nothing_new_answers_empty_after_its_wait) {
  cluster c;
  c.start();
  auto started = std::chrono::steady_clock::now();
  reply polled = c.call([&](reply_callback done) {
    return c.engine.watch_events(watch_events{0, 10, 80}, done);
  });
  auto waited = std::chrono::steady_clock::now() - started;
  EXPECT_GE(waited, std::chrono::milliseconds(80));
  EXPECT_LT(waited, std::chrono::seconds(5));
  const auto& page = std::get<event_page>(polled.body);
  EXPECT_TRUE(page.items.empty());
  EXPECT_EQ(page.last_seq, 0u);
}

// Start-up expires, all at once, what expired while the server was down (beyond one tick's
// bound of expiries_per_tick_max).
TEST(flows_test, start_up_expires_everything_that_expired_while_down) {
  cluster c;
  c.start();
  coupon_template t{0, "short", coupon_kind::fixed, 1, 0, 1, 0};
  auto coupon = std::get<coupon_template>(
      c.call([&](reply_callback done) { return c.engine.create_coupon(t, done); }).body);
  entity_id campaign =
      std::get<campaign_view>(c.ask(0, create_campaign{coupon.id, 5000, t0 - 1, t0 + day_ms}).body)
          .id;
  auto users = std::get<bulk_page>(c.ask(0, bulk_create_users{1500, "e"}).body).items;
  for (const auto& user : users) ASSERT_EQ(issue(c, campaign, user.id).code, errc::ok);
  c.shards.stop();
  cluster after;
  after.now = t0 + 3 * day_ms;  // the server was down for days
  auto log = c.wal.log();
  for (std::size_t i = 0; i < log.size(); ++i)
    ASSERT_TRUE(after.shards.replay(log[i].type, log[i].shard, log[i].payload, i + 1));
  flow_recovery_plan plan = plan_flow_recovery(after.shards);
  after.start();
  flow_recovery_report report = run_flow_recovery(after.shards, std::move(plan));
  EXPECT_EQ(report.coupons_expired, 1500u);
  EXPECT_GT(report.coupons_expired, expiries_per_tick_max);
}

}  // namespace
}  // namespace ecom::engine
