// The primary's part of the replicator: the check of the stream at start, and publishing what
// the WAL made durable (replication.h).
#include <algorithm>
#include <stdexcept>

#include "persistence/replication.h"
#include "persistence/replication_detail.h"
#include "persistence/wal_format.h"
#include "persistence/wal_reader.h"
#include "persistence/wal_tail.h"
#include "persistence/wal_writer.h"

namespace ecom::persistence {

using namespace replication_detail;

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
  epoch_ = random_name();
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
