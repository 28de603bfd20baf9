// time_format: RFC 3339 out in UTC with milliseconds, in with any offset.
#include "net/time_format.h"

#include <gtest/gtest.h>

namespace ecom::net {
namespace {

TEST(time_format_test, formats_utc_with_milliseconds) {
  EXPECT_EQ(format_rfc3339(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_rfc3339(1795494513123), "2026-11-24T04:28:33.123Z");
}

TEST(time_format_test, parses_offsets_and_round_trips) {
  EXPECT_EQ(parse_rfc3339("2026-11-24T04:28:33.123Z"), 1795494513123);
  EXPECT_EQ(parse_rfc3339("2026-11-24T13:28:33.123+09:00"), 1795494513123);
  EXPECT_EQ(parse_rfc3339("2026-11-23T23:28:33.123-05:00"), 1795494513123);
  EXPECT_EQ(parse_rfc3339("2026-11-24T04:28:33Z"), 1795494513000);
  EXPECT_TRUE(parse_rfc3339("2024-02-29T00:00:00Z")) << "leap year";
  EXPECT_TRUE(parse_rfc3339("2000-02-29T00:00:00Z")) << "divisible by 400";
  for (std::int64_t ms : {0LL, 951782400000LL, 4102444799999LL}) {
    EXPECT_EQ(parse_rfc3339(format_rfc3339(ms)), ms);
  }
}

TEST(time_format_test, rejects_malformed_times) {
  for (const char* text :
       {"", "2026-11-24", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-11-24T24:00:00Z",
        "2026-11-24T04:28:33", "2026-11-24T04:28:33.Z", "2026-11-24T04:28:33+0900",
        "2026-11-24 04:28:33Z", "2025-02-29T00:00:00Z", "1900-02-29T00:00:00Z"}) {
    EXPECT_FALSE(parse_rfc3339(text)) << text;
  }
}

}  // namespace
}  // namespace ecom::net
