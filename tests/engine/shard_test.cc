// shard: commands go through the thread, records reach the journal, and a reply is released
// only after the journal says its records (or the shard's earlier ones) are durable.
#include "engine/shard.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

#include "tests/support/fake_journal.h"

namespace ecom::engine {
namespace {

using test::fake_journal;

// A journal that holds callbacks until the test makes everything durable.
struct held_journal : fake_journal {
  held_journal() : fake_journal(durability::held) {}
  void wait_for_held(std::size_t count) {
    ASSERT_TRUE(fake_journal::wait_for_held(count))
        << "the shard did not get to " << count << " held callbacks";
  }
};

// A command whose reply lands in `answer`.
struct awaited {
  command item;
  std::future<reply> answer;
};
awaited awaited_command(command_body body, reply_mode mode = reply_mode::durable,
                        key_step key_use = key_step::none, key_ptr key = nullptr) {
  auto promise = std::make_shared<std::promise<reply>>();
  auto answer = promise->get_future();
  return {command{std::move(body), [promise](reply&& r) { promise->set_value(std::move(r)); }, mode,
                  key_use, std::move(key)},
          std::move(answer)};
}

std::future<reply> send(shard& s, command_body body, reply_mode mode = reply_mode::durable) {
  auto sent = awaited_command(std::move(body), mode);
  EXPECT_TRUE(s.post(sent.item));
  return std::move(sent.answer);
}

// With an Idempotency-Key, as a single-step request checks it.
std::future<reply> send_keyed(shard& s, command_body body, key_ptr key) {
  auto sent =
      awaited_command(std::move(body), reply_mode::durable, key_step::check, std::move(key));
  EXPECT_TRUE(s.post(sent.item));
  return std::move(sent.answer);
}

// Waits until the shard has executed everything posted before: a probe answered at once
// (feeds_next_step) comes back only after them.
void drained(shard& s) {
  auto probe = awaited_command(get_user{0}, reply_mode::feeds_next_step);
  ASSERT_TRUE(s.post_always(probe.item));
  ASSERT_EQ(probe.answer.wait_for(std::chrono::seconds(5)), std::future_status::ready);
}

TEST(shard_test, reply_waits_for_durability_even_for_a_rejection) {
  held_journal wal;
  shard s({0, 1, 16, 1000}, [] { return time_ms{1'800'000'000'000}; });
  s.start(wal);
  auto created = send(s, create_user{"a", "a@b.c", "h"});
  EXPECT_EQ(created.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout)
      << "no reply before the record is durable";
  // A rejection that rests on the not-yet-durable user must wait too.
  auto duplicate = send(s, create_user{"b", "A@b.c", "h"});
  drained(s);
  EXPECT_EQ(duplicate.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  wal.make_durable();
  EXPECT_EQ(created.get().code, errc::ok);
  EXPECT_EQ(duplicate.get().code, errc::email_taken);
  EXPECT_EQ(wal.appended(), 1u);
  // With everything durable a read is answered at once.
  auto read = send(s, get_user{1});
  EXPECT_EQ(read.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  s.stop();
}

TEST(shard_test, a_step_that_feeds_a_later_write_is_answered_before_durability) {
  held_journal wal;
  shard s({0, 1, 16, 1000}, [] { return time_ms{1'800'000'000'000}; });
  s.start(wal);
  auto created = send(s, create_user{"a", "a@b.c", "h"});
  drained(s);
  // An ordinary read waits for the user's record; one marked feeds_a_write does not (and its
  // own records, if any, are still appended).
  auto waiting = send(s, get_user{1});
  auto at_once = send(s, get_user{1}, reply_mode::feeds_next_step);
  ASSERT_EQ(at_once.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(at_once.get().code, errc::ok);
  EXPECT_EQ(waiting.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  wal.make_durable();
  EXPECT_EQ(created.get().code, errc::ok);
  EXPECT_EQ(waiting.get().code, errc::ok);
  s.stop();
}

// A one-thread event loop, as ecomd's io threads are: runs posted work in order, delayed work
// when due.
class event_loop {
 public:
  event_loop() : thread_([this] { run(); }) {}
  ~event_loop() { stop(); }
  shard_driver driver() {
    return [this](std::chrono::milliseconds delay, std::function<void()> work) {
      std::lock_guard lock(mutex_);
      work_.push_back({std::chrono::steady_clock::now() + delay, std::move(work)});
      ready_.notify_one();
    };
  }
  std::thread::id id() const { return thread_.get_id(); }
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    ready_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

 private:
  struct item {
    std::chrono::steady_clock::time_point due;
    std::function<void()> work;
  };
  void run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      auto due = std::find_if(work_.begin(), work_.end(), [](const item& i) {
        return i.due <= std::chrono::steady_clock::now();
      });
      if (due == work_.end()) {
        ready_.wait_for(lock, std::chrono::milliseconds(1));
        continue;
      }
      auto work = std::move(due->work);
      work_.erase(due);
      lock.unlock();
      work();
      lock.lock();
    }
  }
  std::mutex mutex_;
  std::condition_variable ready_;
  std::vector<item> work_;
  bool stopping_ = false;
  std::thread thread_;
};

// Driven by an event loop instead of a thread of its own, a shard answers the same way (after
// durability), runs on the loop's thread, keeps ticking, and after the loop stops, stop()
// executes what was still queued on the calling thread.
TEST(shard_test, driven_by_an_event_loop_answers_on_its_thread_and_drains_at_stop) {
  held_journal wal;
  event_loop loop;
  std::atomic<int> clock_reads{0};
  std::atomic<bool> off_loop{false};
  std::thread::id loop_id = loop.id();
  shard s({0, 1, 16, 10}, [&] {
    clock_reads += 1;
    if (std::this_thread::get_id() != loop_id) off_loop = true;
    return time_ms{1'800'000'000'000};
  });
  s.start_driven(wal, loop.driver());
  auto created = send(s, create_user{"a", "a@b.c", "h"});
  wal.wait_for_held(1);
  EXPECT_EQ(created.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  wal.make_durable();
  EXPECT_EQ(created.get().code, errc::ok);
  EXPECT_FALSE(off_loop) << "the shard ran on a thread other than the loop's";
  // The periodic tick (every 10 ms here) reads the clock without any request.
  int before = clock_reads;
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  EXPECT_GT(clock_reads.load(), before + 2);
  loop.stop();
  // Queued after the loop stopped: only stop() can run it, here.
  auto late = send(s, get_user{1});
  EXPECT_EQ(late.wait_for(std::chrono::milliseconds(20)), std::future_status::timeout);
  loop_id = std::this_thread::get_id();
  s.stop();
  ASSERT_EQ(late.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(late.get().code, errc::ok);
  EXPECT_FALSE(off_loop);
}

TEST(shard_test, full_mailbox_refuses_commands) {
  held_journal wal;
  shard s({0, 1, 2, 1000}, [] { return time_ms{0}; });  // not started: nothing drains
  command a{get_user{1}, [](reply&&) {}}, b = a, c = a;
  EXPECT_TRUE(s.post(a));
  EXPECT_TRUE(s.post(b));
  EXPECT_FALSE(s.post(c));
  EXPECT_EQ(s.mailbox_depth(), 2u);
}

}  // namespace
}  // namespace ecom::engine

namespace ecom::engine {
namespace {

// A second request with the same key while the first is not yet durable (so not answered)
// gets IDEMPOTENCY_KEY_IN_USE; once the first is durable, a third one gets the replay.
TEST(shard_test, same_key_while_the_first_is_in_flight_is_in_use) {
  held_journal wal;
  shard s({0, 1, 16, 1000}, [] { return time_ms{1'800'000'000'000}; });
  s.start(wal);
  auto created = send(s, create_user{"a", "a@b.c", "h"});
  wal.wait_for_held(1);
  wal.make_durable();
  entity_id id = std::get<user_view>(created.get().body).id;
  auto key = std::make_shared<idempotency_key>();
  key->user_id = id;
  key->key = "k1";
  key->scope = "POST /users/1/balance/charge";
  auto first = send_keyed(s, charge_balance{id, 10}, key);
  auto second = send_keyed(s, charge_balance{id, 10}, key);
  drained(s);  // the charge, and the rejection waiting behind it
  EXPECT_EQ(second.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  wal.make_durable();
  EXPECT_EQ(first.get().code, errc::ok);
  EXPECT_EQ(second.get().code, errc::idempotency_key_in_use);
  auto third = send_keyed(s, charge_balance{id, 10}, key);
  reply replayed = third.get();
  EXPECT_TRUE(replayed.replayed);
  auto balance = send(s, get_balance{id});
  EXPECT_EQ(std::get<balance_view>(balance.get().body).balance, 10) << "charged once";
  s.stop();
}

}  // namespace
}  // namespace ecom::engine
