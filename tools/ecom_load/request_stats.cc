// Per-kind request counters and the throughput-series helpers.
#include "tools/ecom_load/request_stats.h"

namespace ecom::load {

void request_stats::record_answer(int status, std::uint64_t latency_us) {
  ++request_count;
  latency.record(latency_us);
  ++status_counts[status];
}

void request_stats::record_transport_failure() {
  ++request_count;
  ++transport_error_count;
  ++status_counts[0];
}

void request_stats::record_problem(int status, std::string_view code) {
  std::string key = std::to_string(status) + " " + std::string(code);
  auto it = problem_codes.find(key);
  if (it == problem_codes.end()) it = problem_codes.emplace(std::move(key), 0).first;
  ++it->second;
}

void request_stats::merge(const request_stats& other) {
  request_count += other.request_count;
  transport_error_count += other.transport_error_count;
  latency.merge(other.latency);
  for (const auto& [status, count] : other.status_counts) status_counts[status] += count;
  for (const auto& [code, count] : other.problem_codes) problem_codes[code] += count;
}

double slot_width_s(double duration_s) {
  for (double width : {0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0}) {
    if (duration_s / width <= 2000) return width;
  }
  return 60.0;
}

void bump_slot(std::vector<std::uint64_t>& slots, std::size_t slot) {
  if (slots.size() <= slot) slots.resize(slot + 1, 0);
  ++slots[slot];
}

void add_slots(std::vector<std::uint64_t>& into, const std::vector<std::uint64_t>& from) {
  if (into.size() < from.size()) into.resize(from.size(), 0);
  for (std::size_t i = 0; i < from.size(); ++i) into[i] += from[i];
}

}  // namespace ecom::load
