// shard: the runtime around one shard_state: a mailbox, the thread that runs it, the journal
// its records go to, and the rule for when a reply may leave (reply_mode, command.h). Commands
// arrive by message only; records go to the journal; the kernel dispatch is shard_state's.
//
// Which thread: a shard exists once per shard index and runs either on its own std::thread
// (start(): engine tests and offline tools) or on one thread of an event loop the caller owns
// (start_driven(): in ecomd, the io thread that also serves its connections, so a hop to a busy
// shard costs no wake-up). Nothing outside that thread may read or write its state once it
// runs; others only post() into the mailbox. Before start, recovery feeds it records
// (replay) and may read its state (state()) from one thread.
//
// The runtime answers a few commands itself (control_commands.h): figures, the event feed's
// long polls (parked here, ended by an event, a timer on the shard's own thread, or
// release_watches) and start-up's expiry catch-up.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <thread>
#include <vector>

#include "engine/command.h"
#include "engine/journal.h"
#include "engine/limits.h"
#include "engine/mailbox.h"
#include "engine/shard_state.h"
#include "engine/snapshot_port.h"

namespace ecom::engine {

using clock_fn = std::function<time_ms()>;
// Runs `work` once, after `delay`, on the one thread that drives a shard; never inline.
using shard_driver =
    std::function<void(std::chrono::milliseconds delay, std::function<void()> work)>;

struct shard_options {
  shard_index index = 0;
  std::uint32_t shard_count = 1;
  std::size_t mailbox_depth_max = mailbox_depth_max_default;
  std::uint32_t sweep_interval_ms = sweep_interval_ms_default;
  std::size_t login_throttle_emails_max = login_throttle_emails_max_default;  // this shard's
};

class shard {
 public:
  shard(shard_options options, clock_fn clock);
  ~shard();
  shard(const shard&) = delete;
  shard& operator=(const shard&) = delete;

  // Before start: rebuild state from one WAL record. False when it does not decode or does not
  // fit the state (the caller reports corruption).
  bool replay(record_type type, std::string_view payload, lsn_t lsn);
  // Before start only: the state, for recovery to plan what a crash left half done.
  const shard_state& state() const { return *state_; }
  // Before start: load one snapshot entity (false: it does not decode or fit); then
  // end_snapshot_load(cut) rebuilds the derived indexes and sets the cut: replay() skips the
  // shard's records at or below it (the snapshot holds them).
  bool load_snapshot_entity(std::string_view key, std::string_view value);
  void end_snapshot_load(lsn_t cut);
  lsn_t snapshot_cut() const { return snapshot_cut_; }
  shard_state& state_for_load() { return *state_; }
  // Before start: forgets a partly loaded snapshot (it failed its checks half way), so that
  // an older one, or the whole WAL, can be loaded instead.
  void discard_loaded_state();

  // Starts on a thread of its own, writing to `wal` from now on.
  void start(journal& wal);
  // Instead of start(): the shard runs on the driver's thread (see shard_driver).
  void start_driven(journal& wal, shard_driver driver);
  // Any thread. False when the mailbox is full or the shard is stopping: answer OVERLOADED.
  bool post(command& item) { return mailbox_.try_push(item); }
  // Past the mailbox bound: only for a later step of a flow that was admitted at its first
  // step (each flow sends a bounded number), and for control messages.
  bool post_always(command& item) { return mailbox_.push_always(item); }
  // Drains what is queued, then joins the thread. Driven: call it once the driver's thread has
  // stopped; the rest of the mailbox is then executed on the calling thread.
  void stop();

  // A standby's shard follows another server's log (apply_log) and writes nothing of its own:
  // the expiries wait, since the primary's log carries their records (the tick only forgets
  // old idempotency entries and popularity, which write nothing).
  // Any thread; the shard sees it at its next tick.
  void set_following(bool following) { following_.store(following, std::memory_order_release); }
  bool following() const { return following_.load(std::memory_order_acquire); }

  std::size_t mailbox_depth() const { return mailbox_.depth(); }
  std::size_t mailbox_depth_max() const { return mailbox_.depth_max(); }
  lsn_t last_lsn() const { return last_lsn_.load(std::memory_order_relaxed); }

 private:
  struct parked_watch {
    std::uint64_t id = 0;
    watch_events watch;
    reply_callback done;
  };

  void run();          // own thread: the loop
  void drain();        // driven: one batch from the mailbox
  void tick_driven();  // driven: the periodic tick, rescheduled every sweep interval
  void execute(command& item, time_ms now);
  void execute_control(command& item, time_ms now);
  // Appends the command's records (if any) and hands its reply over as item.mode says.
  void complete(command& item, reply&& answer);
  void append_records();  // records_ with no reply waiting on them
  void tick(time_ms now);
  void expire_due(time_ms now);
  // apply_log: this shard's records of a batch (and every template); false at the first one
  // that does not apply.
  bool apply_log_batch(const log_batch& batch);
  // Runs `work` on this shard's thread after `delay`.
  void schedule(std::chrono::milliseconds delay, std::function<void()> work);
  void run_due_timers();
  void park_watch(command& item);
  void end_watch(std::uint64_t id);  // its wait_ms passed
  void wake_watches();               // an event was just appended
  void check_invariants(const char* when) const;
  // Snapshot capture (begin_snapshot): one bounded step of the walk between batches, handing
  // full chunks to the port; true while there is more to walk.
  void start_capture(snapshot_port& port, std::uint64_t snapshot_id);
  bool capture_step();
  void hand_over_chunk(capture_stream stream);

  shard_options options_;
  clock_fn clock_;
  std::optional<shard_state> state_;  // always engaged; optional so it can be rebuilt
  journal* wal_ = nullptr;            // set by start
  mailbox<command> mailbox_;
  std::vector<parked_watch> watches_;  // event shard only; at most event_watches_max
  std::uint64_t next_watch_id_ = 1;
  std::vector<record> records_;     // reused per command: no allocation once warm
  std::atomic<lsn_t> last_lsn_{0};  // the last LSN this shard's records got (or replayed)
  std::thread thread_;
  // Own thread only: delayed work (long-poll timeouts), run by the loop when due.
  std::multimap<std::chrono::steady_clock::time_point, std::function<void()>> timers_;
  shard_driver driver_;         // driven mode only
  std::vector<command> batch_;  // driven mode: reused per drain
  // Snapshot: the capture in progress (port null when none) and the cut of a loaded one.
  snapshot_port* capture_port_ = nullptr;
  capture_buffer capture_walk_;     // the walk's entities (capture_stream::walk)
  capture_buffer capture_changed_;  // those changes wrote first (capture_stream::changed)
  lsn_t capture_cut_ = 0;
  std::uint64_t capture_id_ = 0;
  bool capture_waiting_ = false;  // driven: a drain is scheduled to go on walking
  lsn_t snapshot_cut_ = 0;
  std::atomic<bool> following_{false};
  // Following: the last LSN of the log applied here (every record of this shard up to it is
  // in the state, none after it): a capture's cut, since the WAL's appended LSN runs ahead of
  // what the shards applied.
  lsn_t log_applied_lsn_ = 0;
};

}  // namespace ecom::engine
