// replication: a primary's WAL shipped to a NATS JetStream stream, and standbys that follow it
// (../../shared/OPERATIONS.md §3). NATS carries and replicates the log; ecomd adds no consensus.
//
// One thread (`replicator::run`) does all of it, with its own NATS connection:
//   primary   reads what the WAL made durable (wal_tail, woken by the writer's on_durable hook)
//             and appends it to the stream, a message per read (at most a message's bytes),
//             each stating the stream sequence of this server's previous append (fencing). In
//             `stream` ack mode a change's answer waits for that append's ack (when_acked).
//   standby   checks the stream against its data dir (fingerprint of the token secret and the
//             shard count; the stream still holds its next LSN; the same record at its last
//             LSN), then reads the stream from there: appends the records to its own WAL with
//             the same LSNs and has every shard apply its part (engine apply_log), at most
//             apply_batches_in_flight_max messages ahead of the shards.
//   promotion the standby applies the stream to its end and appends a promotion mark (a message
//             with no record, expecting the last sequence it applied; if the old primary
//             appended meanwhile, it applies that too and tries again): from then on the old
//             primary's appends are refused and it is fenced. The mark's sequence is noted in
//             the data dir (replication_term_file). Then it plans and runs the flows' recovery
//             (as a restart would) and goes on as a primary after its mark.
// The code: replication.cc (start, stop, waits, figures), replication_primary.cc (the check at
// start, publishing), replication_standby.cc (the check, reading and applying, promotion).
// A primary whose append is refused because the stream moved on (another primary appended)
// is fenced: the gateway refuses changes (NOT_PRIMARY) for good; it still serves reads.
//
// Limits: replication_message_bytes_max per message (below NATS's 1 MiB max_payload), waits
// as the flags say (timeout_ms), the follower's in-flight window. Failure: a standby whose data
// dir cannot follow the stream refuses to start (start() throws) or, found later, calls
// `fatal`; a primary that cannot reach the stream keeps retrying (in `stream` mode it stops
// taking changes once one was not acked in time, until the stream answers again).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/gateway.h"
#include "engine/shard_set.h"
#include "engine/types.h"
#include "persistence/nats_stream.h"
#include "persistence/replication_port.h"

namespace ecom::persistence {

class wal_tail;
class wal_writer;

inline constexpr std::size_t replication_message_bytes_max = (1u << 20) - (16u << 10);
inline constexpr std::size_t message_header_bytes_max = 1024;  // ours and NATS's, generously
inline constexpr std::size_t apply_batches_in_flight_max = 32;
// How often waits are checked against their deadlines (X-Ecomd-Min-Lsn, stream acks).
inline constexpr std::uint32_t waiter_expiry_interval_ms = 10;
// A standby whose consumer delivers nothing this long while the stream has more makes a new one.
inline constexpr std::uint32_t resubscribe_after_ms = 2000;
// `local` ack mode: a message waits up to this long for more records (fewer, larger messages
// cost NATS and the publisher far less per record; nobody waits on them), unless it already
// holds publish_linger_records.
inline constexpr std::uint32_t publish_linger_ms = 2;
inline constexpr engine::lsn_t publish_linger_records = 2048;
// One publish's wait for its ack, at most (the stream-ack timeout is judged between tries).
inline constexpr std::uint32_t publish_wait_ms_max = 250;
inline constexpr const char* replication_term_file = "replication-term";

struct replication_options {
  replication_role role = replication_role::none;
  std::string urls;  // nats://host:port[,...]
  std::string stream = "ecomd";
  std::uint32_t replicas = 1;
  replication_ack ack = replication_ack::local;
  std::uint32_t timeout_ms = 2000;
  std::string fingerprint;  // replication_fingerprint() of the data dir
  std::filesystem::path wal_dir;
  // Where a promoted server notes the stream sequence of its promotion (replication_term_file),
  // so that it knows its own mark at the stream's end after a restart.
  std::filesystem::path data_dir;
  std::function<void(const std::string&)> log_info;
  std::function<void(const std::string&)> log_warn;
  // The process must stop: a standby found (after start) that it cannot follow the stream.
  std::function<void(const std::string&)> fatal;
  // A standby applied the whole stream for the first time (ready).
  std::function<void()> caught_up;
};

// Identifies the data dir a log belongs to without revealing its secret: hex of
// SHA-256(secret || shard count), 32 characters.
std::string replication_fingerprint(const std::string& token_secret, std::uint32_t shard_count);

// Callbacks waiting for an LSN to be reached (acked, or applied), each with a deadline.
class lsn_waiters {
 public:
  using callback = std::function<void(bool reached)>;
  // Runs `done(true)` at once when `reached` is already at `lsn`; else keeps it.
  void add(engine::lsn_t lsn, std::chrono::steady_clock::time_point deadline, callback done,
           const std::atomic<engine::lsn_t>& reached);
  void release(engine::lsn_t reached);  // done(true) for every one at or below
  std::size_t expire(std::chrono::steady_clock::time_point now);  // done(false) when due
  void fail_all();
  // fail_all, and from now on add() answers false at once (the replicator stops).
  void close();
  std::size_t size() const;

 private:
  struct entry {
    std::chrono::steady_clock::time_point deadline;
    callback done;
  };
  mutable std::mutex mutex_;
  std::multimap<engine::lsn_t, entry> waiting_;
  bool closed_ = false;
};

class replicator final : public replication_port {
 public:
  replicator(replication_options options, engine::shard_set& shards, engine::gateway& gateway);
  ~replicator();
  replicator(const replicator&) = delete;
  replicator& operator=(const replicator&) = delete;

  // The WAL writer's on_durable hook (recovery_options::on_wal_durable). Any thread.
  void wal_durable(engine::lsn_t lsn);
  // After recovery, with the WAL open and `last_lsn` the last LSN it holds. Primary: checks
  // the stream (when it answers now) and starts publishing. Standby: closes the write gate,
  // checks the stream (when it answers now; throws std::runtime_error with what to do when
  // the data dir cannot follow it) and starts following.
  void start(wal_writer& wal, engine::lsn_t last_lsn);
  void stop();  // joins the thread; waiting callbacks get false

  bool active() const { return options_.role != replication_role::none; }
  replication_role role() const override { return role_.load(std::memory_order_acquire); }
  // What this server holds for X-Ecomd-Lsn: applied (standby), or durable here (primary).
  engine::lsn_t applied_lsn() const override;
  engine::lsn_t answer_lsn() const override;
  // A primary that answers a change only once the stream acknowledged it.
  bool acks_from_stream() const override {
    return role() == replication_role::primary && options_.ack == replication_ack::stream;
  }
  // Stream-ack mode: done(true) once the stream acknowledged `lsn`; done(false) when it did not
  // within timeout_ms, or this server is fenced or stopping. Any thread; done runs on any.
  void when_acked(engine::lsn_t lsn, lsn_waiters::callback done) override;
  // Standby: done(true) once `lsn` is applied; done(false) after `wait_ms`.
  void when_applied(engine::lsn_t lsn, std::uint32_t wait_ms, lsn_waiters::callback done) override;

  // POST /admin/promote. done runs on the replication thread (or at once).
  void promote(promote_callback done) override;

  replication_status status() const override;
  // For the snapshotter: WAL segments holding records after it stay (not yet in the stream).
  engine::lsn_t wal_needed_after() const;

 private:
  enum class check : std::uint8_t { passed, retry, refused };

  void run();
  bool follow_loop();  // true when promoted
  void publish_loop();
  check standby_check(std::string& why);
  check primary_check(std::string& why);
  // Connects if need be and runs the role's check: waits a little on `retry`, calls `fatal` on
  // `refused`.
  check connect_and_check();
  bool apply_message(const stream_message& msg, std::string& why);
  bool try_promote();
  bool promote_pending_empty();
  bool publish_pending(std::string& why);
  // Promotion: the mark after stream sequence `after` (retried until `deadline`); its sequence,
  // or 0 (see `why`, and `moved`: another append came first).
  std::uint64_t append_promotion_mark(std::uint64_t after, engine::lsn_t stream_end,
                                      const std::string& mark_data,
                                      std::chrono::steady_clock::time_point deadline, bool& moved,
                                      std::string& why);
  std::uint64_t own_promotion_mark() const;  // from replication_term_file; 0 when none
  void fence(const std::string& why);
  void expire_waiters();
  void run_expiry();  // the expiry thread: waits end on time, whatever NATS calls take
  void set_acked(engine::lsn_t lsn);  // acked_, and the acks waiting for it
  // A standby: false when this data dir's own record at `lsn` differs from `crc` (the frame of
  // the stream that it skips, since it holds that LSN already).
  bool own_record_is(engine::lsn_t lsn, std::uint32_t crc);
  void set_state(const char* state);
  void log_warn_limited(const std::string& line);
  void wait_for(std::chrono::milliseconds pause);
  // The stored CRC of the frame of `lsn` in the message's frames; false when it is not there.
  static bool frame_crc_in(const std::string& frames, engine::lsn_t lsn, std::uint32_t& crc);

  replication_options options_;
  engine::shard_set& shards_;
  engine::gateway& gateway_;
  std::atomic<wal_writer*> wal_{nullptr};
  std::unique_ptr<nats_stream> stream_;
  std::unique_ptr<wal_tail> tail_;
  std::unique_ptr<wal_tail> own_records_;  // a standby's overlap check (own_record_is)

  std::atomic<replication_role> role_{replication_role::none};
  std::atomic<engine::lsn_t> durable_{0};          // the WAL's durable LSN (primary)
  std::atomic<engine::lsn_t> acked_{0};            // the last LSN the stream acknowledged (primary)
  std::atomic<engine::lsn_t> applied_{0};          // the last LSN every shard applied (standby)
  std::atomic<engine::lsn_t> stream_last_lsn_{0};  // standby: the stream's last LSN, as last seen
  std::atomic<std::uint64_t> stream_seq_{0};
  std::atomic<bool> fenced_{false};
  std::atomic<bool> checked_{false};
  std::atomic<bool> caught_up_{false};
  std::atomic<const char*> state_{"off"};
  std::atomic<std::uint64_t> messages_published_{0}, records_published_{0}, publish_errors_{0},
      messages_applied_{0}, records_applied_{0};

  // Replication thread only.
  engine::lsn_t appended_ = 0;  // standby: the last LSN appended to the WAL
  engine::lsn_t next_publish_ = 0;
  std::uint64_t expected_last_seq_ = 0;
  std::uint64_t start_seq_ = 1;       // standby: where to read from once checked
  std::uint64_t stream_end_seq_ = 0;  // standby: the stream's last sequence at the check
  engine::lsn_t stream_end_lsn_ = 0;  // standby: the last LSN of the last message read (or checked)
  std::string epoch_;                 // this primary term's part of each Nats-Msg-Id
  struct pending_message {
    std::string frames;
    engine::lsn_t first = 0;
    engine::lsn_t last = 0;
    std::string msg_id;
  } pending_;
  std::chrono::steady_clock::time_point last_warn_{};
  std::chrono::steady_clock::time_point next_info_{};

  lsn_waiters acks_;     // primary, stream mode
  lsn_waiters applies_;  // standby, X-Ecomd-Min-Lsn
  std::mutex mutex_;     // wake-ups, stop, promote requests, the apply window
  std::condition_variable wake_;
  std::condition_variable expiry_wake_;  // the expiry thread's (stop)
  bool stopping_ = false;
  std::vector<promote_callback> promotes_;
  std::size_t in_flight_ = 0;  // apply batches the shards have not finished
  std::thread thread_;
  std::thread expiry_thread_;
};

}  // namespace ecom::persistence
