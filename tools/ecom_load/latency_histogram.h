// HDR-style latency histogram: log-linear buckets, 2 significant digits from 1 µs to 60 s.
#pragma once

#include <cstdint>
#include <vector>

namespace ecom::load {

// Values are microseconds. Below sub_bucket_count every value has its own bucket; above, each
// power of two is split into sub_bucket_half buckets, so a bucket is at most 1/128 (< 1 %) of
// its value wide. Values above value_us_max land in the last bucket; max_us() stays exact.
class latency_histogram {
 public:
  static constexpr std::uint64_t value_us_max = 60'000'000;
  static constexpr std::uint64_t sub_bucket_count = 256;
  static constexpr std::uint64_t sub_bucket_half = sub_bucket_count / 2;

  struct bucket {
    std::uint64_t lower_us = 0;
    std::uint64_t upper_us = 0;  // inclusive
    std::uint64_t count = 0;
  };

  latency_histogram();

  void record(std::uint64_t value_us);
  void merge(const latency_histogram& other);

  std::uint64_t count() const { return count_; }
  std::uint64_t min_us() const { return count_ == 0 ? 0 : min_us_; }
  std::uint64_t max_us() const { return max_us_; }
  double mean_us() const;
  // The highest value equivalent to the sample at that percentile (0..100), clamped to the
  // recorded min and max; 0 for an empty histogram. percentile_us(100) == max_us().
  std::uint64_t percentile_us(double percentile) const;
  // Non-empty buckets, ascending.
  std::vector<bucket> buckets() const;

  static std::size_t bucket_index(std::uint64_t value_us);
  static std::uint64_t bucket_lower_us(std::size_t index);
  static std::uint64_t bucket_upper_us(std::size_t index);

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  std::uint64_t min_us_ = 0;
  std::uint64_t max_us_ = 0;
  long double sum_us_ = 0;
};

}  // namespace ecom::load
