// The echo trunk on a real shard with real UDP sockets on 127.0.0.1: the test plays the edge's trunk
// side with plain blocking sockets on another thread (the shard runs on the test thread, which
// created its ring: SINGLE_ISSUER).
#include "app/echo_trunk.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <regex>
#include <string>
#include <thread>

#include "sip/parser.hpp"

namespace webtrunk::app {
namespace {

using namespace std::chrono_literals;

// A UDP socket on 127.0.0.1 with a receive timeout: one side of the test's conversation.
class Peer {
 public:
  Peer() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const core::SockAddr local = core::SockAddr::ipv4_loopback(0);
    (void)::bind(fd_, local.data(), local.size());
    core::SockAddr bound;
    socklen_t len = core::SockAddr::capacity();
    ::getsockname(fd_, bound.data(), &len);
    port_ = bound.port();
  }
  ~Peer() { ::close(fd_); }
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  std::uint16_t port() const { return port_; }
  void send(std::uint16_t to_port, const std::string& data) const {
    const core::SockAddr to = core::SockAddr::ipv4_loopback(to_port);
    (void)::sendto(fd_, data.data(), data.size(), 0, to.data(), to.size());
  }
  // The next datagram within `wait`, or nullopt.
  std::optional<std::string> recv(std::chrono::milliseconds wait = 2000ms) const {
    timeval tv{static_cast<time_t>(wait.count() / 1000), static_cast<suseconds_t>((wait.count() % 1000) * 1000)};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<std::size_t>(n));
  }
  // The next SIP response's status code (skipping nothing: order matters), or 0.
  int recv_status(std::string* text = nullptr, std::chrono::milliseconds wait = 2000ms) const {
    auto d = recv(wait);
    if (!d) return 0;
    if (text != nullptr) *text = *d;
    sip::MessageView m;
    if (sip::parse_message(*d, m).status != sip::ParseStatus::ok || !m.is_response()) return -1;
    return m.status_code();
  }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

std::string invite(const Peer& p, std::uint16_t trunk_port, const std::string& call_id, const std::string& branch,
                   const std::string& sdp) {
  std::string m = "INVITE sip:15551230000@127.0.0.1:" + std::to_string(trunk_port) +
                  " SIP/2.0\r\n"
                  "Via: SIP/2.0/UDP 127.0.0.1:" +
                  std::to_string(p.port()) + ";branch=" + branch +
                  ";rport\r\n"
                  "Max-Forwards: 70\r\n"
                  "From: <sip:web@edge.test>;tag=edgetag1\r\n"
                  "To: <sip:15551230000@127.0.0.1>\r\n"
                  "Call-ID: " +
                  call_id +
                  "\r\n"
                  "CSeq: 1 INVITE\r\n"
                  "Contact: <sip:edge@127.0.0.1:" +
                  std::to_string(p.port()) + ">\r\n";
  if (!sdp.empty()) m += "Content-Type: application/sdp\r\n";
  m += "Content-Length: " + std::to_string(sdp.size()) + "\r\n\r\n" + sdp;
  return m;
}

std::string in_dialog(const Peer& p, const std::string& method, const std::string& call_id, const std::string& to_tag,
                      int cseq, const std::string& branch) {
  return method + " sip:echo@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:" + std::to_string(p.port()) +
         ";branch=" + branch + "\r\nMax-Forwards: 70\r\nFrom: <sip:web@edge.test>;tag=edgetag1\r\n" +
         "To: <sip:15551230000@127.0.0.1>" + (to_tag.empty() ? "" : ";tag=" + to_tag) + "\r\nCall-ID: " + call_id +
         "\r\nCSeq: " + std::to_string(cseq) + " " + method + "\r\nContent-Length: 0\r\n\r\n";
}

// What the edge offers a trunk: the browser's PCMU/PCMA/telephone-event plus Opus (which the
// echo trunk does not take).
const std::string kOffer =
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 111 0 8 126\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\na=rtpmap:126 telephone-event/8000\r\na=fmtp:126 0-16\r\na=sendrecv\r\n";

std::string to_tag_of(const std::string& resp) {
  std::smatch m;
  return std::regex_search(resp, m, std::regex("\r\nTo: [^\r]*;tag=([^;\r]+)")) ? m[1].str() : "";
}
int sdp_port_of(const std::string& resp) {
  std::smatch m;
  return std::regex_search(resp, m, std::regex("m=audio (\\d+) ")) ? std::stoi(m[1].str()) : 0;
}

// INVITE with kOffer, expects 100, 180, 200; returns the 200 (and the 180 in `ringing`).
std::string answered_call(const Peer& sip, std::uint16_t trunk, const std::string& call_id,
                          std::string* ringing = nullptr) {
  sip.send(trunk, invite(sip, trunk, call_id, "z9hG4bKinv-" + call_id, kOffer));
  std::string answer;
  EXPECT_EQ(sip.recv_status(), 100);
  EXPECT_EQ(sip.recv_status(ringing), 180);
  EXPECT_EQ(sip.recv_status(&answer), 200);
  return answer;
}

class EchoTrunkTest : public ::testing::Test {
 protected:
  // Runs the trunk on this thread while `client` (given the trunk's SIP port) runs on another.
  void run(core::Duration ring, const std::function<void(std::uint16_t)>& client) {
    core::ShardConfig sc;
    sc.udp_buffers = 64;
    auto shard = core::Shard::create(sc);
    ASSERT_TRUE(shard) << shard.error().message;
    EchoTrunkConfig cfg;
    cfg.ring_time = ring;
    auto any = core::SockAddr::parse("127.0.0.1:0");
    auto bound = trunk_.open(**shard, *any, cfg);
    ASSERT_TRUE(bound) << bound.error().message;
    std::thread t([&, port = bound->port()] {
      client(port);
      (*shard)->request_stop();
    });
    // A bound on the whole case: the client's waits are each bounded too.
    (void)(*shard)->add_timer(20s, [&] {
      ADD_FAILURE() << "case took over 20 s";
      (*shard)->request_stop();
    });
    auto r = (*shard)->run();
    t.join();
    EXPECT_TRUE(r);
    calls_after_ = trunk_.active_calls();
  }

  EchoTrunk trunk_;
  std::size_t calls_after_ = 99;
};

TEST_F(EchoTrunkTest, AnswersWithTheOfferedG711AndEchoesRtpAndRtcpUntilBye) {
  std::atomic<bool> ok{false};
  run(100ms, [&](std::uint16_t trunk) {
    Peer sip;
    std::string ringing;
    const std::string answer = answered_call(sip, trunk, "call-1", &ringing);
    const std::string tag = to_tag_of(answer);
    EXPECT_FALSE(tag.empty());
    EXPECT_EQ(tag, to_tag_of(ringing));
    // The answer keeps the offer's G.711 and telephone-event numbers, never Opus.
    EXPECT_NE(answer.find("Content-Type: application/sdp"), std::string::npos);
    EXPECT_NE(answer.find(" RTP/AVP 0 8 126\r\n"), std::string::npos) << answer;
    EXPECT_NE(answer.find("a=rtpmap:126 telephone-event/8000\r\n"), std::string::npos);
    EXPECT_EQ(answer.find("opus"), std::string::npos);
    EXPECT_NE(answer.find("c=IN IP4 127.0.0.1\r\n"), std::string::npos);
    EXPECT_NE(answer.find("Contact: <sip:echo@127.0.0.1:" + std::to_string(trunk) + ">"), std::string::npos);
    const int rtp_port = sdp_port_of(answer);
    ASSERT_GT(rtp_port, 0);
    EXPECT_EQ(rtp_port % 2, 0);
    sip.send(trunk, in_dialog(sip, "ACK", "call-1", tag, 1, "z9hG4bKack1"));

    // RTP and RTCP come back byte for byte to the socket they came from.
    Peer rtp, rtcp;
    std::string pkt(172, '\0');
    pkt[0] = '\x80';
    pkt[1] = '\x00';
    for (std::size_t i = 12; i < pkt.size(); ++i) pkt[i] = static_cast<char>(i);
    for (int i = 0; i < 5; ++i) {
      pkt[3] = static_cast<char>(i);
      rtp.send(static_cast<std::uint16_t>(rtp_port), pkt);
      EXPECT_EQ(rtp.recv(), pkt);
    }
    const std::string sr = std::string("\x80\xc8\x00\x06", 4) + std::string(24, 'r');
    rtcp.send(static_cast<std::uint16_t>(rtp_port + 1), sr);
    EXPECT_EQ(rtcp.recv(), sr);

    sip.send(trunk, in_dialog(sip, "BYE", "call-1", tag, 2, "z9hG4bKbye1"));
    EXPECT_EQ(sip.recv_status(), 200);
    // The BYE's retransmission gets the same 200 (its transaction), not a 481.
    sip.send(trunk, in_dialog(sip, "BYE", "call-1", tag, 2, "z9hG4bKbye1"));
    EXPECT_EQ(sip.recv_status(), 200);
    // The ports are closed: nothing echoes any more.
    rtp.send(static_cast<std::uint16_t>(rtp_port), pkt);
    EXPECT_FALSE(rtp.recv(300ms).has_value());
    ok = true;
  });
  EXPECT_TRUE(ok);
  EXPECT_EQ(calls_after_, 0u);
}

TEST_F(EchoTrunkTest, AnswersAfterRingingWhileALongerTimerIsPending) {
  // An OPTIONS first leaves its transaction waiting 32 s (Timer J): the 200 must still come after
  // the ring time, not after that.
  run(300ms, [&](std::uint16_t trunk) {
    Peer sip;
    sip.send(trunk, in_dialog(sip, "OPTIONS", "opt-2", "", 1, "z9hG4bKopt2"));
    EXPECT_EQ(sip.recv_status(), 200);
    const auto t0 = std::chrono::steady_clock::now();
    const std::string answer = answered_call(sip, trunk, "call-6");
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 1500ms);
    sip.send(trunk, in_dialog(sip, "ACK", "call-6", to_tag_of(answer), 1, "z9hG4bKack6"));
    sip.send(trunk, in_dialog(sip, "BYE", "call-6", to_tag_of(answer), 2, "z9hG4bKbye6"));
    EXPECT_EQ(sip.recv_status(), 200);
  });
  EXPECT_EQ(calls_after_, 0u);
}

TEST_F(EchoTrunkTest, Resends200UntilAck) {
  run(0ms, [&](std::uint16_t trunk) {
    Peer sip;
    const std::string first = answered_call(sip, trunk, "call-2");
    std::string again;
    // T1 = 500 ms: the same 200 again, then at 1 s.
    EXPECT_EQ(sip.recv_status(&again, 1500ms), 200);
    EXPECT_EQ(first, again);
    // A retransmitted INVITE gets the 200 too.
    sip.send(trunk, invite(sip, trunk, "call-2", "z9hG4bKinv-call-2", kOffer));
    EXPECT_EQ(sip.recv_status(), 200);
    sip.send(trunk, in_dialog(sip, "ACK", "call-2", to_tag_of(first), 1, "z9hG4bKack2"));
    // Drain anything already in flight, then silence.
    while (sip.recv(1200ms)) {
    }
    EXPECT_FALSE(sip.recv(2500ms).has_value()) << "the 200 is still being resent after the ACK";
    sip.send(trunk, in_dialog(sip, "BYE", "call-2", to_tag_of(first), 2, "z9hG4bKbye2"));
    EXPECT_EQ(sip.recv_status(), 200);
  });
  EXPECT_EQ(calls_after_, 0u);
}

TEST_F(EchoTrunkTest, CancelWhileRingingGets200And487) {
  run(5s, [&](std::uint16_t trunk) {
    Peer sip;
    sip.send(trunk, invite(sip, trunk, "call-3", "z9hG4bKinv3", kOffer));
    std::string ringing;
    EXPECT_EQ(sip.recv_status(), 100);
    EXPECT_EQ(sip.recv_status(&ringing), 180);
    std::string cancel = in_dialog(sip, "CANCEL", "call-3", "", 1, "z9hG4bKinv3");
    sip.send(trunk, cancel);
    std::string r1, r2;
    const int s1 = sip.recv_status(&r1);
    const int s2 = sip.recv_status(&r2);
    EXPECT_TRUE((s1 == 200 && s2 == 487) || (s1 == 487 && s2 == 200)) << s1 << " " << s2;
    const std::string& inv487 = s1 == 487 ? r1 : r2;
    EXPECT_NE(inv487.find("CSeq: 1 INVITE"), std::string::npos) << inv487;
    EXPECT_EQ(to_tag_of(inv487), to_tag_of(ringing));
    // The 487 is resent until the ACK (same branch as the INVITE, RFC 3261 §17.1.1.3).
    EXPECT_EQ(sip.recv_status(nullptr, 1500ms), 487);
    sip.send(trunk, in_dialog(sip, "ACK", "call-3", to_tag_of(ringing), 1, "z9hG4bKinv3"));
    while (sip.recv(1200ms)) {
    }
    EXPECT_FALSE(sip.recv(2500ms).has_value()) << "the 487 is still being resent after the ACK";
  });
  EXPECT_EQ(calls_after_, 0u);
}

TEST_F(EchoTrunkTest, RefusesWhatItCannotTake) {
  run(0ms, [&](std::uint16_t trunk) {
    Peer sip;
    std::string resp;
    // Opus only: nothing a G.711 echo can answer.
    const std::string opus_only =
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        "m=audio 40000 RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\n";
    sip.send(trunk, invite(sip, trunk, "call-4", "z9hG4bKinv4", opus_only));
    EXPECT_EQ(sip.recv_status(&resp), 488);
    EXPECT_NE(resp.find("No PCMU or PCMA offered"), std::string::npos) << resp;
    sip.send(trunk, in_dialog(sip, "ACK", "call-4", to_tag_of(resp), 1, "z9hG4bKinv4"));
    // In-dialog requests for no call.
    sip.send(trunk, in_dialog(sip, "BYE", "nope", "x", 2, "z9hG4bKbye4"));
    EXPECT_EQ(sip.recv_status(), 481);
    // OPTIONS is answered with what we allow; an unknown method is 405.
    sip.send(trunk, in_dialog(sip, "OPTIONS", "opt-1", "", 1, "z9hG4bKopt1"));
    EXPECT_EQ(sip.recv_status(&resp), 200);
    EXPECT_NE(resp.find("Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE"), std::string::npos) << resp;
    sip.send(trunk, in_dialog(sip, "SUBSCRIBE", "sub-1", "", 1, "z9hG4bKsub1"));
    EXPECT_EQ(sip.recv_status(), 405);
    // Unparsable but answerable: 400 with the parser's reason.
    sip.send(trunk,
             "INVITE sip:1@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKbad\r\n"
             "Call-ID: bad\r\nCSeq: x INVITE\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(sip.recv_status(), 400);
  });
  EXPECT_EQ(calls_after_, 0u);
}

TEST_F(EchoTrunkTest, ReinviteForHoldIsAnsweredWithTheMirroredDirection) {
  run(0ms, [&](std::uint16_t trunk) {
    Peer sip;
    const std::string answer = answered_call(sip, trunk, "call-5");
    const std::string tag = to_tag_of(answer);
    sip.send(trunk, in_dialog(sip, "ACK", "call-5", tag, 1, "z9hG4bKack5"));
    std::string hold = kOffer;
    hold.replace(hold.find("a=sendrecv"), 10, "a=sendonly");
    std::string reinv = in_dialog(sip, "INVITE", "call-5", tag, 2, "z9hG4bKreinv5");
    reinv.replace(reinv.find("Content-Length: 0\r\n\r\n"), 21,
                  "Content-Type: application/sdp\r\nContent-Length: " + std::to_string(hold.size()) + "\r\n\r\n" + hold);
    sip.send(trunk, reinv);
    std::string held;
    EXPECT_EQ(sip.recv_status(&held), 200);
    EXPECT_NE(held.find("a=recvonly\r\n"), std::string::npos) << held;
    EXPECT_NE(held.find("o=echo "), std::string::npos);
    EXPECT_EQ(sdp_port_of(held), sdp_port_of(answer));
    EXPECT_NE(held.find(" 2 IN IP4"), std::string::npos) << "the SDP version must go up";
    sip.send(trunk, in_dialog(sip, "ACK", "call-5", tag, 2, "z9hG4bKack5b"));
    sip.send(trunk, in_dialog(sip, "BYE", "call-5", tag, 3, "z9hG4bKbye5"));
    // Whatever 200 retransmission was in flight may come first; the BYE's 200 must come.
    bool bye_ok = false;
    for (int i = 0; i < 4 && !bye_ok; ++i) {
      std::string r;
      if (sip.recv_status(&r) == 200 && r.find("CSeq: 3 BYE") != std::string::npos) bye_ok = true;
    }
    EXPECT_TRUE(bye_ok);
  });
  EXPECT_EQ(calls_after_, 0u);
}

TEST(EchoOffer, ReadsStaticAndMappedG711AndTelephoneEventInOfferOrder) {
  const EchoOffer o = read_echo_offer(
      "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n"
      "m=video 9 RTP/AVP 96\na=rtpmap:96 VP8/90000\nm=audio 4000 RTP/AVP 101 8 97 0\n"
      "a=rtpmap:97 PCMU/8000\na=rtpmap:101 telephone-event/8000\na=sendonly\nm=audio 5000 RTP/AVP 0\n");
  ASSERT_TRUE(o.has_audio);
  ASSERT_EQ(o.codecs.size(), 4u);
  EXPECT_EQ(o.codecs[0].pt, 101);
  EXPECT_EQ(o.codecs[0].name, "telephone-event");
  EXPECT_EQ(o.codecs[1].pt, 8);
  EXPECT_EQ(o.codecs[2].pt, 97);
  EXPECT_EQ(o.codecs[2].name, "PCMU");
  EXPECT_EQ(o.codecs[3].pt, 0);
  EXPECT_EQ(o.direction, "sendonly");
  EXPECT_FALSE(read_echo_offer("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n").has_audio);
  EXPECT_FALSE(read_echo_offer("not SDP").has_audio);
}

}  // namespace
}  // namespace webtrunk::app
