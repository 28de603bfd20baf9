// fake_journal: the one stand-in for the WAL in engine tests and benchmarks (the real one is
// persistence::wal_writer, which the persistence and end-to-end tests use). It keeps every
// record in log order, and makes them durable either at once (callbacks run inline) or only
// when the test says so (make_durable), so a test can see a reply wait for durability.
#pragma once

#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/journal.h"

namespace ecom::test {

class fake_journal : public engine::journal {
 public:
  enum class durability { immediate, held };
  explicit fake_journal(durability mode = durability::immediate) : mode_(mode) {}

  engine::lsn_t append(std::span<const engine::record> records,
                       durable_callback on_durable) override {
    engine::lsn_t lsn;
    bool run_now;
    {
      std::lock_guard lock(mutex_);
      if (keep_records_) log_.insert(log_.end(), records.begin(), records.end());
      appended_ += records.size();
      lsn = last_ += records.size();
      if (mode_ == durability::immediate) durable_ = last_;
      run_now = mode_ == durability::immediate || (records.empty() && durable_ == last_);
      if (!run_now && on_durable) held_.push_back(std::move(on_durable));
    }
    if (run_now && on_durable) on_durable();
    return lsn;
  }
  engine::lsn_t durable_lsn() const override {
    std::lock_guard lock(mutex_);
    return durable_;
  }
  engine::lsn_t appended_lsn() const override {
    std::lock_guard lock(mutex_);
    return last_;
  }

  // held: makes everything appended so far durable and runs the waiting callbacks.
  void make_durable() {
    std::vector<durable_callback> ready;
    {
      std::lock_guard lock(mutex_);
      durable_ = last_;
      ready.swap(held_);
    }
    for (auto& done : ready) done();
  }
  // held: waits (bounded) until `count` callbacks wait, i.e. the shard has got that far.
  bool wait_for_held(std::size_t count) {
    for (int i = 0; i < 5000; ++i) {
      {
        std::lock_guard lock(mutex_);
        if (held_.size() >= count) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
  }
  std::vector<engine::record> log() const {
    std::lock_guard lock(mutex_);
    return log_;
  }
  std::size_t appended() const {
    std::lock_guard lock(mutex_);
    return appended_;
  }
  // Benchmarks: count records without keeping them.
  void keep_records(bool keep) {
    std::lock_guard lock(mutex_);
    keep_records_ = keep;
  }

 private:
  const durability mode_;
  mutable std::mutex mutex_;
  std::vector<engine::record> log_;
  std::vector<durable_callback> held_;
  engine::lsn_t last_ = 0;
  engine::lsn_t durable_ = 0;
  std::size_t appended_ = 0;
  bool keep_records_ = true;
};

}  // namespace ecom::test
