#include "net/password_hash_queue.h"

#include <algorithm>

namespace ecom::net {

password_hash_queue::password_hash_queue(std::size_t worker_count, std::size_t depth_max,
                                         std::size_t per_key_max)
    : depth_max_(std::max<std::size_t>(1, depth_max)),
      per_key_max_(std::max<std::size_t>(1, per_key_max)) {
  worker_count = std::max<std::size_t>(1, worker_count);
  workers_.reserve(worker_count);
  for (std::size_t i = 0; i < worker_count; ++i) workers_.emplace_back([this] { work(); });
}

password_hash_queue::~password_hash_queue() {
  stop();
}

void password_hash_queue::stop() {
  std::unordered_map<std::string, std::deque<std::function<void()>>> dropped;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    dropped.swap(jobs_);  // destroyed below, outside the lock and now (their requests with them)
    turn_.clear();
    depth_ = 0;
  }
  ready_.notify_all();
  for (auto& worker : workers_) {
    if (worker.joinable()) worker.join();
  }
}

bool password_hash_queue::try_submit(const std::string& key, std::function<void()> job) {
  {
    std::lock_guard lock(mutex_);
    auto it = jobs_.find(key);
    std::size_t queued = it == jobs_.end() ? 0 : it->second.size();
    if (stopping_ || depth_ >= depth_max_ || queued >= per_key_max_) {
      ++refused_;
      return false;
    }
    if (it == jobs_.end()) it = jobs_.emplace(key, std::deque<std::function<void()>>{}).first;
    if (it->second.empty()) turn_.push_back(key);
    it->second.push_back(std::move(job));
    ++depth_;
  }
  ready_.notify_one();
  return true;
}

std::size_t password_hash_queue::depth() const {
  std::lock_guard lock(mutex_);
  return depth_;
}

std::uint64_t password_hash_queue::refused() const {
  std::lock_guard lock(mutex_);
  return refused_;
}

void password_hash_queue::work() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(mutex_);
      ready_.wait(lock, [this] { return stopping_ || !turn_.empty(); });
      if (stopping_) return;
      std::string key = std::move(turn_.front());
      turn_.pop_front();
      auto it = jobs_.find(key);
      job = std::move(it->second.front());
      it->second.pop_front();
      --depth_;
      if (it->second.empty()) {
        jobs_.erase(it);
      } else {
        turn_.push_back(std::move(key));
      }
    }
    job();
  }
}

}  // namespace ecom::net
