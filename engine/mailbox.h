// mailbox: the bounded multi-producer, single-consumer queue in front of each shard.
// Producers (network threads, other shards, the WAL thread) never wait: try_push fails when
// the mailbox holds depth_max items, and the caller answers 503 OVERLOADED. The consumer takes
// everything queued at once (one lock per batch, not per message).
// Two ways to consume: a thread of its own that sleeps in pop_all(), or a driver (an event
// loop) told through the wake hook that items arrived, which then calls take_all().
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <vector>

namespace ecom::engine {

template <class T>
class mailbox {
 public:
  explicit mailbox(std::size_t depth_max) : depth_max_(depth_max) { items_.reserve(depth_max); }

  // False when full or closed; the item is left untouched then.
  bool try_push(T& item) {
    std::unique_lock lock(mutex_);
    if (closed_ || items_.size() >= depth_max_) return false;
    items_.push_back(std::move(item));
    return pushed(lock);
  }

  // Ignores depth_max: for the few control messages whose count is bounded elsewhere (an
  // admin bulk request sends one per shard). False only when closed.
  bool push_always(T& item) {
    std::unique_lock lock(mutex_);
    if (closed_) return false;
    items_.push_back(std::move(item));
    return pushed(lock);
  }

  // Before the first push: instead of a thread in pop_all(), `wake` is called (on the pushing
  // thread, outside the lock) whenever items arrive and no take_all() is due yet. It must only
  // schedule the consumer, never run it inline.
  void drive(std::function<void()> wake) {
    std::lock_guard lock(mutex_);
    wake_ = std::move(wake);
  }

  // Driven mode: moves everything queued into `out` (cleared first) without waiting; the next
  // push wakes the driver again. Returns false once closed and drained.
  bool take_all(std::vector<T>& out) {
    out.clear();
    std::lock_guard lock(mutex_);
    wake_due_ = false;
    out.swap(items_);
    items_.reserve(depth_max_);
    depth_.store(0, std::memory_order_relaxed);
    return !(closed_ && out.empty());
  }

  // Waits up to `wait` for items, then moves all of them into `out` (cleared first).
  // Returns false once closed and drained.
  bool pop_all(std::vector<T>& out, std::chrono::milliseconds wait) {
    out.clear();
    std::unique_lock lock(mutex_);
    if (items_.empty() && !closed_) {
      consumer_waiting_ = true;
      ready_.wait_for(lock, wait, [&] { return !items_.empty() || closed_; });
      consumer_waiting_ = false;
    }
    out.swap(items_);
    items_.reserve(depth_max_);
    depth_.store(0, std::memory_order_relaxed);
    return !(closed_ && out.empty());
  }

  void close() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    ready_.notify_one();
  }

  std::size_t depth() const { return depth_.load(std::memory_order_relaxed); }
  std::size_t depth_max() const { return depth_max_; }

 private:
  // After an item went in, under the lock: wake whoever consumes, then unlock.
  bool pushed(std::unique_lock<std::mutex>& lock) {
    depth_.store(items_.size(), std::memory_order_relaxed);
    const bool notify = consumer_waiting_;
    const bool wake = wake_ && !wake_due_;
    if (wake) wake_due_ = true;
    lock.unlock();
    if (notify) ready_.notify_one();
    if (wake) wake_();
    return true;
  }

  const std::size_t depth_max_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::vector<T> items_;
  std::atomic<std::size_t> depth_{0};
  bool consumer_waiting_ = false;
  std::function<void()> wake_;  // driven mode; set once before use
  bool wake_due_ = false;       // driven mode: a take_all() is already scheduled
  bool closed_ = false;
};

}  // namespace ecom::engine
