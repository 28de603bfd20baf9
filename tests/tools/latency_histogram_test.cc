// latency_histogram: exact buckets below 256 µs, < 1 % bucket width above, percentiles on
// known data, merging, clamping past 60 s.
#include "tools/ecom_load/latency_histogram.h"

#include <gtest/gtest.h>

namespace ecom::load {
namespace {

TEST(latency_histogram, empty_histogram_reports_zero) {
  latency_histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.percentile_us(50), 0u);
  EXPECT_EQ(h.max_us(), 0u);
  EXPECT_TRUE(h.buckets().empty());
}

TEST(latency_histogram, small_values_are_exact) {
  latency_histogram h;
  for (std::uint64_t v = 1; v <= 100; ++v) h.record(v);
  EXPECT_EQ(h.percentile_us(50), 50u);
  EXPECT_EQ(h.percentile_us(90), 90u);
  EXPECT_EQ(h.percentile_us(99), 99u);
  EXPECT_EQ(h.percentile_us(99.9), 100u);
  EXPECT_EQ(h.percentile_us(100), 100u);
  EXPECT_EQ(h.min_us(), 1u);
  EXPECT_DOUBLE_EQ(h.mean_us(), 50.5);
}

// Goal: two significant digits over the whole range. Method: every bucket's width is at most
// 1/128 of its lower bound, buckets tile the range without gaps, and index() agrees.
TEST(latency_histogram, buckets_tile_the_range_with_under_one_percent_width) {
  std::size_t last = latency_histogram::bucket_index(latency_histogram::value_us_max);
  for (std::size_t i = 0; i <= last; ++i) {
    std::uint64_t lower = latency_histogram::bucket_lower_us(i);
    std::uint64_t upper = latency_histogram::bucket_upper_us(i);
    ASSERT_EQ(latency_histogram::bucket_index(lower), i);
    ASSERT_EQ(latency_histogram::bucket_index(upper), i);
    if (i > 0) {
      ASSERT_EQ(lower, latency_histogram::bucket_upper_us(i - 1) + 1);
    }
    if (lower >= 256) {
      ASSERT_LE(static_cast<double>(upper - lower + 1) / lower, 1.0 / 128);
    }
  }
}

TEST(latency_histogram, percentiles_of_uniform_data_are_within_one_percent) {
  latency_histogram h;
  for (std::uint64_t v = 1; v <= 100'000; ++v) h.record(v);
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    double expected = p / 100 * 100'000;
    EXPECT_NEAR(static_cast<double>(h.percentile_us(p)), expected, expected / 100) << p;
    EXPECT_GE(static_cast<double>(h.percentile_us(p)), expected) << "highest equivalent value";
  }
  EXPECT_EQ(h.max_us(), 100'000u);
  EXPECT_EQ(h.percentile_us(100), 100'000u);
}

TEST(latency_histogram, a_slow_tail_shows_in_the_high_percentiles_only) {
  latency_histogram h;
  for (int i = 0; i < 999; ++i) h.record(1000);
  h.record(2'000'000);
  // 1000 µs lies in the bucket 1000..1003; the percentile is its highest equivalent value.
  EXPECT_EQ(h.percentile_us(50), 1003u);
  EXPECT_EQ(h.percentile_us(99.9), 1003u);  // rank 999 of 1000
  EXPECT_EQ(h.percentile_us(99.95), 2'000'000u);
  EXPECT_EQ(h.max_us(), 2'000'000u);
}

TEST(latency_histogram, merge_equals_recording_everything_in_one) {
  latency_histogram a, b, all;
  for (std::uint64_t v = 1; v < 5000; v += 7) {
    (v % 2 ? a : b).record(v * 13);
    all.record(v * 13);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.min_us(), all.min_us());
  EXPECT_EQ(a.max_us(), all.max_us());
  for (double p : {1.0, 50.0, 90.0, 99.0, 99.9})
    EXPECT_EQ(a.percentile_us(p), all.percentile_us(p));
}

TEST(latency_histogram, values_past_sixty_seconds_clamp_into_the_last_bucket) {
  latency_histogram h;
  h.record(120'000'000);
  EXPECT_EQ(h.count(), 1u);
  EXPECT_EQ(h.max_us(), 120'000'000u);
  EXPECT_EQ(h.percentile_us(50), 120'000'000u);
  ASSERT_EQ(h.buckets().size(), 1u);
  EXPECT_LE(h.buckets()[0].lower_us, latency_histogram::value_us_max);
}

}  // namespace
}  // namespace ecom::load
