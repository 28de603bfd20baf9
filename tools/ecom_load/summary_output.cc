// The human summary and the --json object of a run.
#include "tools/ecom_load/summary_output.h"

#include <cmath>
#include <cstdio>
#include <sstream>

namespace ecom::load {

namespace {

std::string fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

std::string ms_text(std::uint64_t us) {
  return fixed(static_cast<double>(us) / 1000.0, 3);
}

double requests_per_s(const issue_measurements& m) {
  return m.duration_s > 0 ? static_cast<double>(m.request_count) / m.duration_s : 0.0;
}

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char escape[8];
      std::snprintf(escape, sizeof escape, "\\u%04x", c);
      out += escape;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

// Appends ",entry" (or "entry" to an empty list).
void append_item(std::string& list, const std::string& entry) {
  if (!list.empty()) list += ',';
  list += entry;
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

std::string with_thousands(std::uint64_t value) {
  std::string digits = std::to_string(value);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string invariants_line(const verdict& result) {
  if (result.pass()) return "invariants: PASS";
  std::string line = "invariants: FAIL ";
  for (std::size_t i = 0; i < result.failures.size(); ++i) {
    if (i > 0) line += "; ";
    line += result.failures[i];
  }
  return line;
}

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
  j << ",\"latency_us\":{\"p50\":" << m.latency.percentile_us(50)
    << ",\"p90\":" << m.latency.percentile_us(90) << ",\"p99\":" << m.latency.percentile_us(99)
    << ",\"p999\":" << m.latency.percentile_us(99.9) << ",\"max\":" << m.latency.max_us() << "}";
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
    << ",\"wallets_checked\":" << v.wallets_checked
    << ",\"invariants\":{\"pass\":" << (v.pass() ? "true" : "false") << ",\"failures\":["
    << failures << "]}}";
  return j.str();
}

}  // namespace ecom::load
