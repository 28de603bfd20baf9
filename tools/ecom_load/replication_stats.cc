// Counting the reads sent to standbys and the primary, and merging the per-thread counts.
#include "tools/ecom_load/replication_stats.h"

namespace ecom::load {

bool is_replica_behind(int status, std::string_view body) {
  return status == 503 && body.find("\"REPLICA_BEHIND\"") != std::string_view::npos;
}

std::optional<std::uint64_t> lag_sample(std::int64_t primary_lsn_at_send,
                                        std::int64_t standby_lsn) {
  if (primary_lsn_at_send < 0 || standby_lsn < 0) return std::nullopt;
  if (standby_lsn >= primary_lsn_at_send) return 0;
  return static_cast<std::uint64_t>(primary_lsn_at_send - standby_lsn);
}

void standby_reads::merge(const standby_reads& other) {
  answers += other.answers;
  transport_errors += other.transport_errors;
  replica_behind += other.replica_behind;
  lag_records.merge(other.lag_records);
}

void read_counts::record_standby(std::size_t index, int status, std::string_view body,
                                 std::int64_t lsn, std::int64_t primary_lsn_at_send) {
  if (index >= standbys.size()) standbys.resize(index + 1);
  standby_reads& s = standbys[index];
  if (status == 0) {
    ++s.transport_errors;
    return;
  }
  ++s.answers;
  if (is_replica_behind(status, body)) ++s.replica_behind;
  if (auto lag = lag_sample(primary_lsn_at_send, lsn)) s.lag_records.record(*lag);
}

void read_counts::note_stale(std::string example) {
  ++stale_own_reads;
  if (stale_examples.size() < stale_examples_max) stale_examples.push_back(std::move(example));
}

void read_counts::merge(const read_counts& other) {
  if (standbys.size() < other.standbys.size()) standbys.resize(other.standbys.size());
  for (std::size_t i = 0; i < other.standbys.size(); ++i) standbys[i].merge(other.standbys[i]);
  primary_reads += other.primary_reads;
  own_reads += other.own_reads;
  own_reads_with_min_lsn += other.own_reads_with_min_lsn;
  own_reads_checked += other.own_reads_checked;
  stale_own_reads += other.stale_own_reads;
  for (const auto& example : other.stale_examples) {
    if (stale_examples.size() >= stale_examples_max) break;
    stale_examples.push_back(example);
  }
}

std::uint64_t replication_report::standby_read_total() const {
  std::uint64_t total = 0;
  for (const auto& s : reads.standbys) total += s.answers + s.transport_errors;
  return total;
}

std::string stale_reads_failure(const read_counts& reads) {
  if (reads.stale_own_reads == 0) return {};
  std::string line = "read-your-writes: " + std::to_string(reads.stale_own_reads) + " of " +
                     std::to_string(reads.own_reads_checked) +
                     " reads older than the user's own writes (e.g. ";
  for (std::size_t i = 0; i < reads.stale_examples.size(); ++i) {
    line += (i ? "; " : "") + reads.stale_examples[i];
  }
  return line + ")";
}

}  // namespace ecom::load
