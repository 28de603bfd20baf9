#include "engine/shard.h"

#include <cassert>
#include <cstdio>

#include "engine/answer.h"
#include "engine/check.h"

namespace ecom::engine {

shard::shard(shard_options options, clock_fn clock)
    : options_(options),
      clock_(std::move(clock)),
      state_(std::in_place, options.index, options.shard_count, options.login_throttle_emails_max),
      mailbox_(options.mailbox_depth_max) {
  assert(options_.shard_count > 0 && options_.shard_count <= shard_count_max);
  records_.reserve(16);
}

shard::~shard() {
  stop();
}

bool shard::replay(record_type type, std::string_view payload, lsn_t lsn) {
  assert(wal_ == nullptr);
  last_lsn_.store(std::max(lsn, last_lsn()), std::memory_order_relaxed);
  return state_->apply(type, payload);
}

bool shard::apply_log_batch(const log_batch& batch) {
  for (const log_batch::item& it : batch.items) {
    if (it.type == record_type::coupon_created) {
      // Templates are copied to every shard (as on replay); only the writer's LSN moves.
      if (!state_->apply(it.type, batch.payload(it))) return false;
      if (it.owner == options_.index) last_lsn_.store(it.lsn, std::memory_order_relaxed);
      continue;
    }
    if (it.owner != options_.index) continue;
    if (!state_->apply(it.type, batch.payload(it))) return false;
    last_lsn_.store(it.lsn, std::memory_order_relaxed);
  }
  log_applied_lsn_ = batch.last_lsn;
  return true;
}

bool shard::load_snapshot_entity(std::string_view key, std::string_view value) {
  assert(wal_ == nullptr);
  return state_->load(key, value);
}

void shard::discard_loaded_state() {
  assert(wal_ == nullptr);
  state_.emplace(options_.index, options_.shard_count, options_.login_throttle_emails_max);
  snapshot_cut_ = 0;
  last_lsn_.store(0, std::memory_order_relaxed);
}

void shard::end_snapshot_load(lsn_t cut) {
  assert(wal_ == nullptr);
  state_->end_load();
  snapshot_cut_ = cut;
  last_lsn_.store(cut, std::memory_order_relaxed);
}

void shard::start(journal& wal) {
  assert(wal_ == nullptr && !thread_.joinable());
  check_invariants("after recovery");
  wal_ = &wal;
  log_applied_lsn_ = wal.appended_lsn();  // recovery applied the whole log
  state_->size_for_users();
  thread_ = std::thread([this] { run(); });
}

void shard::start_driven(journal& wal, shard_driver driver) {
  assert(wal_ == nullptr && !driver_);
  check_invariants("after recovery");
  wal_ = &wal;
  log_applied_lsn_ = wal.appended_lsn();  // recovery applied the whole log
  state_->size_for_users();
  driver_ = std::move(driver);
  batch_.reserve(mailbox_.depth_max());
  mailbox_.drive([this] { driver_(std::chrono::milliseconds(0), [this] { drain(); }); });
  driver_(std::chrono::milliseconds(options_.sweep_interval_ms), [this] { tick_driven(); });
}

void shard::stop() {
  mailbox_.close();
  if (thread_.joinable()) thread_.join();
  if (driver_) {
    // The driver's thread has stopped: this thread owns the shard now. Run what is left.
    while (mailbox_.take_all(batch_)) {
      time_ms now = clock_();
      for (command& item : batch_) execute(item, now);
    }
    driver_ = nullptr;
  }
  if (wal_ != nullptr) check_invariants("at stop");
  watches_.clear();
  timers_.clear();
}

// Builds with assertions (the test builds) check every invariant of the books when a shard
// starts and stops: every end-to-end test that stops its server checks them too.
void shard::check_invariants([[maybe_unused]] const char* when) const {
#ifndef NDEBUG
  std::vector<std::string> broken = state_->check_invariants();
  for (const auto& what : broken)
    std::fprintf(stderr, "shard %u %s: invariant broken: %s\n", options_.index, when, what.c_str());
  ECOM_CHECK(broken.empty(), "a shard's invariants do not hold");
#endif
}

void shard::drain() {
  if (!mailbox_.take_all(batch_)) return;
  time_ms now = clock_();  // one reading per batch: the domain sees time as an input
  expire_due(now);
  for (command& item : batch_) execute(item, now);
  batch_.clear();  // callbacks and their captures go now, not at the next batch
  state_->size_for_users();
  if (capture_port_ != nullptr && !capture_waiting_) {
    // Walk on between batches, also when no command comes: a drain of its own, later.
    if (capture_step()) {
      capture_waiting_ = true;
      driver_(std::chrono::milliseconds(capture_port_->has_room(options_.index) ? 0 : 1), [this] {
        capture_waiting_ = false;
        drain();
      });
    }
  }
}

void shard::tick_driven() {
  tick(clock_());
  driver_(std::chrono::milliseconds(options_.sweep_interval_ms), [this] { tick_driven(); });
}

void shard::run() {
  std::vector<command> batch;
  batch.reserve(mailbox_.depth_max());
  const auto sweep = std::chrono::milliseconds(options_.sweep_interval_ms);
  auto next_sweep = std::chrono::steady_clock::now() + sweep;
  for (;;) {
    auto wake_at = timers_.empty() ? next_sweep : std::min(next_sweep, timers_.begin()->first);
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
        wake_at - std::chrono::steady_clock::now());
    if (capture_port_ != nullptr) wait = std::chrono::milliseconds(capture_waiting_ ? 1 : 0);
    if (!mailbox_.pop_all(batch, std::max(wait, std::chrono::milliseconds(0)))) break;
    time_ms now = clock_();
    expire_due(now);
    for (command& item : batch) execute(item, now);
    batch.clear();
    state_->size_for_users();
    if (capture_port_ != nullptr)
      capture_waiting_ = capture_step() && !capture_port_->has_room(options_.index);
    run_due_timers();
    if (std::chrono::steady_clock::now() >= next_sweep) {
      tick(clock_());
      next_sweep = std::chrono::steady_clock::now() + sweep;
    }
  }
}

void shard::schedule(std::chrono::milliseconds delay, std::function<void()> work) {
  if (driver_) return driver_(delay, std::move(work));
  timers_.emplace(std::chrono::steady_clock::now() + delay, std::move(work));
}

void shard::run_due_timers() {
  auto now = std::chrono::steady_clock::now();
  while (!timers_.empty() && timers_.begin()->first <= now) {
    auto work = std::move(timers_.begin()->second);
    timers_.erase(timers_.begin());
    work();
  }
}

void shard::append_records() {
  if (records_.empty()) return;
  last_lsn_.store(wal_->append(records_, {}), std::memory_order_relaxed);
  records_.clear();
}

// Periodic work that needs no request (see shard_state::tick).
void shard::tick(time_ms now) {
  if (following()) return state_->forget_old(now);  // the expiries come in the primary's log
  records_.clear();
  state_->tick(now, records_);
  append_records();
}

// Pending orders whose time is up expire before the batch that could read them runs.
void shard::expire_due(time_ms now) {
  if (following() || !state_->orders.has_due(now)) return;
  records_.clear();
  state_->orders.expire(now, records_);
  append_records();
}

void shard::execute(command& item, time_ms now) {
  if (std::visit([](const auto& body) { return is_control_command<std::decay_t<decltype(body)>>; },
                 item.body)) {
    return execute_control(item, now);
  }
  records_.clear();
  state_->keys.set_durable_lsn(wal_->durable_lsn());
  reply answer = state_->run(item.body, item.key_use, item.key.get(), now, records_);
  const errc code = answer.code;
  const bool replayed = answer.replayed;
  const bool event = !records_.empty() && std::holds_alternative<record_event>(item.body);
  complete(item, std::move(answer));
  state_->settle_key(item.key_use, item.key.get(), code, replayed,
                     records_.empty() ? 0 : last_lsn());
  records_.clear();
  if (event && !watches_.empty()) wake_watches();
}

void shard::complete(command& item, reply&& answer) {
  lsn_t lsn = 0;
  if (!records_.empty()) {
    if (item.mode == reply_mode::durable) {
      // The reply rides on its own records' durability: one callback in the same append.
      // Whatever earlier steps rest on was appended before, so it is covered.
      lsn = wal_->append(records_,
                         [done = std::move(item.done), answer = std::move(answer)]() mutable {
                           done(std::move(answer));
                         });
      assert(item.rests_on <= lsn);
      last_lsn_.store(lsn, std::memory_order_relaxed);
      return;
    }
    lsn = wal_->append(records_, {});
    last_lsn_.store(lsn, std::memory_order_relaxed);
  }
  const lsn_t rests_on = std::max(item.rests_on, lsn != 0 ? lsn : last_lsn());
  if (item.mode == reply_mode::feeds_next_step) {
    answer.rests_on = rests_on;
    return item.done(std::move(answer));
  }
  answer_when_durable(*wal_, rests_on, std::move(item.done), std::move(answer));
}

void shard::execute_control(command& item, time_ms now) {
  if (std::holds_alternative<watch_events>(item.body)) return park_watch(item);
  records_.clear();
  reply answer;
  if (std::holds_alternative<get_shard_figures>(item.body)) {
    shard_figures figures = state_->figures();
    figures.last_lsn = last_lsn();
    answer = reply{errc::ok, figures, false};
  } else if (std::holds_alternative<release_watches>(item.body)) {
    for (auto& parked : watches_) {
      answer_when_durable(*wal_, last_lsn(), std::move(parked.done),
                          reply{errc::ok, state_->events.page(parked.watch.after, 0), false});
    }
    watches_.clear();
  } else if (std::holds_alternative<begin_snapshot>(item.body)) {
    const auto& begin = std::get<begin_snapshot>(item.body);
    start_capture(*begin.port, begin.id);
  } else if (const auto* log = std::get_if<apply_log>(&item.body)) {
    answer = reply{apply_log_batch(*log->batch) ? errc::ok : errc::internal, {}, false};
    if (!watches_.empty()) wake_watches();
  } else if (std::holds_alternative<catch_up_expiry>(item.body)) {
    // Everything that expired while the server was down, not one tick's worth.
    expiry_counts total;
    for (;;) {
      expiry_counts counts = state_->tick(now, records_);
      total.coupons += counts.coupons;
      total.orders += counts.orders;
      append_records();
      if (counts.coupons == 0 && counts.orders == 0) break;
    }
    answer = reply{errc::ok, total, false};
  }
  complete(item, std::move(answer));
}

// ---- snapshot capture ------------------------------------------------------------------------

// Between two commands: the state now is the state at the cut. Every record this shard
// appended has an LSN at or below the WAL's appended LSN; every later one will be above it.
void shard::start_capture(snapshot_port& port, std::uint64_t snapshot_id) {
  if (capture_port_ != nullptr) state_->end_capture();  // a failed snapshot's walk: dropped
  capture_port_ = &port;
  capture_id_ = snapshot_id;
  // Following, the WAL holds records the shards have not applied yet.
  capture_cut_ = following() ? log_applied_lsn_ : wal_->appended_lsn();
  capture_walk_ = capture_buffer{};
  capture_changed_ = capture_buffer{};
  // The books keep writing what changes touch into capture_changed_; their headers (the
  // lowest keys) start the walk's stream.
  state_->begin_capture(capture_changed_);
  capture_walk_.bytes().swap(capture_changed_.bytes());
  if (driver_ && !capture_waiting_) {
    capture_waiting_ = true;
    driver_(std::chrono::milliseconds(0), [this] {
      capture_waiting_ = false;
      drain();
    });
  }
}

void shard::hand_over_chunk(capture_stream stream) {
  capture_buffer& out = stream == capture_stream::walk ? capture_walk_ : capture_changed_;
  if (out.bytes().empty()) return;
  capture_port_->deliver(options_.index, capture_id_, stream, std::move(out.bytes()));
  out.bytes().clear();
}

// One bounded step; true while the walk has more to do. Entities written by changes since the
// last step are handed over too.
bool shard::capture_step() {
  bool done = false;
  if (capture_port_->has_room(options_.index)) {
    capture_budget budget{capture_step_visits_max};
    done = state_->capture_step(capture_walk_, budget);
  }
  if (done || capture_walk_.bytes().size() >= capture_chunk_bytes)
    hand_over_chunk(capture_stream::walk);
  if (done || capture_changed_.bytes().size() >= capture_chunk_bytes)
    hand_over_chunk(capture_stream::changed);
  if (!done) return true;
  state_->end_capture();
  snapshot_port* port = std::exchange(capture_port_, nullptr);
  port->finished(options_.index, capture_id_, capture_cut_);
  return false;
}

// A long poll with nothing after its position waits here (bounded), on the event shard.
void shard::park_watch(command& item) {
  const watch_events& watch = std::get<watch_events>(item.body);
  event_page page = state_->events.page(watch.after, watch.limit);
  if (!page.items.empty() || watches_.size() >= event_watches_max || watch.wait_ms <= 0) {
    // Something to show, or past the bound (answered at once, empty: the poller asks again).
    return complete(item, reply{errc::ok, std::move(page), false});
  }
  std::uint64_t id = next_watch_id_++;
  watches_.push_back(parked_watch{id, watch, std::move(item.done)});
  schedule(std::chrono::milliseconds(watch.wait_ms), [this, id] { end_watch(id); });
}

void shard::end_watch(std::uint64_t id) {
  auto it = std::find_if(watches_.begin(), watches_.end(),
                         [id](const parked_watch& parked) { return parked.id == id; });
  if (it == watches_.end()) return;  // answered by an event, or released
  answer_when_durable(*wal_, last_lsn(), std::move(it->done),
                      reply{errc::ok, state_->events.page(it->watch.after, 0), false});
  watches_.erase(it);
}

// An event was just appended: every parked poll before it gets its page once it is durable.
void shard::wake_watches() {
  std::erase_if(watches_, [this](parked_watch& parked) {
    if (parked.watch.after >= state_->events.last_seq()) return false;  // keeps waiting
    answer_when_durable(
        *wal_, last_lsn(), std::move(parked.done),
        reply{errc::ok, state_->events.page(parked.watch.after, parked.watch.limit), false});
    return true;
  });
}

}  // namespace ecom::engine
