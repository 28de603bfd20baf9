// persistence/: the write-ahead log (segments, framing, group commit), the data directory and
// recovery by replay. May use engine/ types; no Boost, no JSON.
//
// wal_writer: one thread that appends framed records to numbered segment files and makes them
// durable with one fdatasync per batch (group commit).
//
// Operation: append() frames records under a short mutex into the pending buffer and assigns
// LSNs; the writer thread swaps the buffer out, write()s it, fdatasyncs once (fsync_mode::always),
// publishes the durable LSN and then runs the batch's callbacks on its own thread.
// Concurrency: append() is thread-safe and never touches the disk.
// Limits: a segment rolls over to the next number once it passes segment_bytes_max (checked
// between batches, so one batch never spans two files). Zeros are kept up to zero_fill_bytes
// ahead of the last frame so that a group commit's fdatasync writes data only. The pending buffer
// has no cap of its own, since append() must not block: it is bounded upstream by the shard
// mailboxes and the records one command may emit. Failure: a write or fdatasync error prints to
// stderr and aborts the process. After a failed fsync the kernel may have dropped the dirty pages
// and a retry can "succeed" with the data lost
// ("fsyncgate", PostgreSQL 2018), so nothing can be acknowledged any more; recovery replays
// what really reached the disk.
// Callbacks run on the writer thread (or inline in append()); they must not throw, block for
// long, or call stop(). append() after stop() throws std::logic_error.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "engine/journal.h"

namespace ecom::persistence {

// What each mode promises (compare Redis `appendfsync`):
enum class fsync_mode : std::uint8_t {
  // A callback runs only after its records are fdatasync'd (group commit). A crash, even of the
  // machine, loses nothing that was acknowledged. durable_lsn() = last fdatasync'd LSN.
  always,
  // A callback runs once its records are written (write(2)), without waiting for a sync; the
  // writer fdatasyncs at most every batch_interval_ms. A process crash loses nothing that was
  // acknowledged; a machine crash may lose about the last batch_interval_ms of acknowledged
  // changes. durable_lsn() = last fdatasync'd LSN.
  batch,
  // A callback runs once its records are written (write(2)); fdatasync only on segment
  // roll-over and stop(). A process crash loses nothing acknowledged; a machine crash may lose
  // any amount. Tests and benchmarks only. durable_lsn() = last written LSN.
  off,
};

struct wal_options {
  std::filesystem::path dir;  // the wal/ folder; created if missing
  fsync_mode mode = fsync_mode::always;
  std::uint64_t segment_bytes_max = 64ULL << 20;
  std::uint32_t batch_interval_ms = 5;
  // Zeros kept written ahead of the frames (topped up 256 KiB at a time), so group commits
  // overwrite existing blocks; 0 appends instead. Trimmed at roll-over and stop().
  std::uint64_t zero_fill_bytes = 4ULL << 20;
  engine::lsn_t next_lsn = 1;  // first LSN to assign (recovery's last LSN + 1)
  // The wall clock a group commit's commit-time frame records (wal_format.h).
  std::function<engine::time_ms()> clock = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  std::uint64_t next_segment_number = 1;  // first segment file to create
  // Called on the writer thread each time durable_lsn() moves, with the new value, before the
  // batch's callbacks run; it must not block (the replication publisher's wake-up).
  std::function<void(engine::lsn_t)> on_durable;
};

// Figures for /metrics; all monotonic except where noted.
struct wal_stats {
  std::uint64_t records_total = 0;
  std::uint64_t bytes_total = 0;
  std::uint64_t fsyncs_total = 0;
  std::uint64_t batches_total = 0;
  // fsync latency histogram: counts of fsyncs that took <= bucket bound (cumulative not applied).
  static constexpr std::size_t fsync_bucket_count = 12;
  static constexpr std::array<double, fsync_bucket_count> fsync_bucket_bounds_s = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0};
  std::array<std::uint64_t, fsync_bucket_count + 1> fsync_buckets{};  // last = +Inf
  double fsync_seconds_sum = 0;
  engine::lsn_t durable_lsn = 0;
  engine::lsn_t appended_lsn = 0;
};

class wal_writer final : public engine::journal {
 public:
  explicit wal_writer(wal_options options);  // opens the first segment, starts the thread
  ~wal_writer() override;                    // stop()s
  wal_writer(const wal_writer&) = delete;
  wal_writer& operator=(const wal_writer&) = delete;

  engine::lsn_t append(std::span<const engine::record> records,
                       durable_callback on_durable) override;
  engine::lsn_t durable_lsn() const override;
  engine::lsn_t appended_lsn() const override;
  // The last LSN handed to write(2). A durable callback reads at least its own records' LSNs
  // here, and not much more (the batch it was in): what replication waits on for an answer.
  engine::lsn_t written_lsn() const { return written_atomic_.load(std::memory_order_acquire); }

  // Writes and fdatasyncs everything appended so far (whatever the mode), runs pending
  // callbacks, joins the thread. Idempotent.
  void stop();

  wal_stats stats() const;

 private:
  // What the writer thread takes from append() in one swap.
  struct batch {
    std::string bytes;
    std::vector<durable_callback> callbacks;
    std::uint64_t records = 0;
    engine::lsn_t last_lsn = 0;  // 0 when the batch carries no frame
  };

  void open_segment(engine::lsn_t first_lsn);  // creates segment_number_, syncs file and folder
  void run();                                  // the writer thread
  bool take_batch(batch& out);                 // waits; swaps pending into out; true = stopping
  void write_batch(batch& b);
  bool sync_due(bool stopping) const;
  void sync_segment();
  void publish_durable();
  void roll_segment();
  void trim_zero_tail();

  const wal_options options_;
  int dir_fd_ = -1;

  // Guarded by mutex_: the pending batch, LSN assignment, stop flag and stats.
  mutable std::mutex mutex_;
  std::condition_variable writer_cv_;
  batch pending_;
  engine::lsn_t appended_lsn_ = 0;  // last LSN assigned
  bool stop_requested_ = false;
  wal_stats stats_;

  // Writer thread only (and the constructor, before the thread starts).
  int segment_fd_ = -1;
  std::uint64_t segment_number_ = 0;
  std::uint64_t segment_bytes_ = 0;  // frames end here (the next frame's offset)
  std::uint64_t zeroed_bytes_ = 0;   // the file holds frames or zeros up to here
  std::filesystem::path segment_path_;
  engine::lsn_t written_lsn_ = 0;  // last LSN handed to write()
  engine::lsn_t synced_lsn_ = 0;   // last LSN covered by an fdatasync
  std::chrono::steady_clock::time_point synced_at_;

  std::atomic<engine::lsn_t> durable_lsn_{0};
  std::atomic<engine::lsn_t> appended_atomic_{0};  // appended_lsn_, readable without mutex_
  std::atomic<engine::lsn_t> written_atomic_{0};   // written_lsn_, for any thread
  std::mutex stop_mutex_;                          // serializes stop() callers
  std::thread thread_;
};

}  // namespace ecom::persistence
