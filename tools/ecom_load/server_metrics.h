// Reading ecomd's /metrics text for the opening bell's figures: the shard mailboxes' depths and
// the WAL's record and fsync counters, and samples from two consecutive scrapes. Pure parsing.
#pragma once

#include <cstdint>
#include <string_view>

#include "tools/ecom_load/sale_types.h"

namespace ecom::load {

struct metrics_scrape {
  std::int64_t mailbox_depth_max = 0;  // over ecomd_shard_mailbox_depth{shard=...}
  std::int64_t mailbox_depth_sum = 0;
  std::int64_t shard_count = 0;
  std::int64_t wal_records = -1;  // ecomd_wal_records_total; -1 when absent
  std::int64_t wal_fsyncs = -1;   // ecomd_wal_fsyncs_total; -1 when absent
};

// Reads the lines it knows; other lines are skipped.
metrics_scrape parse_metrics_text(std::string_view text);

// A sample at t_ms: the mailboxes of now, and records per fsync between before and now (-1
// when no fsync happened in between or a counter is missing).
metrics_sample sample_between(const metrics_scrape& before, const metrics_scrape& now, double t_ms);

}  // namespace ecom::load
