// recovery: the whole start-up sequence of a data directory, one library shared by ecomd and
// offline tools (it knows no HTTP). In order:
//   1. load: the newest snapshot that opens and passes its checksums (an older one when it
//      does not; snapshot_store.h), then the WAL after each shard's cut, into the shards
//      before they run; a torn tail is truncated and reported, corruption in the middle, a
//      record the state refuses, or a WAL that does not reach back to what the snapshot holds
//      stops with a message naming the place and `ecom-snapshot inspect`;
//   2. open a fresh WAL segment at the next LSN;
//   3. plan each cross-shard flow's recovery from the replayed state (engine/flow_recovery.h);
//   4. start the shards: the caller's choice of threads (`start_shards`, given the journal);
//   5. run the plan: coupons re-delivered, order steps redone, what expired while down
//      expired; returns once all of it is durable (a standby skips 3 and 5: its primary's log
//      carries them, and a promotion runs them);
//   6. report what it did (recovery_report::summary).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/flow_recovery.h"
#include "engine/shard_set.h"
#include "persistence/data_dir.h"
#include "persistence/snapshot_store.h"
#include "persistence/wal_reader.h"
#include "persistence/wal_writer.h"

namespace ecom::persistence {

struct recovery_options {
  fsync_mode fsync = fsync_mode::always;
  std::uint64_t wal_zero_fill_bytes = 4ULL << 20;  // see wal_options::zero_fill_bytes
  std::function<engine::time_ms()> clock;          // commit times (empty: the system clock)
  // A standby: the shards follow the primary's log from the start (shard::set_following) and
  // no flow is redone or expired here: the primary's log carries those records (its own
  // recovery's, or the promotion's).
  bool follower = false;
  // See wal_options::on_durable (the replication publisher's wake-up).
  std::function<void(engine::lsn_t)> on_wal_durable;
};

struct recovery_report {
  // The snapshot loaded (lsn 0: none) and the generations passed over, with why.
  engine::lsn_t snapshot_lsn = 0;
  std::uint64_t snapshot_entities = 0;
  std::uint64_t snapshot_load_ms = 0;
  std::vector<std::string> snapshots_skipped;
  // Generations (folder names) that failed their checks: never listed nor deleted by the
  // snapshotter (snapshotter's known_damaged).
  std::vector<std::string> snapshots_damaged;
  std::uint64_t records_replayed = 0;
  std::uint64_t segments_read = 0;
  engine::lsn_t last_lsn = 0;  // where the log was found to end
  std::string torn_tail;       // what was truncated, if anything
  engine::flow_recovery_report flows;
  std::uint64_t duration_ms = 0;
  // One line for the log: what was replayed, repaired and redone.
  std::string summary() const;
};

struct recovered {
  std::unique_ptr<wal_writer> wal;  // open, the shards write to it
  recovery_report report;
};

// Step 1 alone, for recover() and for offline tools (ecom-snapshot verify, restore).
struct load_options {
  bool read_only = false;    // tools: no truncation, no fsync; a torn tail is only reported
  bool use_snapshot = true;  // false: the whole WAL from LSN 1 (a full replay)
  std::vector<std::filesystem::path> older_wal_dirs;  // e.g. <data>/archive, read before wal/
};
struct loaded_state {
  std::optional<snapshot_info> snapshot;  // the generation loaded, if any
  replay_result wal;
};
// Loads `data_path` into `shards` (not started): the newest good snapshot, then the WAL after
// each shard's cut. Fills report's snapshot and replay fields. Throws std::runtime_error when
// the state cannot be rebuilt (the message says where and what to do).
loaded_state load_state(const std::filesystem::path& data_path, engine::shard_set& shards,
                        const load_options& options, recovery_report& report);

// Starts the shards writing to the journal (e.g. shard_set::start or start_driven).
using shard_starter = std::function<void(engine::journal&)>;

// Runs steps 1 to 6 on `shards`, which must not have started. Throws std::runtime_error when
// the data dir cannot be recovered (the message says where and what to do).
recovered recover(const data_dir& dir, engine::shard_set& shards, const recovery_options& options,
                  const shard_starter& start_shards);

}  // namespace ecom::persistence
