// Counters of one kind of request, kept per I/O thread and merged after a pooled phase: count,
// transport failures, latency histogram, HTTP statuses and problem codes. Also the helpers for
// the throughput series (requests per time slot). No I/O here.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "tools/ecom_load/latency_histogram.h"

namespace ecom::load {

struct request_stats {
  std::uint64_t request_count = 0;
  std::uint64_t transport_error_count = 0;
  latency_histogram latency;
  std::map<int, std::uint64_t> status_counts;  // HTTP status → answers (0: transport failure)
  // "409 OUT_OF_STOCK" → answers, for every answer with a problem+json code.
  std::map<std::string, std::uint64_t, std::less<>> problem_codes;

  // Counts one complete answer (status != 0) and its latency.
  void record_answer(int status, std::uint64_t latency_us);
  // Counts one transport failure (status 0).
  void record_transport_failure();
  // Counts "<status> <code>".
  void record_problem(int status, std::string_view code);
  void merge(const request_stats& other);
};

// Slot width for a throughput series: 100 ms for short runs, coarser for long ones so the
// series stays below about 2,000 points.
double slot_width_s(double duration_s);
// ++slots[slot], growing the series as needed.
void bump_slot(std::vector<std::uint64_t>& slots, std::size_t slot);
// into[i] += from[i], growing into as needed.
void add_slots(std::vector<std::uint64_t>& into, const std::vector<std::uint64_t>& from);

}  // namespace ecom::load
