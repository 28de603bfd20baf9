#include "net/metrics.h"

#include <cstdio>

namespace ecom::net {

metrics::metrics(std::vector<std::string> route_labels)
    : labels_(std::move(route_labels)), series_(new route_series[labels_.size()]) {}

void metrics::observe(std::size_t route_index, std::uint16_t status, double seconds) {
  if (route_index >= labels_.size()) route_index = 0;
  route_series& s = series_[route_index];
  std::size_t slot = 0;
  while (slot < statuses.size() && statuses[slot] != status) ++slot;
  s.by_status[slot].fetch_add(1, std::memory_order_relaxed);
  std::size_t bucket = 0;
  while (bucket < latency_bounds_s.size() && seconds > latency_bounds_s[bucket]) ++bucket;
  s.buckets[bucket].fetch_add(1, std::memory_order_relaxed);
  s.sum_ns.fetch_add(static_cast<std::uint64_t>(seconds * 1e9), std::memory_order_relaxed);
}

void metrics::render(std::string& out) const {
  char line[512];
  out += "# HELP ecomd_http_requests_total HTTP requests answered, by route and status.\n";
  out += "# TYPE ecomd_http_requests_total counter\n";
  for (std::size_t r = 0; r < labels_.size(); ++r) {
    for (std::size_t slot = 0; slot <= statuses.size(); ++slot) {
      std::uint64_t n = series_[r].by_status[slot].load(std::memory_order_relaxed);
      if (n == 0) continue;
      std::string status = slot < statuses.size() ? std::to_string(statuses[slot]) : "other";
      std::snprintf(line, sizeof line,
                    "ecomd_http_requests_total{route=\"%s\",status=\"%s\"} %llu\n",
                    labels_[r].c_str(), status.c_str(), static_cast<unsigned long long>(n));
      out += line;
    }
  }
  out +=
      "# HELP ecomd_http_request_duration_seconds Time from reading a request to handing its reply "
      "to the socket.\n";
  out += "# TYPE ecomd_http_request_duration_seconds histogram\n";
  for (std::size_t r = 0; r < labels_.size(); ++r) {
    const route_series& s = series_[r];
    std::uint64_t cumulative = 0;
    for (std::size_t b = 0; b <= latency_bounds_s.size(); ++b) {
      cumulative += s.buckets[b].load(std::memory_order_relaxed);
      if (b < latency_bounds_s.size()) {
        std::snprintf(line, sizeof line,
                      "ecomd_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                      labels_[r].c_str(), latency_bounds_s[b],
                      static_cast<unsigned long long>(cumulative));
      } else {
        std::snprintf(line, sizeof line,
                      "ecomd_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
                      labels_[r].c_str(), static_cast<unsigned long long>(cumulative));
      }
      out += line;
    }
    std::snprintf(line, sizeof line,
                  "ecomd_http_request_duration_seconds_sum{route=\"%s\"} %.9f\n"
                  "ecomd_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                  labels_[r].c_str(),
                  static_cast<double>(s.sum_ns.load(std::memory_order_relaxed)) / 1e9,
                  labels_[r].c_str(), static_cast<unsigned long long>(cumulative));
    out += line;
  }
}

}  // namespace ecom::net
