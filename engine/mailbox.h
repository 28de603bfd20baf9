// mailbox: the bounded multi-producer, single-consumer queue in front of each shard.
// Producers (network threads, other shards, the WAL thread) never wait: try_push fails when
// the mailbox holds depth_max items, and the caller answers 503 OVERLOADED. The consumer takes
// everything queued at once (one lock per batch, not per message).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
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
    depth_.store(items_.size(), std::memory_order_relaxed);
    bool wake = consumer_waiting_;
    lock.unlock();
    if (wake) ready_.notify_one();
    return true;
  }

  // Ignores depth_max: for the few control messages whose count is bounded elsewhere (an
  // admin bulk request sends one per shard). False only when closed.
  bool push_always(T& item) {
    std::unique_lock lock(mutex_);
    if (closed_) return false;
    items_.push_back(std::move(item));
    depth_.store(items_.size(), std::memory_order_relaxed);
    bool wake = consumer_waiting_;
    lock.unlock();
    if (wake) ready_.notify_one();
    return true;
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
  const std::size_t depth_max_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::vector<T> items_;
  std::atomic<std::size_t> depth_{0};
  bool consumer_waiting_ = false;
  bool closed_ = false;
};

}  // namespace ecom::engine
