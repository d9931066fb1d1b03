#include "core/admission_control.hpp"

#include <gtest/gtest.h>

namespace webtrunk::core {
namespace {

constexpr Instant kT0 = Instant{} + seconds(100);
constexpr std::uint64_t kA = 1, kB = 2;

AdmissionLimits limits() {
  AdmissionLimits l;
  l.max_connections = 10;
  l.max_per_address = 3;
  l.new_per_address_per_s = 5;
  l.unauth_per_address_per_s = 4;
  l.ban = seconds(30);
  return l;
}

TEST(AdmissionControl, PerAddressCapRefusesTheSourceButNotOthers) {
  AdmissionControl a(limits());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(a.admit(kT0, kA), Admit::ok);
  EXPECT_EQ(a.admit(kT0, kA), Admit::address_full);
  EXPECT_EQ(a.admit(kT0, kB), Admit::ok);
  a.release(kA);
  EXPECT_EQ(a.admit(kT0 + seconds(2), kA), Admit::ok);
  EXPECT_EQ(a.open(), 4u);
  EXPECT_FALSE(a.banned(kT0, kA));  // a full address is not banned, only full
}

TEST(AdmissionControl, ShardCap) {
  AdmissionLimits l = limits();
  l.max_per_address = 100;
  l.new_per_address_per_s = 100;
  AdmissionControl a(l);
  for (std::uint64_t k = 0; k < 10; ++k) EXPECT_EQ(a.admit(kT0, 100 + k), Admit::ok);
  EXPECT_EQ(a.admit(kT0, kA), Admit::shard_full);
  a.release(100);
  EXPECT_EQ(a.admit(kT0, kA), Admit::ok);
}

TEST(AdmissionControl, ConnectionRateBansTheSourceForTheBanTime) {
  AdmissionLimits l = limits();
  l.max_per_address = 100;
  AdmissionControl a(l);
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(a.admit(kT0, kA), Admit::ok);
    a.release(kA);
  }
  EXPECT_EQ(a.admit(kT0 + milliseconds(900), kA), Admit::rate);
  EXPECT_TRUE(a.banned(kT0 + seconds(1), kA));
  EXPECT_EQ(a.admit(kT0 + seconds(29), kA), Admit::banned);
  EXPECT_EQ(a.admit(kT0 + seconds(29), kB), Admit::ok);
  EXPECT_EQ(a.admit(kT0 + seconds(31), kA), Admit::ok);
}

TEST(AdmissionControl, UnauthenticatedRequestRateBans) {
  AdmissionControl a(limits());
  ASSERT_EQ(a.admit(kT0, kA), Admit::ok);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(a.unauthenticated_request(kT0, kA));
  EXPECT_FALSE(a.unauthenticated_request(kT0, kA));
  EXPECT_EQ(a.admit(kT0 + seconds(1), kA), Admit::banned);
  // A new window restarts the count once the ban is over.
  EXPECT_TRUE(a.unauthenticated_request(kT0 + seconds(31), kA));
}

TEST(AdmissionControl, ForgottenSourcesAreSwept) {
  AdmissionLimits l = limits();
  l.max_connections = 1 << 20;
  AdmissionControl a(l);
  for (std::uint64_t k = 0; k < 100'000; ++k) {
    const Instant t = kT0 + milliseconds(static_cast<long>(k / 10));  // 10,000 new sources a second
    ASSERT_EQ(a.admit(t, 1000 + k), Admit::ok);
    a.release(1000 + k);
  }
  // The sources of the last second (10,000), at most doubled between sweeps; not all 100,000.
  EXPECT_LE(a.sources(), 20'001u);
}

}  // namespace
}  // namespace webtrunk::core
