#include "persistence/recovery.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include "engine/replay_pipeline.h"
#include "persistence/snapshot_store.h"
#include "persistence/wal_reader.h"

namespace ecom::persistence {

namespace {

namespace fs = std::filesystem;

std::uint64_t ms_since(std::chrono::steady_clock::time_point start) {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::steady_clock::now() - start)
                                        .count());
}

// The newest generation that opens, passes its checksums and loads; older ones are tried when
// it does not. Nothing: none did (or there is none).
std::optional<snapshot_info> load_snapshot(const fs::path& data_path, engine::shard_set& shards,
                                           recovery_report& report) {
  for (const fs::path& generation : generation_dirs(data_path / "snapshots")) {
    const std::string name = generation.filename().string();
    snapshot_check meta = read_snapshot_meta(generation);
    if (meta.state != snapshot_state::ok) {
      report.snapshots_skipped.push_back(name + ": " + meta.problem);
      if (meta.state == snapshot_state::damaged) report.snapshots_damaged.push_back(name);
      continue;
    }
    if (meta.info.shards.size() != shards.size()) {
      report.snapshots_skipped.push_back(name + ": holds " +
                                         std::to_string(meta.info.shards.size()) +
                                         " shards, the data dir " + std::to_string(shards.size()));
      continue;
    }
    if (meta.info.entity_format != engine::snapshot_format_version) {
      report.snapshots_skipped.push_back(
          name + ": entity format " + std::to_string(meta.info.entity_format) +
          ", this build reads " + std::to_string(engine::snapshot_format_version));
      continue;
    }
    const auto started = std::chrono::steady_clock::now();
    // Each shard loads on a thread of its own (shards share nothing until they run).
    snapshot_read_options read;
    read.threads = std::max(1u, std::thread::hardware_concurrency());
    read.on_shard_end = [&](engine::shard_index shard) {
      shards.at(shard).end_snapshot_load(meta.info.shards[shard].cut);
      return true;
    };
    snapshot_check loaded = read_snapshot(
        generation,
        [&](engine::shard_index shard, std::string_view key, std::string_view value) {
          return shards.at(shard).load_snapshot_entity(key, value);
        },
        read);
    if (loaded.state != snapshot_state::ok) {
      report.snapshots_skipped.push_back(name + ": " + loaded.problem);
      report.snapshots_damaged.push_back(name);
      shards.discard_loaded_state();
      continue;
    }
    shards.share_loaded_templates();
    report.snapshot_lsn = loaded.info.lsn;
    for (const auto& s : loaded.info.shards) report.snapshot_entities += s.entities;
    report.snapshot_load_ms = ms_since(started);
    return loaded.info;
  }
  return std::nullopt;
}

std::string skipped_list(const recovery_report& report) {
  std::string out;
  for (const auto& s : report.snapshots_skipped) out += (out.empty() ? "" : "; ") + s;
  return out.empty() ? "no snapshot" : out;
}

replay_result replay_into(const fs::path& data_path, engine::shard_set& shards,
                          const std::optional<snapshot_info>& snapshot, const load_options& load,
                          const recovery_report& report) {
  const engine::lsn_t after = snapshot ? snapshot->min_cut() : 0;
  std::vector<segment_file> segments = list_segments(data_path / "wal");
  for (const auto& older : load.older_wal_dirs) {
    auto more = list_segments(older);
    segments.insert(segments.end(), more.begin(), more.end());
  }
  std::sort(segments.begin(), segments.end(),
            [](const segment_file& a, const segment_file& b) { return a.number < b.number; });
  if (!segments.empty() && segments.front().first_lsn > after + 1) {
    throw std::runtime_error(
        "the WAL starts at lsn " + std::to_string(segments.front().first_lsn) +
        " and no usable snapshot holds what comes before (" + skipped_list(report) +
        "); refusing to start. Inspect the data dir with `ecom-snapshot inspect " +
        data_path.string() + "`, or restore a backup with `ecom-snapshot restore`.");
  }
  wal_read_options options;
  options.after_lsn = after;
  // Only records every shard holds may be missing: a gap above the lowest cut loses records
  // a lagging shard needs, so it stays corruption.
  options.covered_lsn = snapshot ? snapshot->min_cut() : 0;
  options.read_only = load.read_only;
  options.older_dirs = load.older_wal_dirs;
  // This thread reads and checks the log; the shards apply their records on threads of their
  // own, at once (engine::replay_pipeline).
  engine::replay_pipeline pipeline(shards, std::max(1u, std::thread::hardware_concurrency()));
  auto refused = [](const engine::replay_failure& f) {
    return std::runtime_error(
        "WAL record at lsn " + std::to_string(f.lsn) + " (type " +
        std::to_string(static_cast<unsigned>(f.type)) + ", shard " + std::to_string(f.shard) +
        ") does not apply to the recovered state" + (f.why.empty() ? "" : " (" + f.why + ")") +
        "; refusing to start. Inspect the data dir with ecom-snapshot before repairing it.");
  };
  struct stopped {};
  replay_result result;
  try {
    result = read_wal(data_path / "wal", options, [&](const wal_entry& entry) {
      if (!pipeline.add(entry.type, entry.shard, entry.payload, entry.lsn)) throw stopped{};
    });
  } catch (const stopped&) {
  } catch (const wal_corruption& e) {
    if (auto failure = pipeline.finish()) throw refused(*failure);
    throw std::runtime_error(std::string("WAL corruption: ") + e.what() + "; refusing to start");
  } catch (...) {
    if (auto failure = pipeline.finish()) throw refused(*failure);  // found first: named first
    throw;
  }
  if (auto failure = pipeline.finish()) throw refused(*failure);
  return result;
}

}  // namespace

loaded_state load_state(const fs::path& data_path, engine::shard_set& shards,
                        const load_options& options, recovery_report& report) {
  loaded_state out;
  if (options.use_snapshot) out.snapshot = load_snapshot(data_path, shards, report);
  out.wal = replay_into(data_path, shards, out.snapshot, options, report);
  report.records_replayed = out.wal.records;
  report.segments_read = out.wal.segments - out.wal.segments_skipped;
  report.last_lsn = out.wal.last_lsn;
  if (out.wal.tail_found) report.torn_tail = out.wal.tail_message;
  return out;
}

recovered recover(const data_dir& dir, engine::shard_set& shards, const recovery_options& options,
                  const shard_starter& start_shards) {
  const auto started = std::chrono::steady_clock::now();
  recovered result;
  recovery_report& report = result.report;

  loaded_state loaded = load_state(dir.path(), shards, load_options{}, report);
  const std::optional<snapshot_info>& snapshot = loaded.snapshot;
  const replay_result& replayed = loaded.wal;

  wal_options wal;
  wal.dir = dir.wal_path();
  wal.mode = options.fsync;
  wal.zero_fill_bytes = options.wal_zero_fill_bytes;
  if (options.clock) wal.clock = options.clock;
  wal.on_durable = options.on_wal_durable;
  // After a repair the WAL may end before what the snapshot holds: never reuse an LSN.
  wal.next_lsn = std::max(replayed.last_lsn, snapshot ? snapshot->max_cut() : 0) + 1;
  wal.next_segment_number = replayed.next_segment_number;
  result.wal = std::make_unique<wal_writer>(wal);

  if (options.follower) {
    shards.set_following(true);
    start_shards(*result.wal);
  } else {
    engine::flow_recovery_plan plan = engine::plan_flow_recovery(shards);
    start_shards(*result.wal);
    report.flows = engine::run_flow_recovery(shards, std::move(plan));
  }

  report.duration_ms =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now() - started)
                                     .count());
  return result;
}

std::string recovery_report::summary() const {
  std::string out;
  if (snapshot_lsn != 0) {
    out = "loaded snapshot " + std::to_string(snapshot_lsn) + " (" +
          std::to_string(snapshot_entities) + " entities in " + std::to_string(snapshot_load_ms) +
          " ms); ";
  }
  for (const auto& skipped : snapshots_skipped) out += "passed over snapshot " + skipped + "; ";
  out += "replayed " + std::to_string(records_replayed) + " records from " +
         std::to_string(segments_read) + " segments up to lsn " + std::to_string(last_lsn);
  if (!torn_tail.empty()) out += "; " + torn_tail;
  out += "; redelivered " + std::to_string(flows.coupons_redelivered) + " coupons and redid " +
         std::to_string(flows.order_steps_redone) + " order steps a crash had cut off; expired " +
         std::to_string(flows.coupons_expired) + " coupons and " +
         std::to_string(flows.orders_expired) + " orders; in " + std::to_string(duration_ms) +
         " ms";
  return out;
}

}  // namespace ecom::persistence
