#include "core/nofile_limit.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>

namespace webtrunk::core {
namespace {

TEST(NofileLimit, RaisesTheSoftLimitToTheHardLimit) {
  rlimit before{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &before), 0);
  // Start from a low soft limit, as a service started with the common default of 1,024 would.
  rlimit low = before;
  low.rlim_cur = before.rlim_max < 1024 ? before.rlim_max : 1024;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  const NofileLimit got = raise_nofile_limit();
  rlimit after{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &after), 0);
  EXPECT_EQ(after.rlim_cur, before.rlim_max);
  EXPECT_EQ(got.soft, static_cast<std::uint64_t>(after.rlim_cur));
  EXPECT_EQ(got.hard, static_cast<std::uint64_t>(after.rlim_max));
  // Calling it again changes nothing.
  const NofileLimit again = raise_nofile_limit();
  EXPECT_EQ(again.soft, got.soft);
}

}  // namespace
}  // namespace webtrunk::core
