#include "net/wal_metrics.h"

#include <cstdio>

namespace ecom::net {

void render_wal_metrics(const persistence::wal_stats& wal, std::string& out) {
  char line[256];
  auto emit = [&](const char* format, auto... args) {
    std::snprintf(line, sizeof line, format, args...);
    out += line;
  };
  out += "# TYPE ecomd_wal_records_total counter\n";
  emit("ecomd_wal_records_total %llu\n", static_cast<unsigned long long>(wal.records_total));
  out += "# TYPE ecomd_wal_bytes_total counter\n";
  emit("ecomd_wal_bytes_total %llu\n", static_cast<unsigned long long>(wal.bytes_total));
  out += "# TYPE ecomd_wal_fsyncs_total counter\n";
  emit("ecomd_wal_fsyncs_total %llu\n", static_cast<unsigned long long>(wal.fsyncs_total));
  out += "# TYPE ecomd_wal_durable_lsn gauge\n";
  emit("ecomd_wal_durable_lsn %llu\n", static_cast<unsigned long long>(wal.durable_lsn));
  out += "# HELP ecomd_wal_fsync_duration_seconds Time spent in one fdatasync of a group commit.\n";
  out += "# TYPE ecomd_wal_fsync_duration_seconds histogram\n";
  std::uint64_t cumulative = 0;
  for (std::size_t b = 0; b < wal.fsync_buckets.size(); ++b) {
    cumulative += wal.fsync_buckets[b];
    if (b < wal.fsync_bucket_bounds_s.size()) {
      emit("ecomd_wal_fsync_duration_seconds_bucket{le=\"%g\"} %llu\n",
           wal.fsync_bucket_bounds_s[b], static_cast<unsigned long long>(cumulative));
    } else {
      emit("ecomd_wal_fsync_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
           static_cast<unsigned long long>(cumulative));
    }
  }
  emit("ecomd_wal_fsync_duration_seconds_sum %.9f\n", wal.fsync_seconds_sum);
  emit("ecomd_wal_fsync_duration_seconds_count %llu\n",
       static_cast<unsigned long long>(cumulative));
}

void render_wal_stats_json(const persistence::wal_stats& stats, std::string& out) {
  out += "{\"durable_lsn\":" + std::to_string(stats.durable_lsn) +
         ",\"appended_lsn\":" + std::to_string(stats.appended_lsn) +
         ",\"records_total\":" + std::to_string(stats.records_total) +
         ",\"bytes_total\":" + std::to_string(stats.bytes_total) + "}";
}

}  // namespace ecom::net
