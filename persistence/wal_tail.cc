#include "persistence/wal_tail.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>

#include "persistence/crc32c.h"
#include "persistence/file_io.h"
#include "persistence/wal_reader.h"

namespace ecom::persistence {

namespace {

bool all_zero(const char* p, std::size_t n) {
  return std::all_of(p, p + n, [](char c) { return c == 0; });
}

}  // namespace

wal_tail::wal_tail(std::filesystem::path dir) : dir_(std::move(dir)) {}

wal_tail::~wal_tail() {
  close_segment();
}

void wal_tail::close_segment() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  buf_bytes_ = 0;
  buf_offset_ = 0;
}

bool wal_tail::open_segment(std::uint64_t number, const std::filesystem::path& path) {
  close_segment();
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    if (errno == ENOENT) return false;  // trimmed meanwhile
    throw io_error(errno, "cannot open WAL segment", path);
  }
  segment_number_ = number;
  segment_path_ = path;
  offset_ = wal_format::segment_header_size;
  return true;
}

bool wal_tail::fetch(std::uint64_t offset, std::size_t size, bool fresh) {
  if (!fresh && offset >= buf_offset_ && offset + size <= buf_offset_ + buf_bytes_) return true;
  const std::size_t want = std::max(size, wal_tail_read_bytes);
  if (buf_.size() < want) buf_.resize(want);
  std::size_t got = 0;
  while (got < want) {
    const ssize_t n = ::pread(fd_, buf_.data() + got, want - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw io_error(errno, "cannot read WAL segment", segment_path_);
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  buf_bytes_ = got;
  buf_offset_ = offset;
  return got >= size;
}

bool wal_tail::frame_here(wal_format::frame_header& header, bool fresh) {
  if (!fetch(offset_, wal_format::frame_header_size, fresh)) return false;
  if (all_zero(at(offset_), wal_format::frame_header_size)) return false;
  header = wal_format::decode_frame_header(at(offset_));
  if (header.payload_size > wal_format::frame_payload_bytes_max) return false;
  const std::size_t size = wal_format::frame_header_size + header.payload_size;
  if (!fetch(offset_, size, false)) return false;
  const char* frame = at(offset_);
  const std::string_view payload(frame + wal_format::frame_header_size, header.payload_size);
  return crc32c::unmask(header.masked_crc) == wal_format::frame_crc(frame, payload);
}

bool wal_tail::next_segment() {
  for (const segment_file& s : list_segments(dir_)) {
    if (s.number <= segment_number_) continue;
    if (!open_segment(s.number, s.path)) continue;
    return true;
  }
  return false;
}

bool wal_tail::seek(engine::lsn_t lsn) {
  close_segment();
  const std::vector<segment_file> segments = list_segments(dir_);
  // The last segment whose first LSN is at or below `lsn` holds it, if any does.
  const segment_file* holder = nullptr;
  for (const segment_file& s : segments) {
    if (s.first_lsn != 0 && s.first_lsn <= lsn) holder = &s;
  }
  if (holder == nullptr || !open_segment(holder->number, holder->path)) return false;
  next_lsn_ = lsn;
  // Walk to the frame of `lsn`.
  for (;;) {
    wal_format::frame_header header;
    if (!frame_here(header, false) && !frame_here(header, true)) {
      // The segment ends before `lsn`: it lives in the next one, if that exists yet.
      if (!next_segment()) return false;
      continue;
    }
    if (header.type != wal_format::commit_time_frame_type && header.lsn >= lsn) {
      return header.lsn == lsn;
    }
    offset_ += wal_format::frame_header_size + header.payload_size;
  }
}

std::size_t wal_tail::read(engine::lsn_t up_to, std::size_t bytes_max, std::string& out) {
  std::size_t frames = 0;
  std::size_t appended = 0;
  while (next_lsn_ <= up_to) {
    if (fd_ < 0) throw std::runtime_error("wal_tail: read before a successful seek");
    wal_format::frame_header header;
    if (!frame_here(header, false) && !frame_here(header, true)) {
      // The end of this segment's frames: a later segment goes on (a batch never spans two).
      if (next_segment()) continue;
      throw std::runtime_error("WAL " + dir_.string() + ": lsn " + std::to_string(next_lsn_) +
                               " is missing or damaged in " + segment_path_.string() + " at byte " +
                               std::to_string(offset_) + " although it is durable");
    }
    const std::size_t size = wal_format::frame_header_size + header.payload_size;
    if (header.type == wal_format::commit_time_frame_type) {
      offset_ += size;
      continue;
    }
    if (header.lsn != next_lsn_) {
      throw std::runtime_error("WAL " + segment_path_.string() + " at byte " +
                               std::to_string(offset_) + ": lsn " + std::to_string(header.lsn) +
                               " where " + std::to_string(next_lsn_) + " was expected");
    }
    if (frames > 0 && appended + size > bytes_max) break;
    out.append(at(offset_), size);
    appended += size;
    offset_ += size;
    ++next_lsn_;
    ++frames;
  }
  return frames;
}

std::optional<std::uint32_t> wal_tail::frame_crc_of(const std::filesystem::path& dir,
                                                    engine::lsn_t lsn) {
  wal_tail tail(dir);
  if (!tail.seek(lsn)) return std::nullopt;
  std::string frame;
  if (tail.read(lsn, wal_format::frame_header_size, frame) != 1) return std::nullopt;
  return wal_format::decode_frame_header(frame.data()).masked_crc;
}

}  // namespace ecom::persistence
