// Plain data of the flash-sale figures: the open-loop schedule's report (--rate, --stages), the
// opening bell (--opens-in), the fairness audit and the retries. Filled by the run, written by
// summary_output/sale_output; no I/O here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tools/ecom_load/latency_histogram.h"

namespace ecom::load {

// What the open-loop pacing measured (--rate or --stages). Latencies elsewhere in the summary are
// then corrected: measured from each request's intended send time (wrk2's correction).
struct open_loop_report {
  std::string target_text;            // "1000/s" or the --stages text
  double schedule_s = 0;              // length of the schedule
  double late_threshold_ms = 0;       // a request sent later than this past its time is "late"
  double run_s = 0;                   // schedule start to the end of sending
  std::uint64_t scheduled = 0;        // requests due before the run ended
  std::uint64_t sent = 0;             // requests sent on the schedule
  std::uint64_t sent_late = 0;        // of those, sent more than late_threshold_ms after their time
  std::uint64_t unsent = 0;           // due before the run ended, never sent (no free connection)
  latency_histogram service_latency;  // µs, write start to response (uncorrected)
  latency_histogram send_delay;       // µs, intended send time to write start
  double slot_s = 0.1;                // width of one slot of the series
  std::vector<std::uint64_t> target_per_slot;    // requests due per slot
  std::vector<std::uint64_t> sent_per_slot;      // requests sent per slot
  std::vector<std::uint64_t> answered_per_slot;  // answers received per slot
  double target_rate_per_s() const { return run_s > 0 ? scheduled / run_s : 0; }
  double arrival_rate_per_s() const { return run_s > 0 ? sent / run_s : 0; }
};

// One scrape of the server's /metrics during the opening second.
struct metrics_sample {
  double t_ms = 0;                     // since the bell (negative: before it)
  std::int64_t mailbox_depth_max = 0;  // ecomd_shard_mailbox_depth, the deepest shard
  std::int64_t mailbox_depth_sum = 0;  // all shards
  double wal_group_records = -1;       // records per fsync since the last sample; -1: no fsync
};

// The opening bell (--opens-in): the campaign opens at start_at; connections are opened and
// warmed before, some users refresh early, and every connection's first issue goes at the bell.
struct opening_report {
  std::string start_at;  // RFC 3339, as sent to the server
  double opens_in_s = 0;
  std::uint64_t connections = 0;
  std::uint64_t connections_warmed = 0;     // answered the warm-up GET before the bell
  std::uint64_t early_requests = 0;         // issues sent before the bell ("refresh early")
  std::uint64_t early_not_active = 0;       // of those, answered 409 COUPON_NOT_ACTIVE
  std::uint64_t not_active_after_bell = 0;  // COUPON_NOT_ACTIVE for a request sent after it
  latency_histogram release_spread;         // µs, each connection's first bell issue − bell
  double sold_out_after_ms = -1;            // bell to the last 201's answer; -1: not sold out
  latency_histogram first_second_latency;   // µs, issues sent in [bell, bell + 1 s)
  double slot_ms = 10;                      // the timeline's slot width
  // Per slot of the first second after the bell (100 slots of 10 ms): issues sent, and answers
  // received by kind.
  std::vector<std::uint64_t> sent;
  std::vector<std::uint64_t> issued;
  std::vector<std::uint64_t> sold_out;
  std::vector<std::uint64_t> overloaded;
  std::vector<std::uint64_t> other;
  std::vector<metrics_sample> server_metrics;  // every 50 ms from bell − 100 ms to bell + 1 s
  std::string metrics_error;                   // why /metrics could not be read; empty: fine
};

inline constexpr std::size_t fairness_bins_max = 1000;

// First come, first served, measured: a loser who sent earlier (by more than the tolerance) than
// some winner is an inversion. Send times are the client's, of the request that decided.
struct fairness_report {
  double tolerance_ms = 1;
  std::uint64_t winners = 0;          // 201
  std::uint64_t losers = 0;           // 409 COUPON_SOLD_OUT
  std::uint64_t inverted_losers = 0;  // losers who sent earlier than some winner
  std::uint64_t inverted_pairs = 0;   // (loser, winner) pairs with loser earlier
  bool has_worst = false;
  std::int64_t worst_loser_user_id = 0;
  std::int64_t worst_winner_user_id = 0;
  double worst_gap_ms = 0;  // how much earlier that loser sent than that winner
  // The plot: winners and losers by send time, in bins of bin_ms from origin_ms (µs-based send
  // times of user_result::sent_us, in ms); at most fairness_bins_max bins (wider bins for long
  // runs).
  double origin_ms = 0;
  double bin_ms = 1;
  std::vector<std::uint64_t> winners_per_bin;
  std::vector<std::uint64_t> losers_per_bin;
  double inverted_loser_share() const { return losers ? double(inverted_losers) / losers : 0; }
  double inverted_pair_share() const {
    return winners && losers ? double(inverted_pairs) / (double(winners) * double(losers)) : 0;
  }
};

// Retries as users do them (--retry-on, --idempotency).
struct retry_report {
  std::vector<int> retry_on;        // statuses retried after Retry-After (empty: none)
  bool idempotency = false;         // an Idempotency-Key per user and click
  std::uint64_t retried_users = 0;  // users whose issue was sent more than once
  std::uint64_t retries = 0;        // requests beyond each user's first
  std::uint64_t replayed = 0;       // answers with Idempotent-Replayed: true
};

}  // namespace ecom::load
