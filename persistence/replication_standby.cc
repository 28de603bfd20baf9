// The standby's part of the replicator: the check of a data dir against the stream, reading
// and applying it, and the promotion (replication.h).
#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "engine/fan_out.h"
#include "engine/flow_recovery.h"
#include "persistence/crc32c.h"
#include "persistence/file_io.h"
#include "persistence/replication.h"
#include "persistence/replication_detail.h"
#include "persistence/wal_format.h"
#include "persistence/wal_tail.h"
#include "persistence/wal_writer.h"

namespace ecom::persistence {

using namespace replication_detail;

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
  epoch_ = random_name();
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

}  // namespace ecom::persistence
