// Token buckets of the auth service: a burst, then a wait that the Retry-After value states
// exactly; buckets per key; bounded memory.
#include "auth/rate_limit.hpp"

#include <gtest/gtest.h>

namespace webtrunk::auth {
namespace {

using namespace std::chrono_literals;

const core::Instant kT0{std::chrono::seconds(1000)};

TEST(RateLimiter, BurstThenLimitedWithRetryAfterThenRefilled) {
  RateLimiter rl;
  const RateSpec spec{2.0, 5.0};  // 2/s, burst 5
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(rl.take("a", spec, kT0).allowed()) << i;
  const RateDecision d = rl.take("a", spec, kT0);
  EXPECT_EQ(d.kind, RateDecision::Kind::limited);
  EXPECT_EQ(d.retry_after_s, 1);  // half a second rounds up to the next whole second
  // Another key has its own bucket.
  EXPECT_TRUE(rl.take("b", spec, kT0).allowed());
  // After 500 ms one token is back, and only one.
  EXPECT_TRUE(rl.take("a", spec, kT0 + 500ms).allowed());
  EXPECT_FALSE(rl.take("a", spec, kT0 + 500ms).allowed());
  // A long quiet period refills to the burst, no more.
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(rl.take("a", spec, kT0 + 60s).allowed()) << i;
  EXPECT_FALSE(rl.take("a", spec, kT0 + 60s).allowed());
}

TEST(RateLimiter, PerMinuteSpecAndSlowRatesSayHowLongToWait) {
  const RateSpec six = RateSpec::per_minute(6);  // one every 10 s, burst 1
  EXPECT_DOUBLE_EQ(six.per_second, 0.1);
  EXPECT_DOUBLE_EQ(six.burst, 1.0);
  EXPECT_DOUBLE_EQ(RateSpec::per_minute(600).burst, 60.0);
  RateLimiter rl;
  EXPECT_TRUE(rl.take("acct", six, kT0).allowed());
  const RateDecision d = rl.take("acct", six, kT0 + 3s);
  EXPECT_FALSE(d.allowed());
  EXPECT_EQ(d.retry_after_s, 7);
  EXPECT_TRUE(rl.take("acct", six, kT0 + 10s).allowed());
}

TEST(RateLimiter, FullMapDropsRefilledBucketsButNeverOneInUse) {
  RateLimiter rl(2);
  const RateSpec spec{1.0, 2.0};
  EXPECT_TRUE(rl.take("a", spec, kT0).allowed());
  EXPECT_TRUE(rl.take("b", spec, kT0).allowed());
  // Both buckets are in use (not full): a third key is refused, not given someone's place.
  const RateDecision d = rl.take("c", spec, kT0);
  EXPECT_EQ(d.kind, RateDecision::Kind::full);
  EXPECT_GE(d.retry_after_s, 1);
  // Once they refilled, they are as good as absent and make room.
  EXPECT_TRUE(rl.take("c", spec, kT0 + 5s).allowed());
  EXPECT_LE(rl.size(), 2u);
}

TEST(RateLimiter, AddressKeysIgnoreThePortAndGroupIpv6By64) {
  auto key = [](const char* s) { return address_key(core::SockAddr::parse(s).value()); };
  EXPECT_EQ(key("192.0.2.1:1000"), key("192.0.2.1:2000"));
  EXPECT_NE(key("192.0.2.1:1000"), key("192.0.2.2:1000"));
  EXPECT_EQ(key("[2001:db8:1:2::1]:1"), key("[2001:db8:1:2:ffff::9]:2"));
  EXPECT_NE(key("[2001:db8:1:2::1]:1"), key("[2001:db8:1:3::1]:1"));
  EXPECT_EQ(key("[::ffff:192.0.2.1]:5"), key("192.0.2.1:6"));
  EXPECT_EQ(address_key(core::SockAddr{}), "");
}

}  // namespace
}  // namespace webtrunk::auth
