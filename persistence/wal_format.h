// wal_format: the on-disk format shared by wal_writer and wal_reader. Change it only together
// with the segment magic.
//
// A WAL is a folder of segment files named by a 20-digit number, `wal/00000000000000000001.wal`,
// `...002.wal`, ... Numbers only grow; a segment is written once, front to back, and never
// reopened for appending (after a crash the writer starts a new number).
//
// Segment file:
//
//   0                  8                 16
//   +------------------+-----------------+-------+-------+-----+
//   | magic "ECOMWAL2" | first_lsn: u64  | frame | frame | ... |
//   +------------------+-----------------+-------+-------+-----+
//
//   Version 2 (ECOMWAL2) puts a commit-time frame in front of every group commit (below);
//   version 1 segments (ECOMWAL1) are still read: their records have no commit time.
//
//   first_lsn is the LSN the segment's first frame carries (the writer's next LSN when it
//   opened the file), or 0 when unknown. It lets the reader detect an LSN gap between segments
//   even when a segment holds no frame, and lets tools find the segment holding an LSN by
//   reading 16 bytes per file.
//
// Frame (all integers little endian; 20-byte header):
//
//   0              4                8         10        12                20
//   +--------------+----------------+---------+---------+-----------------+-----------------+
//   | masked_crc32c| payload_size   | type    | shard   | lsn             | payload         |
//   | u32          | u32            | u16     | u16     | u64             | payload_size B  |
//   +--------------+----------------+---------+---------+-----------------+-----------------+
//                  |<-------------------- covered by the CRC --------------------------------->|
//
//   The CRC is CRC-32C over bytes 4 .. 20 + payload_size (everything after the CRC field), so
//   a damaged length, type, shard or LSN is caught like a damaged payload. It is stored masked
//   (crc32c::mask; see crc32c.h for why). payload_size above frame_payload_bytes_max is never
//   written, so the reader treats it as corruption rather than trying to read 4 GiB.
//
// Commit-time frame: type commit_time_frame_type, shard 0, lsn = the LSN of the first record of
// the group commit it precedes (so it does not advance the sequence), payload = the commit's
// wall-clock time in ms (i64), taken by the writer thread just before the write. Every record
// up to the next commit-time frame was committed then (`ecom-snapshot restore --to-time`).
//
// After the last frame a segment may hold zero bytes up to its end: the writer writes zeros
// ahead of its frames so that a group commit overwrites blocks that exist (see wal_writer.h).
// A frame never starts with 20 zero bytes (its LSN is at least 1), so zeros mark the end.
//
// There is no block structure (unlike leveldb's 32 KiB blocks): we never resync past a bad
// frame. A bad frame is either the torn tail of the last segment, or corruption that stops
// recovery (see wal_reader.h).
#pragma once

#include <bit>
#include <cassert>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "engine/limits.h"
#include "engine/record.h"
#include "engine/types.h"
#include "persistence/crc32c.h"

namespace ecom::persistence::wal_format {

inline constexpr std::string_view segment_magic = "ECOMWAL2";
inline constexpr std::string_view segment_magic_v1 = "ECOMWAL1";  // read, never written
inline constexpr std::uint16_t commit_time_frame_type = 0xffff;   // no record type is this
inline constexpr std::size_t commit_time_frame_size = 20 + 8;
inline constexpr std::size_t segment_header_size = 16;
inline constexpr std::size_t frame_header_size = 20;
inline constexpr std::uint32_t frame_payload_bytes_max = 64u << 20;
inline constexpr std::size_t segment_name_digits = 20;

static_assert(segment_magic.size() + sizeof(std::uint64_t) == segment_header_size);
static_assert(4 + 4 + 2 + 2 + 8 == frame_header_size);
static_assert(sizeof(engine::record_type) == 2);
static_assert(frame_payload_bytes_max <= UINT32_MAX - frame_header_size);
// The frame stores shard and type in 16 bits.
static_assert(engine::shard_count_max <= 0xffff);
static_assert(sizeof(engine::record_type) == sizeof(std::uint16_t));

// Little-endian loads and stores on raw bytes (no alignment assumed).
template <typename T>
inline void store_le(char* out, T value) {
  static_assert(std::is_unsigned_v<T>);
  if constexpr (std::endian::native == std::endian::big) {
    for (std::size_t i = 0; i < sizeof(T); ++i) out[i] = static_cast<char>(value >> (8 * i));
  } else {
    std::memcpy(out, &value, sizeof(T));
  }
}

template <typename T>
inline T load_le(const char* in) {
  static_assert(std::is_unsigned_v<T>);
  T value = 0;
  if constexpr (std::endian::native == std::endian::big) {
    for (std::size_t i = 0; i < sizeof(T); ++i) {
      value |= static_cast<T>(static_cast<unsigned char>(in[i])) << (8 * i);
    }
  } else {
    std::memcpy(&value, in, sizeof(T));
  }
  return value;
}

struct frame_header {
  std::uint32_t masked_crc = 0;
  std::uint32_t payload_size = 0;
  std::uint16_t type = 0;
  std::uint16_t shard = 0;
  engine::lsn_t lsn = 0;
};

inline frame_header decode_frame_header(const char* in) {
  return frame_header{
      .masked_crc = load_le<std::uint32_t>(in + 0),
      .payload_size = load_le<std::uint32_t>(in + 4),
      .type = load_le<std::uint16_t>(in + 8),
      .shard = load_le<std::uint16_t>(in + 10),
      .lsn = load_le<std::uint64_t>(in + 12),
  };
}

// The unmasked CRC of a frame whose header starts at `header` (the CRC field is skipped).
inline std::uint32_t frame_crc(const char* header, std::string_view payload) {
  const std::uint32_t crc = crc32c::value(header + 4, frame_header_size - 4);
  return crc32c::extend(crc, payload.data(), payload.size());
}

// Appends one frame to `out`. The caller checks the limits first; these asserts restate them.
inline void append_frame(std::string& out, engine::record_type type, engine::shard_index shard,
                         engine::lsn_t lsn, std::string_view payload) {
  assert(payload.size() <= frame_payload_bytes_max);
  assert(shard <= 0xffff);
  assert(lsn >= 1);
  const std::size_t start = out.size();
  out.resize(start + frame_header_size);
  char* header = out.data() + start;
  store_le<std::uint32_t>(header + 4, static_cast<std::uint32_t>(payload.size()));
  store_le<std::uint16_t>(header + 8, static_cast<std::uint16_t>(type));
  store_le<std::uint16_t>(header + 10, static_cast<std::uint16_t>(shard));
  store_le<std::uint64_t>(header + 12, lsn);
  store_le<std::uint32_t>(header + 0, crc32c::mask(frame_crc(header, payload)));
  out.append(payload);
}

inline std::string encode_segment_header(engine::lsn_t first_lsn) {
  std::string out(segment_header_size, '\0');
  std::memcpy(out.data(), segment_magic.data(), segment_magic.size());
  store_le<std::uint64_t>(out.data() + segment_magic.size(), first_lsn);
  return out;
}

// Returns first_lsn, or nothing when the magic is neither version's. `in` has
// segment_header_size bytes. `version` (optional) gets 1 or 2.
inline std::optional<engine::lsn_t> decode_segment_header(const char* in, int* version = nullptr) {
  int found = 0;
  if (std::memcmp(in, segment_magic.data(), segment_magic.size()) == 0) found = 2;
  if (std::memcmp(in, segment_magic_v1.data(), segment_magic_v1.size()) == 0) found = 1;
  if (found == 0) return std::nullopt;
  if (version != nullptr) *version = found;
  return load_le<std::uint64_t>(in + segment_magic.size());
}

// Appends a commit-time frame for a group commit whose first record gets `first_lsn`; its time
// and CRC are set by seal_commit_time_frame when the commit is written.
inline void append_commit_time_frame(std::string& out, engine::lsn_t first_lsn) {
  const std::size_t start = out.size();
  out.resize(start + commit_time_frame_size);
  char* header = out.data() + start;
  store_le<std::uint32_t>(header + 4, 8);
  store_le<std::uint16_t>(header + 8, commit_time_frame_type);
  store_le<std::uint16_t>(header + 10, 0);
  store_le<std::uint64_t>(header + 12, first_lsn);
}

inline void seal_commit_time_frame(char* header, engine::time_ms committed_at) {
  store_le<std::uint64_t>(header + frame_header_size, static_cast<std::uint64_t>(committed_at));
  store_le<std::uint32_t>(
      header, crc32c::mask(frame_crc(header, std::string_view(header + frame_header_size, 8))));
}

inline std::string segment_file_name(std::uint64_t segment_number) {
  char name[segment_name_digits + sizeof(".wal")];
  const int length = std::snprintf(name, sizeof name, "%020llu.wal",
                                   static_cast<unsigned long long>(segment_number));
  assert(length == static_cast<int>(segment_name_digits + 4));
  return std::string(name, static_cast<std::size_t>(length));
}

// The segment number of a file name such as "00000000000000000042.wal"; nothing otherwise.
inline std::optional<std::uint64_t> parse_segment_file_name(std::string_view name) {
  if (name.size() != segment_name_digits + 4 || !name.ends_with(".wal")) return std::nullopt;
  std::uint64_t number = 0;
  for (std::size_t i = 0; i < segment_name_digits; ++i) {
    const char c = name[i];
    if (c < '0' || c > '9') return std::nullopt;
    const std::uint64_t digit = static_cast<std::uint64_t>(c - '0');
    if (number > (UINT64_MAX - digit) / 10) return std::nullopt;
    number = number * 10 + digit;
  }
  return number;
}

}  // namespace ecom::persistence::wal_format
