// RFC 5626 §4.4.1 keep-alives on a trunk connection (edge/crlf_keepalive.hpp), on a fake clock.
#include "edge/crlf_keepalive.hpp"

#include <gtest/gtest.h>

namespace webtrunk::edge {
namespace {

using A = CrlfKeepAlive::Action;
using std::chrono::seconds;

const core::Instant t0 = core::Instant{} + seconds(1000);

TEST(CrlfKeepAlive, PingsAQuietConnectionAndAPongKeepsItUp) {
  CrlfKeepAlive ka(seconds(30));
  ka.start(t0);
  EXPECT_EQ(ka.next_deadline(), t0 + seconds(30));
  EXPECT_EQ(ka.poll(t0 + seconds(29)), A::none);
  EXPECT_EQ(ka.poll(t0 + seconds(30)), A::ping);
  EXPECT_TRUE(ka.awaiting_pong());
  EXPECT_EQ(ka.next_deadline(), t0 + seconds(40));  // the pong's deadline
  EXPECT_EQ(ka.poll(t0 + seconds(31)), A::none);    // one ping per interval, not one per poll
  ka.on_received(t0 + seconds(31));                 // the pong
  EXPECT_FALSE(ka.awaiting_pong());
  EXPECT_EQ(ka.poll(t0 + seconds(45)), A::none);
  EXPECT_EQ(ka.poll(t0 + seconds(61)), A::ping);
}

TEST(CrlfKeepAlive, TrafficPostponesThePing) {
  CrlfKeepAlive ka(seconds(30));
  ka.start(t0);
  for (int s = 20; s <= 200; s += 20) {
    EXPECT_EQ(ka.poll(t0 + seconds(s)), A::none);
    ka.on_received(t0 + seconds(s));
  }
  EXPECT_EQ(ka.next_deadline(), t0 + seconds(230));
}

TEST(CrlfKeepAlive, NoPongWithinTenSecondsIsADeadConnection) {
  CrlfKeepAlive ka(seconds(5));
  ka.start(t0);
  EXPECT_EQ(ka.poll(t0 + seconds(5)), A::ping);
  EXPECT_EQ(ka.poll(t0 + seconds(14)), A::none);
  EXPECT_EQ(ka.poll(t0 + seconds(15)), A::dead);
  // Reported once; stopped until the next connection starts it.
  EXPECT_EQ(ka.poll(t0 + seconds(100)), A::none);
  EXPECT_FALSE(ka.next_deadline());
  ka.start(t0 + seconds(200));
  EXPECT_EQ(ka.next_deadline(), t0 + seconds(205));
}

TEST(CrlfKeepAlive, OffOrStoppedAsksForNothing) {
  CrlfKeepAlive off;
  off.start(t0);
  EXPECT_EQ(off.poll(t0 + seconds(10000)), A::none);
  EXPECT_FALSE(off.next_deadline());
  CrlfKeepAlive ka(seconds(30));
  ka.start(t0);
  ka.stop();
  EXPECT_EQ(ka.poll(t0 + seconds(100)), A::none);
  EXPECT_FALSE(ka.next_deadline());
}

}  // namespace
}  // namespace webtrunk::edge
