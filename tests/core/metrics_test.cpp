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

const SeriesSet kTestSeries{3, {{"route", "other"}, {"trunk", "other"}}};
const CounterFamily kTestFamily{"webtrunk_test_route_calls_total", "A family used by the metrics test", kTestSeries};
const CounterFamily kTestReasons{"webtrunk_test_route_failed_total", "A family with a label of its own", kTestSeries,
                                 "reason", {"icmp", "timeout"}};

TEST(Metrics, FamiliesRenderOneLinePerLabelSet) {
  const SeriesId a = kTestSeries.intern({{"route", "+1555"}, {"trunk", "udp:10.0.0.5:5060"}});
  const SeriesId b = kTestSeries.intern({{"route", "*"}, {"trunk", "tcp:[::1]:5060"}});
  EXPECT_NE(a, 0u);
  EXPECT_NE(a, b);
  // The same labels again (a reload that keeps the route): the same counters.
  EXPECT_EQ(kTestSeries.intern({{"route", "+1555"}, {"trunk", "udp:10.0.0.5:5060"}}), a);
  set_current_shard(0);
  kTestFamily.inc(a);
  set_current_shard(2);
  kTestFamily.inc(a, 0, 2);
  kTestReasons.inc(b, 1);
  set_current_shard(0);
  EXPECT_EQ(kTestFamily.total(a), 3);
  const std::string text = render_metrics();
  EXPECT_NE(text.find("# TYPE webtrunk_test_route_calls_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("webtrunk_test_route_calls_total{route=\"+1555\",trunk=\"udp:10.0.0.5:5060\"} 3\n"),
            std::string::npos)
      << text;
  // Zeros are rendered for every known label set, so a rate() sees the first failure.
  EXPECT_NE(text.find("webtrunk_test_route_calls_total{route=\"*\",trunk=\"tcp:[::1]:5060\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("webtrunk_test_route_failed_total{route=\"*\",trunk=\"tcp:[::1]:5060\",reason=\"timeout\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("webtrunk_test_route_failed_total{route=\"*\",trunk=\"tcp:[::1]:5060\",reason=\"icmp\"} 0\n"),
            std::string::npos);
  // The unused overflow set is not rendered.
  EXPECT_EQ(text.find("webtrunk_test_route_calls_total{route=\"other\""), std::string::npos);
}

const SeriesSet kSmallSeries{2, {{"route", "other"}, {"trunk", "other"}}};
const CounterFamily kSmallFamily{"webtrunk_test_small_total", "A family with room for one label set", kSmallSeries};

TEST(Metrics, FamilyLabelSetsAreBoundedAndEscaped) {
  // Capacity 2: the overflow set and one more; the next distinct labels count as "other".
  const SeriesId first = kSmallSeries.intern({{"route", "+1555"}, {"trunk", "udp:10.0.0.5:5060"}});
  EXPECT_EQ(first, 1u);
  const SeriesId over = kSmallSeries.intern({{"route", "+44"}, {"trunk", "udp:10.0.0.6:5060"}});
  EXPECT_EQ(over, 0u);
  EXPECT_EQ(kSmallSeries.size(), 2u);
  set_current_shard(0);
  kSmallFamily.inc(over);
  kSmallFamily.inc(99);  // out of range: nothing
  const std::string text = render_metrics();
  EXPECT_NE(text.find("webtrunk_test_small_total{route=\"other\",trunk=\"other\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("webtrunk_test_small_total{route=\"+1555\",trunk=\"udp:10.0.0.5:5060\"} 0\n"),
            std::string::npos);
  // Prometheus text format: backslash, double quote and line feed are escaped in label values.
  const SeriesSet escaped{2, {{"k", "a\"b\\c\nd"}}};
  EXPECT_EQ(escaped.labels(0), "k=\"a\\\"b\\\\c\\nd\"");
}

}  // namespace
}  // namespace webtrunk::core
