// user_book: the users/sessions/balance state machine, driven directly with time as an input.
// Each test checks a rule of the contract on one shard's book, and replay tests rebuild a second
// book from the emitted records and compare what both answer.
#include "engine/user_book.h"

#include <gtest/gtest.h>

#include "engine/sharding.h"

namespace ecom::engine {
namespace {

constexpr time_ms t0 = 1'800'000'000'000;  // some instant in 2027

class user_book_test : public ::testing::Test {
 protected:
  // A single-shard book so every email lands here.
  idempotency_table keys;
  user_book book{0, 1, keys};
  std::vector<record> log;

  reply run(const auto& command, time_ms now = t0) {
    std::vector<record> out;
    reply answer = book.handle(command, now, out);
    log.insert(log.end(), out.begin(), out.end());
    return answer;
  }
  entity_id make_user(const std::string& email) {
    reply answer = run(create_user{"Kim", email, "hash"});
    EXPECT_EQ(answer.code, errc::ok);
    return std::get<user_view>(answer.body).id;
  }
};

stored_reply render_status(const reply& answer) {
  if (answer.code == errc::ok) {
    return {200, "balance=" + std::to_string(std::get<balance_view>(answer.body).balance)};
  }
  return {static_cast<std::uint16_t>(answer.code == errc::balance_limit_exceeded ? 409 : 404),
          "problem"};
}

TEST_F(user_book_test, SignUpRejectsAnEmailTakenInAnyCase) {
  make_user("Kim@Example.com");
  EXPECT_EQ(run(create_user{"Other", "kim@EXAMPLE.COM", "h"}).code, errc::email_taken);
  EXPECT_EQ(log.size(), 1u) << "a rejected sign-up writes nothing";
}

TEST_F(user_book_test, LoginFindsCredentialsCaseInsensitively) {
  entity_id id = make_user("a@b.c");
  reply found = run(find_credentials{"A@B.C"});
  ASSERT_EQ(found.code, errc::ok);
  EXPECT_EQ(std::get<credentials_view>(found.body).user_id, id);
  EXPECT_EQ(run(find_credentials{"nobody@b.c"}).code, errc::invalid_credentials);
}

TEST_F(user_book_test, ChargeKeepsTheChainAndStopsAtTheCap) {
  entity_id id = make_user("a@b.c");
  EXPECT_EQ(run(charge_balance{id, 10'000'000, {}}).code, errc::ok);
  for (int i = 0; i < 98; ++i) ASSERT_EQ(run(charge_balance{id, 10'000'000, {}}).code, errc::ok);
  // 990,000,000 now: the next 10,000,001 would pass the cap, exactly 10,000,000 fits.
  EXPECT_EQ(run(charge_balance{id, 10'000'000, {}}).code, errc::ok);
  EXPECT_EQ(run(charge_balance{id, 1, {}}).code, errc::balance_limit_exceeded);
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

TEST_F(user_book_test, ChargeOnUnknownUserIsNotFound) {
  EXPECT_EQ(run(charge_balance{12345, 5, {}}).code, errc::user_not_found);
  EXPECT_TRUE(log.empty());
}

TEST_F(user_book_test, IdempotencyReplaysRejectsOtherBodiesAndExpiresAfterADay) {
  entity_id id = make_user("a@b.c");
  idempotency_request key{"k-1", "POST /users/x/balance/charge", {}, &render_status};
  key.body_sha256[0] = 1;
  reply first = run(charge_balance{id, 100, key});
  ASSERT_EQ(first.code, errc::ok);
  reply again = run(charge_balance{id, 100, key}, t0 + 1000);
  ASSERT_TRUE(again.replayed);
  EXPECT_EQ(std::get<stored_reply>(again.body).body, "balance=100");
  idempotency_request other = key;
  other.body_sha256[0] = 2;
  EXPECT_EQ(run(charge_balance{id, 200, other}, t0 + 2000).code, errc::idempotency_key_reused);
  // 24 h later the key is forgotten and the same request applies again.
  reply later = run(charge_balance{id, 100, key}, t0 + idempotency_ttl_ms);
  EXPECT_FALSE(later.replayed);
  EXPECT_EQ(std::get<balance_view>(later.body).balance, 200);
}

TEST_F(user_book_test, IdempotencyStoresAConflictButNotAMissingUser) {
  entity_id id = make_user("a@b.c");
  idempotency_request key{"k", "scope", {}, &render_status};
  run(charge_balance{id, 10'000'000, {}});
  for (int i = 0; i < 99; ++i) run(charge_balance{id, 10'000'000, {}});
  EXPECT_EQ(run(charge_balance{id, 1, key}).code, errc::balance_limit_exceeded);
  reply replay = run(charge_balance{id, 1, key});
  EXPECT_TRUE(replay.replayed);
  EXPECT_EQ(std::get<stored_reply>(replay.body).status, 409);
  EXPECT_EQ(run(charge_balance{999, 1, key}).code, errc::user_not_found);
}

TEST_F(user_book_test, RefreshSessionsRotateOnceAndExpire) {
  entity_id id = make_user("a@b.c");
  ASSERT_EQ(run(open_session{id, "h1", t0 + 1000}).code, errc::ok);
  EXPECT_EQ(run(rotate_session{id, "h1", "h2", t0 + 5000}).code, errc::ok);
  EXPECT_EQ(run(rotate_session{id, "h1", "h3", t0 + 5000}).code, errc::unauthenticated) << "reuse";
  EXPECT_EQ(run(rotate_session{id, "h2", "h3", t0 + 5000}, t0 + 5000).code, errc::unauthenticated)
      << "expired at its expiry instant";
  ASSERT_EQ(run(open_session{id, "h4", t0 + 5000}).code, errc::ok);
  EXPECT_EQ(run(close_session{id, "h4"}).code, errc::ok);
  EXPECT_EQ(run(rotate_session{id, "h4", "h5", t0 + 9000}).code, errc::unauthenticated)
      << "logged out";
}

TEST_F(user_book_test, SessionsPerUserAreBounded) {
  entity_id id = make_user("a@b.c");
  for (std::uint32_t i = 0; i <= refresh_sessions_per_user_max; ++i) {
    ASSERT_EQ(run(open_session{id, "s" + std::to_string(i), t0 + 100000}).code, errc::ok);
  }
  EXPECT_EQ(run(rotate_session{id, "s0", "x", t0 + 100000}).code, errc::unauthenticated)
      << "oldest evicted";
  EXPECT_EQ(run(rotate_session{id, "s1", "y", t0 + 100000}).code, errc::ok);
}

TEST_F(user_book_test, HistoryPagesWalkEveryEntryOnceNewestFirst) {
  entity_id id = make_user("a@b.c");
  for (int i = 1; i <= 45; ++i) run(charge_balance{id, i, {}});
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

TEST_F(user_book_test, BulkUsersGetEmailsThatHashToTheirShard) {
  idempotency_table shard1_keys;
  user_book shard1{1, 4, shard1_keys};
  std::vector<record> out;
  reply answer = shard1.handle(bulk_create_users{2500, "Load Test!"}, t0, out);
  const auto& page = std::get<bulk_page>(answer.body);
  ASSERT_EQ(page.items.size(), 2500u);
  EXPECT_EQ(out.size(), 3u) << "chunked at 1000 users per record";
  for (const auto& user : page.items) {
    EXPECT_EQ(owner_of(user.id, 4), 1u);
    EXPECT_EQ(shard_of_email(user.email, 4), 1u) << user.email;
  }
  reply login = shard1.handle(find_credentials{page.items[7].email}, t0, out);
  ASSERT_EQ(login.code, errc::ok);
  EXPECT_TRUE(std::get<credentials_view>(login.body).password_hash.empty());
}

TEST_F(user_book_test, ReplayingTheRecordsRebuildsTheSameState) {
  entity_id a = make_user("a@b.c");
  entity_id b = make_user("b@b.c");
  idempotency_request key{"k", "scope", {}, &render_status};
  run(charge_balance{a, 700, key});
  run(charge_balance{b, 300, {}});
  run(open_session{a, "h", t0 + 10});
  run(rotate_session{a, "h", "h2", t0 + 10});
  idempotency_table copy_keys;
  user_book copy{0, 1, copy_keys};
  for (const auto& r : log) ASSERT_TRUE(copy.apply(r.type, r.payload));
  std::vector<record> out;
  EXPECT_EQ(std::get<balance_view>(copy.handle(get_balance{a}, t0, out).body).balance, 700);
  EXPECT_EQ(std::get<balance_view>(copy.handle(get_balance{b}, t0, out).body).balance, 300);
  EXPECT_TRUE(copy.handle(charge_balance{a, 700, key}, t0, out).replayed);
  EXPECT_EQ(copy.handle(rotate_session{a, "h2", "h3", t0 + 10}, t0, out).code, errc::ok);
  EXPECT_EQ(copy.handle(create_user{"x", "A@B.C", ""}, t0, out).code, errc::email_taken);
  // The next id continues after the replayed ones instead of reusing one.
  reply fresh = copy.handle(create_user{"x", "new@b.c", ""}, t0, out);
  EXPECT_GT(std::get<user_view>(fresh.body).id, b);
}

TEST_F(user_book_test, ApplyRefusesARecordThatBreaksTheChain) {
  entity_id id = make_user("a@b.c");
  run(charge_balance{id, 5, {}});
  record charge = log.back();
  idempotency_table copy_keys;
  user_book copy{0, 1, copy_keys};
  ASSERT_TRUE(copy.apply(log[0].type, log[0].payload));
  ASSERT_TRUE(copy.apply(charge.type, charge.payload));
  EXPECT_FALSE(copy.apply(charge.type, charge.payload))
      << "applying the same charge twice breaks the chain";
  EXPECT_FALSE(copy.apply(charge.type, charge.payload.substr(0, 10))) << "truncated payload";
}

}  // namespace
}  // namespace ecom::engine
