#include "persistence/wal_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <optional>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

#include "persistence/file_io.h"
#include "persistence/wal_format.h"

namespace ecom::persistence {
namespace {

namespace fs = std::filesystem;

std::string corruption_message(const fs::path& segment, std::uint64_t offset,
                               const std::string& what) {
  return "WAL corruption in " + segment.string() + " at byte " + std::to_string(offset) + ": " +
         what +
         ". This is not a torn tail, so recovery refuses to guess. Inspect the data directory "
         "with `ecom-snapshot`; to start anyway, move this segment and every later one aside "
         "(their records are lost) or restore from a backup.";
}

}  // namespace

std::vector<segment_file> list_segments(const fs::path& dir) {
  std::vector<segment_file> segments;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return segments;  // a missing folder is an empty log
  fs::directory_iterator listing(dir, ec);
  if (ec) throw io_error(ec.value(), "cannot list", dir);
  for (const fs::directory_entry& entry : listing) {
    const auto number = wal_format::parse_segment_file_name(entry.path().filename().string());
    if (!number || !entry.is_regular_file()) continue;
    segment_file segment{*number, entry.path(), 0, entry.file_size(ec)};
    // The header's first_lsn (0 when the file is too short or not a segment).
    const int fd = ::open(entry.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      char header[wal_format::segment_header_size];
      if (::pread(fd, header, sizeof header, 0) == static_cast<ssize_t>(sizeof header))
        segment.first_lsn = wal_format::decode_segment_header(header).value_or(0);
      ::close(fd);
    }
    segments.push_back(std::move(segment));
  }
  std::sort(segments.begin(), segments.end(),
            [](const segment_file& a, const segment_file& b) { return a.number < b.number; });
  return segments;
}

namespace {

// Reads a whole segment. `sync`: fdatasync it too, because after a process crash in batch/off
// mode its tail may sit in the page cache only, and records written after recovery (in a new
// segment) must not become durable before the ones they follow.
std::string read_segment(const fs::path& path, bool sync) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw io_error(errno, "cannot open", path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int error = errno;
    ::close(fd);
    throw io_error(error, "cannot stat", path);
  }
  std::string bytes(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // error, or the file shrank under us: checked below
    done += static_cast<std::size_t>(n);
  }
  const int error = done == bytes.size() ? 0 : (errno != 0 ? errno : EIO);
  const bool sync_failed = error == 0 && sync && ::fdatasync(fd) != 0;
  const int sync_error = errno;
  ::close(fd);
  if (error != 0) throw io_error(error, "cannot read", path);
  if (sync_failed) throw io_error(sync_error, "cannot fdatasync", path);
  return bytes;
}

bool all_zero(std::string_view bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](char c) { return c == '\0'; });
}

struct torn_tail {
  std::uint64_t offset = 0;
  std::string reason;
};

// Replay state carried across segments.
struct cursor {
  engine::lsn_t after_lsn = 0;
  engine::time_ms committed_at = 0;  // of the last commit-time frame (0: none yet, or v1)
  engine::lsn_t covered_lsn = 0;     // a gap ending at or before covered_lsn + 1 is allowed
  engine::lsn_t expected_lsn = 0;    // 0 until the first frame or segment header names one
  const std::function<void(const wal_entry&)>* on_record = nullptr;
  replay_result* result = nullptr;
};

// A bad spot at `offset`: a torn tail when it is in the last segment and either reaches the end
// of the file or everything from `zeros_from` on is zero (the writer's zero fill, or an extent
// allocated but never written before the crash); corruption otherwise.
torn_tail tail_or_throw(const fs::path& path, std::string_view bytes, std::size_t offset,
                        bool is_last, bool reaches_end, std::size_t zeros_from,
                        std::string reason) {
  assert(offset <= bytes.size() && zeros_from <= bytes.size());
  if (is_last && (reaches_end || all_zero(bytes.substr(zeros_from)))) {
    return torn_tail{offset, std::move(reason)};
  }
  reason += is_last ? ", with more data after it" : ", in a segment that is not the last";
  throw wal_corruption(path, offset, reason);
}

// Checks and delivers the frame at `offset`; returns its end, or the torn tail it starts.
std::variant<std::size_t, torn_tail> read_frame(const fs::path& path, std::string_view bytes,
                                                std::size_t offset, bool is_last, cursor& c) {
  const std::size_t left = bytes.size() - offset;
  if (left < wal_format::frame_header_size) {
    return tail_or_throw(path, bytes, offset, is_last, true, offset,
                         "incomplete frame header (" + std::to_string(left) + " bytes)");
  }
  const wal_format::frame_header h = wal_format::decode_frame_header(bytes.data() + offset);
  if (h.payload_size > wal_format::frame_payload_bytes_max) {
    // Garbage where a torn write left a header: a tail if it would run past the end.
    const bool past_end = h.payload_size > left - wal_format::frame_header_size;
    return tail_or_throw(path, bytes, offset, is_last, past_end,
                         offset + wal_format::frame_header_size,
                         "frame payload_size " + std::to_string(h.payload_size) + " above limit");
  }
  const std::size_t end = offset + wal_format::frame_header_size + h.payload_size;
  if (end > bytes.size()) {
    return tail_or_throw(
        path, bytes, offset, is_last, true, offset,
        "incomplete frame payload (" + std::to_string(h.payload_size) + " bytes announced)");
  }
  const std::string_view payload =
      bytes.substr(offset + wal_format::frame_header_size, h.payload_size);
  if (crc32c::unmask(h.masked_crc) != wal_format::frame_crc(bytes.data() + offset, payload)) {
    return tail_or_throw(path, bytes, offset, is_last, end == bytes.size(), end,
                         "frame checksum mismatch");
  }
  // From here the frame is exactly what some writer wrote: a wrong LSN is never a torn write.
  if (h.type == wal_format::commit_time_frame_type) {
    // It names the LSN of the record after it and does not advance the sequence.
    if (h.payload_size != 8 || h.lsn == 0 || (c.expected_lsn != 0 && h.lsn != c.expected_lsn)) {
      throw wal_corruption(path, offset,
                           "commit-time frame for LSN " + std::to_string(h.lsn) + " where LSN " +
                               std::to_string(c.expected_lsn) + " should follow");
    }
    c.expected_lsn = h.lsn;
    c.committed_at =
        static_cast<engine::time_ms>(wal_format::load_le<std::uint64_t>(payload.data()));
    return end;
  }
  if (h.lsn == 0 || (c.expected_lsn != 0 && h.lsn != c.expected_lsn)) {
    throw wal_corruption(path, offset,
                         "frame has LSN " + std::to_string(h.lsn) + " where LSN " +
                             std::to_string(c.expected_lsn) + " should follow (gap or reorder)");
  }
  c.expected_lsn = h.lsn + 1;
  c.result->last_lsn = h.lsn;
  if (h.lsn > c.after_lsn) {
    (*c.on_record)(wal_entry{.type = static_cast<engine::record_type>(h.type),
                             .shard = h.shard,
                             .lsn = h.lsn,
                             .payload = payload,
                             .committed_at = c.committed_at,
                             .segment = &path,
                             .offset = offset});
    c.result->records += 1;
  }
  return end;
}

std::optional<torn_tail> read_segment_frames(const fs::path& path, std::string_view bytes,
                                             bool is_last, cursor& c) {
  // A 0-byte segment is one whose creation crashed before its header was written (a previous
  // recovery truncated a partial header to this), so it is accepted anywhere.
  if (bytes.empty()) return std::nullopt;
  if (bytes.size() < wal_format::segment_header_size) {
    return tail_or_throw(path, bytes, 0, is_last, true, 0, "incomplete segment header");
  }
  const std::optional<engine::lsn_t> first_lsn = wal_format::decode_segment_header(bytes.data());
  if (!first_lsn) return tail_or_throw(path, bytes, 0, is_last, false, 0, "bad segment magic");
  if (*first_lsn != 0) {
    const bool covered_gap = *first_lsn > c.expected_lsn && *first_lsn <= c.covered_lsn + 1;
    if (c.expected_lsn != 0 && *first_lsn != c.expected_lsn && !covered_gap) {
      throw wal_corruption(path, 0,
                           "segment starts at LSN " + std::to_string(*first_lsn) +
                               " but the previous segment ends before LSN " +
                               std::to_string(c.expected_lsn) + " (gap between segments)");
    }
    c.expected_lsn = *first_lsn;
    // A segment with no frame still tells where the log had got to, so the next writer keeps
    // the sequence unbroken even when older segments were removed after a snapshot.
    c.result->last_lsn = std::max(c.result->last_lsn, *first_lsn - 1);
  }
  std::size_t offset = wal_format::segment_header_size;
  while (offset < bytes.size()) {
    // The writer keeps zeros ahead of its frames; where only zeros are left, the segment
    // ends cleanly (no frame starts with zeros only: its LSN is never 0).
    if (bytes[offset] == '\0' && all_zero(bytes.substr(offset))) return std::nullopt;
    auto next = read_frame(path, bytes, offset, is_last, c);
    if (auto* torn = std::get_if<torn_tail>(&next)) return std::move(*torn);
    assert(std::get<std::size_t>(next) > offset);
    offset = std::get<std::size_t>(next);
  }
  assert(offset == bytes.size());
  return std::nullopt;
}

void truncate_tail(const fs::path& path, std::uint64_t size, const torn_tail& torn,
                   replay_result& result) {
  assert(torn.offset < size);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) throw io_error(errno, "cannot open for truncation", path);
  if (::ftruncate(fd, static_cast<off_t>(torn.offset)) != 0 || ::fdatasync(fd) != 0) {
    const int error = errno;
    ::close(fd);
    throw io_error(error, "cannot truncate torn tail of", path);
  }
  ::close(fd);
  result.tail_truncated = true;
  result.tail_found = true;
  result.tail_message = "truncated torn tail of " + path.string() + " at byte " +
                        std::to_string(torn.offset) + " (" + std::to_string(size - torn.offset) +
                        " bytes dropped: " + torn.reason + ")";
}

}  // namespace

wal_corruption::wal_corruption(std::filesystem::path segment, std::uint64_t offset,
                               const std::string& what)
    : std::runtime_error(corruption_message(segment, offset, what)),
      segment_(std::move(segment)),
      offset_(offset) {}

replay_result replay_wal(const std::filesystem::path& dir, engine::lsn_t after_lsn,
                         const std::function<void(const wal_entry&)>& on_record,
                         engine::lsn_t covered_lsn) {
  wal_read_options options;
  options.after_lsn = after_lsn;
  options.covered_lsn = covered_lsn;
  return read_wal(dir, options, on_record);
}

replay_result read_wal(const std::filesystem::path& dir, const wal_read_options& options,
                       const std::function<void(const wal_entry&)>& on_record) {
  const engine::lsn_t after_lsn = options.after_lsn;
  const engine::lsn_t covered_lsn = options.covered_lsn;
  assert(on_record);
  replay_result result;
  std::vector<segment_file> segments = list_segments(dir);
  for (const auto& older : options.older_dirs) {
    for (auto& segment : list_segments(older)) {
      const bool also_in_dir = std::any_of(segments.begin(), segments.end(), [&](const auto& s) {
        return s.number == segment.number;
      });
      if (!also_in_dir) segments.push_back(std::move(segment));
    }
  }
  std::sort(segments.begin(), segments.end(),
            [](const segment_file& a, const segment_file& b) { return a.number < b.number; });
  result.segments = segments.size();
  result.next_segment_number = segments.empty() ? 1 : segments.back().number + 1;
  cursor c{.after_lsn = after_lsn,
           .covered_lsn = std::max(covered_lsn, after_lsn),
           .on_record = &on_record,
           .result = &result};
  // Segments whose records all lie at or below after_lsn (the next one starts by then) are
  // not read: after a snapshot, a restart reads only the tail.
  std::size_t first = 0;
  while (first + 1 < segments.size() && segments[first + 1].first_lsn != 0 &&
         segments[first + 1].first_lsn - 1 <= after_lsn) {
    ++first;
  }
  result.segments_skipped = first;
  for (std::size_t i = first; i < segments.size(); ++i) {
    const bool is_last = i + 1 == segments.size();
    const std::string bytes = read_segment(segments[i].path, is_last && !options.read_only);
    const std::optional<torn_tail> torn = read_segment_frames(segments[i].path, bytes, is_last, c);
    if (torn) {
      assert(is_last);
      result.tail_segment = segments[i].path;
      result.tail_offset = torn->offset;
      result.tail_bytes = bytes.size() - torn->offset;
      result.tail_lsn = c.expected_lsn;
      if (options.read_only) {
        result.tail_found = true;
        result.tail_message = "torn tail of " + segments[i].path.string() + " at byte " +
                              std::to_string(torn->offset) + " (" +
                              std::to_string(bytes.size() - torn->offset) +
                              " bytes: " + torn->reason + ")";
      } else {
        truncate_tail(segments[i].path, bytes.size(), *torn, result);
      }
    }
  }
  return result;
}

}  // namespace ecom::persistence
