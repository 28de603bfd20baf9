// password_hash_queue: the bounded, fair queue that password hashing (PBKDF2, slow on purpose)
// runs on, off the network threads. Jobs are keyed (by lower-cased email): each key has its own
// FIFO of at most per_key_max jobs, and the workers take one job per key in turn (round robin),
// so a flood against one email holds at most per_key_max places and, whatever its size, delays
// another key's job by at most one job per worker in progress plus one per other waiting key.
// Past depth_max jobs in all, or per_key_max for the key, try_submit refuses (the caller answers
// 503 OVERLOADED with Retry-After). The destructor drops what has not started and joins.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace ecom::net {

class password_hash_queue {
 public:
  password_hash_queue(std::size_t worker_count, std::size_t depth_max, std::size_t per_key_max);
  ~password_hash_queue();
  password_hash_queue(const password_hash_queue&) = delete;
  password_hash_queue& operator=(const password_hash_queue&) = delete;

  // Ends the workers after the jobs in progress; what waits is dropped. Idempotent.
  void stop();

  // Queues job under key; false (and job dropped) when the queue or the key's share is full.
  bool try_submit(const std::string& key, std::function<void()> job);

  std::size_t depth() const;  // jobs waiting, not started
  std::uint64_t refused() const;
  std::size_t depth_max() const { return depth_max_; }
  std::size_t per_key_max() const { return per_key_max_; }

 private:
  void work();

  const std::size_t depth_max_;
  const std::size_t per_key_max_;
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::unordered_map<std::string, std::deque<std::function<void()>>> jobs_;  // by key
  std::deque<std::string> turn_;  // keys with jobs, in the order they are served
  std::size_t depth_ = 0;
  std::uint64_t refused_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace ecom::net
