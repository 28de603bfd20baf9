#include "engine/replay_pipeline.h"

#include <algorithm>
#include <exception>

#include "engine/limits.h"

namespace ecom::engine {

replay_pipeline::replay_pipeline(shard_set& shards, std::size_t threads)
    : shards_(shards), worker_of_(shards.size(), 0) {
  const std::size_t count = std::min<std::size_t>(threads, shards.size());
  if (count <= 1) return;  // the caller's thread applies
  for (std::size_t i = 0; i < count; ++i) {
    workers_.push_back(std::make_unique<worker>());
    workers_.back()->filling = std::make_unique<batch>();
  }
  for (shard_index s = 0; s < shards.size(); ++s) {
    worker_of_[s] = s % count;
    workers_[s % count]->shards.push_back(s);
  }
  try {
    for (auto& w : workers_) w->thread = std::thread([this, raw = w.get()] { run(*raw); });
  } catch (const std::system_error&) {
    // No more threads: the caller's thread applies everything after all.
    stop_workers();
    workers_.clear();
  }
}

void replay_pipeline::stop_workers() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
}

replay_pipeline::~replay_pipeline() {
  stop_workers();
}

bool replay_pipeline::apply(const std::vector<shard_index>& targets, const item& it,
                            std::string_view payload) {
  for (shard_index target : targets) {
    if (!shards_.replay_on(target, it.type, it.owner, payload, it.lsn)) return false;
  }
  return true;
}

// Keeps the refusal with the lowest LSN: the one a replay on one thread stops at (workers go
// on applying what lies below it, so a lower one in another shard is still found).
void replay_pipeline::fail(replay_failure failure) {
  std::lock_guard lock(mutex_);
  if (failure_ && failure_->lsn <= failure.lsn) return;
  failed_lsn_.store(failure.lsn, std::memory_order_relaxed);
  failure_ = std::move(failure);
}

bool replay_pipeline::add(record_type type, shard_index owner, std::string_view payload,
                          lsn_t lsn) {
  if (failed_lsn_.load(std::memory_order_relaxed) != no_failure) return false;
  if (owner >= shards_.size()) {
    fail(replay_failure{type, owner, lsn, "names a shard beyond the shard count"});
    return false;
  }
  if (workers_.empty()) {
    if (shards_.replay(type, owner, payload, lsn)) return true;
    fail(replay_failure{type, owner, lsn, {}});
    return false;
  }
  auto put = [&](worker& w) {
    batch& b = *w.filling;
    b.items.push_back(item{type, owner, lsn, static_cast<std::uint32_t>(b.bytes.size()),
                           static_cast<std::uint32_t>(payload.size())});
    b.bytes.append(payload);
    if (b.items.size() >= replay_batch_records_max || b.bytes.size() >= replay_batch_bytes_max)
      hand_over(w);
  };
  if (type == record_type::coupon_created) {
    for (auto& w : workers_) put(*w);  // every shard holds every template
  } else {
    put(*workers_[worker_of_[owner]]);
  }
  return failed_lsn_.load(std::memory_order_relaxed) == no_failure;
}

void replay_pipeline::hand_over(worker& w) {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] {
    return w.queued.size() < replay_batches_queued_max || stopping_ || failure_.has_value();
  });
  if (stopping_) return;  // no worker takes it any more
  w.queued.push_back(std::move(w.filling));
  if (!spare_.empty()) {
    w.filling = std::move(spare_.back());
    spare_.pop_back();
  } else {
    w.filling = std::make_unique<batch>();
  }
  lock.unlock();
  changed_.notify_all();
}

void replay_pipeline::run(worker& w) {
  std::unique_lock lock(mutex_);
  for (;;) {
    changed_.wait(lock, [&] { return !w.queued.empty() || stopping_; });
    if (w.queued.empty()) return;  // stopping, nothing left
    std::unique_ptr<batch> b = std::move(w.queued.front());
    w.queued.pop_front();
    ++busy_;
    const bool skip = stopping_;
    lock.unlock();
    changed_.notify_all();  // room in the queue
    if (!skip) {
      for (const item& it : b->items) {
        // Nothing above the lowest refusal so far is applied (items ascend in a batch).
        if (it.lsn > failed_lsn_.load(std::memory_order_relaxed)) break;
        try {
          if (!apply(w.shards, it, std::string_view(b->bytes).substr(it.offset, it.size))) {
            fail(replay_failure{it.type, it.owner, it.lsn, {}});
            break;
          }
        } catch (const std::exception& e) {
          fail(replay_failure{it.type, it.owner, it.lsn, e.what()});
          break;
        }
      }
    }
    b->items.clear();
    b->bytes.clear();
    lock.lock();
    spare_.push_back(std::move(b));
    --busy_;
    changed_.notify_all();
  }
}

std::optional<replay_failure> replay_pipeline::finish() {
  for (auto& w : workers_) {
    if (!w->filling->items.empty()) hand_over(*w);
  }
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] {
    if (busy_ != 0) return false;
    for (auto& w : workers_) {
      if (!w->queued.empty()) return false;
    }
    return true;
  });
  return failure_;
}

}  // namespace ecom::engine
