// wal_segment_sink: writes a log the way the server's WAL lays it out (numbered segment files,
// each starting with a header that names its first LSN, commit-time frames before each group's
// records, a new segment once one passes segment_bytes_max), for tools that build a WAL
// (`ecom-snapshot restore`). Memory holds one segment at a time; each segment file is written
// whole and made durable (temp name, fsync, rename, fsync the folder).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "engine/record.h"
#include "engine/types.h"

namespace ecom::persistence {

class wal_segment_sink {
 public:
  // The log goes on at `first_lsn` (the first segment's header names it even when no record
  // follows) in segments numbered from `first_number`.
  wal_segment_sink(std::filesystem::path dir, engine::lsn_t first_lsn,
                   std::uint64_t segment_bytes_max, std::uint64_t first_number = 1);

  // Records in LSN order; committed_at 0: no commit time (an older format's record).
  void append(engine::record_type type, engine::shard_index shard, engine::lsn_t lsn,
              std::string_view payload, engine::time_ms committed_at);
  // Writes the last segment; the number of segment files written.
  std::uint64_t finish();

 private:
  void write_segment();

  std::filesystem::path dir_;
  std::uint64_t segment_bytes_max_;
  std::uint64_t number_;
  std::uint64_t written_ = 0;
  std::string segment_;
  engine::time_ms committed_at_ = 0;  // of the open segment's last commit-time frame
};

}  // namespace ecom::persistence
