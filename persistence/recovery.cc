#include "persistence/recovery.h"

#include <chrono>
#include <stdexcept>
#include <string>

#include "persistence/wal_reader.h"

namespace ecom::persistence {

namespace {

replay_result replay_into(const data_dir& dir, engine::shard_set& shards) {
  try {
    return replay_wal(dir.wal_path(), 0, [&](const wal_entry& entry) {
      if (!shards.replay(entry.type, entry.shard, entry.payload, entry.lsn)) {
        throw std::runtime_error("WAL record at lsn " + std::to_string(entry.lsn) + " (type " +
                                 std::to_string(static_cast<unsigned>(entry.type)) + ", shard " +
                                 std::to_string(entry.shard) +
                                 ") does not apply to the recovered state; refusing to start. "
                                 "Inspect the data dir with ecom-snapshot before repairing it.");
      }
    });
  } catch (const wal_corruption& e) {
    throw std::runtime_error(std::string("WAL corruption: ") + e.what() + "; refusing to start");
  }
}

}  // namespace

recovered recover(const data_dir& dir, engine::shard_set& shards, const recovery_options& options,
                  const shard_starter& start_shards) {
  const auto started = std::chrono::steady_clock::now();
  recovered result;
  recovery_report& report = result.report;

  replay_result replayed = replay_into(dir, shards);
  report.records_replayed = replayed.records;
  report.segments_read = replayed.segments;
  report.last_lsn = replayed.last_lsn;
  if (replayed.tail_truncated) report.torn_tail = replayed.tail_message;

  wal_options wal;
  wal.dir = dir.wal_path();
  wal.mode = options.fsync;
  wal.zero_fill_bytes = options.wal_zero_fill_bytes;
  wal.next_lsn = replayed.last_lsn + 1;
  wal.next_segment_number = replayed.next_segment_number;
  result.wal = std::make_unique<wal_writer>(wal);

  engine::flow_recovery_plan plan = engine::plan_flow_recovery(shards);
  start_shards(*result.wal);
  report.flows = engine::run_flow_recovery(shards, std::move(plan));

  report.duration_ms =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now() - started)
                                     .count());
  return result;
}

std::string recovery_report::summary() const {
  std::string out = "replayed " + std::to_string(records_replayed) + " records from " +
                    std::to_string(segments_read) + " segments up to lsn " +
                    std::to_string(last_lsn);
  if (!torn_tail.empty()) out += "; " + torn_tail;
  out += "; redelivered " + std::to_string(flows.coupons_redelivered) + " coupons and redid " +
         std::to_string(flows.order_steps_redone) + " order steps a crash had cut off; expired " +
         std::to_string(flows.coupons_expired) + " coupons and " +
         std::to_string(flows.orders_expired) + " orders; in " + std::to_string(duration_ms) +
         " ms";
  return out;
}

}  // namespace ecom::persistence
