// Writers for the end of a run: the human summary, the --json object and the --report page.
#pragma once

#include <ostream>
#include <string>

#include "tools/ecom_load/fcfs_types.h"
#include "tools/ecom_load/mixed_types.h"

namespace ecom::load {

// The human summary, ending with the "invariants: PASS" or "invariants: FAIL <what>" line; the
// flash-sale lines (open loop, opening bell, fairness, retries) come just before it.
void write_human_summary(std::ostream& out, const fcfs_summary& summary);
// "invariants: PASS" or "invariants: FAIL <failure>; <failure>...".
std::string invariants_line(const std::vector<std::string>& failures);
std::string invariants_line(const verdict& result);
std::string invariants_line(const mixed_verdict& result);
// One JSON object (no trailing newline).
std::string summary_json(const fcfs_summary& summary);
// A self-contained HTML page: summary table, latency histogram and throughput chart as
// inline SVG, and the flash-sale sections (sale_output.h).
std::string summary_html(const fcfs_summary& summary);

// The same three for the mixed scenario: per-operation throughput and latency, the audit's
// figures and failures.
void write_human_summary(std::ostream& out, const mixed_summary& summary);
std::string summary_json(const mixed_summary& summary);
std::string summary_html(const mixed_summary& summary);

// The replication figures (--read-url): reads to the standbys and the primary, per read URL
// answers, lag p50/p99/max in records ("n/a" without samples) and REPLICA_BEHIND answers, and
// the read-your-writes reads. Lines for the human summary, the "replication" JSON value, and a
// table for the HTML report.
void write_replication_lines(std::ostream& out, const replication_report& report);
std::string replication_json(const replication_report& report);
std::string replication_html(const replication_report& report);

// 1234567 → "1,234,567".
std::string with_thousands(std::uint64_t value);

}  // namespace ecom::load
