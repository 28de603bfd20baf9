#include "persistence/snapshotter.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "engine/limits.h"
#include "engine/snapshot.h"
#include "persistence/file_io.h"
#include "persistence/wal_reader.h"

namespace ecom::persistence {

namespace fs = std::filesystem;

struct snapshotter::in_progress {
  std::uint64_t id = 0;
  engine::lsn_t lsn = 0;
  std::unique_ptr<generation_writer> writer;
  struct chunk {
    engine::shard_index shard;
    engine::capture_stream stream;
    std::string bytes;
  };
  std::vector<chunk> chunks;        // arrived, not yet put
  std::vector<std::size_t> queued;  // chunks per shard
  std::vector<std::optional<engine::lsn_t>> cuts;
  std::size_t finished = 0;
  bool durable_requested = false;
  bool durable = false;
  std::chrono::steady_clock::time_point started;

  bool all_finished() const { return finished == cuts.size(); }
};

snapshotter::snapshotter(snapshot_options options, engine::shard_set& shards, engine::journal& wal,
                         std::function<engine::time_ms()> clock, log_fn log,
                         const std::vector<std::string>& known_damaged, engine::lsn_t verified)
    : options_(std::move(options)),
      shards_(shards),
      wal_(wal),
      clock_(std::move(clock)),
      log_(std::move(log)),
      verified_(verified) {
  create_dir(options_.snapshots_dir);
  for (const fs::path& dir : generation_dirs(options_.snapshots_dir)) {
    if (std::find(known_damaged.begin(), known_damaged.end(), dir.filename().string()) !=
        known_damaged.end()) {
      continue;  // recovery logged it
    }
    snapshot_check check = read_snapshot_meta(dir);
    if (check.state == snapshot_state::ok &&
        (check.info.shards.size() != shards_.size() ||
         check.info.entity_format != engine::snapshot_format_version)) {
      // Written by another build or for another shard count: recovery cannot use it, so it
      // must not count as a kept generation (retention would trim the WAL behind it and drop
      // a generation that serves). Left in place for the operator.
      log_("snapshot " + dir.string() + " holds " + std::to_string(check.info.shards.size()) +
           " shards in entity format " + std::to_string(check.info.entity_format) +
           " (this server: " + std::to_string(shards_.size()) + ", format " +
           std::to_string(engine::snapshot_format_version) +
           "); it is left in place, not used and not counted");
    } else if (check.state == snapshot_state::ok) {
      generations_.push_back(std::move(check.info));
    } else if (check.state == snapshot_state::incomplete) {
      log_("removing snapshot " + dir.string() + " (" + check.problem + ")");
      remove_generation(dir);
    } else {
      log_("snapshot " + dir.string() + " is damaged (" + check.problem +
           "); it is left in place and not used");
    }
  }
  if (!generations_.empty()) figures_.newest = generations_.front();
  last_taken_at_ = std::chrono::steady_clock::now();
}

snapshotter::~snapshotter() {
  stop();
}

void snapshotter::refresh_wal_figures() {
  const std::vector<segment_file> segments = list_segments(options_.wal_dir);
  std::uint64_t bytes = 0;
  for (const auto& s : segments) bytes += s.bytes;
  std::lock_guard lock(mutex_);
  figures_.wal_first_lsn = segments.empty() ? 0 : segments.front().first_lsn;
  figures_.wal_segments = segments.size();
  figures_.wal_bytes = bytes;
}

// The generations recovery did not load were checked by meta only: read them in full now, so
// that one found damaged is no longer listed (nor counted, nor deleted).
void snapshotter::verify_older_generations() {
  for (const snapshot_info& info : list()) {
    if (info.lsn == verified_) continue;
    snapshot_check check = read_snapshot(info.dir, nullptr);
    if (check.state == snapshot_state::ok) continue;
    log_("snapshot " + info.dir.string() + " is damaged (" + check.problem +
         "); it is left in place and not used");
    std::lock_guard lock(mutex_);
    std::erase_if(generations_, [&](const snapshot_info& g) { return g.lsn == info.lsn; });
    figures_.newest =
        generations_.empty() ? std::nullopt : std::optional<snapshot_info>(generations_.front());
  }
}

void snapshotter::start() {
  refresh_wal_figures();
  thread_ = std::thread([this] { run(); });
}

void snapshotter::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool snapshotter::request(done_fn done) {
  {
    std::lock_guard lock(mutex_);
    if (current_ || begin_requested_ || stopping_) return false;
    begin_requested_ = true;
    waiting_.push_back(std::move(done));
  }
  wake_.notify_all();
  return true;
}

std::vector<snapshot_info> snapshotter::list() const {
  std::lock_guard lock(mutex_);
  return generations_;
}

snapshot_figures snapshotter::figures() const {
  std::lock_guard lock(mutex_);
  snapshot_figures out = figures_;
  out.in_progress = current_ != nullptr || begin_requested_;
  return out;
}

// ---- the port (shard threads) ------------------------------------------------------------------

void snapshotter::deliver(engine::shard_index index, std::uint64_t snapshot_id,
                          engine::capture_stream stream, std::string chunk) {
  {
    std::lock_guard lock(mutex_);
    if (!current_ || current_->id != snapshot_id) return;  // a snapshot given up
    ++current_->queued[index];
    current_->chunks.push_back(in_progress::chunk{index, stream, std::move(chunk)});
  }
  wake_.notify_all();
}

bool snapshotter::has_room(engine::shard_index index) const {
  std::lock_guard lock(mutex_);
  return !current_ || current_->queued[index] < engine::capture_chunks_queued_max;
}

void snapshotter::finished(engine::shard_index index, std::uint64_t snapshot_id,
                           engine::lsn_t cut) {
  {
    std::lock_guard lock(mutex_);
    if (!current_ || current_->id != snapshot_id || current_->cuts[index]) return;
    current_->cuts[index] = cut;
    ++current_->finished;
  }
  wake_.notify_all();
}

// ---- the thread -------------------------------------------------------------------------------

void snapshotter::run() {
  // Background work: the scheduler prefers the shards and the network threads over this one
  // when the cores are busy (a snapshot then takes longer, requests do not wait for it).
  // Failing to lower it changes nothing but that.
  (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), snapshot_thread_nice);
  try {
    verify_older_generations();
  } catch (const std::exception& e) {
    log_(std::string("checking older snapshots failed: ") + e.what());
  }
  std::unique_lock lock(mutex_);
  auto has_work = [this] {
    return stopping_ || (begin_requested_ && !current_) ||
           (current_ && (!current_->chunks.empty() || current_->durable ||
                         (current_->all_finished() && !current_->durable_requested)));
  };
  while (!stopping_) {
    wake_.wait_for(lock, std::chrono::seconds(1), has_work);
    if (stopping_) break;
    lock.unlock();
    try {
      refresh_wal_figures();
    } catch (const std::exception& e) {
      log_(std::string("listing the WAL folder failed: ") + e.what());
    }
    lock.lock();
    try {
      if (!current_ && !begin_requested_ && trigger_due()) begin_requested_ = true;
      if (begin_requested_ && !current_) begin(lock);
      if (!current_) continue;
      write_chunks(lock);
      if (current_ && current_->all_finished() && current_->chunks.empty() &&
          !current_->durable_requested) {
        // Only durable changes: commit once the WAL holds every record up to the highest cut.
        current_->durable_requested = true;
        engine::lsn_t highest = 0;
        for (const auto& cut : current_->cuts) highest = std::max(highest, *cut);
        const std::uint64_t id = current_->id;
        lock.unlock();
        wal_.when_durable(highest, [this, id] {
          {
            std::lock_guard inner(mutex_);
            if (current_ && current_->id == id) current_->durable = true;
          }
          wake_.notify_all();
        });
        lock.lock();
      }
      if (current_ && current_->durable && current_->chunks.empty()) finish(lock);
    } catch (const std::exception& e) {
      if (!lock.owns_lock()) lock.lock();
      fail(lock, e.what());
    }
  }
  // Stopping: a snapshot in progress is abandoned (its folder stays incomplete).
  std::unique_ptr<in_progress> abandoned = std::move(current_);
  std::vector<done_fn> waiting = std::move(waiting_);
  lock.unlock();
  abandoned.reset();
  snapshot_result result;
  result.error = "the server is stopping";
  for (auto& done : waiting) done(result);
}

bool snapshotter::trigger_due() const {
  const engine::lsn_t newest = generations_.empty() ? 0 : generations_.front().lsn;
  if (options_.every_records != 0 && wal_.appended_lsn() >= newest + options_.every_records)
    return true;
  return options_.every_s != 0 && std::chrono::steady_clock::now() - last_taken_at_ >=
                                      std::chrono::seconds(options_.every_s);
}

// begin_requested_ stays set until current_ is (or the answer is given), so that a request in
// between is refused (409) instead of joining a snapshot that did not count it; a failure on
// the way clears it in fail().
void snapshotter::begin(std::unique_lock<std::mutex>& lock) {
  const engine::lsn_t lsn = wal_.appended_lsn();
  if (!generations_.empty() && generations_.front().lsn == lsn) {
    // Nothing was appended since the newest snapshot: it is the answer.
    begin_requested_ = false;
    snapshot_result result;
    result.result = snapshot_result::outcome::unchanged;
    result.info = generations_.front();
    last_taken_at_ = std::chrono::steady_clock::now();
    std::vector<done_fn> waiting = std::move(waiting_);
    lock.unlock();
    for (auto& done : waiting) done(result);
    lock.lock();
    return;
  }
  const fs::path dir = options_.snapshots_dir / generation_name(lsn);
  auto taking = std::make_unique<in_progress>();
  taking->id = next_id_++;
  taking->lsn = lsn;
  taking->started = std::chrono::steady_clock::now();
  taking->queued.assign(shards_.size(), 0);
  taking->cuts.assign(shards_.size(), std::nullopt);
  lock.unlock();
  if (fs::exists(dir)) {
    snapshot_check check = read_snapshot_meta(dir);
    if (check.state != snapshot_state::incomplete) {
      lock.lock();
      throw snapshot_error("snapshot folder " + dir.string() + " exists (" +
                           (check.state == snapshot_state::ok ? "good" : check.problem) + ")");
    }
    remove_generation(dir);
  }
  taking->writer = std::make_unique<generation_writer>(dir, lsn, shards_.size());
  lock.lock();
  current_ = std::move(taking);
  begin_requested_ = false;
  for (engine::shard_index i = 0; i < shards_.size(); ++i) {
    engine::command item{engine::begin_snapshot{this, current_->id}, [](engine::reply&&) {}};
    if (!shards_.at(i).post_always(item)) throw snapshot_error("the shards are stopping");
  }
}

void snapshotter::write_chunks(std::unique_lock<std::mutex>& lock) {
  while (current_ && !current_->chunks.empty()) {
    auto chunks = std::move(current_->chunks);
    current_->chunks.clear();
    generation_writer& writer = *current_->writer;
    lock.unlock();
    for (const auto& c : chunks) {
      const bool walk = c.stream == engine::capture_stream::walk;
      bool whole =
          engine::for_each_captured(c.bytes, [&](std::string_view key, std::string_view value) {
            if (walk) {
              writer.append(c.shard, key, value);
            } else {
              writer.put(c.shard, key, value);
            }
          });
      if (!whole) throw snapshot_error("a shard handed over a chunk that is not whole frames");
    }
    lock.lock();
    for (const auto& c : chunks) --current_->queued[c.shard];
  }
}

void snapshotter::finish(std::unique_lock<std::mutex>& lock) {
  std::vector<engine::lsn_t> cuts;
  for (const auto& cut : current_->cuts) cuts.push_back(*cut);
  std::unique_ptr<in_progress> taken = std::move(current_);
  lock.unlock();
  snapshot_info info = taken->writer->commit(cuts, clock_());
  taken->writer.reset();
  snapshot_result result;
  result.result = snapshot_result::outcome::taken;
  result.info = info;
  result.duration_ms =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now() - taken->started)
                                     .count());
  log_("snapshot " + generation_name(info.lsn) + " committed: " + std::to_string(info.bytes) +
       " bytes, " + std::to_string(result.duration_ms) + " ms");
  lock.lock();
  generations_.insert(generations_.begin(), info);
  figures_.newest = info;
  ++figures_.taken_total;
  figures_.last_duration_ms = result.duration_ms;
  last_taken_at_ = std::chrono::steady_clock::now();
  std::vector<done_fn> waiting = std::move(waiting_);
  lock.unlock();
  try {
    apply_retention();
  } catch (const std::exception& e) {
    log_(std::string("snapshot retention failed: ") + e.what());
  }
  for (auto& done : waiting) done(result);
  lock.lock();
}

void snapshotter::fail(std::unique_lock<std::mutex>& lock, const std::string& why) {
  std::unique_ptr<in_progress> failed = std::move(current_);
  begin_requested_ = false;
  ++figures_.failed_total;
  std::vector<done_fn> waiting = std::move(waiting_);
  lock.unlock();
  log_("snapshot failed: " + why);
  failed.reset();  // aborts the transaction: the folder is incomplete
  snapshot_result result;
  result.error = why;
  for (auto& done : waiting) done(result);
  lock.lock();
}

// Keeps the newest `keep` good generations, then trims the WAL behind the oldest kept one.
void snapshotter::apply_retention() {
  std::vector<snapshot_info> dropped;
  engine::lsn_t covered = 0;
  {
    std::lock_guard lock(mutex_);
    const std::size_t keep = std::max<std::uint32_t>(options_.keep, 1);
    while (generations_.size() > keep) {
      dropped.push_back(generations_.back());
      generations_.pop_back();
    }
    if (generations_.empty()) return;
    covered = generations_.back().min_cut();
  }
  if (options_.wal_needed_after) covered = std::min(covered, options_.wal_needed_after());
  for (const auto& old : dropped) {
    remove_generation(old.dir);
    log_("snapshot " + generation_name(old.lsn) + " removed (retention)");
  }
  // A segment holds records from its first_lsn up to the next segment's first_lsn - 1; the
  // last one is being written and is never trimmed.
  const std::vector<segment_file> segments = list_segments(options_.wal_dir);
  std::uint64_t trimmed = 0;
  for (std::size_t i = 0; i + 1 < segments.size(); ++i) {
    const engine::lsn_t next_first = segments[i + 1].first_lsn;
    if (next_first == 0 || next_first - 1 > covered) break;
    if (options_.archive_dir.empty()) {
      std::error_code ec;
      fs::remove(segments[i].path, ec);
      if (ec) throw io_error(ec.value(), "cannot remove WAL segment", segments[i].path);
    } else {
      create_dir(options_.archive_dir);
      const fs::path to = options_.archive_dir / segments[i].path.filename();
      std::error_code ec;
      fs::rename(segments[i].path, to, ec);
      if (ec) {  // another file system: copy, make durable, then remove
        fs::copy_file(segments[i].path, to, fs::copy_options::overwrite_existing);
        const int fd = ::open(to.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0 || ::fsync(fd) != 0) throw io_error(errno, "cannot fsync", to);
        ::close(fd);
        fs::remove(segments[i].path);
      }
      fsync_dir(options_.archive_dir);
    }
    ++trimmed;
  }
  if (trimmed > 0) {
    fsync_dir(options_.wal_dir);
    log_("WAL: " + std::to_string(trimmed) + " segments up to lsn " + std::to_string(covered) +
         (options_.archive_dir.empty() ? " deleted" : " archived") + " (covered by snapshots)");
    std::lock_guard lock(mutex_);
    figures_.segments_trimmed_total += trimmed;
  }
}

}  // namespace ecom::persistence
