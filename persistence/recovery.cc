#include "persistence/recovery.h"

#include <cstdio>
#include <stdexcept>
#include <string>

#include "persistence/wal_reader.h"

namespace ecom::persistence {

recovery_result recover(const data_dir& dir, engine::shard_set& shards) {
  recovery_result result;
  replay_result replayed;
  try {
    replayed = replay_wal(dir.wal_path(), 0, [&](const wal_entry& entry) {
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
  if (replayed.tail_truncated) {
    std::fprintf(stderr, "recovery: %s\n", replayed.tail_message.c_str());
  }
  result.last_lsn = replayed.last_lsn;
  result.records = replayed.records;
  result.next_segment_number = replayed.next_segment_number;
  return result;
}

}  // namespace ecom::persistence
