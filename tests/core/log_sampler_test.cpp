#include "core/log_sampler.hpp"

#include <gtest/gtest.h>

namespace webtrunk::core {
namespace {

constexpr Instant kT0 = Instant{} + seconds(100);

SockAddr addr(const char* s) { return SockAddr::parse(s).value(); }

TEST(LogSampler, OneLinePerKeyPerIntervalWithTheSuppressedCount) {
  LogSampler s(seconds(10));
  EXPECT_EQ(s.admit(kT0, 1), 0u);  // the first is written at once
  for (int i = 0; i < 500; ++i) EXPECT_FALSE(s.admit(kT0 + milliseconds(i), 1));
  EXPECT_EQ(s.admit(kT0, 2), 0u);  // another key is independent
  EXPECT_FALSE(s.admit(kT0 + seconds(9), 1));
  EXPECT_EQ(s.admit(kT0 + seconds(10), 1), 501u);
  EXPECT_EQ(s.admit(kT0 + seconds(25), 1), 0u);
}

TEST(LogSampler, KeysAreBoundedAndNewOnesShareOneOverflowKey) {
  LogSampler s(seconds(10), 4);
  for (std::uint64_t k = 0; k < 4; ++k) EXPECT_TRUE(s.admit(kT0, k));
  EXPECT_TRUE(s.admit(kT0, 100));   // the overflow key's first line
  EXPECT_FALSE(s.admit(kT0, 101));  // shares it
  EXPECT_FALSE(s.admit(kT0, 102));
  EXPECT_LE(s.size(), 5u);
  for (std::uint64_t k = 1000; k < 2000; ++k) static_cast<void>(s.admit(kT0 + seconds(1), k));
  EXPECT_LE(s.size(), 5u);
  // Once the interval has passed, stale keys make room again.
  EXPECT_TRUE(s.admit(kT0 + seconds(20), 7));
  EXPECT_LE(s.size(), 5u);
}

TEST(AddressKey, IPv4ExactIPv6PerSlash64MappedAsIPv4) {
  EXPECT_EQ(address_key(addr("192.0.2.1:1")), address_key(addr("192.0.2.1:2")));
  EXPECT_NE(address_key(addr("192.0.2.1:1")), address_key(addr("192.0.2.2:1")));
  EXPECT_EQ(address_key(addr("[2001:db8:1:2::1]:1")), address_key(addr("[2001:db8:1:2:ffff::9]:5")));
  EXPECT_NE(address_key(addr("[2001:db8:1:2::1]:1")), address_key(addr("[2001:db8:1:3::1]:1")));
  EXPECT_EQ(address_key(addr("[::ffff:192.0.2.1]:1")), address_key(addr("192.0.2.1:9")));
  // The families never collide, whatever the bits.
  EXPECT_NE(address_key(addr("[c000:201::]:1")), address_key(addr("192.0.2.1:1")));
  EXPECT_EQ(address_key(SockAddr{}), 0u);
}

}  // namespace
}  // namespace webtrunk::core
