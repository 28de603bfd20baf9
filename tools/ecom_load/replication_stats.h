// What the reads sent to standbys (--read-url) showed: answers, REPLICA_BEHIND answers and the
// replication lag in records, per read URL; the reads sent to the primary; the read-your-writes
// checks. Counted per I/O thread and merged after a pooled phase; summary_output.h writes them
// into the human summary, the --json object and the --report page. No I/O here.
//
// Lag: every answer of a replicating ecomd carries X-Ecomd-Lsn (a primary's 2xx to a change: the
// LSN the change became; any other answer: the LSN the server had applied). ecom-load keeps the
// highest X-Ecomd-Lsn seen on the primary's answers; a standby answer with X-Ecomd-Lsn S to a
// request sent while that highest was P is one lag sample of max(0, P - S) records. Answers
// without the header (a server that does not replicate) give no sample.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tools/ecom_load/latency_histogram.h"

namespace ecom::load {

// A 503 whose problem code is REPLICA_BEHIND: a standby that could not reach the request's
// X-Ecomd-Min-Lsn within its wait; retried after Retry-After, not a server failure.
bool is_replica_behind(int status, std::string_view body);

// The lag sample of one standby answer: max(0, primary_lsn_at_send - standby_lsn), or nothing
// when either is unknown (< 0).
std::optional<std::uint64_t> lag_sample(std::int64_t primary_lsn_at_send, std::int64_t standby_lsn);

inline constexpr std::size_t stale_examples_max = 3;

// The answers of one read URL.
struct standby_reads {
  std::uint64_t answers = 0;           // complete answers (each retry's too)
  std::uint64_t transport_errors = 0;  // no answer
  std::uint64_t replica_behind = 0;    // 503 REPLICA_BEHIND (also counted in answers)
  // Lag samples in records (the histogram counts values, here records instead of µs; exact
  // below 256, 2 significant digits above, max exact).
  latency_histogram lag_records;

  void merge(const standby_reads& other);
};

// The reads of one I/O thread (or all, merged).
struct read_counts {
  std::vector<standby_reads> standbys;  // one per --read-url, in order
  std::uint64_t primary_reads = 0;      // GETs of the measured run answered by (sent to) --url
  // Read-your-writes reads (mixed: a user's order read back after the session changed it),
  // each counted once whatever its retries.
  std::uint64_t own_reads = 0;
  std::uint64_t own_reads_with_min_lsn = 0;  // sent with X-Ecomd-Min-Lsn (the primary gave one)
  std::uint64_t own_reads_checked = 0;       // answered 200 and compared with what the user did
  std::uint64_t stale_own_reads = 0;         // showed less than the reader's own writes
  std::vector<std::string> stale_examples;   // the first stale_examples_max

  explicit read_counts(std::size_t standby_count = 0) : standbys(standby_count) {}
  // One answer (status 0: transport failure) of a GET sent to read URL index (0-based).
  void record_standby(std::size_t index, int status, std::string_view body, std::int64_t lsn,
                      std::int64_t primary_lsn_at_send);
  void note_stale(std::string example);
  void merge(const read_counts& other);
};

// Everything the outputs show about replication; only present with --read-url.
struct replication_report {
  std::vector<std::string> read_urls;
  read_counts reads;
  std::int64_t primary_lsn_max = -1;  // highest X-Ecomd-Lsn on the primary's answers; -1: none
  std::int64_t setup_lsn = -1;        // the LSN the standbys were waited for; -1: none known
  double wait_s = 0;                  // how long the wait for the standbys took
  bool own_reads_sent = false;        // the scenario sends read-your-writes reads (mixed)

  std::uint64_t standby_read_total() const;
};

// The verdict's failure line when read-your-writes reads showed less than the reader's own
// writes ("read-your-writes: 2 of 812 reads older than the user's own writes (e.g. ...)");
// empty when none did.
std::string stale_reads_failure(const read_counts& reads);

}  // namespace ecom::load
