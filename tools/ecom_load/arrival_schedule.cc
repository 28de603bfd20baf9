// Arrival schedule arithmetic: each segment's integral is a quadratic in time, inverted in a
// form that stays exact for flat segments.
#include "tools/ecom_load/arrival_schedule.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>

namespace ecom::load {

namespace {

// "1500ms", "30s", "2m", "1h" → seconds; throws stages_error naming the stage.
double parse_stage_duration_s(const std::string& text, const std::string& stage) {
  std::size_t digits = 0;
  while (digits < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[digits])) || text[digits] == '.')) {
    ++digits;
  }
  std::string unit = text.substr(digits);
  double value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + digits, value);
  if (digits == 0 || error != std::errc{} || end != text.data() + digits) {
    throw stages_error("stage '" + stage + "': duration '" + text +
                       "' is not a number with a unit");
  }
  double scale = unit == "ms"  ? 0.001
                 : unit == "s" ? 1
                 : unit == "m" ? 60
                 : unit == "h" ? 3600
                               : -1;
  if (scale < 0) {
    throw stages_error("stage '" + stage + "': duration unit must be ms, s, m or h (got '" + text +
                       "')");
  }
  if (!(value > 0)) throw stages_error("stage '" + stage + "': duration must be > 0");
  return value * scale;
}

double parse_stage_rate(const std::string& text, const std::string& stage) {
  double value = -1;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc{} || end != text.data() + text.size() || !(value >= 0) ||
      value > arrival_rate_per_s_max) {
    throw stages_error("stage '" + stage + "': rate must be a number in 0.." +
                       std::to_string(static_cast<long long>(arrival_rate_per_s_max)) +
                       " requests/s");
  }
  return value;
}

}  // namespace

std::vector<arrival_stage> parse_arrival_stages(const std::string& text, double duration_s_max) {
  if (text.empty()) throw stages_error("no stages (expected e.g. 30s:1000,60s:20000,30s:0)");
  std::vector<arrival_stage> stages;
  double total_s = 0;
  std::size_t begin = 0;
  while (begin <= text.size()) {
    std::size_t comma = text.find(',', begin);
    std::string stage =
        text.substr(begin, comma == std::string::npos ? std::string::npos : comma - begin);
    std::size_t colon = stage.find(':');
    if (colon == std::string::npos) {
      throw stages_error("stage '" + stage + "': expected DURATION:RATE, e.g. 30s:1000");
    }
    arrival_stage parsed{parse_stage_duration_s(stage.substr(0, colon), stage),
                         parse_stage_rate(stage.substr(colon + 1), stage)};
    stages.push_back(parsed);
    if (stages.size() > arrival_stages_max) {
      throw stages_error("more than " + std::to_string(arrival_stages_max) + " stages");
    }
    total_s += parsed.duration_s;
    if (comma == std::string::npos) break;
    begin = comma + 1;
  }
  if (total_s > duration_s_max) {
    throw stages_error("stages last " + std::to_string(total_s) + " s; at most " +
                       std::to_string(duration_s_max) + " s");
  }
  return stages;
}

arrival_schedule arrival_schedule::constant(double rate_per_s, double duration_s) {
  return ramping({{0, rate_per_s}, {duration_s, rate_per_s}});
}

arrival_schedule arrival_schedule::ramping(const std::vector<arrival_stage>& stages) {
  arrival_schedule schedule;
  double rate = 0;
  double start_s = 0;
  double due = 0;
  for (const auto& stage : stages) {
    if (stage.duration_s <= 0) {  // a zero-length stage sets the rate (constant's first stage)
      rate = stage.target_per_s;
      continue;
    }
    schedule.segments_.push_back({start_s, stage.duration_s, rate, stage.target_per_s, due});
    due += (rate + stage.target_per_s) / 2 * stage.duration_s;
    start_s += stage.duration_s;
    rate = stage.target_per_s;
  }
  schedule.duration_s_ = start_s;
  return schedule;
}

std::uint64_t arrival_schedule::due_before(double t_s) const {
  double due = 0;
  for (const auto& s : segments_) {
    if (t_s <= s.start_s) break;
    double tau = std::min(t_s - s.start_s, s.duration_s);
    double slope = (s.rate_end_per_s - s.rate_start_per_s) / s.duration_s;
    due = s.due_before_start + s.rate_start_per_s * tau + slope / 2 * tau * tau;
  }
  // The integral rounded up, then moved by at most a step or two so that it counts exactly
  // the requests whose due_s is before t_s (rounding noise cannot add or drop one).
  auto count = static_cast<std::uint64_t>(std::max(0.0, std::ceil(due)));
  while (count > 0 && due_s(count - 1) >= t_s) --count;
  while (due_s(count) < t_s && due_s(count) < duration_s_) ++count;
  return count;
}

double arrival_schedule::due_s(std::uint64_t index) const {
  double wanted = static_cast<double>(index);
  for (const auto& s : segments_) {
    double at_end = s.due_before_start + (s.rate_start_per_s + s.rate_end_per_s) / 2 * s.duration_s;
    if (wanted >= at_end) continue;
    // Solve due_before_start + r0·τ + (slope/2)·τ² = wanted for the smallest τ >= 0, in the
    // form 2c / (r0 + sqrt(r0² + 2·slope·c)) that also holds for slope = 0.
    double c = wanted - s.due_before_start;
    double slope = (s.rate_end_per_s - s.rate_start_per_s) / s.duration_s;
    double root = std::sqrt(std::max(0.0, s.rate_start_per_s * s.rate_start_per_s + 2 * slope * c));
    double denominator = s.rate_start_per_s + root;
    double tau = c <= 0 ? 0 : (denominator > 0 ? 2 * c / denominator : s.duration_s);
    return s.start_s + std::min(tau, s.duration_s);
  }
  return std::max(duration_s_, 0.0) + 1;
}

}  // namespace ecom::load
