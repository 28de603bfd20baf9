// Small helpers shared by the writers of a run's outputs (summary_output.cc, html_report.cc,
// sale_output.cc): number and JSON text, and the frame, labels and lines of the --report page's
// inline SVG charts. Internal to ecom_load_core: include it from those .cc files only.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <string>
#include <vector>

#include "tools/ecom_load/latency_histogram.h"

namespace ecom::load::output_detail {

// ---- text and JSON ----

inline std::string fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

inline std::string ms_text(std::uint64_t us) {
  return fixed(static_cast<double>(us) / 1000.0, 3);
}

inline std::string json_string(const std::string& text) {
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
inline void append_item(std::string& list, const std::string& entry) {
  if (!list.empty()) list += ',';
  list += entry;
}

// {"p50":…,"p90":…,"p99":…,"p999":…,"max":…} in the histogram's unit.
inline std::string latency_json(const latency_histogram& h) {
  return "{\"p50\":" + std::to_string(h.percentile_us(50)) +
         ",\"p90\":" + std::to_string(h.percentile_us(90)) +
         ",\"p99\":" + std::to_string(h.percentile_us(99)) +
         ",\"p999\":" + std::to_string(h.percentile_us(99.9)) +
         ",\"max\":" + std::to_string(h.max_us()) + "}";
}

// ---- HTML and SVG ----

constexpr int chart_width = 760;
constexpr int chart_height = 260;
constexpr int margin_left = 60;
constexpr int margin_bottom = 40;
constexpr int margin_top = 20;
constexpr double plot_width = chart_width - margin_left - 10;
constexpr double plot_height = chart_height - margin_bottom - margin_top;

inline std::string num(double value, int decimals = 1) {
  return fixed(value, decimals);
}

inline std::string escape_html(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// The opening <svg> with the title, both axes and their labels; the caller adds "</svg>".
inline std::string svg_frame(const std::string& title, const std::string& x_label,
                             const std::string& y_label) {
  int plot_bottom = chart_height - margin_bottom;
  return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(chart_width) +
         "\" height=\"" + std::to_string(chart_height) + "\" font-family=\"sans-serif\" " +
         "font-size=\"11\"><text x=\"" + std::to_string(margin_left) + "\" y=\"14\" " +
         "font-weight=\"bold\">" + escape_html(title) + "</text><line x1=\"" +
         std::to_string(margin_left) + "\" y1=\"" + std::to_string(plot_bottom) + "\" x2=\"" +
         std::to_string(chart_width - 10) + "\" y2=\"" + std::to_string(plot_bottom) +
         "\" stroke=\"#333\"/><line x1=\"" + std::to_string(margin_left) + "\" y1=\"" +
         std::to_string(margin_top) + "\" x2=\"" + std::to_string(margin_left) + "\" y2=\"" +
         std::to_string(plot_bottom) + "\" stroke=\"#333\"/><text x=\"" +
         std::to_string(chart_width / 2) + "\" y=\"" + std::to_string(chart_height - 6) +
         "\" text-anchor=\"middle\">" + escape_html(x_label) + "</text><text x=\"12\" y=\"" +
         std::to_string(chart_height / 2) + "\" transform=\"rotate(-90 12 " +
         std::to_string(chart_height / 2) + ")\" text-anchor=\"middle\">" + escape_html(y_label) +
         "</text>";
}

inline std::string axis_label(double x, double y, const std::string& text, const char* anchor) {
  return "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\" text-anchor=\"" + anchor + "\">" +
         escape_html(text) + "</text>";
}

// Five labels under the x axis, from `from` to `to`.
inline std::string x_ticks(double from, double to, int decimals) {
  std::string svg;
  for (int tick = 0; tick <= 4; ++tick) {
    svg += axis_label(margin_left + plot_width * tick / 4.0, chart_height - margin_bottom + 14,
                      num(from + (to - from) * tick / 4.0, decimals), "middle");
  }
  return svg;
}

// One point per slot at the slot's middle, value / slot_s scaled so top_rate is the plot's top.
// slot_count spreads the slots over that many (0: slots.size()), so series of different lengths
// share the x axis. dash: an SVG stroke-dasharray, or empty.
inline std::string polyline(const std::vector<std::uint64_t>& slots, double slot_s, double top_rate,
                            const char* color, std::size_t slot_count = 0, const char* dash = "") {
  double span = static_cast<double>(slot_count > 0 ? slot_count : slots.size());
  std::string points;
  for (std::size_t i = 0; i < slots.size(); ++i) {
    double x = margin_left + plot_width * (static_cast<double>(i) + 0.5) / span;
    double y = margin_top + plot_height -
               plot_height * (static_cast<double>(slots[i]) / slot_s) / top_rate;
    points += num(x) + "," + num(y) + " ";
  }
  std::string dashes = *dash ? std::string(" stroke-dasharray=\"") + dash + "\"" : "";
  return std::string("<polyline fill=\"none\" stroke=\"") + color + "\" stroke-width=\"2\"" +
         dashes + " points=\"" + points + "\"/>";
}

// One series of rate_chart: counts per slot, drawn in color (dash: a stroke-dasharray or "").
struct chart_series {
  const std::vector<std::uint64_t>& slots;
  const char* color;
  const char* dash = "";
};

// Series of counts per slot drawn as rates per second over time (s), the first series on top;
// the y axis goes up to the busiest slot of any series, the x axis spans the longest.
inline std::string rate_chart(const std::string& title, std::initializer_list<chart_series> series,
                              double slot_s, const std::string& legend) {
  std::string svg = svg_frame(title, "time (s)", "per second");
  std::size_t slot_count = 0;
  std::uint64_t busiest = 0;
  for (const auto& s : series) {
    slot_count = std::max(slot_count, s.slots.size());
    for (auto value : s.slots) busiest = std::max(busiest, value);
  }
  if (slot_count == 0 || slot_s <= 0) return svg + "</svg>";
  double top_rate = std::max(1.0, static_cast<double>(busiest) / slot_s);
  for (const auto& s : series) {
    svg += polyline(s.slots, slot_s, top_rate, s.color, slot_count, s.dash);
  }
  svg += x_ticks(0, slot_s * static_cast<double>(slot_count), 1);
  svg += axis_label(margin_left - 4, margin_top + 8, num(top_rate, 0), "end");
  svg += axis_label(chart_width - 12, margin_top + 8, legend, "end");
  return svg + "</svg>";
}

}  // namespace ecom::load::output_detail
