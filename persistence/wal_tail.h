// wal_tail: reads the frames of a live WAL folder in LSN order, from a chosen LSN up to a bound
// the caller knows is written (the durable LSN): the replication publisher's source, and the
// place a primary or a standby looks up one of its own frames to compare it with the stream's.
//
// It reads the segment files the writer is still appending to (wal_format.h): frames up to the
// bound are whole on disk, anything after them may be zeros or a frame being written, which is
// why a frame that does not check out is read again from the file once before it counts as
// corruption. Commit-time frames are skipped: only record frames come out, byte for byte as on
// disk (header and payload, CRC included). Reads go through one buffer, wal_tail_read_bytes at
// a time (more for a larger frame): about one group commit, since each read past the buffered
// bytes goes to the file again (what lies after the last durable frame is zeros, or not yet
// written). Not thread-safe; one reader per thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "engine/types.h"
#include "persistence/wal_format.h"

namespace ecom::persistence {

inline constexpr std::size_t wal_tail_read_bytes = 32 * 1024;

class wal_tail {
 public:
  explicit wal_tail(std::filesystem::path dir);
  ~wal_tail();
  wal_tail(const wal_tail&) = delete;
  wal_tail& operator=(const wal_tail&) = delete;

  // Positions the reader at the frame of `lsn`. False when no segment holds it: trimmed (or
  // never there), or not written yet.
  bool seek(engine::lsn_t lsn);
  // Appends whole record frames to `out`, from the position up to `up_to` (inclusive), at most
  // `bytes_max` bytes but always at least one frame when one is due. Returns how many frames
  // it appended. Throws std::runtime_error naming the segment and offset when a frame at or
  // below `up_to` is missing or does not check out.
  std::size_t read(engine::lsn_t up_to, std::size_t bytes_max, std::string& out);
  // The LSN the next read starts at.
  engine::lsn_t next_lsn() const { return next_lsn_; }

  // The stored (masked) CRC of the frame of `lsn` in `dir`, which identifies the record (type,
  // shard, LSN and payload); nothing when the folder no longer (or not yet) holds it.
  static std::optional<std::uint32_t> frame_crc_of(const std::filesystem::path& dir,
                                                   engine::lsn_t lsn);

 private:
  bool open_segment(std::uint64_t number, const std::filesystem::path& path);
  void close_segment();
  // Makes [offset, offset + size) of the current segment available in buf_; false when the
  // file ends first. `fresh`: read from the file even when buffered.
  bool fetch(std::uint64_t offset, std::size_t size, bool fresh);
  const char* at(std::uint64_t offset) const { return buf_.data() + (offset - buf_offset_); }
  // The frame at offset_: true with its header when it is whole and its CRC checks out.
  bool frame_here(wal_format::frame_header& header, bool fresh);
  bool next_segment();  // moves to the segment after the current one; false when none

  std::filesystem::path dir_;
  int fd_ = -1;
  std::uint64_t segment_number_ = 0;
  std::filesystem::path segment_path_;
  std::uint64_t offset_ = 0;  // of the next frame in the current segment
  engine::lsn_t next_lsn_ = 0;
  std::string buf_;               // its size only grows (no zero-fill per read)
  std::size_t buf_bytes_ = 0;     // how much of buf_ holds file bytes
  std::uint64_t buf_offset_ = 0;  // file offset of buf_[0]
};

}  // namespace ecom::persistence
