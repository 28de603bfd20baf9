// replay_pipeline: recovery's replay with every shard applying at once. One caller reads the
// log in LSN order and hands each record over; the records go in batches to a few worker
// threads, each owning a fixed set of shards and applying their records in LSN order
// (shard_set::replay_on). Shards share nothing while they replay (a template, coupon_created,
// goes to every shard's worker; each applies it to its own state), so the result is the one a
// single thread gets, record for record.
//
// Memory is bounded: a worker holds at most replay_batches_queued_max batches of at most
// replay_batch_bytes_max payload bytes (engine/limits.h); the caller waits when it is full.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/record.h"
#include "engine/shard_set.h"

namespace ecom::engine {

// The first record a shard refused (it does not decode or does not fit its state).
struct replay_failure {
  record_type type{};
  shard_index shard = 0;  // the record's owner
  lsn_t lsn = 0;
  std::string why;  // empty: refused by apply(); else the exception a worker caught
};

class replay_pipeline {
 public:
  // threads: at most one per shard; 0 or 1 applies on the caller's thread (no workers).
  replay_pipeline(shard_set& shards, std::size_t threads);
  ~replay_pipeline();  // stops and joins the workers (what was not applied yet is dropped)
  replay_pipeline(const replay_pipeline&) = delete;
  replay_pipeline& operator=(const replay_pipeline&) = delete;

  // Hands one record over. false once a shard refused a record: stop, then finish() names the
  // refusal with the lowest LSN (the record a replay on one thread would have stopped at).
  bool add(record_type type, shard_index owner, std::string_view payload, lsn_t lsn);
  // Waits until every record handed over is applied; the first refusal, if any.
  std::optional<replay_failure> finish();

 private:
  struct item {
    record_type type;
    shard_index owner;
    lsn_t lsn;
    std::uint32_t offset;  // into batch::bytes
    std::uint32_t size;
  };
  struct batch {
    std::vector<item> items;
    std::string bytes;
  };
  struct worker {
    std::vector<shard_index> shards;
    std::unique_ptr<batch> filling;
    std::deque<std::unique_ptr<batch>> queued;  // guarded by mutex_
    std::thread thread;
  };

  void hand_over(worker& w);
  void stop_workers();
  void run(worker& w);
  bool apply(const std::vector<shard_index>& targets, const item& it, std::string_view payload);
  void fail(replay_failure failure);

  shard_set& shards_;
  std::vector<std::unique_ptr<worker>> workers_;
  std::vector<std::size_t> worker_of_;  // shard → index into workers_
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::unique_ptr<batch>> spare_;  // guarded by mutex_
  std::size_t busy_ = 0;                       // workers applying a batch; guarded
  bool stopping_ = false;                      // guarded
  std::optional<replay_failure> failure_;      // guarded: the lowest-LSN refusal
  static constexpr lsn_t no_failure = ~lsn_t{0};
  std::atomic<lsn_t> failed_lsn_{no_failure};  // failure_'s LSN, read without the lock
};

}  // namespace ecom::engine
