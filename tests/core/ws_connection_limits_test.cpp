// WsConnection's bounds on what a remote peer can make it hold: the output a non-reading peer
// piles up, partial frames and fragmented messages (size and deadline), and idle peers (pings,
// then close). All on a fake clock.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/ws_connection.hpp"
#include "ws_connection_test_support.hpp"

namespace webtrunk::core {
namespace {

using namespace test;  // NOLINT: the shared helpers

constexpr Instant kT0 = Instant{} + seconds(1000);

WsLimits small_limits() {
  WsLimits l;
  l.max_output_bytes = 4096;
  l.partial_timeout = seconds(10);
  l.ping_interval = seconds(30);
  l.idle_timeout = seconds(90);
  return l;
}

// The last frame of the output, decoded.
OutFrame last_frame(std::string_view out) {
  auto frames = decode(out);
  EXPECT_FALSE(frames.empty());
  return frames.empty() ? OutFrame{} : frames.back();
}

TEST(WsConnectionLimits, APeerThatDoesNotReadIsClosedWith1008AtTheOutputBound) {
  Harness t(small_limits());
  t.now = kT0;
  t.open();
  const auto before = kWsClosedSendQueueTotal.total();
  const std::string sip(1000, 's');
  EXPECT_TRUE(t.conn.send_text(sip));
  EXPECT_TRUE(t.conn.send_text(sip));
  t.take_output();
  // The transport still holds 2,000 of those bytes: they count against the bound.
  t.conn.set_transport_backlog(2100);
  EXPECT_TRUE(t.conn.send_text(sip));
  EXPECT_FALSE(t.conn.send_text(sip));  // 2100 + 1004 + 1004 > 4096
  EXPECT_TRUE(t.conn.wants_close());
  EXPECT_FALSE(t.conn.send_text("x"));  // and nothing after that
  EXPECT_EQ(t.drain(), std::vector<Ev>{closed(1008, "send queue full: the peer does not read", false)});
  const std::string out = t.take_output();
  EXPECT_EQ(last_frame(out),
            (OutFrame{WsOpcode::close, true, close_body(1008, "send queue full: the peer does not read")}));
  EXPECT_LE(out.size(), 4096u - 2100u + 2 + kWsMaxControlPayload);
  EXPECT_EQ(kWsClosedSendQueueTotal.total(), before + 1);
}

TEST(WsConnectionLimits, PongsAndKeepaliveAnswersStopWhenTheOutputIsFull) {
  Harness t(small_limits());
  t.open();
  const auto skipped = kWsControlRepliesSkippedTotal.total();
  t.conn.set_transport_backlog(4090);
  EXPECT_TRUE(t.feed(cat({frame(WsOpcode::ping, "p"), frame(WsOpcode::text, "\r\n\r\n")})).empty());
  EXPECT_TRUE(t.conn.pending_output().empty());
  EXPECT_TRUE(t.conn.is_open());  // not a reason to close: the peer may catch up
  EXPECT_EQ(kWsControlRepliesSkippedTotal.total(), skipped + 2);
  t.conn.set_transport_backlog(0);
  EXPECT_TRUE(t.feed(frame(WsOpcode::ping, "p")).empty());
  EXPECT_EQ(decode(t.take_output()), (std::vector<OutFrame>{{WsOpcode::pong, true, "p"}}));
}

TEST(WsConnectionLimits, AnUnfinishedFragmentedMessageIsDroppedAtItsDeadline) {
  Harness t(small_limits());
  t.now = kT0;
  t.open();
  const auto before = kWsClosedPartialTimeoutTotal.total();
  EXPECT_TRUE(t.feed(frame(WsOpcode::text, std::string(3000, 'a'), false)).empty());
  ASSERT_TRUE(t.conn.poll_timeout());
  EXPECT_EQ(*t.conn.poll_timeout(), kT0 + seconds(10));
  EXPECT_GE(t.conn.heap_bytes(), 3000u);
  // More fragments do not move the deadline: a trickle cannot hold the buffer for ever.
  t.now = kT0 + seconds(6);
  EXPECT_TRUE(t.feed(frame(WsOpcode::continuation, "b", false)).empty());
  EXPECT_EQ(*t.conn.poll_timeout(), kT0 + seconds(10));
  t.conn.handle_timeout(kT0 + seconds(9));
  EXPECT_TRUE(t.conn.is_open());
  t.conn.handle_timeout(kT0 + seconds(10));
  EXPECT_TRUE(t.conn.wants_close());
  EXPECT_EQ(t.drain(), std::vector<Ev>{closed(1008, "message not finished in time", false)});
  EXPECT_EQ(last_frame(t.take_output()),
            (OutFrame{WsOpcode::close, true, close_body(1008, "message not finished in time")}));
  EXPECT_EQ(t.conn.heap_bytes(), 0u);  // the partial message is gone
  EXPECT_EQ(kWsClosedPartialTimeoutTotal.total(), before + 1);
  EXPECT_FALSE(t.conn.poll_timeout());
}

TEST(WsConnectionLimits, APartialFrameHasTheSameDeadline) {
  Harness t(small_limits());
  t.now = kT0;
  t.open();
  const auto f = frame(WsOpcode::binary, std::string(2000, 'q'));
  EXPECT_TRUE(t.feed(std::span(f).first(100)).empty());
  EXPECT_EQ(*t.conn.poll_timeout(), kT0 + seconds(10));
  t.conn.handle_timeout(kT0 + seconds(10));
  EXPECT_EQ(t.drain(), std::vector<Ev>{closed(1008, "message not finished in time", false)});
  EXPECT_EQ(t.conn.heap_bytes(), t.conn.pending_output().size() > 0 ? t.conn.heap_bytes() : 0u);
  t.take_output();
  EXPECT_EQ(t.conn.heap_bytes(), 0u);  // the partial frame is gone with the output
}

TEST(WsConnectionLimits, AFinishedMessageClearsTheDeadline) {
  Harness t(small_limits());
  t.now = kT0;
  t.open();
  EXPECT_TRUE(t.feed(frame(WsOpcode::text, "OPTIONS ", false)).empty());
  t.now = kT0 + seconds(5);
  EXPECT_EQ(t.feed(frame(WsOpcode::continuation, "sip:x SIP/2.0")), std::vector<Ev>{msg("OPTIONS sip:x SIP/2.0")});
  // Only the ping is left to wait for, counted from the last byte received.
  EXPECT_EQ(*t.conn.poll_timeout(), kT0 + seconds(35));
  t.conn.handle_timeout(kT0 + seconds(20));
  EXPECT_TRUE(t.conn.is_open());
}

TEST(WsConnectionLimits, AnIdlePeerIsPingedAndClosedWhenItStopsAnswering) {
  Harness t(small_limits());
  t.now = kT0;
  t.open();
  const auto pings = kWsPingsSentTotal.total();
  const auto idle = kWsClosedIdleTotal.total();
  EXPECT_EQ(*t.conn.poll_timeout(), kT0 + seconds(30));
  t.conn.handle_timeout(kT0 + seconds(30));
  EXPECT_EQ(decode(t.take_output()), (std::vector<OutFrame>{{WsOpcode::ping, true, ""}}));
  EXPECT_EQ(*t.conn.poll_timeout(), kT0 + seconds(60));
  // The pong (any frame would do) keeps the connection.
  t.now = kT0 + seconds(31);
  EXPECT_TRUE(t.feed(frame(WsOpcode::pong, "")).empty());
  t.conn.handle_timeout(kT0 + seconds(60));  // the deadline armed before the pong: nothing due
  EXPECT_TRUE(t.conn.pending_output().empty());
  EXPECT_EQ(*t.conn.poll_timeout(), kT0 + seconds(61));
  // Then it goes silent: pinged every 30 s, closed 90 s after the last frame.
  t.conn.handle_timeout(kT0 + seconds(61));
  t.conn.handle_timeout(kT0 + seconds(91));
  EXPECT_EQ(decode(t.take_output()), (std::vector<OutFrame>{{WsOpcode::ping, true, ""}, {WsOpcode::ping, true, ""}}));
  EXPECT_EQ(*t.conn.poll_timeout(), kT0 + seconds(121));
  t.conn.handle_timeout(kT0 + seconds(121));
  EXPECT_EQ(t.drain(), std::vector<Ev>{closed(1008, "idle timeout", false)});
  EXPECT_EQ(last_frame(t.take_output()), (OutFrame{WsOpcode::close, true, close_body(1008, "idle timeout")}));
  EXPECT_EQ(kWsPingsSentTotal.total(), pings + 3);
  EXPECT_EQ(kWsClosedIdleTotal.total(), idle + 1);
}

TEST(WsConnectionLimits, ZeroTurnsTheTimersOff) {
  WsLimits l;
  l.partial_timeout = Duration::zero();
  l.ping_interval = Duration::zero();
  l.idle_timeout = Duration::zero();
  Harness t(l);
  t.open();
  EXPECT_TRUE(t.feed(frame(WsOpcode::text, "a", false)).empty());
  EXPECT_FALSE(t.conn.poll_timeout());
}

TEST(WsConnectionLimits, AMessageOverTheLimitIsCountedAs1009) {
  WsLimits l;
  l.max_message_bytes = 100;
  Harness t(l);
  t.open();
  const auto before = kWsClosedTooBigTotal.total();
  EXPECT_EQ(t.feed(cat({frame(WsOpcode::text, std::string(60, 'a'), false),
                        frame(WsOpcode::continuation, std::string(60, 'a'))})),
            std::vector<Ev>{closed(1009, "message too large", false)});
  EXPECT_EQ(kWsClosedTooBigTotal.total(), before + 1);
}

}  // namespace
}  // namespace webtrunk::core
