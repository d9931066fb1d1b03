#include "core/metrics.hpp"

#include <gtest/gtest.h>

namespace webtrunk::core {
namespace {

const Counter kTestCounter{"webtrunk_test_counter_total", "A counter used by the metrics test"};

TEST(Metrics, CountsPerShardAndRendersPrometheusText) {
  set_current_shard(0);
  kTestCounter.inc();
  set_current_shard(3);
  kTestCounter.inc(2);
  set_current_shard(0);
  EXPECT_EQ(kTestCounter.total(), 3);
  std::string text = render_metrics();
  EXPECT_NE(text.find("# TYPE webtrunk_test_counter_total counter"), std::string::npos);
  EXPECT_NE(text.find("webtrunk_test_counter_total{shard=\"3\"} 2"), std::string::npos);
  EXPECT_NE(text.find("webtrunk_test_counter_total 3\n"), std::string::npos);
}

}  // namespace
}  // namespace webtrunk::core
