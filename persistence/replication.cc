#include "persistence/replication.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "persistence/replication_detail.h"
#include "persistence/wal_tail.h"
#include "persistence/wal_writer.h"

namespace ecom::persistence {

using namespace replication_detail;

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

}  // namespace ecom::persistence
