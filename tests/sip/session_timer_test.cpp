// Session timers (RFC 4028) on a fake clock: JsSIP's Session-Expires 90 on the browser leg,
// raising too-small values instead of 422, refresher choice, the trunk leg as UAC with
// Require: timer, 422 handling, refresh-due at half the interval and expiry at
// interval - min(32, interval/3).
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "sip/header_parsers.hpp"
#include "sip/session_timer.hpp"
#include "sip/transaction.hpp"
#include "sip/writer.hpp"
#include "sip_test_util.hpp"

namespace webtrunk::sip {
namespace {

using core::Instant;
using std::chrono::seconds;
using Kind = SessionTimerEvent::Kind;

const Instant t0 = Instant{} + seconds(5000);

std::unique_ptr<OwnedMessage> parsed(std::string_view text) {
  auto m = std::make_unique<OwnedMessage>(text);
  EXPECT_TRUE(m->parsed) << text;
  return m;
}

std::unique_ptr<OwnedMessage> capture(const std::string& name) {
  return parsed(test::read_file(test::data_path("captures/" + name)));
}

// An INVITE/UPDATE from a peer with the given extra header lines ("Name: value\n" each).
std::unique_ptr<OwnedMessage> request_with(std::string_view headers, std::string_view method = "INVITE") {
  std::string s = std::string(method) + " sip:edge@203.0.113.10 SIP/2.0\n"
                  "Via: SIP/2.0/WS abc.invalid;branch=z9hG4bK1\n"
                  "Max-Forwards: 70\n"
                  "From: <sip:alice@edge.test>;tag=f1\n"
                  "To: <sip:trunk@edge.test>\n"
                  "Call-ID: st-1\n"
                  "CSeq: 1 " + std::string(method) + "\n" + std::string(headers) +
                  "Content-Length: 0\n\n";
  return parsed(test::crlf(s));
}

std::unique_ptr<OwnedMessage> response_with(std::string_view headers, int code = 200) {
  std::string s = "SIP/2.0 " + std::to_string(code) + " X\n"
                  "Via: SIP/2.0/UDP 198.51.100.20:5062;branch=z9hG4bK1\n"
                  "From: <sip:alice@edge.test>;tag=f1\n"
                  "To: <sip:+1555@trunk.example.com>;tag=t1\n"
                  "Call-ID: st-2\n"
                  "CSeq: 1 INVITE\n" + std::string(headers) +
                  "Content-Length: 0\n\n";
  return parsed(test::crlf(s));
}

std::vector<std::pair<std::string, std::string>> as_strings(const SessionTimerHeaders& h) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [n, v] : h.pairs()) out.emplace_back(n, v);
  return out;
}

using Pairs = std::vector<std::pair<std::string, std::string>>;

// ---------------------------------------------------------------------------------------------
// Browser leg: we are the UAS

TEST(SessionTimerUas, JsSipInviteWithNinetySecondsLetsTheBrowserRefresh) {
  SessionTimer st;
  const auto inv = capture("jssip_invite_session_expires.sip");  // Session-Expires: 90, Supported: timer
  st.on_request_received(inv->view);
  EXPECT_TRUE(st.active());
  EXPECT_EQ(st.interval(), 90u);
  EXPECT_TRUE(st.peer_supports_timer());
  EXPECT_TRUE(st.peer_allows_update());
  EXPECT_FALSE(st.we_refresh());
  EXPECT_EQ(as_strings(st.response_headers()), (Pairs{{"Session-Expires", "90;refresher=uac"}, {"Require", "timer"}}));

  st.handle_refresh(t0);  // the 200 OK went out
  EXPECT_EQ(st.poll_timeout(), t0 + seconds(60));  // 90 - min(32, 30)
  // JsSIP refreshes by UPDATE at 45 s.
  const auto upd = capture("jssip_update_session_expires.sip");  // Session-Expires: 90;refresher=uac
  st.on_request_received(upd->view);
  EXPECT_FALSE(st.we_refresh());
  EXPECT_EQ(st.response_headers().session_expires(), "90;refresher=uac");
  st.handle_refresh(t0 + seconds(45));
  EXPECT_EQ(st.poll_timeout(), t0 + seconds(105));
  st.handle_timeout(t0 + seconds(104));
  EXPECT_FALSE(st.poll_event());
  // No further refresh: expired at 45 + 60.
  st.handle_timeout(t0 + seconds(105));
  const auto ev = st.poll_event();
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->kind, Kind::expired);
  EXPECT_FALSE(st.poll_event());
  EXPECT_FALSE(st.poll_timeout());
}

TEST(SessionTimerUas, NinetyWithMinSeNinetyIsAcceptedAsIs) {
  SessionTimer st;
  st.on_request_received(request_with("Session-Expires: 90\nMin-SE: 90\nSupported: timer\n")->view);
  EXPECT_EQ(st.interval(), 90u);
}

TEST(SessionTimerUas, TooSmallIsRaisedNotRejected) {
  {
    SessionTimer st;  // our Min-SE 90
    st.on_request_received(request_with("Session-Expires: 60\nSupported: timer\n")->view);
    EXPECT_EQ(st.interval(), 90u);
    EXPECT_EQ(st.response_headers().session_expires(), "90;refresher=uac");
  }
  {
    SessionTimerConfig cfg;
    cfg.min_se = 120;
    SessionTimer st(cfg);  // JsSIP's 90 is below our 120
    st.on_request_received(capture("jssip_invite_session_expires.sip")->view);
    EXPECT_EQ(st.interval(), 120u);
    EXPECT_EQ(st.response_headers().session_expires(), "120;refresher=uac");
  }
  {
    SessionTimer st;  // the request's own Min-SE is a floor too
    st.on_request_received(request_with("Session-Expires: 100\nMin-SE: 150\nSupported: timer\n")->view);
    EXPECT_EQ(st.interval(), 150u);
    EXPECT_EQ(st.min_se(), 150u);
  }
  {
    SessionTimer st;  // large values are kept
    st.on_request_received(request_with("Session-Expires: 3600\nSupported: timer\n")->view);
    EXPECT_EQ(st.interval(), 3600u);
  }
}

TEST(SessionTimerUas, RefresherChoice) {
  {
    SessionTimer st;  // refresher=uas asked: we refresh
    st.on_request_received(request_with("Session-Expires: 90;refresher=uas\nSupported: timer\nAllow: INVITE, UPDATE\n")->view);
    EXPECT_TRUE(st.we_refresh());
    EXPECT_EQ(as_strings(st.response_headers()), (Pairs{{"Session-Expires", "90;refresher=uas"}, {"Require", "timer"}}));
  }
  {
    SessionTimerConfig cfg;
    cfg.prefer_peer_refresher = false;  // no refresher named, and we prefer to refresh
    SessionTimer st(cfg);
    st.on_request_received(request_with("Session-Expires: 90\nSupported: timer\n")->view);
    EXPECT_TRUE(st.we_refresh());
  }
  {
    SessionTimer st;  // a UAC without timer support cannot refresh: we do, and no Require
    st.on_request_received(request_with("Session-Expires: 1800\n")->view);
    EXPECT_TRUE(st.we_refresh());
    EXPECT_EQ(as_strings(st.response_headers()), (Pairs{{"Session-Expires", "1800;refresher=uas"}}));
  }
  {
    SessionTimer st;  // Require: timer counts as support
    st.on_request_received(request_with("Session-Expires: 1800\nRequire: timer\n")->view);
    EXPECT_FALSE(st.we_refresh());
  }
}

TEST(SessionTimerUas, WeRefreshAtHalfTheIntervalByUpdateOrReInvite) {
  SessionTimer st;
  st.on_request_received(request_with("Session-Expires: 90;refresher=uas\nSupported: timer\n"
                                      "Allow: INVITE,ACK,CANCEL,BYE,UPDATE\n")->view);
  st.handle_refresh(t0);
  EXPECT_EQ(st.poll_timeout(), t0 + seconds(45));
  st.handle_timeout(t0 + seconds(45));
  auto ev = st.poll_event();
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->kind, Kind::refresh_due);
  EXPECT_EQ(ev->method, Method::update);
  EXPECT_EQ(st.poll_timeout(), t0 + seconds(60));  // the expiry backstop remains
  // Our UPDATE got its 2xx at 46 s.
  st.handle_refresh(t0 + seconds(46));
  EXPECT_EQ(st.poll_timeout(), t0 + seconds(91));

  // A peer whose Allow has no UPDATE (SIP.js's first INVITE) is refreshed by re-INVITE.
  SessionTimerConfig cfg;
  cfg.timer_without_peer_request = true;
  SessionTimer sipjs(cfg);
  const auto inv = capture("sipjs_invite_sdp.sip");
  sipjs.on_request_received(inv->view);
  EXPECT_TRUE(sipjs.active());
  EXPECT_TRUE(sipjs.we_refresh());
  EXPECT_FALSE(sipjs.peer_allows_update());
  EXPECT_EQ(sipjs.interval(), 1800u);
  EXPECT_EQ(as_strings(sipjs.response_headers()), (Pairs{{"Session-Expires", "1800;refresher=uas"}}));
  sipjs.handle_refresh(t0);
  sipjs.handle_timeout(t0 + seconds(900));
  ev = sipjs.poll_event();
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->kind, Kind::refresh_due);
  EXPECT_EQ(ev->method, Method::invite);
}

TEST(SessionTimerUas, SipJsWithoutSessionExpiresGetsNoTimerByDefault) {
  SessionTimer st;
  st.on_request_received(capture("sipjs_invite_sdp.sip")->view);
  EXPECT_FALSE(st.active());
  EXPECT_TRUE(st.response_headers().empty());
  EXPECT_TRUE(st.response_headers().pairs().empty());
  st.handle_refresh(t0);
  EXPECT_FALSE(st.poll_timeout());
}

TEST(SessionTimerUas, ReInviteWithoutSessionExpiresKeepsTheTimer) {
  SessionTimer st;
  st.on_request_received(capture("jssip_invite_session_expires.sip")->view);
  st.handle_refresh(t0);
  st.on_request_received(request_with("Allow: INVITE, UPDATE\n")->view);  // no timer support declared
  EXPECT_TRUE(st.active());
  EXPECT_EQ(st.interval(), 90u);
  EXPECT_TRUE(st.we_refresh());
  EXPECT_EQ(st.response_headers().session_expires(), "90;refresher=uas");
}

TEST(SessionTimerUas, UnparsableSessionExpiresIsIgnored) {
  SessionTimer st;
  st.on_request_received(request_with("Session-Expires: soon\nSupported: timer\n")->view);
  EXPECT_FALSE(st.active());
}

// ---------------------------------------------------------------------------------------------
// Trunk leg: we are the UAC

TEST(SessionTimerUac, OfferAndTheTrunkRequiresUsToRefresh) {
  SessionTimer st;
  const auto h = st.request_headers();
  EXPECT_EQ(as_strings(h), (Pairs{{"Session-Expires", "1800"}, {"Min-SE", "90"}, {"Supported", "timer"}}));
  std::string written;
  MessageWriter w(written);
  h.write_to(w);
  EXPECT_EQ(written, "Session-Expires: 1800\r\nMin-SE: 90\r\nSupported: timer\r\n");

  st.on_response_received(response_with("Session-Expires: 1800;refresher=uac\nRequire: timer\nAllow: INVITE,ACK,BYE,CANCEL,UPDATE\n")->view);
  EXPECT_TRUE(st.active());
  EXPECT_TRUE(st.we_refresh());
  EXPECT_TRUE(st.peer_allows_update());
  st.handle_refresh(t0);
  EXPECT_EQ(st.poll_timeout(), t0 + seconds(900));
  st.handle_timeout(t0 + seconds(900));
  const auto ev = st.poll_event();
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->kind, Kind::refresh_due);
  EXPECT_EQ(ev->method, Method::update);
  // The refresh carries the negotiated interval and names us (its UAC) as refresher.
  EXPECT_EQ(as_strings(st.request_headers()),
            (Pairs{{"Session-Expires", "1800;refresher=uac"}, {"Min-SE", "90"}, {"Supported", "timer"}}));
  EXPECT_EQ(st.poll_timeout(), t0 + seconds(1768));  // 1800 - 32
}

TEST(SessionTimerUac, TrunkRefreshes) {
  SessionTimer st;
  (void)st.request_headers();
  st.on_response_received(response_with("Session-Expires: 600;refresher=uas\nRequire: timer\n")->view);
  EXPECT_FALSE(st.we_refresh());
  EXPECT_FALSE(st.peer_allows_update());  // no Allow seen
  st.handle_refresh(t0);
  EXPECT_EQ(st.poll_timeout(), t0 + seconds(568));
  // The trunk refreshes with a re-INVITE: we are its UAS now.
  st.on_request_received(request_with("Session-Expires: 600;refresher=uac\nSupported: timer\n")->view);
  EXPECT_FALSE(st.we_refresh());
  EXPECT_EQ(as_strings(st.response_headers()), (Pairs{{"Session-Expires", "600;refresher=uac"}, {"Require", "timer"}}));
  st.handle_refresh(t0 + seconds(300));
  EXPECT_EQ(st.poll_timeout(), t0 + seconds(868));
  st.handle_timeout(t0 + seconds(868));
  EXPECT_EQ(st.poll_event()->kind, Kind::expired);
}

TEST(SessionTimerUac, TrunkWithoutTimersStillGetsRefreshed) {
  SessionTimer st;
  (void)st.request_headers();
  st.on_response_received(response_with("")->view);
  EXPECT_TRUE(st.active());
  EXPECT_TRUE(st.we_refresh());
  EXPECT_EQ(st.interval(), 1800u);
  EXPECT_EQ(st.refresh_method(), Method::invite);

  SessionTimerConfig cfg;
  cfg.refresh_without_peer_support = false;
  SessionTimer off(cfg);
  (void)off.request_headers();
  off.on_response_received(response_with("")->view);
  EXPECT_FALSE(off.active());
  off.handle_refresh(t0);
  EXPECT_FALSE(off.poll_timeout());
}

TEST(SessionTimerUac, FourTwentyTwoRaisesOurInterval) {
  SessionTimer st;
  (void)st.request_headers();
  EXPECT_TRUE(st.on_422(response_with("Min-SE: 3600\n", 422)->view));
  EXPECT_EQ(as_strings(st.request_headers()),
            (Pairs{{"Session-Expires", "3600"}, {"Min-SE", "3600"}, {"Supported", "timer"}}));
  // A 422 that asks for no more than we offered cannot be fixed by retrying.
  EXPECT_FALSE(st.on_422(response_with("Min-SE: 1800\n", 422)->view));
  EXPECT_FALSE(st.on_422(response_with("", 422)->view));
}

// ---------------------------------------------------------------------------------------------

TEST(SessionTimer, ExpiryIsIntervalMinusMin32OrAThird) {
  EXPECT_EQ(SessionTimer::expiry_after(90), seconds(60));
  EXPECT_EQ(SessionTimer::expiry_after(60), seconds(40));
  EXPECT_EQ(SessionTimer::expiry_after(96), seconds(64));
  EXPECT_EQ(SessionTimer::expiry_after(1800), seconds(1768));
}

TEST(SessionTimer, RegularRefreshesKeepTheSessionAlive) {
  SessionTimer st;
  st.on_request_received(request_with("Session-Expires: 90;refresher=uas\nSupported: timer\nAllow: UPDATE\n")->view);
  Instant now = t0;
  st.handle_refresh(now);
  for (int i = 0; i < 100; ++i) {
    now = *st.poll_timeout();
    st.handle_timeout(now);
    const auto ev = st.poll_event();
    ASSERT_TRUE(ev);
    ASSERT_EQ(ev->kind, Kind::refresh_due);
    st.handle_refresh(now + seconds(1));  // the UPDATE's 200 came a second later
  }
  EXPECT_EQ(now, t0 + seconds(100 * 45 + 99));
}

TEST(SessionTimer, StopClearsDeadlines) {
  SessionTimer st;
  st.on_request_received(capture("jssip_invite_session_expires.sip")->view);
  st.handle_refresh(t0);
  EXPECT_TRUE(st.poll_timeout());
  st.stop();
  EXPECT_FALSE(st.poll_timeout());
  st.handle_timeout(t0 + seconds(1000));
  EXPECT_FALSE(st.poll_event());
}

TEST(SessionTimerHeaders, CopiesStayValid) {
  SessionTimer st;
  SessionTimerHeaders a = st.request_headers();
  const SessionTimerHeaders b = a;
  a = SessionTimerHeaders{};
  EXPECT_EQ(as_strings(b), (Pairs{{"Session-Expires", "1800"}, {"Min-SE", "90"}, {"Supported", "timer"}}));
  EXPECT_TRUE(a.empty());
}

}  // namespace
}  // namespace webtrunk::sip
