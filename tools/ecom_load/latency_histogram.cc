// HDR-style latency histogram: bucket arithmetic, percentiles and merging.
#include "tools/ecom_load/latency_histogram.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cmath>

namespace ecom::load {

namespace {

static_assert(std::has_single_bit(latency_histogram::sub_bucket_count));
// 2 significant digits need buckets no wider than 1/100 of their value: 1/128 is.
static_assert(latency_histogram::sub_bucket_half >= 100);

// Number of the power-of-two band a value falls in; band 0 holds 0..sub_bucket_count-1 exactly.
unsigned band_of(std::uint64_t value_us) {
  if (value_us < latency_histogram::sub_bucket_count) return 0;
  return static_cast<unsigned>(std::bit_width(value_us)) -
         static_cast<unsigned>(std::bit_width(latency_histogram::sub_bucket_half));
}

std::size_t bucket_count_total() {
  return latency_histogram::bucket_index(latency_histogram::value_us_max) + 1;
}

}  // namespace

latency_histogram::latency_histogram() : counts_(bucket_count_total(), 0) {}

std::size_t latency_histogram::bucket_index(std::uint64_t value_us) {
  value_us = std::min(value_us, value_us_max);
  unsigned band = band_of(value_us);
  if (band == 0) return static_cast<std::size_t>(value_us);
  std::uint64_t sub = (value_us >> band) - sub_bucket_half;
  assert(sub < sub_bucket_half);
  return static_cast<std::size_t>(sub_bucket_count + (band - 1) * sub_bucket_half + sub);
}

std::uint64_t latency_histogram::bucket_lower_us(std::size_t index) {
  if (index < sub_bucket_count) return index;
  std::uint64_t past = index - sub_bucket_count;
  unsigned band = static_cast<unsigned>(past / sub_bucket_half) + 1;
  std::uint64_t sub = past % sub_bucket_half + sub_bucket_half;
  return sub << band;
}

std::uint64_t latency_histogram::bucket_upper_us(std::size_t index) {
  if (index < sub_bucket_count) return index;
  unsigned band = static_cast<unsigned>((index - sub_bucket_count) / sub_bucket_half) + 1;
  return bucket_lower_us(index) + (std::uint64_t{1} << band) - 1;
}

void latency_histogram::record(std::uint64_t value_us) {
  std::size_t index = bucket_index(value_us);
  assert(index < counts_.size());
  ++counts_[index];
  min_us_ = count_ == 0 ? value_us : std::min(min_us_, value_us);
  max_us_ = std::max(max_us_, value_us);
  sum_us_ += static_cast<long double>(value_us);
  ++count_;
}

void latency_histogram::merge(const latency_histogram& other) {
  assert(counts_.size() == other.counts_.size());
  if (other.count_ == 0) return;
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  min_us_ = count_ == 0 ? other.min_us_ : std::min(min_us_, other.min_us_);
  max_us_ = std::max(max_us_, other.max_us_);
  sum_us_ += other.sum_us_;
  count_ += other.count_;
}

double latency_histogram::mean_us() const {
  return count_ == 0 ? 0.0 : static_cast<double>(sum_us_ / static_cast<long double>(count_));
}

std::uint64_t latency_histogram::percentile_us(double percentile) const {
  if (count_ == 0) return 0;
  percentile = std::clamp(percentile, 0.0, 100.0);
  // The epsilon keeps 99.9 % of 1000 at rank 999 despite 99.9 / 100 * 1000 = 999.0000000000001.
  auto rank = static_cast<std::uint64_t>(
      std::ceil(percentile / 100.0 * static_cast<double>(count_) - 1e-9));
  rank = std::clamp<std::uint64_t>(rank, 1, count_);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::clamp(bucket_upper_us(i), min_us(), max_us_);
  }
  return max_us_;
}

std::vector<latency_histogram::bucket> latency_histogram::buckets() const {
  std::vector<bucket> out;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i] != 0) out.push_back({bucket_lower_us(i), bucket_upper_us(i), counts_[i]});
  }
  return out;
}

}  // namespace ecom::load
