#include "persistence/replication.h"

#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <stdexcept>

#include "engine/fan_out.h"
#include "engine/flow_recovery.h"
#include "persistence/crc32c.h"
#include "persistence/file_io.h"
#include "persistence/wal_format.h"
#include "persistence/wal_reader.h"
#include "persistence/wal_tail.h"
#include "persistence/wal_writer.h"

namespace ecom::persistence {

namespace {

using steady = std::chrono::steady_clock;

std::string hex(const unsigned char* bytes, std::size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    out += digits[bytes[i] >> 4];
    out += digits[bytes[i] & 15];
  }
  return out;
}

std::string description_of(const std::string& fingerprint, std::uint32_t shards) {
  return "ecomd WAL; fingerprint=" + fingerprint + "; shards=" + std::to_string(shards);
}

// The fingerprint a stream's description names ("" when none).
std::string fingerprint_in(const std::string& description) {
  constexpr std::string_view key = "fingerprint=";
  const auto at = description.find(key);
  if (at == std::string::npos) return {};
  const auto from = at + key.size();
  return description.substr(from, description.find(';', from) - from);
}

// A promotion mark: a message without records (its LSN range is empty), whose data names the
// promotion (random), so that the promoted server knows its own.
bool is_mark(const stream_message& msg) {
  return msg.first_lsn > msg.last_lsn;
}

const char* restore_hint =
    "take a new backup of the primary (ecom-snapshot backup) and restore it into this data dir "
    "(ecom-snapshot restore), then start the standby again";

}  // namespace

std::string replication_fingerprint(const std::string& token_secret, std::uint32_t shard_count) {
  const std::string input = token_secret + "/shards=" + std::to_string(shard_count);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  return hex(digest, 16);
}

// ---- lsn_waiters ---------------------------------------------------------------------------

void lsn_waiters::add(engine::lsn_t lsn, steady::time_point deadline, callback done,
                      const std::atomic<engine::lsn_t>& reached) {
  bool ok = true;
  {
    std::lock_guard lock(mutex_);
    ok = !closed_;
    // Checked under the lock: release() stores `reached` before it takes the lock.
    if (ok && reached.load(std::memory_order_acquire) < lsn) {
      waiting_.emplace(lsn, entry{deadline, std::move(done)});
      return;
    }
  }
  done(ok);
}

void lsn_waiters::release(engine::lsn_t reached) {
  std::vector<callback> due;
  {
    std::lock_guard lock(mutex_);
    auto end = waiting_.upper_bound(reached);
    for (auto it = waiting_.begin(); it != end; ++it) due.push_back(std::move(it->second.done));
    waiting_.erase(waiting_.begin(), end);
  }
  for (auto& done : due) done(true);
}

std::size_t lsn_waiters::expire(steady::time_point now) {
  std::vector<callback> due;
  {
    std::lock_guard lock(mutex_);
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      if (it->second.deadline <= now) {
        due.push_back(std::move(it->second.done));
        it = waiting_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& done : due) done(false);
  return due.size();
}

void lsn_waiters::fail_all() {
  std::multimap<engine::lsn_t, entry> all;
  {
    std::lock_guard lock(mutex_);
    all.swap(waiting_);
  }
  for (auto& [lsn, e] : all) e.done(false);
}

void lsn_waiters::close() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  fail_all();
}

std::size_t lsn_waiters::size() const {
  std::lock_guard lock(mutex_);
  return waiting_.size();
}

// ---- replicator ----------------------------------------------------------------------------

replicator::replicator(replication_options options, engine::shard_set& shards,
                       engine::gateway& gateway)
    : options_(std::move(options)), shards_(shards), gateway_(gateway) {
  role_.store(options_.role, std::memory_order_release);
  if (!active()) return;
  nats_stream_options so;
  so.urls = options_.urls;
  so.stream = options_.stream;
  so.replicas = options_.replicas;
  so.description = description_of(options_.fingerprint, shards.size());
  so.timeout_ms = options_.timeout_ms;
  so.publish_wait_ms = std::min(options_.timeout_ms, publish_wait_ms_max);
  stream_ = std::make_unique<nats_stream>(so);
  tail_ = std::make_unique<wal_tail>(options_.wal_dir);
  // A standby takes no change from its first request on (before start: while it recovers).
  if (options_.role == replication_role::standby)
    gateway_.set_write_gate(engine::write_gate::not_primary);
}

replicator::~replicator() {
  stop();
}

void replicator::wal_durable(engine::lsn_t lsn) {
  durable_.store(lsn, std::memory_order_release);
  if (role() != replication_role::primary) return;
  // Through the mutex: the publisher checks `durable_` under it before it waits, so the
  // wake-up cannot fall between its check and its wait (a lost one would cost up to 20 ms).
  { std::lock_guard lock(mutex_); }
  wake_.notify_one();
}

void replicator::set_state(const char* state) {
  state_.store(state, std::memory_order_release);
}

void replicator::log_warn_limited(const std::string& line) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;  // the connection was closed on purpose
  }
  const auto now = steady::now();
  if (now - last_warn_ < std::chrono::seconds(5)) return;
  last_warn_ = now;
  if (options_.log_warn) options_.log_warn(line);
}

void replicator::start(wal_writer& wal, engine::lsn_t last_lsn) {
  if (!active()) return;
  wal_.store(&wal, std::memory_order_release);
  // The hook may have moved it already: only ever forward.
  engine::lsn_t known = durable_.load();
  while (known < wal.durable_lsn() && !durable_.compare_exchange_weak(known, wal.durable_lsn())) {
  }
  appended_ = last_lsn;
  applied_.store(last_lsn, std::memory_order_release);
  acked_.store(0, std::memory_order_release);
  set_state("connecting");
  std::string why;
  if (stream_->connect(why) == nats_result::ok) {
    const check result =
        options_.role == replication_role::standby ? standby_check(why) : primary_check(why);
    if (result == check::refused) throw std::runtime_error(why);
    if (result == check::retry && options_.log_warn) options_.log_warn("replication: " + why);
  } else if (options_.log_warn) {
    options_.log_warn("replication: " + why +
                      (options_.role == replication_role::standby
                           ? "; not ready until it has caught up with the stream"
                       : options_.ack == replication_ack::stream
                           ? "; changes wait for the stream (503 after the timeout)"
                           : "; changes are taken and published once the stream answers"));
  }
  thread_ = std::thread([this] { run(); });
  expiry_thread_ = std::thread([this] { run_expiry(); });
}

void replicator::run_expiry() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    expire_waiters();
    lock.lock();
    expiry_wake_.wait_for(lock, std::chrono::milliseconds(waiter_expiry_interval_ms),
                          [&] { return stopping_; });
  }
}

void replicator::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  expiry_wake_.notify_all();
  if (stream_) stream_->interrupt();  // a request in progress ends now, not at its timeout
  if (thread_.joinable()) thread_.join();
  if (expiry_thread_.joinable()) expiry_thread_.join();
  acks_.close();
  applies_.close();
  std::vector<promote_callback> promotes;
  {
    std::lock_guard lock(mutex_);
    promotes.swap(promotes_);
  }
  for (auto& done : promotes) done(promote_outcome::unavailable, 0);
}

void replicator::wait_for(std::chrono::milliseconds pause) {
  std::unique_lock lock(mutex_);
  wake_.wait_for(lock, pause, [&] { return stopping_ || !promotes_.empty(); });
}

engine::lsn_t replicator::applied_lsn() const {
  if (role() == replication_role::standby) return applied_.load(std::memory_order_acquire);
  // A primary: what it holds, at or past any change it answered (in `batch` and `off` fsync
  // modes an answer leaves before its LSN is durable).
  const wal_writer* wal = wal_.load(std::memory_order_acquire);
  return wal != nullptr ? wal->appended_lsn() : durable_.load(std::memory_order_acquire);
}

engine::lsn_t replicator::answer_lsn() const {
  if (role() == replication_role::standby) return applied_.load(std::memory_order_acquire);
  const wal_writer* wal = wal_.load(std::memory_order_acquire);
  return wal != nullptr ? wal->written_lsn() : durable_.load(std::memory_order_acquire);
}

void replicator::when_acked(engine::lsn_t lsn, lsn_waiters::callback done) {
  if (!acks_from_stream()) return done(true);
  if (fenced_.load(std::memory_order_acquire)) return done(false);
  acks_.add(lsn, steady::now() + std::chrono::milliseconds(options_.timeout_ms), std::move(done),
            acked_);
}

void replicator::when_applied(engine::lsn_t lsn, std::uint32_t wait_ms,
                              lsn_waiters::callback done) {
  if (role() != replication_role::standby) return done(true);
  applies_.add(lsn, steady::now() + std::chrono::milliseconds(wait_ms), std::move(done), applied_);
}

void replicator::promote(promote_callback done) {
  if (role() != replication_role::standby) return done(promote_outcome::not_standby, 0);
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      promotes_.push_back(std::move(done));
      done = nullptr;
    }
  }
  wake_.notify_all();
  if (done) done(promote_outcome::unavailable, 0);
}

replication_status replicator::status() const {
  replication_status out;
  out.role = role();
  if (out.role != replication_role::none) out.stream = options_.stream;
  out.state = state_.load(std::memory_order_acquire);
  out.stream_seq = stream_seq_.load(std::memory_order_relaxed);
  out.fenced = fenced_.load(std::memory_order_acquire);
  if (out.role == replication_role::primary) {
    out.lsn = acked_.load(std::memory_order_acquire);
    const engine::lsn_t durable = durable_.load(std::memory_order_acquire);
    out.lag_records = durable > out.lsn ? durable - out.lsn : 0;
  } else if (out.role == replication_role::standby) {
    out.lsn = applied_.load(std::memory_order_acquire);
    const engine::lsn_t last = stream_last_lsn_.load(std::memory_order_acquire);
    out.lag_records = last > out.lsn ? last - out.lsn : 0;
  }
  out.messages_published = messages_published_.load(std::memory_order_relaxed);
  out.records_published = records_published_.load(std::memory_order_relaxed);
  out.publish_errors = publish_errors_.load(std::memory_order_relaxed);
  out.messages_applied = messages_applied_.load(std::memory_order_relaxed);
  out.records_applied = records_applied_.load(std::memory_order_relaxed);
  return out;
}

engine::lsn_t replicator::wal_needed_after() const {
  if (role() != replication_role::primary) return ~engine::lsn_t{0};
  // The segment of the last acked record stays too: a restart compares it with the stream's
  // end. A fenced primary's tail will never be published; kept anyway (an operator may want it).
  const engine::lsn_t acked = acked_.load(std::memory_order_acquire);
  return acked > 0 ? acked - 1 : 0;
}

void replicator::expire_waiters() {
  const auto now = steady::now();
  applies_.expire(now);
  // A change was not acked in time: no further change until the stream answers again.
  if (acks_.expire(now) > 0 && role() == replication_role::primary &&
      !fenced_.load(std::memory_order_acquire) &&
      gateway_.move_write_gate(engine::write_gate::open,
                               engine::write_gate::replication_unavailable)) {
    set_state("unavailable");
    if (options_.log_warn) {
      options_.log_warn("replication: the stream did not acknowledge within " +
                        std::to_string(options_.timeout_ms) +
                        " ms; changes answer 503 REPLICATION_UNAVAILABLE until it does");
    }
  }
}

void replicator::set_acked(engine::lsn_t lsn) {
  acked_.store(lsn, std::memory_order_release);
  acks_.release(lsn);
}

void replicator::fence(const std::string& why) {
  fenced_.store(true, std::memory_order_release);
  gateway_.set_write_gate(engine::write_gate::not_primary);
  set_state("fenced");
  if (options_.log_warn) options_.log_warn("replication: fenced: " + why);
  acks_.fail_all();
}

void replicator::run() {
  if (options_.role != replication_role::standby || follow_loop()) publish_loop();
  stream_->unfollow();
  nats_stream::release_thread();
}

// ---- standby -------------------------------------------------------------------------------

bool replicator::frame_crc_in(const std::string& frames, engine::lsn_t lsn, std::uint32_t& crc) {
  std::size_t at = 0;
  while (at + wal_format::frame_header_size <= frames.size()) {
    const auto header = wal_format::decode_frame_header(frames.data() + at);
    if (header.lsn == lsn) {
      crc = header.masked_crc;
      return true;
    }
    at += wal_format::frame_header_size + header.payload_size;
  }
  return false;
}

replicator::check replicator::standby_check(std::string& why) {
  const engine::lsn_t last = appended_;
  stream_state st;
  switch (stream_->info(st, why)) {
    case nats_result::ok:
      break;
    case nats_result::not_found:
      why = "stream " + options_.stream + " does not exist yet (the primary makes it)";
      return check::retry;
    default:
      return check::retry;
  }
  const std::string theirs = fingerprint_in(st.description);
  if (theirs != options_.fingerprint) {
    why = "stream " + options_.stream + " holds the log of another data dir (fingerprint " +
          (theirs.empty() ? "none" : theirs) + ", this one " + options_.fingerprint +
          "): the token secret or the shard count differ; " + restore_hint;
    return check::refused;
  }
  // Compares this WAL's record at `lsn` with the stream's (in `msg`); false when they differ.
  const auto same_at = [&](engine::lsn_t lsn, const stream_message& msg) {
    std::uint32_t stream_crc = 0;
    if (lsn == 0 || is_mark(msg) || !frame_crc_in(msg.data, lsn, stream_crc)) return true;
    const auto own = wal_tail::frame_crc_of(options_.wal_dir, lsn);
    return !own || *own == stream_crc;  // a trimmed record cannot be compared
  };
  const auto diverged = [&](engine::lsn_t lsn) {
    why = "this data dir's WAL and stream " + options_.stream + " hold different records at lsn " +
          std::to_string(lsn) + ": it is not a copy of the primary's; " + restore_hint;
    return check::refused;
  };
  stream_end_seq_ = st.last_seq;
  if (st.messages == 0) {
    start_seq_ = st.last_seq + 1;
    stream_end_lsn_ = last;
    stream_last_lsn_.store(last, std::memory_order_release);
    stream_seq_.store(start_seq_ - 1, std::memory_order_relaxed);  // held already
    checked_.store(true, std::memory_order_release);
    return check::passed;
  }
  stream_message end;
  if (stream_->get(st.last_seq, end, why) != nats_result::ok) return check::retry;
  stream_last_lsn_.store(end.last_lsn, std::memory_order_release);
  if (end.last_lsn <= last) {
    // The stream ends at or before this data dir: same record at its end, then wait for more
    // (what this dir holds past it is checked against the stream as it comes). But a stream
    // that ends with a promotion mark before this dir's end goes on without this dir's later
    // records: another server was promoted there.
    if (!same_at(end.last_lsn, end)) return diverged(end.last_lsn);
    if (is_mark(end) && end.last_lsn < last) return diverged(end.last_lsn + 1);
    stream_end_lsn_ = end.last_lsn;
    start_seq_ = st.last_seq + 1;
    stream_seq_.store(start_seq_ - 1, std::memory_order_relaxed);  // held already
    checked_.store(true, std::memory_order_release);
    return check::passed;
  }
  stream_message first;
  if (stream_->get(st.first_seq, first, why) != nats_result::ok) return check::retry;
  if (first.first_lsn > last + 1) {
    why = "stream " + options_.stream + " starts at lsn " + std::to_string(first.first_lsn) +
          " and no longer holds lsn " + std::to_string(last + 1) + " that this data dir needs; " +
          restore_hint;
    return check::refused;
  }
  // The message holding last + 1: LSN ranges grow with the sequence.
  std::uint64_t lo = st.first_seq;
  std::uint64_t hi = st.last_seq;
  stream_message found = first;
  while (!(found.first_lsn <= last + 1 && last + 1 <= found.last_lsn)) {
    if (lo >= hi) {
      why = "stream " + options_.stream + " has no message holding lsn " +
            std::to_string(last + 1) + "; " + restore_hint;
      return check::refused;
    }
    const std::uint64_t mid = lo + (hi - lo) / 2;
    const nats_result got = stream_->get(mid, found, why);
    if (got == nats_result::not_found) {
      why = "stream " + options_.stream + ": message " + std::to_string(mid) +
            " is gone (deleted); " + restore_hint;
      return check::refused;
    }
    if (got != nats_result::ok) return check::retry;  // e.g. a leader election: try again
    if (found.last_lsn < last + 1) {
      lo = mid + 1;
    } else if (found.first_lsn > last + 1) {
      hi = mid;
    } else {
      break;
    }
    if (lo == hi && stream_->get(lo, found, why) != nats_result::ok) return check::retry;
  }
  if (found.first_lsn <= last) {
    if (!same_at(last, found)) return diverged(last);
  } else if (last > 0 && found.seq > st.first_seq) {
    stream_message before;
    if (stream_->get(found.seq - 1, before, why) != nats_result::ok) return check::retry;
    if (!same_at(last, before)) return diverged(last);
  }
  start_seq_ = found.seq;
  stream_end_lsn_ = last;                                        // until the first message is read
  stream_seq_.store(start_seq_ - 1, std::memory_order_relaxed);  // held already
  checked_.store(true, std::memory_order_release);
  return check::passed;
}

bool replicator::own_record_is(engine::lsn_t lsn, std::uint32_t crc) {
  if (!own_records_) own_records_ = std::make_unique<wal_tail>(options_.wal_dir);
  try {
    if (own_records_->next_lsn() != lsn && !own_records_->seek(lsn)) return true;  // trimmed
    std::string frame;
    if (own_records_->read(lsn, 1, frame) != 1) return true;
    return wal_format::decode_frame_header(frame.data()).masked_crc == crc;
  } catch (const std::exception&) {
    return false;  // its own WAL is damaged there: it cannot vouch for the record
  }
}

bool replicator::apply_message(const stream_message& msg, std::string& why) {
  if (msg.fingerprint != options_.fingerprint) {
    why = "stream message " + std::to_string(msg.seq) + " comes from another data dir";
    return false;
  }
  if (is_mark(msg)) {  // a promotion: nothing to apply
    stream_seq_.store(msg.seq, std::memory_order_relaxed);
    stream_end_lsn_ = std::max(stream_end_lsn_, msg.last_lsn);
    return true;
  }
  auto batch = std::make_shared<engine::log_batch>();
  std::vector<engine::record> records;
  engine::lsn_t expected = appended_ + 1;
  std::size_t at = 0;
  const std::string& frames = msg.data;
  while (at < frames.size()) {
    if (at + wal_format::frame_header_size > frames.size()) {
      why = "stream message " + std::to_string(msg.seq) + " ends inside a frame";
      return false;
    }
    const auto header = wal_format::decode_frame_header(frames.data() + at);
    const std::size_t size = wal_format::frame_header_size + header.payload_size;
    if (header.payload_size > wal_format::frame_payload_bytes_max || at + size > frames.size()) {
      why = "stream message " + std::to_string(msg.seq) + " ends inside a frame";
      return false;
    }
    const std::string_view payload(frames.data() + at + wal_format::frame_header_size,
                                   header.payload_size);
    if (crc32c::unmask(header.masked_crc) != wal_format::frame_crc(frames.data() + at, payload)) {
      why = "stream message " + std::to_string(msg.seq) + ": the frame of lsn " +
            std::to_string(header.lsn) + " fails its checksum";
      return false;
    }
    at += size;
    if (header.lsn < expected) {
      // This data dir holds it already: the same record, or the logs parted ways.
      if (!own_record_is(header.lsn, header.masked_crc)) {
        why = "this data dir's WAL and stream " + options_.stream +
              " hold different records at lsn " + std::to_string(header.lsn) +
              ": it is not a copy of the primary's; " + restore_hint;
        return false;
      }
      continue;
    }
    if (header.lsn != expected) {
      why = "stream message " + std::to_string(msg.seq) + " holds lsn " +
            std::to_string(header.lsn) + " where " + std::to_string(expected) +
            " comes next: the stream lost records; " + restore_hint;
      return false;
    }
    ++expected;
    const auto type = static_cast<engine::record_type>(header.type);
    records.push_back(engine::record{type, header.shard, std::string(payload)});
    batch->items.push_back(engine::log_batch::item{type, header.shard, header.lsn,
                                                   static_cast<std::uint32_t>(batch->bytes.size()),
                                                   header.payload_size});
    batch->bytes.append(payload);
  }
  stream_seq_.store(msg.seq, std::memory_order_relaxed);
  stream_end_lsn_ = std::max(stream_end_lsn_, msg.last_lsn);
  if (records.empty()) return true;
  batch->first_lsn = appended_ + 1;
  batch->last_lsn = expected - 1;
  // Into this server's WAL first, with the same LSNs (nothing else writes on a standby).
  const engine::lsn_t got = wal_.load()->append(records, {});
  if (got != batch->last_lsn) {
    why = "the standby's WAL gave lsn " + std::to_string(got) + " to what the stream numbers " +
          std::to_string(batch->last_lsn);
    return false;
  }
  appended_ = batch->last_lsn;
  {
    std::unique_lock lock(mutex_);
    wake_.wait(lock, [&] { return in_flight_ < apply_batches_in_flight_max; });
    ++in_flight_;
  }
  const engine::lsn_t last = batch->last_lsn;
  const std::size_t count = records.size();
  engine::apply_log_everywhere(shards_, std::move(batch), [this, last, count](bool applied) {
    if (!applied) {
      // The state is not the primary's any more: nothing after it counts as applied.
      if (options_.fatal) {
        options_.fatal("replication: a record of the stream up to lsn " + std::to_string(last) +
                       " does not apply to this standby's state; " + restore_hint);
      }
    } else {
      engine::lsn_t before = applied_.load(std::memory_order_acquire);
      while (before < last && !applied_.compare_exchange_weak(before, last)) {
      }
      records_applied_.fetch_add(count, std::memory_order_relaxed);
      messages_applied_.fetch_add(1, std::memory_order_relaxed);
      applies_.release(applied_.load(std::memory_order_acquire));
    }
    {
      std::lock_guard lock(mutex_);
      --in_flight_;
    }
    wake_.notify_all();
  });
  return true;
}

bool replicator::follow_loop() {
  bool following = false;
  auto progressed_at = steady::now();  // the last message read (or the subscription made)
  // Messages after the last one read, as the server counted (0: the stream's end).
  std::uint64_t pending = start_seq_ > stream_end_seq_ ? 0 : 1;
  std::string why;
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return false;
    }
    expire_waiters();
    if (!promote_pending_empty()) {
      if (try_promote()) return true;
      continue;
    }
    if (!checked_.load(std::memory_order_acquire)) {
      const check result = connect_and_check();
      if (result == check::refused) return false;
      if (result == check::retry) continue;
      pending = start_seq_ > stream_end_seq_ ? 0 : 1;
    }
    if (!following) {
      if (stream_->follow(start_seq_, why) != nats_result::ok) {
        log_warn_limited("replication: cannot read stream " + options_.stream + ": " + why);
        wait_for(std::chrono::milliseconds(250));
        continue;
      }
      following = true;
      progressed_at = steady::now();
      set_state("following");
      if (options_.log_info) {
        options_.log_info("replication: following stream " + options_.stream + " from sequence " +
                          std::to_string(start_seq_) + " (lsn " + std::to_string(appended_ + 1) +
                          ")");
      }
    }
    stream_message msg;
    switch (stream_->next(50, msg, why)) {
      case nats_result::ok:
        // An ordered consumer that re-creates itself before its first message starts over
        // at sequence 1 (cnats 3.4): what was read already is dropped.
        if (msg.seq < start_seq_) break;
        if (!apply_message(msg, why)) {
          if (options_.fatal) options_.fatal("replication: " + why);
          return false;
        }
        pending = msg.pending;
        start_seq_ = msg.seq + 1;
        progressed_at = steady::now();
        if (msg.last_lsn > stream_last_lsn_.load(std::memory_order_relaxed))
          stream_last_lsn_.store(msg.last_lsn, std::memory_order_release);
        break;
      case nats_result::not_found:
        break;
      default:
        log_warn_limited("replication: reading stream " + options_.stream + ": " + why);
        wait_for(std::chrono::milliseconds(100));
        break;
    }
    // Caught up: nothing left in the stream past what was read, and all of it applied.
    if (pending == 0 && applied_.load(std::memory_order_acquire) == appended_ &&
        !caught_up_.exchange(true)) {
      if (options_.log_info)
        options_.log_info("replication: caught up with the stream at lsn " +
                          std::to_string(appended_));
      if (options_.caught_up) options_.caught_up();
    }
    // Once a second: where the stream ends, for the lag figure.
    const auto now = steady::now();
    if (now >= next_info_ && stream_->connected()) {
      next_info_ = now + std::chrono::seconds(1);
      stream_state st;
      stream_message end;
      if (stream_->info(st, why) == nats_result::ok && st.messages > 0 &&
          stream_->get(st.last_seq, end, why) == nats_result::ok) {
        stream_last_lsn_.store(std::max(end.last_lsn, appended_), std::memory_order_release);
        if (st.last_seq < start_seq_) pending = 0;
        // The stream has more, yet nothing came for a while: the consumer was lost (its
        // stream leader died; the client would re-create it only after missed heartbeats,
        // 10 to 20 s): make a new one from where we are.
        if (following && st.last_seq >= start_seq_ &&
            now - progressed_at > std::chrono::milliseconds(resubscribe_after_ms)) {
          log_warn_limited("replication: no message for " + std::to_string(resubscribe_after_ms) +
                           " ms while the stream has " +
                           std::to_string(st.last_seq - start_seq_ + 1) +
                           " more: reading again from sequence " + std::to_string(start_seq_));
          stream_->unfollow();
          following = false;
        }
      }
    }
  }
}

replicator::check replicator::connect_and_check() {
  std::string why;
  if (stream_->connect(why) != nats_result::ok) {
    log_warn_limited("replication: " + why);
    wait_for(std::chrono::milliseconds(100));
    return check::retry;
  }
  const check result =
      role() == replication_role::standby ? standby_check(why) : primary_check(why);
  if (result == check::refused) {
    if (options_.fatal) options_.fatal("replication: " + why);
  } else if (result == check::retry) {
    log_warn_limited("replication: " + why);
    wait_for(std::chrono::milliseconds(250));
  }
  return result;
}

bool replicator::promote_pending_empty() {
  std::lock_guard lock(mutex_);
  return promotes_.empty();
}

bool replicator::try_promote() {
  std::vector<promote_callback> waiting;
  const auto answer = [&](promote_outcome outcome, engine::lsn_t lsn) {
    {
      std::lock_guard lock(mutex_);
      waiting.swap(promotes_);
    }
    for (auto& done : waiting) done(outcome, lsn);
    return outcome == promote_outcome::promoted;
  };
  std::string why;
  stream_state st;
  if (!checked_.load(std::memory_order_acquire) || stream_->info(st, why) != nats_result::ok) {
    if (options_.log_warn) options_.log_warn("replication: promotion refused: stream unavailable");
    return answer(promote_outcome::unavailable, 0);
  }
  // Apply the stream to its end, then mark it: an append that expects that end. Another
  // primary's append in between moves the end: apply it too and mark again.
  const auto deadline = steady::now() + std::chrono::milliseconds(options_.timeout_ms);
  unsigned char random[6];
  if (RAND_bytes(random, sizeof random) != 1) throw std::runtime_error("RAND_bytes failed");
  epoch_ = hex(random, sizeof random);
  const std::string mark_data = "promotion " + epoch_;
  std::uint64_t mark = 0;
  engine::lsn_t stream_end = appended_;  // the last LSN the stream holds
  for (;;) {
    while (st.messages > 0 && stream_seq_.load() < st.last_seq) {
      if (steady::now() > deadline) {
        if (options_.log_warn)
          options_.log_warn("replication: promotion refused: the stream's end was not reached");
        return answer(promote_outcome::unavailable, 0);
      }
      stream_message msg;
      const nats_result r = stream_->next(50, msg, why);
      if (r == nats_result::ok && msg.seq >= start_seq_) {
        if (!apply_message(msg, why)) {
          if (options_.fatal) options_.fatal("replication: " + why);
          return answer(promote_outcome::unavailable, 0);
        }
        start_seq_ = msg.seq + 1;
      } else if (r == nats_result::unavailable) {
        return answer(promote_outcome::unavailable, 0);
      }
    }
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return in_flight_ == 0; });
    }
    // The stream may end before this WAL (a standby seeded while the primary's publisher
    // lagged): those records go to the stream first, after the mark.
    stream_end = st.messages > 0 ? std::min(stream_end_lsn_, appended_) : appended_;
    if (stream_end < appended_ && !wal_tail(options_.wal_dir).seek(stream_end + 1)) {
      if (options_.log_warn) {
        options_.log_warn("replication: lsn " + std::to_string(stream_end + 1) + ".." +
                          std::to_string(appended_) +
                          " are not in the stream nor in this WAL any more; standbys need a new "
                          "backup of this server");
      }
      stream_end = appended_;
    }
    bool moved = false;
    mark = append_promotion_mark(st.last_seq, stream_end, mark_data, deadline, moved, why);
    if (mark != 0) break;
    if (!moved || steady::now() > deadline || stream_->info(st, why) != nats_result::ok) {
      if (options_.log_warn) options_.log_warn("replication: promotion refused: " + why);
      return answer(promote_outcome::unavailable, 0);
    }
  }
  try {
    write_file_atomically(options_.data_dir, replication_term_file,
                          options_.stream + " " + std::to_string(mark) + "\n", 0644);
  } catch (const std::exception& e) {
    if (options_.log_warn) options_.log_warn(std::string("replication: ") + e.what());
  }
  st.last_seq = mark;
  stream_seq_.store(mark, std::memory_order_relaxed);
  stream_->unfollow();
  // Every shard applied the whole log and takes nothing more from it; changes are still
  // refused (the gate), so the state stands still for the plan, as before a restart's.
  engine::flow_recovery_plan plan = engine::plan_flow_recovery(shards_);
  shards_.set_following(false);
  expected_last_seq_ = st.last_seq;
  next_publish_ = stream_end + 1;
  set_acked(stream_end);
  stream_last_lsn_.store(appended_, std::memory_order_release);
  role_.store(replication_role::primary, std::memory_order_release);
  set_state("publishing");
  applies_.fail_all();
  // The publish loop has not started: the flows' records wait for it like any other. Their
  // answers here rest on the local WAL only.
  const engine::flow_recovery_report redone = engine::run_flow_recovery(shards_, std::move(plan));
  gateway_.set_write_gate(engine::write_gate::open);
  if (options_.log_info) {
    options_.log_info("replication: promoted to primary at lsn " + std::to_string(appended_) +
                      " after stream sequence " + std::to_string(st.last_seq) + "; redelivered " +
                      std::to_string(redone.coupons_redelivered) + " coupons, redid " +
                      std::to_string(redone.order_steps_redone) + " order steps, expired " +
                      std::to_string(redone.coupons_expired) + " coupons and " +
                      std::to_string(redone.orders_expired) + " orders");
  }
  return answer(promote_outcome::promoted, wal_.load()->durable_lsn());
}

std::uint64_t replicator::append_promotion_mark(std::uint64_t after, engine::lsn_t stream_end,
                                                const std::string& mark_data,
                                                steady::time_point deadline, bool& moved,
                                                std::string& why) {
  moved = false;
  const std::string msg_id = epoch_ + "-promotion-" + std::to_string(after);
  for (;;) {
    std::uint64_t seq = 0;
    // No record: the LSN range stream_end + 1 .. stream_end.
    const nats_result r = stream_->publish(mark_data, stream_end + 1, stream_end,
                                           options_.fingerprint, after, msg_id, seq, why);
    if (r == nats_result::ok) return seq;
    if (r == nats_result::wrong_last_seq) {
      // Our own mark whose ack was lost, or another server's append.
      stream_state st;
      stream_message end;
      std::string ignored;
      if (stream_->info(st, ignored) == nats_result::ok && st.last_seq == after + 1 &&
          stream_->get(st.last_seq, end, ignored) == nats_result::ok && is_mark(end) &&
          end.data == mark_data) {
        return st.last_seq;
      }
      moved = true;
      return 0;
    }
    if (steady::now() > deadline) return 0;
    wait_for(std::chrono::milliseconds(50));  // the same append again (de-duplicated)
  }
}

std::uint64_t replicator::own_promotion_mark() const {
  std::FILE* f = std::fopen((options_.data_dir / replication_term_file).c_str(), "r");
  if (f == nullptr) return 0;
  char stream[128] = {};
  unsigned long long seq = 0;
  const int got = std::fscanf(f, "%127s %llu", stream, &seq);
  std::fclose(f);
  return got == 2 && options_.stream == stream ? seq : 0;
}

// ---- primary -------------------------------------------------------------------------------

replicator::check replicator::primary_check(std::string& why) {
  stream_state st;
  nats_result r = stream_->info(st, why);
  if (r == nats_result::not_found) {
    r = stream_->create(why);
    if (r == nats_result::ok) {
      if (options_.log_info) {
        options_.log_info("replication: created stream " + options_.stream + " (subject " +
                          options_.stream + ".wal, " + std::to_string(options_.replicas) +
                          " replicas)");
      }
      r = stream_->info(st, why);
    }
  }
  if (r != nats_result::ok) return check::retry;
  const std::string theirs = fingerprint_in(st.description);
  if (theirs != options_.fingerprint) {
    why = "stream " + options_.stream + " holds the log of another data dir (fingerprint " +
          (theirs.empty() ? "none" : theirs) + ", this one " + options_.fingerprint +
          "): use another --replication-stream, or delete that stream";
    return check::refused;
  }
  const engine::lsn_t own_last = durable_.load(std::memory_order_acquire);
  epoch_.clear();
  unsigned char random[6];
  if (RAND_bytes(random, sizeof random) != 1) throw std::runtime_error("RAND_bytes failed");
  epoch_ = hex(random, sizeof random);
  if (st.messages == 0) {
    expected_last_seq_ = st.last_seq;
    // From the oldest record this WAL still holds (a standby restored from an older backup
    // cannot follow; it says so).
    const auto segments = list_segments(options_.wal_dir);
    engine::lsn_t oldest = own_last + 1;
    for (const auto& s : segments) {
      if (s.first_lsn != 0) {
        oldest = std::min(oldest, s.first_lsn);
        break;
      }
    }
    next_publish_ = std::max<engine::lsn_t>(oldest, 1);
    set_acked(next_publish_ - 1);
  } else {
    stream_message end;
    if (stream_->get(st.last_seq, end, why) != nats_result::ok) return check::retry;
    if (is_mark(end) && own_promotion_mark() != st.last_seq) {
      // The stream ends with a promotion mark that is not this server's: another was promoted.
      fence("stream " + options_.stream + " ends with the promotion of another server (sequence " +
            std::to_string(st.last_seq) + "): re-seed this one as a standby");
      checked_.store(true, std::memory_order_release);
      return check::passed;
    }
    if (end.last_lsn > own_last) {
      fence("stream " + options_.stream + " reaches lsn " + std::to_string(end.last_lsn) +
            ", past this server's last lsn " + std::to_string(own_last) +
            ": another primary wrote after this one (re-seed it as a standby)");
      checked_.store(true, std::memory_order_release);
      return check::passed;
    }
    std::uint32_t stream_crc = 0;
    const bool in_message = !is_mark(end) && frame_crc_in(end.data, end.last_lsn, stream_crc);
    const auto own = wal_tail::frame_crc_of(options_.wal_dir, end.last_lsn);
    if (in_message && own && *own != stream_crc) {
      fence("stream " + options_.stream + " holds another record at lsn " +
            std::to_string(end.last_lsn) + " than this server's WAL (re-seed it as a standby)");
      checked_.store(true, std::memory_order_release);
      return check::passed;
    }
    if (!own && end.last_lsn < own_last) {
      fence("stream " + options_.stream + " ends at lsn " + std::to_string(end.last_lsn) +
            " and this WAL no longer holds the records after it");
      checked_.store(true, std::memory_order_release);
      return check::passed;
    }
    expected_last_seq_ = st.last_seq;
    next_publish_ = end.last_lsn + 1;
    set_acked(end.last_lsn);
  }
  stream_seq_.store(expected_last_seq_, std::memory_order_relaxed);
  set_state("publishing");
  checked_.store(true, std::memory_order_release);
  if (options_.log_info) {
    options_.log_info("replication: publishing to stream " + options_.stream + " from lsn " +
                      std::to_string(next_publish_) + " after sequence " +
                      std::to_string(expected_last_seq_));
  }
  return check::passed;
}

bool replicator::publish_pending(std::string& why) {
  std::uint64_t seq = 0;
  const nats_result r =
      stream_->publish(pending_.frames, pending_.first, pending_.last, options_.fingerprint,
                       expected_last_seq_, pending_.msg_id, seq, why);
  if (r == nats_result::wrong_last_seq) {
    // Our own earlier append whose ack was lost, or another primary's.
    stream_state st;
    stream_message end;
    std::string ignored;
    if (stream_->info(st, ignored) == nats_result::ok && st.messages > 0 &&
        stream_->get(st.last_seq, end, ignored) == nats_result::ok &&
        end.first_lsn == pending_.first && end.last_lsn == pending_.last &&
        end.data == pending_.frames && st.last_seq == expected_last_seq_ + 1) {
      seq = st.last_seq;
    } else {
      fence("another primary appended to stream " + options_.stream + " after sequence " +
            std::to_string(expected_last_seq_) + "; nothing this server wrote after lsn " +
            std::to_string(acked_.load()) + " is acknowledged (re-seed it as a standby)");
      return false;
    }
  } else if (r != nats_result::ok) {
    publish_errors_.fetch_add(1, std::memory_order_relaxed);
    return false;
  } else if (seq != expected_last_seq_ + 1) {
    // Not the sequence after ours: unclear what was stored. Ask again (de-duplicated); a
    // refusal then tells whose append is there.
    why = "the stream acknowledged sequence " + std::to_string(seq) + " where " +
          std::to_string(expected_last_seq_ + 1) + " was due";
    publish_errors_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  expected_last_seq_ = seq;
  stream_seq_.store(seq, std::memory_order_relaxed);
  messages_published_.fetch_add(1, std::memory_order_relaxed);
  records_published_.fetch_add(pending_.last - pending_.first + 1, std::memory_order_relaxed);
  set_acked(pending_.last);
  pending_.frames.clear();
  pending_.first = pending_.last = 0;
  return true;
}

void replicator::publish_loop() {
  std::string why;
  bool positioned = false;
  steady::time_point due_since{};  // local mode: when records first waited (if lingering)
  bool lingering = false;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      if (stopping_) return;
      // A promote request to a primary: not a standby (answered here).
      if (!promotes_.empty()) {
        std::vector<promote_callback> waiting;
        waiting.swap(promotes_);
        lock.unlock();
        for (auto& done : waiting) done(promote_outcome::not_standby, 0);
        continue;
      }
    }
    expire_waiters();
    if (fenced_.load(std::memory_order_acquire)) {
      acks_.fail_all();
      wait_for(std::chrono::milliseconds(100));
      continue;
    }
    if (!checked_.load(std::memory_order_acquire)) {
      if (connect_and_check() == check::refused) return;
      continue;
    }
    if (pending_.frames.empty()) {
      const engine::lsn_t durable = durable_.load(std::memory_order_acquire);
      // Everything durable is in the stream: changes may come again (a wait that timed out
      // closed the gate, and there may be nothing new to publish that would reopen it).
      if (acked_.load() >= durable &&
          gateway_.move_write_gate(engine::write_gate::replication_unavailable,
                                   engine::write_gate::open)) {
        set_state("publishing");
        if (options_.log_info)
          options_.log_info("replication: the stream holds everything; changes are taken");
      }
      if (next_publish_ > durable) {
        std::unique_lock lock(mutex_);
        wake_.wait_for(lock, std::chrono::milliseconds(20), [&] {
          return stopping_ || !promotes_.empty() ||
                 durable_.load(std::memory_order_acquire) >= next_publish_;
        });
        continue;
      }
      if (options_.ack == replication_ack::local &&
          durable - next_publish_ + 1 < publish_linger_records) {
        const auto now = steady::now();
        if (!lingering) {
          lingering = true;
          due_since = now;
        }
        const auto until = due_since + std::chrono::milliseconds(publish_linger_ms);
        if (now < until) {
          std::unique_lock lock(mutex_);
          wake_.wait_until(lock, until, [&] { return stopping_ || !promotes_.empty(); });
          continue;
        }
      }
      lingering = false;
      try {
        if (!positioned || tail_->next_lsn() != next_publish_) {
          if (!tail_->seek(next_publish_)) {
            fence("this WAL no longer holds lsn " + std::to_string(next_publish_) +
                  " that the stream needs next");
            continue;
          }
          positioned = true;
        }
        // Room for the headers below the server's max_payload (1 MiB unless configured).
        const std::size_t payload = stream_->max_payload();
        const std::size_t limit =
            std::min(replication_message_bytes_max,
                     payload > (32u << 10) ? payload - (16u << 10) : payload / 2);
        const std::size_t frames = tail_->read(durable, limit, pending_.frames);
        pending_.first = next_publish_;
        pending_.last = next_publish_ + frames - 1;
        next_publish_ = pending_.last + 1;
        pending_.msg_id =
            epoch_ + "-" + std::to_string(pending_.first) + "-" + std::to_string(pending_.last);
        if (pending_.frames.size() + message_header_bytes_max > stream_->max_payload()) {
          fence("the record at lsn " + std::to_string(pending_.first) +
                " is larger than the NATS server's max_payload (" +
                std::to_string(stream_->max_payload()) + " bytes): raise it");
          continue;
        }
      } catch (const std::exception& e) {
        fence(std::string("cannot read the WAL: ") + e.what());
        continue;
      }
    }
    if (!stream_->connected()) {
      // Disconnected: the client would buffer each try and send them all on reconnect.
      log_warn_limited("replication: NATS unreachable at " + options_.urls + " (retrying)");
      wait_for(std::chrono::milliseconds(50));
      continue;
    }
    if (publish_pending(why)) {
      if (gateway_.current_write_gate() == engine::write_gate::replication_unavailable &&
          acked_.load() >= durable_.load()) {
        gateway_.set_write_gate(engine::write_gate::open);
        set_state("publishing");
        if (options_.log_info)
          options_.log_info("replication: the stream answers again; changes are taken");
      }
      continue;
    }
    if (fenced_.load(std::memory_order_acquire)) continue;
    log_warn_limited("replication: cannot append to stream " + options_.stream + ": " + why +
                     " (retrying)");
    wait_for(std::chrono::milliseconds(20));
  }
}

}  // namespace ecom::persistence
