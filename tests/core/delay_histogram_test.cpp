#include "core/delay_histogram.hpp"

#include <gtest/gtest.h>

namespace webtrunk::core {
namespace {

// 1 us buckets below 1 ms, 100 us buckets above, everything past 200 ms in the last: a quantile is
// its bucket's upper edge.
TEST(DelayHistogram, QuantilesAreUpperBucketEdgesFineBelowOneMillisecond) {
  DelayHistogram h;
  EXPECT_EQ(h.quantile_us(0.99), 0.0);
  for (int i = 0; i < 98; ++i) h.add(12'300);  // 12.3 us
  h.add(1'234'000);                             // 1.234 ms
  h.add(900'000'000);                           // 900 ms: beyond the range
  EXPECT_EQ(h.count(), 100u);
  EXPECT_EQ(h.quantile_us(0.5), 13.0);
  EXPECT_EQ(h.quantile_us(0.99), 1300.0);
  EXPECT_EQ(h.quantile_us(1.0), 200'000.0);
  EXPECT_EQ(h.max_us(), 900'000.0);
  h.add(-5);  // a clock step back counts as 0
  EXPECT_EQ(h.quantile_us(0.0), 1.0);
  h.clear();
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.max_us(), 0.0);
}

}  // namespace
}  // namespace webtrunk::core
