#include "persistence/wal_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "persistence/wal_format.h"

namespace ecom::persistence {
namespace {

using clock = std::chrono::steady_clock;

// Writes all of data at `offset`, riding out partial writes and EINTR (the segment is written
// with pwrite, not O_APPEND, because its tail is zero-filled ahead of the frames). False (errno
// set) on failure.
bool pwrite_all(int fd, const char* data, std::size_t size, std::uint64_t offset) {
  while (size > 0) {
    const ssize_t written = ::pwrite(fd, data, size, static_cast<off_t>(offset));
    if (written < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (written == 0) {  // no progress on a regular file: treat as an I/O error, never spin
      errno = EIO;
      return false;
    }
    data += written;
    size -= static_cast<std::size_t>(written);
    offset += static_cast<std::uint64_t>(written);
  }
  return true;
}

// How much zero fill one batch may add (see write_batch).
constexpr std::uint64_t zero_fill_step_bytes = 256 << 10;

// Writes `size` zero bytes at `offset`.
bool write_zeros(int fd, std::uint64_t offset, std::uint64_t size) {
  static const std::array<char, 64 << 10> zeros{};
  while (size > 0) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(size, zeros.size()));
    if (!pwrite_all(fd, zeros.data(), n, offset)) return false;
    offset += n;
    size -= n;
  }
  return true;
}

bool datasync(int fd) {
  // Retrying is right only for EINTR. After EIO the kernel may already have dropped the dirty
  // pages and marked them clean, so a second fdatasync can "succeed" with the data lost
  // ("fsyncgate", PostgreSQL 2018); a failure is final and handled by the caller.
  int rc;
  do rc = ::fdatasync(fd);
  while (rc != 0 && errno == EINTR);
  return rc == 0;
}

// A WAL that cannot write or sync must not acknowledge anything, and cannot know what reached
// the disk (see datasync above), so it cannot carry on or retry: stop the process and let
// recovery read back what is really there.
[[noreturn]] void die(const char* operation, const std::filesystem::path& path, int error) {
  std::fprintf(stderr,
               "ecomd: fatal: WAL %s failed on %s: %s; aborting so nothing unsynced is "
               "acknowledged (recovery will replay what reached the disk)\n",
               operation, path.c_str(), std::strerror(error));
  std::abort();
}

std::system_error path_error(int error, const std::string& what, const std::filesystem::path& p) {
  return std::system_error(error, std::generic_category(),
                           "wal_writer: " + what + " " + p.string());
}

void validate(const wal_options& options) {
  if (options.dir.empty()) throw std::invalid_argument("wal_writer: empty dir");
  if (options.next_lsn < 1) throw std::invalid_argument("wal_writer: next_lsn must be >= 1");
  if (options.next_segment_number < 1) {
    throw std::invalid_argument("wal_writer: next_segment_number must be >= 1");
  }
  if (options.segment_bytes_max <= wal_format::segment_header_size) {
    throw std::invalid_argument("wal_writer: segment_bytes_max too small");
  }
  if (options.mode == fsync_mode::batch && options.batch_interval_ms == 0) {
    throw std::invalid_argument("wal_writer: batch_interval_ms must be >= 1 in batch mode");
  }
}

// Opens the folder (creating it and syncing its parent when new) and returns its fd.
int open_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  const bool created = std::filesystem::create_directories(dir, ec);
  if (ec) throw path_error(ec.value(), "cannot create folder", dir);
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw path_error(errno, "cannot open folder", dir);
  if (created) {
    // The new folder's own entry lives in its parent.
    const std::filesystem::path parent = dir.has_parent_path() ? dir.parent_path() : ".";
    const int parent_fd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    const int error = parent_fd < 0 ? errno : (::fsync(parent_fd) == 0 ? 0 : errno);
    if (parent_fd >= 0) ::close(parent_fd);
    if (error != 0) {
      ::close(fd);
      throw path_error(error, "cannot sync folder", parent);
    }
  }
  return fd;
}

std::size_t fsync_bucket(double seconds) {
  for (std::size_t i = 0; i < wal_stats::fsync_bucket_count; ++i) {
    if (seconds <= wal_stats::fsync_bucket_bounds_s[i]) return i;
  }
  return wal_stats::fsync_bucket_count;  // +Inf
}

}  // namespace

wal_writer::wal_writer(wal_options options) : options_(std::move(options)) {
  validate(options_);
  dir_fd_ = open_dir(options_.dir);
  appended_lsn_ = options_.next_lsn - 1;
  written_lsn_ = appended_lsn_;
  synced_lsn_ = appended_lsn_;  // what came before was recovered (and synced) by wal_reader
  durable_lsn_.store(appended_lsn_, std::memory_order_release);
  appended_atomic_.store(appended_lsn_, std::memory_order_release);
  written_atomic_.store(appended_lsn_, std::memory_order_release);
  stats_.appended_lsn = appended_lsn_;
  stats_.durable_lsn = appended_lsn_;
  segment_number_ = options_.next_segment_number;
  try {
    open_segment(options_.next_lsn);
  } catch (...) {
    ::close(dir_fd_);
    throw;
  }
  synced_at_ = clock::now();
  thread_ = std::thread(&wal_writer::run, this);
}

wal_writer::~wal_writer() {
  stop();
}

void wal_writer::open_segment(engine::lsn_t first_lsn) {
  assert(segment_fd_ < 0);
  assert(first_lsn >= 1);
  segment_path_ = options_.dir / wal_format::segment_file_name(segment_number_);
  // O_EXCL: a segment is never reopened; finding one means the caller's numbering is wrong.
  const int fd = ::open(segment_path_.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) throw path_error(errno, "cannot create segment", segment_path_);
  const std::string header = wal_format::encode_segment_header(first_lsn);
  const std::uint64_t zeros = std::min(options_.zero_fill_bytes, options_.segment_bytes_max);
  if (!pwrite_all(fd, header.data(), header.size(), 0) || !write_zeros(fd, header.size(), zeros) ||
      !datasync(fd)) {
    const int error = errno;
    ::close(fd);
    throw path_error(error, "cannot write segment header of", segment_path_);
  }
  // The new name must survive a crash before any frame in it is acknowledged.
  if (::fsync(dir_fd_) != 0) {
    const int error = errno;
    ::close(fd);
    throw path_error(error, "cannot sync folder", options_.dir);
  }
  segment_fd_ = fd;
  segment_bytes_ = header.size();
  zeroed_bytes_ = header.size() + zeros;
}

engine::lsn_t wal_writer::appended_lsn() const {
  return appended_atomic_.load(std::memory_order_acquire);
}

engine::lsn_t wal_writer::append(std::span<const engine::record> records,
                                 durable_callback on_durable) {
  std::size_t frame_bytes = 0;
  for (const engine::record& r : records) {
    if (r.payload.size() > wal_format::frame_payload_bytes_max) {
      throw std::length_error("wal_writer: record payload above frame_payload_bytes_max");
    }
    if (r.shard > 0xffff) throw std::invalid_argument("wal_writer: shard does not fit in u16");
    frame_bytes += wal_format::frame_header_size + r.payload.size();
  }
  // In every mode a callback waits for the writer thread: in `always` for the fdatasync, in
  // `batch` and `off` for the write(2), so an acknowledged change is at least in the kernel
  // and survives the process being killed.
  bool run_inline = false;
  engine::lsn_t last_lsn = 0;
  {
    std::lock_guard lock(mutex_);
    if (stop_requested_) throw std::logic_error("wal_writer: append after stop");
    if (records.empty() && appended_lsn_ == durable_lsn_.load(std::memory_order_acquire)) {
      run_inline = true;  // nothing appended before us is still waiting: durable already
    }
    std::string& bytes = pending_.bytes;
    if (bytes.capacity() < bytes.size() + frame_bytes + wal_format::commit_time_frame_size) {
      bytes.reserve(std::max(bytes.capacity() * 2,
                             bytes.size() + frame_bytes + wal_format::commit_time_frame_size));
    }
    // A group commit starts with its commit-time frame (sealed by the writer thread).
    if (!records.empty() && pending_.records == 0)
      wal_format::append_commit_time_frame(bytes, appended_lsn_ + 1);
    for (const engine::record& r : records) {
      ++appended_lsn_;
      wal_format::append_frame(bytes, r.type, r.shard, appended_lsn_, r.payload);
    }
    if (!records.empty()) {
      pending_.records += records.size();
      pending_.last_lsn = appended_lsn_;
      stats_.appended_lsn = appended_lsn_;
      appended_atomic_.store(appended_lsn_, std::memory_order_release);
    }
    if (!run_inline && on_durable) pending_.callbacks.push_back(std::move(on_durable));
    last_lsn = appended_lsn_;
  }
  if (!records.empty() || !run_inline) writer_cv_.notify_one();
  // Never under mutex_: a callback may well append again.
  if (run_inline && on_durable) on_durable();
  return last_lsn;
}

engine::lsn_t wal_writer::durable_lsn() const {
  return durable_lsn_.load(std::memory_order_acquire);
}

wal_stats wal_writer::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void wal_writer::stop() {
  std::lock_guard stop_lock(stop_mutex_);
  if (!thread_.joinable()) return;
  assert(thread_.get_id() != std::this_thread::get_id() && "stop() from a durable callback");
  {
    std::lock_guard lock(mutex_);
    stop_requested_ = true;
  }
  writer_cv_.notify_one();
  thread_.join();
  assert(written_lsn_ == appended_lsn_);
  assert(synced_lsn_ == written_lsn_);
  trim_zero_tail();
  ::close(segment_fd_);
  ::close(dir_fd_);
  segment_fd_ = -1;
  dir_fd_ = -1;
}

void wal_writer::run() {
  batch taken;
  for (;;) {
    const bool stopping = take_batch(taken);
    if (!taken.bytes.empty()) write_batch(taken);
    if (sync_due(stopping)) sync_segment();
    publish_durable();
    // Callbacks must not throw: an exception here ends the process (std::terminate).
    for (durable_callback& callback : taken.callbacks) callback();
    taken.bytes.clear();  // keeps capacity: the two batches trade buffers
    taken.callbacks.clear();
    taken.records = 0;
    taken.last_lsn = 0;
    if (stopping) return;
    if (segment_bytes_ >= options_.segment_bytes_max) roll_segment();
  }
}

bool wal_writer::take_batch(batch& out) {
  assert(out.bytes.empty());
  assert(out.callbacks.empty());
  std::unique_lock lock(mutex_);
  const auto ready = [this] {
    return stop_requested_ || !pending_.bytes.empty() || !pending_.callbacks.empty();
  };
  if (options_.mode == fsync_mode::batch && written_lsn_ > synced_lsn_) {
    // Wake for the due fdatasync even when no new record arrives.
    writer_cv_.wait_until(lock, synced_at_ + std::chrono::milliseconds(options_.batch_interval_ms),
                          ready);
  } else {
    writer_cv_.wait(lock, ready);
  }
  out.bytes.swap(pending_.bytes);
  out.callbacks.swap(pending_.callbacks);
  out.records = std::exchange(pending_.records, 0);
  out.last_lsn = std::exchange(pending_.last_lsn, 0);
  return stop_requested_;
}

void wal_writer::write_batch(batch& b) {
  assert(b.records > 0);
  assert(b.last_lsn == written_lsn_ + b.records);
  wal_format::seal_commit_time_frame(b.bytes.data(), options_.clock());
  if (!pwrite_all(segment_fd_, b.bytes.data(), b.bytes.size(), segment_bytes_)) {
    die("write", segment_path_, errno);
  }
  segment_bytes_ += b.bytes.size();
  // Keep zeros ahead of the frames: an fdatasync of blocks that already exist writes only
  // data, while one that grows the file also writes its inode (measured here: ~130 vs ~200 us
  // per 4 KiB write + fdatasync). The next sync covers these zeros with the frames.
  const std::uint64_t fill = options_.zero_fill_bytes;
  if (fill > 0 && zeroed_bytes_ < segment_bytes_ + fill &&
      segment_bytes_ < options_.segment_bytes_max) {
    // Topped up in small steps: one large step makes one group commit flush megabytes of
    // zeros and every reply in it waits (a p99 spike); small steps spread that thin.
    const std::uint64_t from = std::max(zeroed_bytes_, segment_bytes_);
    const std::uint64_t step = std::min<std::uint64_t>(fill, zero_fill_step_bytes);
    if (!write_zeros(segment_fd_, from, step)) die("write", segment_path_, errno);
    zeroed_bytes_ = from + step;
  }
  written_lsn_ = b.last_lsn;
  written_atomic_.store(written_lsn_, std::memory_order_release);
  std::lock_guard lock(mutex_);
  stats_.bytes_total += b.bytes.size();
  stats_.records_total += b.records;
  stats_.batches_total += 1;
}

bool wal_writer::sync_due(bool stopping) const {
  assert(synced_lsn_ <= written_lsn_);
  if (synced_lsn_ == written_lsn_) return false;
  if (stopping) return true;  // stop() syncs whatever the mode
  switch (options_.mode) {
    case fsync_mode::always:
      return true;
    case fsync_mode::batch:
      return clock::now() >= synced_at_ + std::chrono::milliseconds(options_.batch_interval_ms);
    case fsync_mode::off:
      return false;
  }
  return false;
}

void wal_writer::sync_segment() {
  const clock::time_point start = clock::now();
  if (!datasync(segment_fd_)) die("fdatasync", segment_path_, errno);
  const clock::time_point end = clock::now();
  synced_lsn_ = written_lsn_;
  synced_at_ = end;
  const double seconds = std::chrono::duration<double>(end - start).count();
  std::lock_guard lock(mutex_);
  stats_.fsyncs_total += 1;
  stats_.fsync_seconds_sum += seconds;
  stats_.fsync_buckets[fsync_bucket(seconds)] += 1;
}

void wal_writer::publish_durable() {
  const engine::lsn_t lsn = options_.mode == fsync_mode::off ? written_lsn_ : synced_lsn_;
  assert(lsn >= durable_lsn_.load(std::memory_order_relaxed));
  const bool moved = lsn != durable_lsn_.load(std::memory_order_relaxed);
  durable_lsn_.store(lsn, std::memory_order_release);
  {
    std::lock_guard lock(mutex_);
    stats_.durable_lsn = lsn;
  }
  if (moved && options_.on_durable) options_.on_durable(lsn);
}

// A segment that is done gives its unused zeros back. Nothing needs syncing: the reader takes
// a zero tail and a trimmed file alike as a clean end.
void wal_writer::trim_zero_tail() {
  if (zeroed_bytes_ > segment_bytes_ &&
      ::ftruncate(segment_fd_, static_cast<off_t>(segment_bytes_)) == 0) {
    zeroed_bytes_ = segment_bytes_;
  }
}

void wal_writer::roll_segment() {
  // The reader truncates a torn tail only in the last segment, so a segment must be complete
  // on disk before a later one exists.
  if (synced_lsn_ < written_lsn_) sync_segment();
  publish_durable();
  trim_zero_tail();
  ::close(segment_fd_);
  segment_fd_ = -1;
  segment_number_ += 1;
  try {
    open_segment(written_lsn_ + 1);
  } catch (const std::system_error& e) {
    die("segment roll-over", segment_path_, e.code().value());
  }
}

}  // namespace ecom::persistence
