// The --report page: a summary table and two inline SVG charts (latency histogram on a log
// axis, throughput over time), self-contained so it opens without a network. The flash-sale
// sections come from sale_output.cc.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "tools/ecom_load/output_helpers.h"
#include "tools/ecom_load/sale_output.h"
#include "tools/ecom_load/summary_output.h"

namespace ecom::load {

namespace {

using namespace output_detail;

constexpr int latency_bin_count = 60;

// Re-bins the fine HDR buckets into latency_bin_count log-spaced bins between min and max.
std::string latency_svg(const latency_histogram& histogram) {
  std::string svg = svg_frame("Latency histogram", "latency (ms, log scale)", "requests");
  if (histogram.count() == 0) return svg + "</svg>";
  double low = std::log10(std::max<double>(1, histogram.min_us()));
  double high = std::max(low + 0.5, std::log10(std::max<double>(2, histogram.max_us())));
  std::vector<std::uint64_t> bins(latency_bin_count, 0);
  for (const auto& b : histogram.buckets()) {
    double middle = std::log10(std::max<double>(1, (b.lower_us + b.upper_us) / 2.0));
    auto index = static_cast<int>((middle - low) / (high - low) * latency_bin_count);
    bins[static_cast<std::size_t>(std::clamp(index, 0, latency_bin_count - 1))] += b.count;
  }
  std::uint64_t tallest = *std::max_element(bins.begin(), bins.end());
  double plot_w = chart_width - margin_left - 10,
         plot_h = chart_height - margin_bottom - margin_top;
  double bar_w = plot_w / latency_bin_count;
  for (int i = 0; i < latency_bin_count; ++i) {
    double h = plot_h * static_cast<double>(bins[i]) /
               static_cast<double>(std::max<std::uint64_t>(1, tallest));
    svg += "<rect x=\"" + num(margin_left + i * bar_w) + "\" y=\"" + num(margin_top + plot_h - h) +
           "\" width=\"" + num(std::max(1.0, bar_w - 1)) + "\" height=\"" + num(h) +
           "\" fill=\"#4a7ebb\"><title>" + std::to_string(bins[i]) + "</title></rect>";
  }
  for (int tick = 0; tick <= 4; ++tick) {
    double at = low + (high - low) * tick / 4.0;
    svg += axis_label(margin_left + plot_w * tick / 4.0, chart_height - margin_bottom + 14,
                      num(std::pow(10.0, at) / 1000.0, 3), "middle");
  }
  svg += axis_label(margin_left - 4, margin_top + 8, std::to_string(tallest), "end");
  return svg + "</svg>";
}

// Two series over time: requests (blue) and the scenario's successes (orange).
struct throughput_series {
  const std::vector<std::uint64_t>& requests;
  const std::vector<std::uint64_t>& successes;
  double slot_s;
  const char* legend;
};

std::string throughput_svg(const throughput_series& m) {
  return rate_chart("Throughput over time", {{m.requests, "#4a7ebb"}, {m.successes, "#d9822b"}},
                    m.slot_s, m.legend);
}

// The page: verdict line, the human summary as text, extra_html (the replication table, the
// flash-sale sections, or nothing), the latency histogram and throughput.
std::string report_page(const std::string& title, const std::string& verdict_line, bool pass,
                        const std::string& summary_text, const std::string& extra_html,
                        const latency_histogram& latency, const throughput_series& series) {
  std::string page =
      "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>ecom-load report</title>"
      "<style>body{font-family:sans-serif;margin:2em}pre{background:#f4f4f4;padding:1em}"
      ".pass{color:#2a7d2a}.fail{color:#b22}</style></head><body>\n<h1>" +
      escape_html(title) + "</h1>\n";
  page += std::string("<p class=\"") + (pass ? "pass" : "fail") + "\"><b>" +
          escape_html(verdict_line) + "</b></p>\n";
  page += "<pre>" + escape_html(summary_text) + "</pre>\n";
  page += extra_html;
  page += latency_svg(latency) + "\n<br>\n";
  page += throughput_svg(series) + "\n</body></html>\n";
  return page;
}

std::string lag_cell(const latency_histogram& lag, double percentile) {
  if (lag.count() == 0) return "n/a";
  return with_thousands(percentile >= 100 ? lag.max_us() : lag.percentile_us(percentile));
}

}  // namespace

std::string replication_html(const replication_report& r) {
  std::string rows;
  for (std::size_t i = 0; i < r.read_urls.size(); ++i) {
    standby_reads s = i < r.reads.standbys.size() ? r.reads.standbys[i] : standby_reads{};
    rows += "<tr><td>" + escape_html(r.read_urls[i]) + "</td><td>" + with_thousands(s.answers) +
            "</td><td>" + lag_cell(s.lag_records, 50) + "</td><td>" + lag_cell(s.lag_records, 99) +
            "</td><td>" + lag_cell(s.lag_records, 100) + "</td><td>" +
            with_thousands(s.replica_behind) + "</td><td>" + with_thousands(s.transport_errors) +
            "</td></tr>\n";
  }
  return "<h2>Replication</h2>\n<p>Reads: " + with_thousands(r.standby_read_total()) +
         " to standbys, " + with_thousands(r.reads.primary_reads) +
         " to the primary. Lag in records: the highest X-Ecomd-Lsn seen from the primary when "
         "the read was sent minus the standby answer's X-Ecomd-Lsn.</p>\n"
         "<table border=\"1\" cellpadding=\"4\" style=\"border-collapse:collapse\">"
         "<tr><th>read url</th><th>answers</th><th>lag p50</th><th>lag p99</th><th>lag max</th>"
         "<th>REPLICA_BEHIND</th><th>transport errors</th></tr>\n" +
         rows + "</table>\n";
}

std::string summary_html(const fcfs_summary& summary) {
  std::ostringstream text;
  write_human_summary(text, summary);
  const issue_measurements& m = summary.measurements;
  std::string extra = summary.replication ? replication_html(*summary.replication) : "";
  if (summary.open_loop) extra += open_loop_html(*summary.open_loop);
  if (summary.opening) extra += opening_html(*summary.opening);
  extra += fairness_html(summary.fairness) + retry_html(summary.retries);
  return report_page(
      "ecom-load fcfs", invariants_line(summary.result), summary.result.pass(), text.str(), extra,
      m.latency,
      {m.requests_per_slot, m.issued_per_slot, m.slot_s, "blue: requests/s, orange: issued/s"});
}

std::string summary_html(const mixed_summary& summary) {
  std::ostringstream text;
  write_human_summary(text, summary);
  const mixed_measurements& m = summary.measurements;
  latency_histogram all;
  for (const auto& op : m.ops) all.merge(op.latency);
  std::string extra = summary.replication ? replication_html(*summary.replication) : "";
  if (summary.open_loop) extra += open_loop_html(*summary.open_loop);
  return report_page(
      "ecom-load mixed", invariants_line(summary.result), summary.result.pass(), text.str(), extra,
      all,
      {m.requests_per_slot, m.paid_per_slot, m.slot_s, "blue: requests/s, orange: paid orders/s"});
}

}  // namespace ecom::load
