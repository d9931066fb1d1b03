// Token buckets of the auth service: a burst, then a wait that the Retry-After value states
// exactly; buckets per key; bounded memory.
#include "auth/rate_limit.hpp"

#include <gtest/gtest.h>

#include "core/log_sampler.hpp"

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

TEST(RateLimiter, AddressBucketsIgnoreThePortAndGroupIpv6By64) {
  AddressRateLimiter rl;
  const RateSpec spec{1.0, 1.0};
  auto take = [&](const char* s) { return rl.take(core::address_key(core::SockAddr::parse(s).value()), spec, kT0); };
  EXPECT_TRUE(take("192.0.2.1:1000").allowed());
  EXPECT_FALSE(take("192.0.2.1:2000").allowed());  // same address, another port: same bucket
  EXPECT_TRUE(take("192.0.2.2:1000").allowed());
  EXPECT_TRUE(take("[2001:db8:1:2::1]:1").allowed());
  EXPECT_FALSE(take("[2001:db8:1:2:ffff::9]:2").allowed());  // same /64
  EXPECT_TRUE(take("[2001:db8:1:3::1]:1").allowed());
  EXPECT_FALSE(take("[::ffff:192.0.2.2]:5").allowed());  // IPv4-mapped: the IPv4 address's bucket
}

}  // namespace
}  // namespace webtrunk::auth
