// wal_reader: replays the WAL segments of a folder in order, for recovery and tools.
//
// Outcome policy (see wal_format.h for the frame):
// - zero bytes where a frame would start, up to the end of the file, are a clean end in any
//   segment (the writer's zero fill ahead of its frames); nothing is truncated. Frames a
//   zero-filled gap would hide in an earlier segment show up as an LSN gap at the next one;
// - a torn tail (incomplete header or payload, or a bad CRC on a frame that reaches the end of
//   the LAST segment) is normal after a crash: the segment is truncated to the last good
//   frame (and fdatasync'd), and the result says so. A bad frame followed only by zero bytes
//   up to the end of the last segment counts as torn too: the writer's zero fill, or a file
//   system extending a file with zeros for an append that never reached the disk (an empty or
//   partial segment header at the tail likewise; it is truncated to 0 bytes, and a 0-byte segment
//   is accepted anywhere);
// - anything else that does not check out (bad CRC with more data after it, a bad frame in an
//   earlier segment, an LSN that does not follow the previous one) is corruption in the
//   middle of the log: replay_wal throws wal_corruption naming the segment and byte offset.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "engine/record.h"
#include "engine/types.h"

namespace ecom::persistence {

struct wal_entry {
  engine::record_type type{};
  engine::shard_index shard = 0;
  engine::lsn_t lsn = 0;
  std::string_view payload;          // valid only during the callback
  engine::time_ms committed_at = 0;  // its group commit's time (0: a version 1 segment)
  const std::filesystem::path* segment = nullptr;  // where it is (valid during the callback)
  std::uint64_t offset = 0;                        // byte offset of its frame
};

struct replay_result {
  // The LSN the log has reached: the last record's, or, when the last segments hold no
  // record, one before the first_lsn their header names. 0 for an empty log. The next writer
  // starts at last_lsn + 1 (or past the snapshot's LSN, if higher).
  engine::lsn_t last_lsn = 0;
  std::uint64_t records = 0;  // records passed to on_record (lsn > after_lsn)
  std::uint64_t segments = 0;
  std::uint64_t segments_skipped = 0;     // all their records at or below after_lsn: not read
  std::uint64_t next_segment_number = 1;  // one past the highest existing segment number
  bool tail_truncated = false;
  // A torn tail was found (truncated, unless read_only): where, and the LSN it would have had.
  bool tail_found = false;
  std::filesystem::path tail_segment;
  std::uint64_t tail_offset = 0;
  std::uint64_t tail_bytes = 0;
  engine::lsn_t tail_lsn = 0;
  // e.g. "truncated torn tail of <dir>/000…3.wal at byte 4096 (37 bytes dropped: <reason>)"
  std::string tail_message;
};

class wal_corruption : public std::runtime_error {
 public:
  wal_corruption(std::filesystem::path segment, std::uint64_t offset, const std::string& what);
  const std::filesystem::path& segment() const { return segment_; }
  std::uint64_t offset() const { return offset_; }

 private:
  std::filesystem::path segment_;
  std::uint64_t offset_;
};

// A segment file of a WAL folder: its number, size, and the first_lsn its header names (0 when
// unknown: too short, or not a segment).
struct segment_file {
  std::uint64_t number = 0;
  std::filesystem::path path;
  engine::lsn_t first_lsn = 0;
  std::uint64_t bytes = 0;
};
// The segments of `dir` by number (a missing folder has none).
std::vector<segment_file> list_segments(const std::filesystem::path& dir);

// Calls on_record for every valid record with lsn > after_lsn, in LSN order. Creates nothing;
// a missing folder is an empty log. The last segment is fdatasync'd (after a process crash in
// batch/off mode its tail may only be in the page cache, and what is written after recovery
// must not become durable before what it follows). Records delivered before a corruption is
// found stay delivered: the caller discards its state when replay_wal throws.
// Also throws std::system_error (with the path) when a file cannot be read or truncated.
struct wal_read_options {
  engine::lsn_t after_lsn = 0;    // records at or below it are not delivered (nor read when a
                                  // whole segment lies below it)
  engine::lsn_t covered_lsn = 0;  // see replay_wal
  // Tools: change nothing (no truncation, no fdatasync); a torn tail is only reported.
  bool read_only = false;
  // Folders whose segments come before dir's (an archive of trimmed segments), merged by number.
  std::vector<std::filesystem::path> older_dirs;
};
replay_result read_wal(const std::filesystem::path& dir, const wal_read_options& options,
                       const std::function<void(const wal_entry&)>& on_record);

// `covered_lsn`: records up to it may be missing (a snapshot holds them, or a repair dropped
// them): a gap between segments that ends at or before covered_lsn + 1 is not corruption.
replay_result replay_wal(const std::filesystem::path& dir, engine::lsn_t after_lsn,
                         const std::function<void(const wal_entry&)>& on_record,
                         engine::lsn_t covered_lsn = 0);

}  // namespace ecom::persistence
