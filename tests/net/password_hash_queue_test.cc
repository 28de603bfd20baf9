// password_hash_queue: its bounds (all jobs, one key's share) and its fairness (one job per key
// in turn), with real worker threads held on a gate so the order is deterministic.
#include "net/password_hash_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ecom::net {
namespace {

// Holds the only worker until opened.
struct gate {
  std::promise<void> opened;
  std::shared_future<void> wait = opened.get_future().share();
  std::promise<void> entered;
};

// Queues a job that holds the worker on the gate, and waits until the worker is in it.
void hold_the_worker(password_hash_queue& queue, gate& g) {
  ASSERT_TRUE(queue.try_submit("gate", [&g] {
    g.entered.set_value();
    g.wait.wait();
  }));
  g.entered.get_future().wait();
}

// Goal: keys are served in turn: after A's first job comes B's, then A's second, whatever order
// they were queued in. Method: one worker held by a gate job; A1, A2, B1 queued; the gate opens.
TEST(password_hash_queue, serves_one_job_per_key_in_turn) {
  password_hash_queue queue(1, 10, 2);
  gate g;
  hold_the_worker(queue, g);
  std::mutex mutex;
  std::vector<std::string> order;
  std::promise<void> done;
  auto job = [&](std::string name, bool last) {
    return [&, name, last] {
      std::lock_guard lock(mutex);
      order.push_back(name);
      if (last) done.set_value();
    };
  };
  ASSERT_TRUE(queue.try_submit("a", job("a1", false)));
  ASSERT_TRUE(queue.try_submit("a", job("a2", true)));
  ASSERT_TRUE(queue.try_submit("b", job("b1", false)));
  EXPECT_EQ(queue.depth(), 3u);
  g.opened.set_value();
  ASSERT_EQ(done.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  std::lock_guard lock(mutex);
  EXPECT_EQ(order, (std::vector<std::string>{"a1", "b1", "a2"}));
}

// Goal: past one key's share, or past the queue's depth, try_submit refuses (and counts it);
// another key still gets in while the queue has room.
TEST(password_hash_queue, refuses_past_the_keys_share_or_the_depth) {
  password_hash_queue queue(1, 3, 2);
  gate g;
  hold_the_worker(queue, g);
  EXPECT_TRUE(queue.try_submit("a", [] {}));
  EXPECT_TRUE(queue.try_submit("a", [] {}));
  EXPECT_FALSE(queue.try_submit("a", [] {})) << "a's share is 2";
  EXPECT_TRUE(queue.try_submit("b", [] {}));
  EXPECT_FALSE(queue.try_submit("c", [] {})) << "3 waiting in all";
  EXPECT_EQ(queue.refused(), 2u);
  EXPECT_EQ(queue.depth(), 3u);
  g.opened.set_value();
  queue.stop();
}

// Goal: stop() ends the workers after the job in progress and drops what waits.
TEST(password_hash_queue, stop_drops_what_waits) {
  password_hash_queue queue(1, 1 << 20, 1 << 20);  // room for every probe below
  gate g;
  std::atomic<int> ran{0};
  hold_the_worker(queue, g);
  ASSERT_TRUE(queue.try_submit("a", [&] { ++ran; }));
  std::thread stopper([&] { queue.stop(); });
  // stop() has begun once the queue refuses; only then may the job in progress end.
  while (queue.try_submit("probe", [&] { ++ran; })) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  g.opened.set_value();
  stopper.join();
  EXPECT_EQ(ran.load(), 0);
  EXPECT_FALSE(queue.try_submit("a", [] {}));
}

}  // namespace
}  // namespace ecom::net
