// user_book: the users/sessions/balance state machine, driven through the shard's own dispatch
// (shard_state) with time as an input. Each test checks a rule of the contract on one shard, and
// replay tests rebuild a second state from the emitted records and compare what both answer.
#include "engine/user_book.h"

#include <gtest/gtest.h>

#include "engine/sharding.h"
#include "tests/support/state_runner.h"

namespace ecom::engine {
namespace {

using test::make_key;
using test::t0;

class user_book_test : public ::testing::Test {
 protected:
  // A single shard so every email lands here.
  test::state_runner shard;
  std::vector<record>& log = shard.log;

  reply run(const command_body& command, time_ms now = t0) { return shard.run(command, now); }
  // A charge with an Idempotency-Key (a single step that checks the key).
  reply run_keyed(const command_body& command, const idempotency_key& key, time_ms now = t0) {
    return shard.run(command, now, key_step::check, &key);
  }
  entity_id make_user(const std::string& email) {
    reply answer = run(create_user{"Kim", email, "hash"});
    EXPECT_EQ(answer.code, errc::ok);
    return std::get<user_view>(answer.body).id;
  }
};

TEST_F(user_book_test, sign_up_rejects_an_email_taken_in_any_case) {
  make_user("Kim@Example.com");
  EXPECT_EQ(run(create_user{"Other", "kim@EXAMPLE.COM", "h"}).code, errc::email_taken);
  EXPECT_EQ(log.size(), 1u) << "a rejected sign-up writes nothing";
}

TEST_F(user_book_test, login_finds_credentials_case_insensitively) {
  entity_id id = make_user("a@b.c");
  reply found = run(find_credentials{"A@B.C"});
  ASSERT_EQ(found.code, errc::ok);
  EXPECT_EQ(std::get<credentials_view>(found.body).user_id, id);
  EXPECT_EQ(run(find_credentials{"nobody@b.c"}).code, errc::invalid_credentials);
}

TEST_F(user_book_test, charge_keeps_the_chain_and_stops_at_the_cap) {
  entity_id id = make_user("a@b.c");
  EXPECT_EQ(run(charge_balance{id, 10'000'000}).code, errc::ok);
  for (int i = 0; i < 98; ++i) ASSERT_EQ(run(charge_balance{id, 10'000'000}).code, errc::ok);
  // 990,000,000 now: the next 10,000,001 would pass the cap, exactly 10,000,000 fits.
  EXPECT_EQ(run(charge_balance{id, 10'000'000}).code, errc::ok);
  EXPECT_EQ(run(charge_balance{id, 1}).code, errc::balance_limit_exceeded);
  reply balance = run(get_balance{id});
  EXPECT_EQ(std::get<balance_view>(balance.body).balance, balance_max);
  reply page = run(list_balance_history{id, 0, 100});
  const auto& items = std::get<history_page>(page.body).items;
  ASSERT_EQ(items.size(), 100u);
  std::int64_t after = balance_max;
  for (const auto& entry : items) {  // newest first: walk the chain backwards
    EXPECT_EQ(entry.balance_after, after);
    EXPECT_EQ(entry.balance_after, entry.balance_before + entry.amount);
    after = entry.balance_before;
  }
  EXPECT_EQ(after, 0);
}

TEST_F(user_book_test, charge_on_unknown_user_is_not_found) {
  EXPECT_EQ(run(charge_balance{12345, 5}).code, errc::user_not_found);
  EXPECT_TRUE(log.empty());
}

TEST_F(user_book_test, idempotency_replays_rejects_other_bodies_and_expires_after_a_day) {
  entity_id id = make_user("a@b.c");
  idempotency_key key = make_key(id, "k-1", "POST /users/x/balance/charge");
  key.body_sha256[0] = 1;
  reply first = run_keyed(charge_balance{id, 100}, key);
  ASSERT_EQ(first.code, errc::ok);
  reply again = run_keyed(charge_balance{id, 100}, key, t0 + 1000);
  ASSERT_TRUE(again.replayed);
  EXPECT_EQ(std::get<balance_view>(again.body).balance, 100);
  idempotency_key other = key;
  other.body_sha256[0] = 2;
  EXPECT_EQ(run_keyed(charge_balance{id, 200}, other, t0 + 2000).code,
            errc::idempotency_key_reused);
  // 24 h later the key is forgotten and the same request applies again.
  reply later = run_keyed(charge_balance{id, 100}, key, t0 + idempotency_ttl_ms);
  EXPECT_FALSE(later.replayed);
  EXPECT_EQ(std::get<balance_view>(later.body).balance, 200);
}

TEST_F(user_book_test, idempotency_stores_a_conflict_but_not_a_missing_user) {
  entity_id id = make_user("a@b.c");
  // The refusals net keeps are its 409s: balance_limit_exceeded is one, user_not_found not.
  idempotency_key key = make_key(id, "k", "scope", {errc::balance_limit_exceeded});
  run(charge_balance{id, 10'000'000});
  for (int i = 0; i < 99; ++i) run(charge_balance{id, 10'000'000});
  EXPECT_EQ(run_keyed(charge_balance{id, 1}, key).code, errc::balance_limit_exceeded);
  reply replay = run_keyed(charge_balance{id, 1}, key);
  EXPECT_TRUE(replay.replayed);
  EXPECT_EQ(replay.code, errc::balance_limit_exceeded);
  idempotency_key missing = make_key(999, "k", "scope", {errc::balance_limit_exceeded});
  std::size_t written = log.size();
  EXPECT_EQ(run_keyed(charge_balance{999, 1}, missing).code, errc::user_not_found);
  EXPECT_FALSE(run_keyed(charge_balance{999, 1}, missing).replayed);
  EXPECT_EQ(log.size(), written) << "a 404 is not kept";
}

// Sessions without a family (as before families, and r1 tokens): a rotated token again is just
// unauthenticated; families are in a_reused_refresh_token_revokes_its_whole_family.
TEST_F(user_book_test, refresh_sessions_rotate_once_and_expire) {
  entity_id id = make_user("a@b.c");
  ASSERT_EQ(run(open_session{id, "h1", t0 + 1000, ""}).code, errc::ok);
  EXPECT_EQ(run(rotate_session{id, "h1", "h2", t0 + 5000, ""}).code, errc::ok);
  EXPECT_EQ(run(rotate_session{id, "h1", "h3", t0 + 5000, ""}).code, errc::unauthenticated)
      << "reuse";
  EXPECT_EQ(run(rotate_session{id, "h2", "h3", t0 + 5000, ""}, t0 + 5000).code,
            errc::unauthenticated)
      << "expired at its expiry instant";
  ASSERT_EQ(run(open_session{id, "h4", t0 + 5000, ""}).code, errc::ok);
  EXPECT_EQ(run(close_session{id, "h4", ""}).code, errc::ok);
  EXPECT_EQ(run(rotate_session{id, "h4", "h5", t0 + 9000, ""}).code, errc::unauthenticated)
      << "logged out";
}

TEST_F(user_book_test, sessions_per_user_are_bounded) {
  entity_id id = make_user("a@b.c");
  for (std::uint32_t i = 0; i <= refresh_sessions_per_user_max; ++i) {
    std::string session_id = "s";  // appended: GCC 12 warns falsely (-Wrestrict) on "s" + ...
    session_id += std::to_string(i);
    ASSERT_EQ(run(open_session{id, session_id, t0 + 100000, ""}).code, errc::ok);
  }
  EXPECT_EQ(run(rotate_session{id, "s0", "x", t0 + 100000, ""}).code, errc::unauthenticated)
      << "oldest evicted";
  EXPECT_EQ(run(rotate_session{id, "s1", "y", t0 + 100000, ""}).code, errc::ok);
}

TEST_F(user_book_test, history_pages_walk_every_entry_once_newest_first) {
  entity_id id = make_user("a@b.c");
  for (int i = 1; i <= 45; ++i) run(charge_balance{id, i});
  std::vector<std::int64_t> amounts;
  entity_id before = 0;
  for (int pages = 0; pages < 10; ++pages) {
    reply answer = run(list_balance_history{id, before, 7});
    const auto& page = std::get<history_page>(answer.body);
    for (const auto& e : page.items) amounts.push_back(e.amount);
    if (page.next_before_id == 0) break;
    before = page.next_before_id;
  }
  ASSERT_EQ(amounts.size(), 45u);
  for (int i = 0; i < 45; ++i) EXPECT_EQ(amounts[i], 45 - i);
}

TEST_F(user_book_test, bulk_users_get_emails_that_hash_to_their_shard) {
  test::state_runner shard1{1, 4};
  reply answer = shard1.run(bulk_create_users{2500, "Load Test!"});
  const auto& page = std::get<bulk_page>(answer.body);
  ASSERT_EQ(page.items.size(), 2500u);
  EXPECT_EQ(shard1.log.size(), 3u) << "chunked at 1000 users per record";
  for (const auto& user : page.items) {
    EXPECT_EQ(owner_of(user.id, 4), 1u);
    EXPECT_EQ(shard_of_email(user.email, 4), 1u) << user.email;
  }
  reply login = shard1.run(find_credentials{page.items[7].email});
  ASSERT_EQ(login.code, errc::ok);
  EXPECT_TRUE(std::get<credentials_view>(login.body).password_hash.empty());
}

TEST_F(user_book_test, replaying_the_records_rebuilds_the_same_state) {
  entity_id a = make_user("a@b.c");
  entity_id b = make_user("b@b.c");
  idempotency_key key = make_key(a, "k", "scope");
  run_keyed(charge_balance{a, 700}, key);
  run(charge_balance{b, 300});
  run(open_session{a, "h", t0 + 10, ""});
  run(rotate_session{a, "h", "h2", t0 + 10, ""});
  test::state_runner copy;
  ASSERT_TRUE(test::replay(log, copy.state));
  EXPECT_EQ(std::get<balance_view>(copy.run(get_balance{a}).body).balance, 700);
  EXPECT_EQ(std::get<balance_view>(copy.run(get_balance{b}).body).balance, 300);
  EXPECT_TRUE(copy.run(charge_balance{a, 700}, t0, key_step::check, &key).replayed);
  EXPECT_EQ(copy.run(rotate_session{a, "h2", "h3", t0 + 10, ""}).code, errc::ok);
  EXPECT_EQ(copy.run(create_user{"x", "A@B.C", ""}).code, errc::email_taken);
  // The next id continues after the replayed ones instead of reusing one.
  reply fresh = copy.run(create_user{"x", "new@b.c", ""});
  EXPECT_GT(std::get<user_view>(fresh.body).id, b);
}

TEST_F(user_book_test, apply_refuses_a_record_that_breaks_the_chain) {
  entity_id id = make_user("a@b.c");
  run(charge_balance{id, 5});
  record charge = log.back();
  shard_state copy{0, 1};
  ASSERT_TRUE(copy.apply(log[0].type, log[0].payload));
  ASSERT_TRUE(copy.apply(charge.type, charge.payload));
  EXPECT_FALSE(copy.apply(charge.type, charge.payload))
      << "applying the same charge twice breaks the chain";
  EXPECT_FALSE(copy.apply(charge.type, charge.payload.substr(0, 10))) << "truncated payload";
}

// Goal: rotation families: each rotation keeps the family; a rotated token presented again
// revokes the family (a durable record) and answers refresh_token_reused, so the thief's newer
// token dies too; another family of the same user is untouched; logout with the current token
// ends the family, and with an old one counts as a reuse.
TEST_F(user_book_test, a_reused_refresh_token_revokes_its_whole_family) {
  entity_id id = make_user("a@b.c");
  ASSERT_EQ(run(open_session{id, "a1", t0 + day_ms, "famA"}).code, errc::ok);
  ASSERT_EQ(run(open_session{id, "b1", t0 + day_ms, "famB"}).code, errc::ok);
  ASSERT_EQ(run(rotate_session{id, "a1", "a2", t0 + day_ms, "famA"}).code, errc::ok);
  ASSERT_EQ(run(rotate_session{id, "a2", "a3", t0 + day_ms, "famA"}).code, errc::ok);
  std::size_t written = log.size();
  EXPECT_EQ(run(rotate_session{id, "a1", "x", t0 + day_ms, "famA"}).code,
            errc::refresh_token_reused);
  ASSERT_EQ(log.size(), written + 1);
  EXPECT_EQ(log.back().type, record_type::session_family_revoked);
  EXPECT_EQ(run(rotate_session{id, "a3", "a4", t0 + day_ms, "famA"}).code, errc::unauthenticated)
      << "the newest token of the family is revoked too";
  EXPECT_EQ(run(rotate_session{id, "a2", "y", t0 + day_ms, "famA"}).code, errc::unauthenticated)
      << "a family already revoked: nothing more to revoke";
  EXPECT_EQ(log.size(), written + 1);
  ASSERT_EQ(run(rotate_session{id, "b1", "b2", t0 + day_ms, "famB"}).code, errc::ok);
  // Logout: with an old token of family B it is a reuse; B is gone either way.
  EXPECT_EQ(run(close_session{id, "b1", "famB"}).code, errc::refresh_token_reused);
  EXPECT_EQ(run(rotate_session{id, "b2", "b3", t0 + day_ms, "famB"}).code, errc::unauthenticated);
  ASSERT_EQ(run(open_session{id, "c1", t0 + day_ms, "famC"}).code, errc::ok);
  EXPECT_EQ(run(close_session{id, "c1", "famC"}).code, errc::ok);
  EXPECT_EQ(run(rotate_session{id, "c1", "c2", t0 + day_ms, "famC"}).code, errc::unauthenticated);
  // A legacy session (no family) rotated into a family keeps working and is then guarded.
  ASSERT_EQ(run(open_session{id, "old", t0 + day_ms, ""}).code, errc::ok);
  ASSERT_EQ(run(rotate_session{id, "old", "d1", t0 + day_ms, "famD"}).code, errc::ok);
  ASSERT_EQ(run(rotate_session{id, "d1", "d2", t0 + day_ms, "famD"}).code, errc::ok);
  EXPECT_EQ(run(rotate_session{id, "d1", "z", t0 + day_ms, "famD"}).code,
            errc::refresh_token_reused);
  // Replaying the log gives the same sessions: every revoked family stays revoked.
  test::state_runner copy;
  ASSERT_TRUE(test::replay(log, copy.state));
  for (const char* token : {"a3", "b2", "c1", "d2"}) {
    EXPECT_EQ(copy.run(rotate_session{id, token, "n", t0 + day_ms, "fam"}).code,
              errc::unauthenticated)
        << token;
  }
}

// Goal: records written before families (no family bytes) still apply, as sessions without one.
TEST_F(user_book_test, session_records_without_a_family_still_apply) {
  entity_id id = make_user("a@b.c");
  run(open_session{id, "h", t0 + day_ms, "fam"});
  record opened = log.back();
  // The family is the payload's last field (length-prefixed bytes): cut it off.
  std::string legacy = opened.payload.substr(0, opened.payload.size() - 4 - 3);
  test::state_runner runner;
  ASSERT_TRUE(test::replay({log[0], record{opened.type, opened.shard, legacy}}, runner.state));
  EXPECT_EQ(runner.run(rotate_session{id, "h", "h2", t0 + day_ms, "new"}).code, errc::ok);
}

}  // namespace
}  // namespace ecom::engine
