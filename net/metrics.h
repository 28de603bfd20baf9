// metrics: request counters and latency histograms per route, rendered in the Prometheus text
// exposition format 0.0.4. Updated with relaxed atomics from every network thread; no locks.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ecom::net {

class metrics {
 public:
  static constexpr std::array<std::uint16_t, 15> statuses = {200, 201, 204, 400, 401, 403, 404, 405,
                                                             409, 413, 415, 422, 431, 500, 503};
  static constexpr std::array<double, 14> latency_bounds_s = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5};

  // One label per route index (e.g. "POST /users/{id}/balance/charge"); index 0 is "unmatched".
  explicit metrics(std::vector<std::string> route_labels);

  void observe(std::size_t route_index, std::uint16_t status, double seconds);
  void render(std::string& out) const;

 private:
  struct route_series {
    std::array<std::atomic<std::uint64_t>, statuses.size() + 1> by_status{};        // last: other
    std::array<std::atomic<std::uint64_t>, latency_bounds_s.size() + 1> buckets{};  // last: +Inf
    std::atomic<std::uint64_t> sum_ns{0};
  };
  std::vector<std::string> labels_;
  std::unique_ptr<route_series[]> series_;
};

}  // namespace ecom::net
