// The flash-sale figures in the three outputs of a run: human summary lines, JSON values and
// report sections (sale_output.h); what the numbers mean is in sale_types.h.
#include "tools/ecom_load/sale_output.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <utility>
#include <vector>

#include "tools/ecom_load/output_helpers.h"
#include "tools/ecom_load/summary_output.h"

namespace ecom::load {

namespace {

using namespace output_detail;

// ---- text and JSON pieces ----

// A JSON number with fixed decimals; null when not finite (no run gives one).
std::string json_number(double value, int decimals) {
  return std::isfinite(value) ? fixed(value, decimals) : "null";
}

// A share (0..1) with six significant digits, so a tiny pair share does not round to 0.
std::string json_share(double share) {
  if (!std::isfinite(share)) return "null";
  char text[64];
  std::snprintf(text, sizeof text, "%.6g", share);
  return text;
}

// A setting as the user would write it: 1, 0.5, 2.25.
std::string short_number(double value) {
  char text[64];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

std::string count_array(const std::vector<std::uint64_t>& values) {
  std::string items;
  for (auto value : values) append_item(items, std::to_string(value));
  return "[" + items + "]";
}

// {"p50":…,"p99":…,"max":…}
std::string spread_json(const latency_histogram& h) {
  return "{\"p50\":" + std::to_string(h.percentile_us(50)) +
         ",\"p99\":" + std::to_string(h.percentile_us(99)) +
         ",\"max\":" + std::to_string(h.max_us()) + "}";
}

// "p50 1.234 p99 5.678 max 9.000": percentiles in ms (100: max).
std::string ms_points(const latency_histogram& h, std::initializer_list<double> percentiles) {
  std::string text;
  for (double p : percentiles) {
    if (!text.empty()) text += " ";
    text += p >= 100 ? std::string("max") : std::string("p").append(short_number(p));
    text.append(" ").append(ms_text(h.percentile_us(p)));
  }
  return text;
}

// "1,000/s (constant)" for --rate's "1000/s", "<stages> (stages)" for --stages.
std::string target_label(const std::string& target) {
  if (target.size() <= 2 || !target.ends_with("/s")) return target + " (stages)";
  std::string rate = target.substr(0, target.size() - 2);
  bool digits = rate.size() < 19 && std::all_of(rate.begin(), rate.end(), [](unsigned char c) {
                  return std::isdigit(c) != 0;
                });
  return (digits ? with_thousands(std::stoull(rate)) : rate) + "/s (constant)";
}

std::int64_t mailbox_depth_peak(const opening_report& r) {
  std::int64_t peak = 0;
  for (const auto& s : r.server_metrics) peak = std::max(peak, s.mailbox_depth_max);
  return peak;
}

// The largest records-per-fsync of the samples; -1 when no sample saw an fsync.
double wal_group_peak(const opening_report& r) {
  double peak = -1;
  for (const auto& s : r.server_metrics) peak = std::max(peak, s.wal_group_records);
  return peak;
}

std::string release_text(const opening_report& r) {
  if (r.release_spread.count() == 0) return "no issue sent at the bell";
  return "first issues sent within " + ms_text(r.release_spread.max_us()) +
         " ms of the bell (max; " + ms_points(r.release_spread, {50, 99}) + ")";
}

std::string sold_out_text(const opening_report& r) {
  if (r.sold_out_after_ms < 0) return "not sold out";
  return "sold out " + fixed(r.sold_out_after_ms, 1) + " ms after the bell";
}

std::string wal_peak_text(const opening_report& r) {
  double peak = wal_group_peak(r);
  return peak < 0 ? "n/a (no fsync sampled)" : fixed(peak, 1) + " records";
}

std::string server_text(const opening_report& r) {
  std::string text;
  if (!r.server_metrics.empty()) {
    text = "mailbox depth peak " +
           with_thousands(static_cast<std::uint64_t>(mailbox_depth_peak(r))) + ", WAL group peak " +
           wal_peak_text(r);
  } else if (r.metrics_error.empty()) {
    text = "no /metrics samples";
  }
  if (!r.metrics_error.empty()) {
    text += (text.empty() ? "" : "; ") + std::string("/metrics not read (") + r.metrics_error + ")";
  }
  return text;
}

std::string retry_on_text(const retry_report& r) {
  if (r.retry_on.empty()) return "off";
  std::string statuses;
  for (int status : r.retry_on) statuses += (statuses.empty() ? "" : ", ") + std::to_string(status);
  return "on " + statuses;
}

// "user 123 sent 41.2 ms before user 456, lost while 456 won".
std::string worst_text(const fairness_report& r) {
  return "user " + std::to_string(r.worst_loser_user_id) + " sent " + fixed(r.worst_gap_ms, 1) +
         " ms before user " + std::to_string(r.worst_winner_user_id) + ", lost while " +
         std::to_string(r.worst_winner_user_id) + " won";
}

std::string percent_text(double share, int decimals) {
  return fixed(100 * share, decimals) + " %";
}

// ---- HTML pieces ----

using figure_rows = std::vector<std::pair<std::string, std::string>>;

std::string figures_table(const figure_rows& rows) {
  std::string html = "<table border=\"1\" cellpadding=\"4\" style=\"border-collapse:collapse\">";
  for (const auto& [name, value] : rows) {
    html += "<tr><th align=\"left\">" + escape_html(name) + "</th><td>" + escape_html(value) +
            "</td></tr>";
  }
  return html + "</table>\n";
}

std::string rect(double x, double y, double width, double height, const char* fill,
                 const std::string& title) {
  return "<rect x=\"" + num(x, 2) + "\" y=\"" + num(y, 2) + "\" width=\"" + num(width, 2) +
         "\" height=\"" + num(height, 2) + "\" fill=\"" + fill + "\"><title>" + escape_html(title) +
         "</title></rect>";
}

std::uint64_t max_of(const std::vector<std::uint64_t>& values) {
  return values.empty() ? 0 : *std::max_element(values.begin(), values.end());
}

std::uint64_t at(const std::vector<std::uint64_t>& values, std::size_t i) {
  return i < values.size() ? values[i] : 0;
}

// Per slot of the opening second: answers stacked by kind (bars) and issues sent (line), both
// as counts per slot.
std::string timeline_svg(const opening_report& r) {
  std::string svg = svg_frame("Opening second timeline", "time since the bell (ms)",
                              "per " + short_number(r.slot_ms) + " ms");
  struct kind {
    const std::vector<std::uint64_t>& slots;
    const char* color;
    const char* name;
  };
  const kind kinds[] = {{r.issued, "#2a7d2a", "issued"},
                        {r.sold_out, "#d9822b", "sold out"},
                        {r.overloaded, "#b22", "overloaded"},
                        {r.other, "#999", "other"}};
  std::size_t slots = r.sent.size();
  for (const auto& k : kinds) slots = std::max(slots, k.slots.size());
  if (slots == 0) return svg + "</svg>";
  std::vector<std::uint64_t> stacked(slots, 0);
  for (const auto& k : kinds) {
    for (std::size_t i = 0; i < slots; ++i) stacked[i] += at(k.slots, i);
  }
  double top = static_cast<double>(std::max<std::uint64_t>({1, max_of(r.sent), max_of(stacked)}));
  double bar_w = plot_width / static_cast<double>(slots);
  std::vector<std::uint64_t> below(slots, 0);
  for (const auto& k : kinds) {
    for (std::size_t i = 0; i < k.slots.size(); ++i) {
      if (k.slots[i] == 0) continue;
      below[i] += k.slots[i];
      double y = margin_top + plot_height - plot_height * static_cast<double>(below[i]) / top;
      svg += rect(margin_left + static_cast<double>(i) * bar_w, y, std::max(0.5, bar_w - 0.5),
                  plot_height * static_cast<double>(k.slots[i]) / top, k.color,
                  std::string(k.name) + " " + std::to_string(k.slots[i]) + " at " +
                      short_number(static_cast<double>(i) * r.slot_ms) + " ms");
    }
  }
  svg += polyline(r.sent, 1.0, top, "#4a7ebb", slots);
  svg += x_ticks(0, r.slot_ms * static_cast<double>(slots), 0);
  svg += axis_label(margin_left - 4, margin_top + 8, fixed(top, 0), "end");
  svg += axis_label(chart_width - 12, margin_top + 8,
                    "blue line: sent; bars: issued, sold out, overloaded, other", "end");
  return svg + "</svg>";
}

// The /metrics samples over time since the bell: the deepest shard's mailbox and all shards'
// (left axis), and WAL records per fsync as dots (scaled to their own peak).
std::string metrics_svg(const opening_report& r) {
  std::string svg = svg_frame("Server metrics during the opening", "time since the bell (ms)",
                              "mailbox depth (requests)");
  const auto& samples = r.server_metrics;
  if (samples.empty()) return svg + "</svg>";
  double t0 = samples.front().t_ms, t1 = samples.front().t_ms;
  std::int64_t depth_top = 1;
  for (const auto& s : samples) {
    t0 = std::min(t0, s.t_ms);
    t1 = std::max(t1, s.t_ms);
    depth_top = std::max({depth_top, s.mailbox_depth_max, s.mailbox_depth_sum});
  }
  if (t1 <= t0) t1 = t0 + 1;
  double wal_top = std::max(1.0, wal_group_peak(r));
  auto x_of = [&](double t_ms) { return margin_left + plot_width * (t_ms - t0) / (t1 - t0); };
  auto y_of = [&](double value, double top) {
    return margin_top + plot_height - plot_height * value / top;
  };
  std::string deepest, all, dots;
  for (const auto& s : samples) {
    std::string x = num(x_of(s.t_ms)) + ",";
    deepest += x + num(y_of(static_cast<double>(s.mailbox_depth_max), depth_top)) + " ";
    all += x + num(y_of(static_cast<double>(s.mailbox_depth_sum), depth_top)) + " ";
    if (s.wal_group_records < 0) continue;
    dots += "<circle cx=\"" + num(x_of(s.t_ms)) + "\" cy=\"" +
            num(y_of(s.wal_group_records, wal_top)) + "\" r=\"3\" fill=\"#d9822b\"><title>" +
            fixed(s.wal_group_records, 1) + " records per fsync at " + fixed(s.t_ms, 0) +
            " ms</title></circle>";
  }
  if (t0 <= 0 && t1 >= 0) {
    svg += "<line x1=\"" + num(x_of(0)) + "\" y1=\"" + num(margin_top) + "\" x2=\"" + num(x_of(0)) +
           "\" y2=\"" + num(margin_top + plot_height) +
           "\" stroke=\"#b22\" stroke-dasharray=\"4 3\"><title>the bell</title></line>";
  }
  svg +=
      "<polyline fill=\"none\" stroke=\"#9bbbe0\" stroke-width=\"2\" stroke-dasharray=\"6 4\" "
      "points=\"" +
      all + "\"/><polyline fill=\"none\" stroke=\"#4a7ebb\" stroke-width=\"2\" points=\"" +
      deepest + "\"/>" + dots;
  svg += x_ticks(t0, t1, 0);
  svg += axis_label(margin_left - 4, margin_top + 8, std::to_string(depth_top), "end");
  svg += axis_label(chart_width - 12, margin_top + 8,
                    "blue: deepest shard, dashed: all shards; orange dots: WAL records per fsync "
                    "(top " +
                        fixed(wal_top, 1) + ")",
                    "end");
  return svg + "</svg>";
}

// Winners up, losers down, per send-time bin; shaded from the first loser's bin to the last
// winner's when some loser sent earlier than a winner.
std::string fairness_svg(const fairness_report& r) {
  std::string svg =
      svg_frame("Winners and losers by send time", "send time (ms)", "losers (down), winners (up)");
  std::size_t bins = std::max(r.winners_per_bin.size(), r.losers_per_bin.size());
  if (bins == 0 || r.bin_ms <= 0) return svg + "</svg>";
  double top = static_cast<double>(
      std::max<std::uint64_t>({1, max_of(r.winners_per_bin), max_of(r.losers_per_bin)}));
  double middle = margin_top + plot_height / 2, half = plot_height / 2;
  double bar_w = plot_width / static_cast<double>(bins);
  auto first_loser = std::find_if(r.losers_per_bin.begin(), r.losers_per_bin.end(),
                                  [](std::uint64_t n) { return n > 0; });
  auto last_winner = std::find_if(r.winners_per_bin.rbegin(), r.winners_per_bin.rend(),
                                  [](std::uint64_t n) { return n > 0; });
  if (r.inverted_losers > 0 && first_loser != r.losers_per_bin.end() &&
      last_winner != r.winners_per_bin.rend()) {
    auto from = static_cast<double>(first_loser - r.losers_per_bin.begin());
    auto to = static_cast<double>(r.winners_per_bin.rend() - last_winner);  // one past
    if (from < to) {
      svg += "<rect x=\"" + num(margin_left + from * bar_w, 2) + "\" y=\"" + num(margin_top) +
             "\" width=\"" + num((to - from) * bar_w, 2) + "\" height=\"" + num(plot_height) +
             "\" fill=\"#b22\" fill-opacity=\"0.12\"><title>inversions: losers who sent before "
             "the last winner</title></rect>";
    }
  }
  for (std::size_t i = 0; i < bins; ++i) {
    double x = margin_left + static_cast<double>(i) * bar_w, w = std::max(0.5, bar_w - 0.3);
    std::string when =
        " sent at " + fixed(r.origin_ms + static_cast<double>(i) * r.bin_ms, 1) + " ms";
    if (std::uint64_t n = at(r.winners_per_bin, i); n > 0) {
      double h = half * static_cast<double>(n) / top;
      svg += rect(x, middle - h, w, h, "#2a7d2a", std::to_string(n) + " winners" + when);
    }
    if (std::uint64_t n = at(r.losers_per_bin, i); n > 0) {
      svg += rect(x, middle, w, half * static_cast<double>(n) / top, "#d9822b",
                  std::to_string(n) + " losers" + when);
    }
  }
  svg += "<line x1=\"" + num(margin_left) + "\" y1=\"" + num(middle) + "\" x2=\"" +
         num(chart_width - 10) + "\" y2=\"" + num(middle) + "\" stroke=\"#333\"/>";
  svg += x_ticks(r.origin_ms, r.origin_ms + r.bin_ms * static_cast<double>(bins), 1);
  svg += axis_label(margin_left - 4, margin_top + 8, fixed(top, 0), "end");
  svg += axis_label(margin_left - 4, margin_top + plot_height, fixed(top, 0), "end");
  svg += axis_label(chart_width - 12, margin_top + 8,
                    "green up: winners (201); orange down: losers (409 COUPON_SOLD_OUT); shaded: "
                    "inversions",
                    "end");
  return svg + "</svg>";
}

}  // namespace

// ---- open loop ----

void write_open_loop_lines(std::ostream& out, const open_loop_report& r,
                           const latency_histogram& corrected) {
  out << "open loop: target " << target_label(r.target_text) << " for " << fixed(r.schedule_s, 1)
      << " s: sent " << with_thousands(r.sent) << " at " << fixed(r.arrival_rate_per_s(), 1)
      << "/s, late " << with_thousands(r.sent_late) << " (> " << short_number(r.late_threshold_ms)
      << " ms), unsent " << with_thousands(r.unsent) << "\n";
  out << "corrected latency ms (from each request's intended send time): "
      << ms_points(corrected, {50, 99, 99.9})
      << "; uncorrected (from its actual send): " << ms_points(r.service_latency, {50, 99})
      << "; send delay ms " << ms_points(r.send_delay, {50, 99, 100}) << "\n";
}

std::string open_loop_json(const open_loop_report& r) {
  return "{\"target\":" + json_string(r.target_text) +
         ",\"schedule_s\":" + json_number(r.schedule_s, 3) +
         ",\"late_threshold_ms\":" + json_number(r.late_threshold_ms, 3) +
         ",\"run_s\":" + json_number(r.run_s, 6) + ",\"scheduled\":" + std::to_string(r.scheduled) +
         ",\"sent\":" + std::to_string(r.sent) + ",\"sent_late\":" + std::to_string(r.sent_late) +
         ",\"unsent\":" + std::to_string(r.unsent) +
         ",\"target_rate_per_s\":" + json_number(r.target_rate_per_s(), 3) +
         ",\"arrival_rate_per_s\":" + json_number(r.arrival_rate_per_s(), 3) +
         ",\"service_latency_us\":" + latency_json(r.service_latency) +
         ",\"send_delay_us\":" + spread_json(r.send_delay) +
         ",\"series\":{\"slot_s\":" + json_number(r.slot_s, 6) +
         ",\"target\":" + count_array(r.target_per_slot) +
         ",\"sent\":" + count_array(r.sent_per_slot) +
         ",\"answered\":" + count_array(r.answered_per_slot) + "}}";
}

std::string open_loop_html(const open_loop_report& r) {
  figure_rows rows = {
      {"target", target_label(r.target_text)},
      {"schedule", fixed(r.schedule_s, 3) + " s"},
      {"run (schedule start to the end of sending)", fixed(r.run_s, 3) + " s"},
      {"due before the run ended",
       with_thousands(r.scheduled) + " (" + fixed(r.target_rate_per_s(), 1) + "/s)"},
      {"sent", with_thousands(r.sent) + " (" + fixed(r.arrival_rate_per_s(), 1) + "/s)"},
      {"sent late (> " + short_number(r.late_threshold_ms) + " ms after their time)",
       with_thousands(r.sent_late)},
      {"never sent (no free connection)", with_thousands(r.unsent)},
      {"service latency, uncorrected (ms)", ms_points(r.service_latency, {50, 90, 99, 99.9, 100})},
      {"send delay (ms)", ms_points(r.send_delay, {50, 99, 100})},
  };
  return "<h2>Arrival rate vs answer rate</h2>\n<p>Open loop: requests go out on the schedule "
         "whatever the answers. The summary's latency is corrected (from each request's intended "
         "send time); the service latency here is not (from its actual send).</p>\n" +
         figures_table(rows) +
         rate_chart("Arrival rate vs answer rate",
                    {{r.target_per_slot, "#888", "6 4"},
                     {r.sent_per_slot, "#4a7ebb"},
                     {r.answered_per_slot, "#d9822b"}},
                    r.slot_s, "dashed: target/s, blue: sent/s, orange: answered/s") +
         "\n";
}

// ---- opening bell ----

void write_opening_lines(std::ostream& out, const opening_report& r) {
  out << "opening bell: start_at " << r.start_at << " (opens in " << fixed(r.opens_in_s, 1)
      << " s); " << with_thousands(r.connections_warmed) << " connections warmed of "
      << with_thousands(r.connections) << "; early refreshes " << with_thousands(r.early_requests)
      << " (409 COUPON_NOT_ACTIVE " << with_thousands(r.early_not_active)
      << "); COUPON_NOT_ACTIVE after the bell " << with_thousands(r.not_active_after_bell) << "\n";
  out << "opening second: " << release_text(r) << "; " << sold_out_text(r)
      << "; first second latency ms " << ms_points(r.first_second_latency, {50, 99, 99.9}) << "\n";
  out << "server during the opening: " << server_text(r) << "\n";
}

std::string opening_json(const opening_report& r) {
  std::string samples;
  for (const auto& s : r.server_metrics) {
    append_item(samples,
                "{\"t_ms\":" + json_number(s.t_ms, 3) +
                    ",\"mailbox_depth_max\":" + std::to_string(s.mailbox_depth_max) +
                    ",\"mailbox_depth_sum\":" + std::to_string(s.mailbox_depth_sum) +
                    ",\"wal_group_records\":" +
                    (s.wal_group_records < 0 ? "null" : json_number(s.wal_group_records, 3)) + "}");
  }
  double wal_peak = wal_group_peak(r);
  return "{\"start_at\":" + json_string(r.start_at) +
         ",\"opens_in_s\":" + json_number(r.opens_in_s, 3) +
         ",\"connections\":" + std::to_string(r.connections) +
         ",\"connections_warmed\":" + std::to_string(r.connections_warmed) +
         ",\"early_requests\":" + std::to_string(r.early_requests) +
         ",\"early_not_active\":" + std::to_string(r.early_not_active) +
         ",\"not_active_after_bell\":" + std::to_string(r.not_active_after_bell) +
         ",\"release_spread_us\":" + spread_json(r.release_spread) + ",\"sold_out_after_ms\":" +
         (r.sold_out_after_ms < 0 ? "null" : json_number(r.sold_out_after_ms, 3)) +
         ",\"first_second_latency_us\":" + latency_json(r.first_second_latency) +
         ",\"timeline\":{\"slot_ms\":" + json_number(r.slot_ms, 3) +
         ",\"sent\":" + count_array(r.sent) + ",\"issued\":" + count_array(r.issued) +
         ",\"sold_out\":" + count_array(r.sold_out) +
         ",\"overloaded\":" + count_array(r.overloaded) + ",\"other\":" + count_array(r.other) +
         "},\"server_metrics\":{\"samples\":[" + samples +
         "],\"mailbox_depth_peak\":" + std::to_string(mailbox_depth_peak(r)) +
         ",\"wal_group_records_peak\":" + (wal_peak < 0 ? "null" : json_number(wal_peak, 3)) +
         ",\"error\":" + (r.metrics_error.empty() ? "null" : json_string(r.metrics_error)) + "}}";
}

std::string opening_html(const opening_report& r) {
  figure_rows rows = {
      {"start_at (the bell)", r.start_at},
      {"opens in", fixed(r.opens_in_s, 1) + " s"},
      {"connections warmed before the bell",
       with_thousands(r.connections_warmed) + " of " + with_thousands(r.connections)},
      {"early refreshes (issues sent before the bell)", with_thousands(r.early_requests)},
      {"early refreshes answered 409 COUPON_NOT_ACTIVE", with_thousands(r.early_not_active)},
      {"COUPON_NOT_ACTIVE for issues sent after the bell", with_thousands(r.not_active_after_bell)},
      {"first issue after the bell, per connection (ms)",
       ms_points(r.release_spread, {50, 99, 100})},
      {"sold out", sold_out_text(r)},
      {"latency of the first second's issues (ms)",
       ms_points(r.first_second_latency, {50, 90, 99, 99.9, 100})},
      {"server during the opening", server_text(r)},
  };
  std::string html = "<h2>Opening bell</h2>\n" + figures_table(rows);
  html += "<h2>Opening second timeline</h2>\n<p>Per " + short_number(r.slot_ms) +
          " ms after the bell: issues sent (line) and answers received by kind (bars: issued "
          "green, sold out orange, overloaded red, other grey).</p>\n" +
          timeline_svg(r) + "\n";
  html += "<h2>Server metrics during the opening</h2>\n";
  if (!r.metrics_error.empty()) {
    html +=
        "<p class=\"fail\">/metrics could not be read: " + escape_html(r.metrics_error) + "</p>\n";
  }
  return html + metrics_svg(r) + "\n";
}

// ---- fairness ----

void write_fairness_lines(std::ostream& out, const fairness_report& r) {
  out << "fairness: " << with_thousands(r.inverted_losers) << " of " << with_thousands(r.losers)
      << " losers sent earlier than a winner by more than " << short_number(r.tolerance_ms)
      << " ms (" << percent_text(r.inverted_loser_share(), 2) << "); pairs "
      << with_thousands(r.inverted_pairs) << " (" << percent_text(r.inverted_pair_share(), 3)
      << ")\n";
  if (r.has_worst) out << "worst: " << worst_text(r) << "\n";
}

std::string fairness_json(const fairness_report& r) {
  std::string worst = "null";
  if (r.has_worst) {
    worst = "{\"loser_user_id\":" + std::to_string(r.worst_loser_user_id) +
            ",\"winner_user_id\":" + std::to_string(r.worst_winner_user_id) +
            ",\"gap_ms\":" + json_number(r.worst_gap_ms, 3) + "}";
  }
  return "{\"tolerance_ms\":" + json_number(r.tolerance_ms, 3) +
         ",\"winners\":" + std::to_string(r.winners) + ",\"losers\":" + std::to_string(r.losers) +
         ",\"inverted_losers\":" + std::to_string(r.inverted_losers) +
         ",\"inverted_loser_share\":" + json_share(r.inverted_loser_share()) +
         ",\"inverted_pairs\":" + std::to_string(r.inverted_pairs) +
         ",\"inverted_pair_share\":" + json_share(r.inverted_pair_share()) + ",\"worst\":" + worst +
         ",\"plot\":{\"origin_ms\":" + json_number(r.origin_ms, 3) +
         ",\"bin_ms\":" + json_number(r.bin_ms, 3) +
         ",\"winners\":" + count_array(r.winners_per_bin) +
         ",\"losers\":" + count_array(r.losers_per_bin) + "}}";
}

std::string fairness_html(const fairness_report& r) {
  figure_rows rows = {
      {"tolerance", short_number(r.tolerance_ms) + " ms"},
      {"winners (201)", with_thousands(r.winners)},
      {"losers (409 COUPON_SOLD_OUT)", with_thousands(r.losers)},
      {"losers who sent earlier than a winner",
       with_thousands(r.inverted_losers) + " (" + percent_text(r.inverted_loser_share(), 2) + ")"},
      {"(loser, winner) pairs with the loser earlier",
       with_thousands(r.inverted_pairs) + " (" + percent_text(r.inverted_pair_share(), 3) + ")"},
      {"worst", r.has_worst ? worst_text(r) : "none"},
  };
  return "<h2>Fairness</h2>\n<p>First come, first served, measured on the client's send times "
         "of the requests that decided: a loser who sent earlier than a winner by more than the "
         "tolerance is an inversion. Bins of " +
         short_number(r.bin_ms) + " ms.</p>\n" + figures_table(rows) + fairness_svg(r) + "\n";
}

// ---- retries ----

void write_retry_lines(std::ostream& out, const retry_report& r) {
  out << "retries: " << retry_on_text(r) << "; idempotency keys " << (r.idempotency ? "on" : "off")
      << "; " << with_thousands(r.retried_users) << " users retried (" << with_thousands(r.retries)
      << " requests), " << with_thousands(r.replayed) << " answers replayed\n";
}

std::string retry_json(const retry_report& r) {
  std::string statuses;
  for (int status : r.retry_on) append_item(statuses, std::to_string(status));
  return "{\"retry_on\":[" + statuses + "],\"idempotency\":" + (r.idempotency ? "true" : "false") +
         ",\"retried_users\":" + std::to_string(r.retried_users) +
         ",\"retries\":" + std::to_string(r.retries) +
         ",\"replayed\":" + std::to_string(r.replayed) + "}";
}

std::string retry_html(const retry_report& r) {
  figure_rows rows = {
      {"retried statuses (after Retry-After)", retry_on_text(r)},
      {"idempotency keys", r.idempotency ? "on" : "off"},
      {"users retried", with_thousands(r.retried_users)},
      {"requests beyond each user's first", with_thousands(r.retries)},
      {"answers replayed (Idempotent-Replayed: true)", with_thousands(r.replayed)},
  };
  return "<h2>Retries</h2>\n" + figures_table(rows);
}

}  // namespace ecom::load
