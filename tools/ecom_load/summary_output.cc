// The human summary and the --json object of a run.
#include "tools/ecom_load/summary_output.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "tools/ecom_load/output_helpers.h"
#include "tools/ecom_load/sale_output.h"

namespace ecom::load {

namespace {

using namespace output_detail;

double requests_per_s(const issue_measurements& m) {
  return m.duration_s > 0 ? static_cast<double>(m.request_count) / m.duration_s : 0.0;
}

void write_status_lines(std::ostream& out, const issue_measurements& m) {
  for (const auto& [status, count] : m.status_counts) {
    if (status == 409) continue;
    std::string label = status == 0 ? "transport error" : std::to_string(status);
    out << "  " << label << ": " << with_thousands(count) << "\n";
  }
  for (const auto& [code, count] : m.problem_codes) {
    out << "  409 " << code << ": " << with_thousands(count) << "\n";
  }
}

}  // namespace

namespace {

std::string lsn_text(std::int64_t lsn) {
  return lsn < 0 ? "n/a" : with_thousands(static_cast<std::uint64_t>(lsn));
}

std::string lsn_json(std::int64_t lsn) {
  return lsn < 0 ? "null" : std::to_string(lsn);
}

// A lag percentile in records, "n/a" without samples.
std::string lag_text(const latency_histogram& lag, double percentile) {
  if (lag.count() == 0) return "n/a";
  return with_thousands(percentile >= 100 ? lag.max_us() : lag.percentile_us(percentile));
}

std::string text_pad(std::string text, std::size_t width, bool right) {
  if (text.size() >= width) return text;
  std::string fill(width - text.size(), ' ');
  return right ? fill + text : text + fill;
}

}  // namespace

void write_replication_lines(std::ostream& out, const replication_report& r) {
  out << "reads: " << with_thousands(r.standby_read_total()) << " to standbys, "
      << with_thousands(r.reads.primary_reads) << " to the primary; highest primary LSN "
      << lsn_text(r.primary_lsn_max) << "; standbys waited for LSN " << lsn_text(r.setup_lsn)
      << " (" << fixed(r.wait_s, 1) << " s)\n";
  std::size_t url_width = 24;
  for (const auto& url : r.read_urls) url_width = std::max(url_width, url.size() + 2);
  out << text_pad("read url", url_width, false) << text_pad("answers", 10, true)
      << text_pad("lag p50", 9, true) << text_pad("lag p99", 9, true)
      << text_pad("lag max", 9, true) << text_pad("REPLICA_BEHIND", 16, true)
      << text_pad("transport", 11, true) << "  (lag in records)\n";
  for (std::size_t i = 0; i < r.read_urls.size(); ++i) {
    standby_reads s = i < r.reads.standbys.size() ? r.reads.standbys[i] : standby_reads{};
    out << text_pad(r.read_urls[i], url_width, false)
        << text_pad(with_thousands(s.answers), 10, true)
        << text_pad(lag_text(s.lag_records, 50), 9, true)
        << text_pad(lag_text(s.lag_records, 99), 9, true)
        << text_pad(lag_text(s.lag_records, 100), 9, true)
        << text_pad(with_thousands(s.replica_behind), 16, true)
        << text_pad(with_thousands(s.transport_errors), 11, true) << "\n";
  }
  if (r.own_reads_sent) {
    const read_counts& c = r.reads;
    out << "read-your-writes: " << with_thousands(c.own_reads) << " order reads ("
        << with_thousands(c.own_reads_with_min_lsn) << " with X-Ecomd-Min-Lsn), "
        << with_thousands(c.own_reads_checked) << " compared, " << with_thousands(c.stale_own_reads)
        << " older than the user's own writes\n";
  }
}

std::string replication_json(const replication_report& r) {
  std::string urls, standbys;
  for (std::size_t i = 0; i < r.read_urls.size(); ++i) {
    standby_reads s = i < r.reads.standbys.size() ? r.reads.standbys[i] : standby_reads{};
    append_item(urls, json_string(r.read_urls[i]));
    const latency_histogram& lag = s.lag_records;
    std::string lag_json = lag.count() == 0
                               ? std::string("null")
                               : "{\"p50\":" + std::to_string(lag.percentile_us(50)) +
                                     ",\"p99\":" + std::to_string(lag.percentile_us(99)) +
                                     ",\"max\":" + std::to_string(lag.max_us()) + "}";
    append_item(standbys, "{\"url\":" + json_string(r.read_urls[i]) +
                              ",\"answers\":" + std::to_string(s.answers) +
                              ",\"transport_errors\":" + std::to_string(s.transport_errors) +
                              ",\"replica_behind\":" + std::to_string(s.replica_behind) +
                              ",\"lag_samples\":" + std::to_string(lag.count()) +
                              ",\"lag_records\":" + lag_json + "}");
  }
  std::string j = "{\"read_urls\":[" + urls +
                  "],\"reads_to_standbys\":" + std::to_string(r.standby_read_total()) +
                  ",\"reads_to_primary\":" + std::to_string(r.reads.primary_reads) +
                  ",\"primary_lsn_max\":" + lsn_json(r.primary_lsn_max) +
                  ",\"setup_lsn\":" + lsn_json(r.setup_lsn) +
                  ",\"standby_wait_s\":" + fixed(r.wait_s, 3) + ",\"standbys\":[" + standbys + "]";
  if (r.own_reads_sent) {
    const read_counts& c = r.reads;
    std::string examples;
    for (const auto& e : c.stale_examples) append_item(examples, json_string(e));
    j += ",\"read_your_writes\":{\"reads\":" + std::to_string(c.own_reads) +
         ",\"with_min_lsn\":" + std::to_string(c.own_reads_with_min_lsn) +
         ",\"checked\":" + std::to_string(c.own_reads_checked) +
         ",\"stale\":" + std::to_string(c.stale_own_reads) + ",\"stale_examples\":[" + examples +
         "]}";
  }
  return j + "}";
}

std::string with_thousands(std::uint64_t value) {
  std::string digits = std::to_string(value);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string invariants_line(const std::vector<std::string>& failures) {
  if (failures.empty()) return "invariants: PASS";
  std::string line = "invariants: FAIL ";
  for (std::size_t i = 0; i < failures.size(); ++i) {
    if (i > 0) line += "; ";
    line += failures[i];
  }
  return line;
}

std::string invariants_line(const verdict& result) {
  return invariants_line(result.failures);
}

std::string invariants_line(const mixed_verdict& result) {
  return invariants_line(result.failures);
}

namespace {

// Every coupon went, and a 201 of this run was the last.
bool sold_out(const fcfs_summary& s) {
  return s.result.remaining_quantity == 0 && s.measurements.last_issue_after_ms >= 0;
}

// "sold out 42.1 ms after the start" or "not sold out (last issue ...)".
std::string race_text(const fcfs_summary& s) {
  if (sold_out(s))
    return "sold out " + fixed(s.measurements.last_issue_after_ms, 1) + " ms after the start";
  if (s.measurements.last_issue_after_ms < 0) return "nothing issued";
  return "not sold out (last issue " + fixed(s.measurements.last_issue_after_ms, 1) +
         " ms after the start)";
}

}  // namespace

void write_human_summary(std::ostream& out, const fcfs_summary& s) {
  const issue_measurements& m = s.measurements;
  const verdict& v = s.result;
  out << "ecom-load fcfs " << s.url << ": campaign " << s.campaign_id << ", "
      << with_thousands(static_cast<std::uint64_t>(s.user_count)) << " users, "
      << s.connection_count << " connections, " << s.thread_count << " threads\n";
  out << "requests: " << with_thousands(m.request_count) << " in " << fixed(m.duration_s, 3)
      << " s = " << fixed(requests_per_s(m), 1) << " req/s\n";
  out << "latency ms: p50 " << ms_text(m.latency.percentile_us(50)) << "  p90 "
      << ms_text(m.latency.percentile_us(90)) << "  p99 " << ms_text(m.latency.percentile_us(99))
      << "  p99.9 " << ms_text(m.latency.percentile_us(99.9)) << "  max "
      << ms_text(m.latency.max_us()) << "\n";
  out << "status counts:\n";
  write_status_lines(out, m);
  out << "issued: " << with_thousands(static_cast<std::uint64_t>(v.issued)) << " of quantity "
      << with_thousands(static_cast<std::uint64_t>(v.quantity)) << "; users who asked "
      << with_thousands(static_cast<std::uint64_t>(v.users_asked)) << "; remaining_quantity "
      << v.remaining_quantity << " (" << (v.campaign_status.empty() ? "?" : v.campaign_status)
      << ")\n";
  out << "wallets checked: " << with_thousands(static_cast<std::uint64_t>(v.wallets_checked))
      << "\n";
  if (!s.opening) {
    out << "race: " << race_text(s) << "; first second latency ms p50 "
        << ms_text(m.first_second_latency.percentile_us(50)) << " p99 "
        << ms_text(m.first_second_latency.percentile_us(99)) << " p99.9 "
        << ms_text(m.first_second_latency.percentile_us(99.9)) << "\n";
  }
  if (s.replication) write_replication_lines(out, *s.replication);
  if (s.open_loop) write_open_loop_lines(out, *s.open_loop, m.latency);
  if (s.opening) write_opening_lines(out, *s.opening);
  write_fairness_lines(out, s.fairness);
  write_retry_lines(out, s.retries);
  out << invariants_line(v) << "\n";
}

std::string summary_json(const fcfs_summary& s) {
  const issue_measurements& m = s.measurements;
  const verdict& v = s.result;
  std::ostringstream j;
  j << "{\"url\":" << json_string(s.url) << ",\"campaign_id\":" << s.campaign_id
    << ",\"users\":" << s.user_count << ",\"connections\":" << s.connection_count
    << ",\"requests\":" << m.request_count << ",\"duration_s\":" << fixed(m.duration_s, 6)
    << ",\"requests_per_s\":" << fixed(requests_per_s(m), 3);
  j << ",\"latency_us\":" << latency_json(m.latency);
  j << ",\"sold_out_after_ms\":";
  if (sold_out(s)) {
    j << fixed(m.last_issue_after_ms, 3);
  } else {
    j << "null";
  }
  j << ",\"first_second_latency_us\":" << latency_json(m.first_second_latency);
  std::string statuses, codes, outcomes, failures;
  for (const auto& [status, count] : m.status_counts) {
    append_item(statuses, json_string(std::to_string(status)) + ":" + std::to_string(count));
  }
  for (const auto& [code, count] : m.problem_codes) {
    append_item(codes, json_string(code) + ":" + std::to_string(count));
  }
  for (const auto& [name, count] : v.outcome_counts) {
    append_item(outcomes, json_string(name) + ":" + std::to_string(count));
  }
  for (const auto& failure : v.failures) append_item(failures, json_string(failure));
  j << ",\"status_counts\":{" << statuses << "},\"problem_codes\":{" << codes << "}"
    << ",\"transport_errors\":" << m.transport_error_count << ",\"user_outcomes\":{" << outcomes
    << "},\"issued\":" << v.issued << ",\"users_asked\":" << v.users_asked
    << ",\"quantity\":" << v.quantity << ",\"remaining_quantity\":" << v.remaining_quantity
    << ",\"wallets_checked\":" << v.wallets_checked;
  if (s.replication) j << ",\"replication\":" << replication_json(*s.replication);
  if (s.open_loop) j << ",\"open_loop\":" << open_loop_json(*s.open_loop);
  if (s.opening) j << ",\"opening\":" << opening_json(*s.opening);
  j << ",\"fairness\":" << fairness_json(s.fairness) << ",\"retries\":" << retry_json(s.retries);
  j << ",\"invariants\":{\"pass\":" << (v.pass() ? "true" : "false") << ",\"failures\":["
    << failures << "]}}";
  return j.str();
}

namespace {

std::uint64_t total_requests(const mixed_measurements& m) {
  std::uint64_t total = 0;
  for (const auto& op : m.ops) total += op.request_count;
  return total;
}

double per_s(std::uint64_t count, double duration_s) {
  return duration_s > 0 ? static_cast<double>(count) / duration_s : 0.0;
}

// "200:1,234 409 OUT_OF_STOCK:12 transport:1" (409s by code).
std::string answers_text(const request_stats& s) {
  std::string text;
  for (const auto& [status, count] : s.status_counts) {
    if (status == 409 && !s.problem_codes.empty()) continue;
    std::string label = status == 0 ? "transport" : std::to_string(status);
    text += (text.empty() ? "" : " ") + label + ":" + with_thousands(count);
  }
  for (const auto& [code, count] : s.problem_codes) {
    if (code.rfind("409 ", 0) != 0) continue;
    text += (text.empty() ? "" : " ") + code + ":" + with_thousands(count);
  }
  return text;
}

std::string pad(std::string text, std::size_t width, bool right) {
  if (text.size() >= width) return text;
  std::string fill(width - text.size(), ' ');
  return right ? fill + text : text + fill;
}

}  // namespace

void write_human_summary(std::ostream& out, const mixed_summary& s) {
  const mixed_measurements& m = s.measurements;
  const mixed_verdict& v = s.result;
  std::uint64_t requests = total_requests(m);
  out << "ecom-load mixed " << s.url << ": "
      << with_thousands(static_cast<std::uint64_t>(s.user_count)) << " users, " << s.product_count
      << " products (" << s.combination_count << " combinations), campaign " << s.campaign_id
      << ", " << s.connection_count << " connections, " << s.thread_count << " threads\n";
  out << "sessions: " << with_thousands(m.session_count) << " = "
      << fixed(per_s(m.session_count, m.duration_s), 1)
      << "/s; requests: " << with_thousands(requests) << " in " << fixed(m.duration_s, 3)
      << " s = " << fixed(per_s(requests, m.duration_s), 1) << " req/s\n";
  out << pad("operation", 17, false) << pad("requests", 10, true) << pad("req/s", 10, true)
      << pad("p50 ms", 10, true) << pad("p99 ms", 10, true) << pad("max ms", 10, true)
      << "  answers\n";
  for (std::size_t i = 0; i < m.ops.size(); ++i) {
    const request_stats& op = m.ops[i];
    if (!op_shown(static_cast<mixed_op>(i), op)) continue;
    out << pad(op_name(static_cast<mixed_op>(i)), 17, false)
        << pad(with_thousands(op.request_count), 10, true)
        << pad(fixed(per_s(op.request_count, m.duration_s), 1), 10, true)
        << pad(ms_text(op.latency.percentile_us(50)), 10, true)
        << pad(ms_text(op.latency.percentile_us(99)), 10, true)
        << pad(ms_text(op.latency.max_us()), 10, true);
    std::string answers = answers_text(op);
    out << (answers.empty() ? "" : "  " + answers) << "\n";
  }
  out << "orders: " << with_thousands(static_cast<std::uint64_t>(v.orders_seen));
  std::string statuses;
  for (const auto& [status, count] : v.order_status_counts) {
    statuses += (statuses.empty() ? "" : ", ") + status + " " +
                with_thousands(static_cast<std::uint64_t>(count));
  }
  out << (statuses.empty() ? "" : " (" + statuses + ")") << "\n";
  out << "audit: " << with_thousands(static_cast<std::uint64_t>(v.users_audited)) << " users, "
      << v.combinations_checked << " combinations (" << v.sold_out_combinations << " sold out), "
      << v.coupons_used << " coupons USED, events "
      << with_thousands(static_cast<std::uint64_t>(v.events_read)) << " read (this run: ORDER_PAID "
      << v.run_paid_events << ", ORDER_REFUNDED " << v.run_refunded_events << ")\n";
  if (s.replication) write_replication_lines(out, *s.replication);
  if (s.open_loop) {
    latency_histogram all;
    for (const auto& op : m.ops) all.merge(op.latency);
    write_open_loop_lines(out, *s.open_loop, all);
  }
  out << invariants_line(v) << "\n";
}

std::string summary_json(const mixed_summary& s) {
  const mixed_measurements& m = s.measurements;
  const mixed_verdict& v = s.result;
  std::uint64_t requests = total_requests(m);
  std::ostringstream j;
  j << "{\"scenario\":\"mixed\",\"url\":" << json_string(s.url) << ",\"users\":" << s.user_count
    << ",\"products\":" << s.product_count << ",\"combinations\":" << s.combination_count
    << ",\"campaign_id\":" << s.campaign_id << ",\"connections\":" << s.connection_count
    << ",\"threads\":" << s.thread_count << ",\"duration_s\":" << fixed(m.duration_s, 6)
    << ",\"sessions\":" << m.session_count << ",\"requests\":" << requests
    << ",\"requests_per_s\":" << fixed(per_s(requests, m.duration_s), 3) << ",\"operations\":{";
  bool first = true;
  for (std::size_t i = 0; i < m.ops.size(); ++i) {
    const request_stats& op = m.ops[i];
    if (!op_shown(static_cast<mixed_op>(i), op)) continue;
    std::string statuses, codes;
    for (const auto& [status, count] : op.status_counts) {
      append_item(statuses, json_string(std::to_string(status)) + ":" + std::to_string(count));
    }
    for (const auto& [code, count] : op.problem_codes) {
      append_item(codes, json_string(code) + ":" + std::to_string(count));
    }
    j << (first ? "" : ",") << json_string(op_name(static_cast<mixed_op>(i)))
      << ":{\"requests\":" << op.request_count
      << ",\"requests_per_s\":" << fixed(per_s(op.request_count, m.duration_s), 3)
      << ",\"transport_errors\":" << op.transport_error_count
      << ",\"latency_us\":" << latency_json(op.latency) << ",\"status_counts\":{" << statuses
      << "},\"problem_codes\":{" << codes << "}}";
    first = false;
  }
  std::string orders, failures;
  for (const auto& [status, count] : v.order_status_counts) {
    append_item(orders, json_string(status) + ":" + std::to_string(count));
  }
  for (const auto& failure : v.failures) append_item(failures, json_string(failure));
  j << "},\"orders\":{" << orders << "},\"users_audited\":" << v.users_audited
    << ",\"combinations_checked\":" << v.combinations_checked
    << ",\"sold_out_combinations\":" << v.sold_out_combinations
    << ",\"coupons_used\":" << v.coupons_used << ",\"events_read\":" << v.events_read
    << ",\"run_paid_events\":" << v.run_paid_events
    << ",\"run_refunded_events\":" << v.run_refunded_events;
  if (s.replication) j << ",\"replication\":" << replication_json(*s.replication);
  if (s.open_loop) j << ",\"open_loop\":" << open_loop_json(*s.open_loop);
  j << ",\"invariants\":{\"pass\":" << (v.pass() ? "true" : "false") << ",\"failures\":["
    << failures << "]}}";
  return j.str();
}

}  // namespace ecom::load
