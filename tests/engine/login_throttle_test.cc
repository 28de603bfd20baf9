// login_throttle: the lock sequence of API.md (Users and sessions) with time as an input, the
// resets, and the bound on emails kept; then the same through the shard's dispatch
// (find_credentials, note_login_failure, open_session).
#include "engine/login_throttle.h"

#include <gtest/gtest.h>

#include "engine/limits.h"
#include "tests/support/state_runner.h"

namespace ecom::engine {
namespace {

using test::t0;

// Goal: the 5th failure within the window locks for 1 s; each failure after a lock ended locks
// again for twice as long, up to 900 s; failures while locked change nothing.
TEST(login_throttle, fifth_failure_locks_and_each_later_one_doubles_up_to_the_cap) {
  login_throttle throttle(10);
  const std::string email = "a@b.c";
  time_ms now = t0;
  for (int i = 1; i < 5; ++i) {
    throttle.note_failure(email, now);
    EXPECT_EQ(throttle.locked_for(email, now), 0) << "failure " << i;
    now += 1000;
  }
  throttle.note_failure(email, now);  // the 5th
  EXPECT_EQ(throttle.locked_for(email, now), 1000);
  EXPECT_EQ(throttle.locked_for(email, now + 400), 600);
  throttle.note_failure(email, now + 500);  // checked before the lock began: nothing changes
  EXPECT_EQ(throttle.locked_for(email, now + 500), 500);
  EXPECT_EQ(throttle.locked_for(email, now + 1000), 0);
  time_ms expected = 1000;
  for (int i = 0; i < 10; ++i) {  // 2, 4, ..., 512 s, then 900 s (not 1024)
    now += expected;              // the lock has just ended
    expected = std::min<time_ms>(expected * 2, login_lock_max_ms);
    throttle.note_failure(email, now);
    EXPECT_EQ(throttle.locked_for(email, now), expected) << "lock " << i + 2;
  }
  EXPECT_EQ(expected, login_lock_max_ms);
  // The quiet window counts from the lock's end: a failure right after a 900 s lock locks for
  // 900 s again; 15 minutes without one after the lock forget the email.
  now += expected;
  throttle.note_failure(email, now);
  EXPECT_EQ(throttle.locked_for(email, now), login_lock_max_ms);
  now += login_lock_max_ms + login_failure_window_ms;
  throttle.note_failure(email, now);
  EXPECT_EQ(throttle.locked_for(email, now), 0);
}

// Goal: a success forgets the email; so do 15 minutes without a failure; other emails are
// never affected.
TEST(login_throttle, success_or_a_quiet_window_resets_and_emails_are_separate) {
  login_throttle throttle(10);
  for (int i = 0; i < 5; ++i) throttle.note_failure("a@b.c", t0);
  EXPECT_GT(throttle.locked_for("a@b.c", t0), 0);
  EXPECT_EQ(throttle.locked_for("other@b.c", t0), 0);
  throttle.note_success("a@b.c");
  EXPECT_EQ(throttle.locked_for("a@b.c", t0), 0);
  for (int i = 0; i < 4; ++i) throttle.note_failure("a@b.c", t0 + 1);
  EXPECT_EQ(throttle.locked_for("a@b.c", t0 + 1), 0);
  // 15 minutes after the last failure the count starts again: 4 more do not lock.
  time_ms later = t0 + 1 + login_failure_window_ms;
  for (int i = 0; i < 4; ++i) throttle.note_failure("a@b.c", later);
  EXPECT_EQ(throttle.locked_for("a@b.c", later), 0);
  throttle.note_failure("a@b.c", later);
  EXPECT_EQ(throttle.locked_for("a@b.c", later), login_lock_first_ms);
}

// Goal: at most emails_max emails are kept; the least recently failed one that is not locked
// goes first, and a locked one never does (then a new email is not tracked).
TEST(login_throttle, keeps_at_most_emails_max_never_dropping_a_locked_one) {
  login_throttle throttle(3);
  for (int i = 0; i < 5; ++i) throttle.note_failure("locked@b.c", t0);
  throttle.note_failure("old@b.c", t0 + 1);
  throttle.note_failure("new@b.c", t0 + 2);
  EXPECT_EQ(throttle.size(), 3u);
  throttle.note_failure("newest@b.c", t0 + 3);
  EXPECT_EQ(throttle.size(), 3u);
  EXPECT_GT(throttle.locked_for("locked@b.c", t0 + 3), 0) << "a locked email is kept";
  for (int i = 0; i < 4; ++i) throttle.note_failure("old@b.c", t0 + 4);
  EXPECT_EQ(throttle.locked_for("old@b.c", t0 + 4), 0) << "old@ was dropped: counted afresh";
  // Three locked emails: a fourth email is not tracked rather than free one of them.
  login_throttle full(3);
  for (const char* email : {"a@b.c", "b@b.c", "c@b.c"}) {
    for (int i = 0; i < 5; ++i) full.note_failure(email, t0);
  }
  full.note_failure("d@b.c", t0 + 1);
  EXPECT_EQ(full.size(), 3u);
  for (const char* email : {"a@b.c", "b@b.c", "c@b.c"})
    EXPECT_GT(full.locked_for(email, t0 + 1), 0);
}

// Goal: checks in flight count: concurrent logins cannot guess past the allowance. Method:
// 5 checks may start on a fresh email, the 6th is refused (1 s); once locked and the lock over,
// one check at a time; a check that ends without a verdict frees its place; one that never
// ends is forgotten after login_check_timeout_ms.
TEST(login_throttle, checks_in_flight_count_towards_the_allowance) {
  login_throttle throttle(10);
  const std::string email = "a@b.c";
  for (int i = 0; i < 5; ++i) EXPECT_EQ(throttle.begin_check(email, t0), 0) << i;
  EXPECT_EQ(throttle.begin_check(email, t0), second_ms) << "a 6th guess at once";
  for (int i = 0; i < 5; ++i) throttle.note_failure(email, t0 + 10);
  EXPECT_EQ(throttle.begin_check(email, t0 + 10), login_lock_first_ms);
  time_ms after = t0 + 10 + login_lock_first_ms;
  EXPECT_EQ(throttle.begin_check(email, after), 0);
  EXPECT_EQ(throttle.begin_check(email, after), second_ms) << "after a lock: one at a time";
  throttle.end_check(email, after + 5);  // refused before hashing
  EXPECT_EQ(throttle.begin_check(email, after + 5), 0);
  EXPECT_EQ(throttle.begin_check(email, after + 5 + login_check_timeout_ms), 0)
      << "a check that never ended is forgotten";
}

// Goal: through the shard: a locked email answers find_credentials with too_many_attempts and
// the time left, registered or not and in any case; a good login (open_session) unlocks the
// email's count; nothing of it is written to the log.
TEST(login_throttle, through_the_shard_locks_both_registered_and_unknown_emails) {
  test::state_runner shard;
  reply created = shard.run(create_user{"Kim", "Kim@B.c", "hash"});
  entity_id id = std::get<user_view>(created.body).id;
  std::size_t written = shard.log.size();
  for (const char* email : {"kim@b.c", "nobody@b.c"}) {
    for (int i = 0; i < 5; ++i) {
      EXPECT_NE(shard.run(find_credentials{email}, t0).code, errc::too_many_attempts);
      shard.run(note_login_failure{email}, t0);
    }
  }
  for (const char* email : {"KIM@b.c", "Nobody@B.C"}) {
    reply locked = shard.run(find_credentials{email}, t0 + 300);
    ASSERT_EQ(locked.code, errc::too_many_attempts) << email;
    EXPECT_EQ(std::get<login_locked>(locked.body).retry_after_ms, 700);
  }
  EXPECT_EQ(shard.run(find_credentials{"kim@b.c"}, t0 + 1000).code, errc::ok);
  EXPECT_EQ(shard.run(find_credentials{"nobody@b.c"}, t0 + 1000).code, errc::invalid_credentials);
  EXPECT_EQ(shard.log.size(), written) << "the throttle writes nothing";
  // A good login forgets the failures: 4 more do not lock.
  ASSERT_EQ(shard.run(open_session{id, "t", t0 + day_ms, "f"}, t0 + 1000).code, errc::ok);
  for (int i = 0; i < 4; ++i) shard.run(note_login_failure{"kim@b.c"}, t0 + 1001);
  EXPECT_EQ(shard.run(find_credentials{"kim@b.c"}, t0 + 1001).code, errc::ok);
}

}  // namespace
}  // namespace ecom::engine
