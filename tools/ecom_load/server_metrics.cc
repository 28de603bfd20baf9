// Prometheus text lines "name{labels} value"; only integers are read.
#include "tools/ecom_load/server_metrics.h"

#include <algorithm>
#include <charconv>

namespace ecom::load {

namespace {

// The value of a "name{...} value" or "name value" line; false when it is not an integer.
bool line_value(std::string_view line, std::int64_t& value) {
  auto space = line.rfind(' ');
  if (space == std::string_view::npos) return false;
  std::string_view text = line.substr(space + 1);
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc{} && end == text.data() + text.size();
}

bool starts_with(std::string_view line, std::string_view prefix) {
  return line.substr(0, prefix.size()) == prefix;
}

}  // namespace

metrics_scrape parse_metrics_text(std::string_view text) {
  metrics_scrape scrape;
  while (!text.empty()) {
    auto newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
    std::int64_t value = 0;
    if (line.empty() || line.front() == '#' || !line_value(line, value)) continue;
    if (starts_with(line, "ecomd_shard_mailbox_depth{")) {
      scrape.mailbox_depth_max = std::max(scrape.mailbox_depth_max, value);
      scrape.mailbox_depth_sum += value;
      ++scrape.shard_count;
    } else if (starts_with(line, "ecomd_wal_records_total ")) {
      scrape.wal_records = value;
    } else if (starts_with(line, "ecomd_wal_fsyncs_total ")) {
      scrape.wal_fsyncs = value;
    }
  }
  return scrape;
}

metrics_sample sample_between(const metrics_scrape& before, const metrics_scrape& now,
                              double t_ms) {
  metrics_sample sample;
  sample.t_ms = t_ms;
  sample.mailbox_depth_max = now.mailbox_depth_max;
  sample.mailbox_depth_sum = now.mailbox_depth_sum;
  if (before.wal_fsyncs >= 0 && now.wal_fsyncs > before.wal_fsyncs && before.wal_records >= 0 &&
      now.wal_records >= before.wal_records) {
    sample.wal_group_records = static_cast<double>(now.wal_records - before.wal_records) /
                               static_cast<double>(now.wal_fsyncs - before.wal_fsyncs);
  }
  return sample;
}

}  // namespace ecom::load
