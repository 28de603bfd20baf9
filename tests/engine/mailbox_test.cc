// mailbox: bounded, never blocks producers, delivers everything in order to one consumer.
#include "engine/mailbox.h"

#include <gtest/gtest.h>

#include <thread>

namespace ecom::engine {
namespace {

TEST(mailbox_test, full_mailbox_refuses_and_leaves_the_item) {
  mailbox<std::string> box(2);
  std::string a = "a", b = "b", c = "c";
  EXPECT_TRUE(box.try_push(a));
  EXPECT_TRUE(box.try_push(b));
  EXPECT_FALSE(box.try_push(c));
  EXPECT_EQ(c, "c");
  EXPECT_EQ(box.depth(), 2u);
  std::vector<std::string> out;
  ASSERT_TRUE(box.pop_all(out, std::chrono::milliseconds(0)));
  EXPECT_EQ(out, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(box.depth(), 0u);
}

// Driven mode: the wake hook fires once per burst (not per item) and again only after the
// driver has taken what was there; take_all never waits; closed and empty ends it.
TEST(mailbox_test, driven_wake_fires_once_per_take) {
  mailbox<int> box(8);
  int wakes = 0;
  box.drive([&] { wakes += 1; });
  int a = 1, b = 2, c = 3;
  EXPECT_TRUE(box.try_push(a));
  EXPECT_TRUE(box.push_always(b));
  EXPECT_EQ(wakes, 1) << "one wake is enough until the driver takes";
  std::vector<int> out;
  ASSERT_TRUE(box.take_all(out));
  EXPECT_EQ(out, (std::vector<int>{1, 2}));
  ASSERT_TRUE(box.take_all(out));
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(box.try_push(c));
  EXPECT_EQ(wakes, 2);
  box.close();
  ASSERT_TRUE(box.take_all(out)) << "closed, but an item is still there";
  EXPECT_EQ(out, (std::vector<int>{3}));
  EXPECT_FALSE(box.take_all(out));
}

TEST(mailbox_test, many_producers_one_consumer_lose_nothing) {
  constexpr int producers = 8, per_producer = 20000;
  mailbox<int> box(64);
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      for (int i = 0; i < per_producer; ++i) {
        int item = p * per_producer + i;
        while (!box.try_push(item)) std::this_thread::yield();
      }
    });
  }
  std::vector<int> seen_last(producers, -1);
  long total = 0;
  std::vector<int> batch;
  while (total < producers * per_producer) {
    box.pop_all(batch, std::chrono::milliseconds(10));
    for (int item : batch) {
      int p = item / per_producer;
      EXPECT_GT(item % per_producer, seen_last[p]) << "per-producer order";
      seen_last[p] = item % per_producer;
      ++total;
    }
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(total, producers * per_producer);
}

TEST(mailbox_test, close_ends_the_consumer_after_draining) {
  mailbox<int> box(4);
  int one = 1;
  box.try_push(one);
  box.close();
  int two = 2;
  EXPECT_FALSE(box.try_push(two));
  std::vector<int> out;
  EXPECT_TRUE(box.pop_all(out, std::chrono::milliseconds(0)));
  EXPECT_EQ(out.size(), 1u);
  EXPECT_FALSE(box.pop_all(out, std::chrono::milliseconds(0)));
}

}  // namespace
}  // namespace ecom::engine
