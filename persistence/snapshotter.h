// snapshotter: takes snapshots while the server serves, keeps the newest few, and trims the
// WAL behind the oldest one kept. One thread of its own does every file and LMDB step; shards
// only capture (engine/snapshot.h) and hand chunks over (engine::snapshot_port).
//
// One snapshot, in order:
//   1. (request or trigger) L = the WAL's appended LSN; when the newest snapshot is named L,
//      nothing changed and that one is the answer;
//   2. open snapshots/<L>/ and its write transaction; post begin_snapshot to every shard: each
//      starts its capture at its own cut (>= L) between two commands;
//   3. put every chunk into the transaction as it arrives (a few per shard may wait: the shards'
//      walks pause when their queue is full, has_room);
//   4. every shard finished: wait until the WAL is durable up to the highest cut (the snapshot
//      holds only durable changes), then write meta and commit: the snapshot exists;
//   5. retention: keep the newest `keep` good generations (a damaged one is never counted nor
//      deleted), then delete WAL segments whose records are all at or below the oldest kept
//      snapshot's lowest cut (or move them to the archive folder). Nothing is deleted before
//      the commit returned.
// A snapshot cut short (stop, a crash) leaves a folder without committed meta: incomplete,
// removed when the next snapshotter starts.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/journal.h"
#include "engine/shard_set.h"
#include "engine/snapshot_port.h"
#include "persistence/snapshot_store.h"

namespace ecom::persistence {

// The snapshot thread's nice value (Linux: per thread), above the process's 0.
inline constexpr int snapshot_thread_nice = 10;

struct snapshot_options {
  std::filesystem::path snapshots_dir;      // <data>/snapshots
  std::filesystem::path wal_dir;            // <data>/wal
  std::filesystem::path archive_dir;        // empty: trimmed segments are deleted
  std::uint32_t keep = 2;                   // generations kept, at least 1
  std::uint64_t every_records = 1'000'000;  // records since the newest snapshot; 0: never
  std::uint64_t every_s = 0;                // seconds since the newest snapshot; 0: never
  // Segments that hold a record above it are kept whatever the snapshots cover (a primary's
  // replication publisher: what the stream has not acknowledged yet). Empty: no such floor.
  std::function<engine::lsn_t()> wal_needed_after;
};

struct snapshot_result {
  enum class outcome { taken, unchanged, failed };
  outcome result = outcome::failed;
  snapshot_info info;
  std::uint64_t duration_ms = 0;
  std::string error;
};

struct snapshot_figures {
  std::optional<snapshot_info> newest;
  std::uint64_t taken_total = 0;
  std::uint64_t failed_total = 0;
  std::uint64_t segments_trimmed_total = 0;
  bool in_progress = false;
  std::uint64_t last_duration_ms = 0;
  // The WAL folder, as last listed (at most a second old): where it starts after trimming.
  engine::lsn_t wal_first_lsn = 0;
  std::uint64_t wal_segments = 0;
  std::uint64_t wal_bytes = 0;
};

class snapshotter final : public engine::snapshot_port {
 public:
  using done_fn = std::function<void(const snapshot_result&)>;
  using log_fn = std::function<void(const std::string&)>;

  // Scans the generations: incomplete ones are removed, damaged ones (by meta, or named in
  // `known_damaged`: recovery's full check) are left alone and unlisted. `verified`: the one
  // recovery loaded; the others are checked in full by the thread when it starts.
  snapshotter(snapshot_options options, engine::shard_set& shards, engine::journal& wal,
              std::function<engine::time_ms()> clock, log_fn log,
              const std::vector<std::string>& known_damaged = {}, engine::lsn_t verified = 0);
  ~snapshotter() override;
  snapshotter(const snapshotter&) = delete;
  snapshotter& operator=(const snapshotter&) = delete;

  // Starts the thread (triggers run from then on). The shards must be running.
  void start();
  // Abandons a snapshot in progress (after the shards stopped: none of them captures any
  // more) and joins. Idempotent.
  void stop();

  // Any thread. Takes a snapshot holding every change appended before this call; `done` runs
  // once, on the snapshotter's thread. False (done not called): one is being taken now.
  bool request(done_fn done);

  // Good generations, newest first.
  std::vector<snapshot_info> list() const;
  snapshot_figures figures() const;

  // engine::snapshot_port (shard threads).
  void deliver(engine::shard_index index, std::uint64_t snapshot_id, engine::capture_stream stream,
               std::string chunk) override;
  bool has_room(engine::shard_index index) const override;
  void finished(engine::shard_index index, std::uint64_t snapshot_id, engine::lsn_t cut) override;

 private:
  struct in_progress;

  void run();
  void begin(std::unique_lock<std::mutex>& lock);
  void write_chunks(std::unique_lock<std::mutex>& lock);
  void finish(std::unique_lock<std::mutex>& lock);
  void fail(std::unique_lock<std::mutex>& lock, const std::string& why);
  void apply_retention();
  bool trigger_due() const;
  void refresh_wal_figures();  // lists the WAL folder (this thread only)
  void verify_older_generations();

  const snapshot_options options_;
  engine::shard_set& shards_;
  engine::journal& wal_;
  std::function<engine::time_ms()> clock_;
  log_fn log_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool begin_requested_ = false;
  std::vector<done_fn> waiting_;            // requests the current snapshot answers
  std::unique_ptr<in_progress> current_;    // the snapshot being taken
  std::vector<snapshot_info> generations_;  // good ones, newest first
  snapshot_figures figures_;
  std::chrono::steady_clock::time_point last_taken_at_;
  engine::lsn_t verified_ = 0;
  std::uint64_t next_id_ = 1;  // of the next snapshot (port calls name theirs)
  std::thread thread_;
};

}  // namespace ecom::persistence
