// MediaBridge on real sockets, 127.0.0.1 only. The shard runs on the test thread (SINGLE_ISSUER);
// an emulated browser (bench/tools/media_browser.hpp: libnice STUN checks, an OpenSSL DTLS client,
// SRTP) and an emulated trunk (plain UDP) run on a client thread with blocking sockets and short
// receive timeouts. Every run has a 10 s failsafe, so no test can hang.
#include "media/bridge.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench/tools/media_browser.hpp"
#include "core/bytes.hpp"
#include "media/rtp.hpp"
#include "tests/media/media_test_support.hpp"

namespace webtrunk::media {
namespace {

using namespace std::chrono_literals;
using core::SockAddr;

// ---- --rtp-ports slices and the pool ----

TEST(RtpPortSlice, SplitsWholePairsBetweenShards) {
  auto a = rtp_port_slice("10000-10999", 2, 0);
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->first, 10000);
  EXPECT_EQ(a->second, 10499);
  auto b = rtp_port_slice("10000-10999", 2, 1);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->first, 10500);
  EXPECT_EQ(b->second, 10999);
  // An odd start moves to the next even port; a leftover pair belongs to no shard.
  auto c = rtp_port_slice("10001-10010", 2, 1);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->first, 10006);
  EXPECT_EQ(c->second, 10009);
}

TEST(RtpPortSlice, RejectsBadRangesWithAReason) {
  EXPECT_NE(rtp_port_slice("10000", 1, 0).error().message.find("expected A-B"), std::string::npos);
  EXPECT_NE(rtp_port_slice("10000-x", 1, 0).error().message.find("expected A-B"), std::string::npos);
  EXPECT_NE(rtp_port_slice("0-100", 1, 0).error().message.find("1-65535"), std::string::npos);
  EXPECT_NE(rtp_port_slice("20000-70000", 1, 0).error().message.find("1-65535"), std::string::npos);
  EXPECT_NE(rtp_port_slice("20000-10000", 1, 0).error().message.find("above the last"), std::string::npos);
  const std::string few = rtp_port_slice("20000-20003", 4, 0).error().message;
  EXPECT_NE(few.find("2 RTP/RTCP port pair(s) cannot be split between 4 shards"), std::string::npos) << few;
}

TEST(PortPool, HandsOutEvenPairsFirstInFirstOut) {
  PortPool pool(30001, 30008);  // pairs 30002, 30004, 30006 (30008 has no odd partner)
  EXPECT_EQ(pool.total_pairs(), 3u);
  std::uint16_t a = 0, b = 0, c = 0, d = 0;
  ASSERT_TRUE(pool.take(a) && pool.take(b) && pool.take(c));
  EXPECT_EQ(a, 30002);
  EXPECT_EQ(c, 30006);
  EXPECT_FALSE(pool.take(d));
  pool.give_back(a);
  pool.give_back(31000);  // not ours: ignored
  EXPECT_EQ(pool.free_pairs(), 1u);
  ASSERT_TRUE(pool.take(d));
  EXPECT_EQ(d, 30002);
}

TEST(PortPool, BorrowsRoundRobinOutsideItsOwnSlice) {
  PortPool pool(30004, 30007);  // own pairs 30004, 30006
  std::uint16_t p = 0;
  EXPECT_FALSE(pool.next_borrow(p)) << "no borrow range set";
  pool.set_borrow_range(30000, 30011);  // pairs 30000 .. 30010
  EXPECT_EQ(pool.borrow_pairs(), 4u);
  std::vector<std::uint16_t> seen;
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(pool.next_borrow(p));
    seen.push_back(p);
  }
  EXPECT_EQ(seen, (std::vector<std::uint16_t>{30000, 30002, 30008, 30010, 30000}));
  pool.give_back(30008);  // borrowed: not ours to keep
  EXPECT_EQ(pool.free_pairs(), 2u);
}

// ---- harness ----

// Plain blocking UDP sockets for the emulated peers.
struct Sock {
  int fd = -1;
  SockAddr local;
  explicit Sock(std::uint16_t port = 0) {
    fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const SockAddr a = SockAddr::ipv4_loopback(port);
    if (::bind(fd, a.data(), a.size()) != 0) {
      ::close(fd);
      fd = -1;
      return;
    }
    local = core::local_address(fd).value();
    timeout(1s);
  }
  ~Sock() {
    if (fd >= 0) ::close(fd);
  }
  Sock(const Sock&) = delete;
  Sock& operator=(const Sock&) = delete;
  bool ok() const { return fd >= 0; }
  void timeout(std::chrono::milliseconds ms) const {
    timeval tv{static_cast<time_t>(ms.count() / 1000), static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  void send(const SockAddr& to, std::span<const std::byte> b) const {
    (void)::sendto(fd, b.data(), b.size(), 0, to.data(), to.size());
  }
  // One datagram into `buf` (resized to it); false on timeout.
  bool recv(std::vector<std::byte>& buf, SockAddr* from = nullptr) const {
    buf.resize(2048);
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    const ssize_t n = ::recvfrom(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&ss), &len);
    if (n < 0) return false;
    buf.resize(static_cast<std::size_t>(n));
    if (from != nullptr) *from = SockAddr::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
    return true;
  }
};

// A trunk: an RTP socket and the RTCP socket on the port above it.
struct Trunk {
  std::unique_ptr<Sock> rtp, rtcp;
  Trunk() {
    for (int i = 0; i < 50 && !rtcp; ++i) {
      auto r = std::make_unique<Sock>();
      auto c = std::make_unique<Sock>(static_cast<std::uint16_t>(r->local.port() + 1));
      if (r->ok() && c->ok() && r->local.port() < 65535) {
        rtp = std::move(r);
        rtcp = std::move(c);
      }
    }
  }
};

using test::browser_ice;
using test::opus_pcmu_dtmf;
using test::write_rtp;

// The shard and its bridge, stepped on the test thread; tasks posted from the client thread run
// on the shard (MediaSessions calls must be made there).
class BridgeTest : public ::testing::Test {
 protected:
  void SetUp() override { open_bridge(per_call()); }
  // Most tests here are about per-call trunk ports (a pair per session); the shared default has its own.
  static MediaConfig per_call() {
    MediaConfig c;
    c.trunk_rtp_mode = TrunkRtpMode::per_call;
    return c;
  }

  void open_bridge(MediaConfig cfg, std::uint16_t pairs = 8) {
    bridge.reset();
    if (!shard) {
      core::ShardConfig sc;
      sc.udp_buffers = 256;
      auto s = core::Shard::create(sc);
      ASSERT_TRUE(s) << s.error().message;
      shard = std::move(s.value());
    }
    if (!identity) {
      auto id = DtlsIdentity::generate();
      ASSERT_TRUE(id) << id.error().message;
      identity = id.value();
    }
    cfg.browser_listen = SockAddr::ipv4_loopback(0);
    cfg.trunk_bind = SockAddr::ipv4_loopback(0);
    // A per-process range so tests running side by side rarely meet; busy pairs are skipped anyway.
    // Below the kernel's ephemeral range (32768-60999), where the emulated peers' sockets bind.
    const auto base = static_cast<std::uint16_t>(10000 + (::getpid() % 1000) * 20);
    cfg.rtp_port_min = rtp_min = base;
    cfg.rtp_port_max = rtp_max = static_cast<std::uint16_t>(base + 2 * pairs - 1);
    cfg.identity = identity;
    auto b = MediaBridge::open(*shard, std::move(cfg));
    ASSERT_TRUE(b) << b.error().message;
    bridge = std::move(b.value());
    bridge->on_ended = [this](SessionId id, MediaEnd why) { ended.emplace_back(id, why); };
  }

  // Runs the loop while `client` runs on another thread, until the client returns (and `done`,
  // if given, holds) or 10 s pass.
  void run(const std::function<void()>& client, const std::function<bool()>& done = {}) {
    std::atomic<bool> client_done{false};
    bool timed_out = false;
    const core::Instant deadline = core::monotonic_now() + 10s;
    std::function<void()> tick = [&] {
      run_posted();
      if (client_done && (!done || done())) {
        shard->request_stop();
      } else if (core::monotonic_now() > deadline) {
        timed_out = true;
        shard->request_stop();
      } else {
        shard->add_timer(1ms, tick);
      }
    };
    shard->add_timer(1ms, tick);
    std::thread t([&] {
      client();
      client_done = true;
    });
    auto r = shard->run();
    t.join();
    run_posted();
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    EXPECT_FALSE(timed_out) << "the shard did not reach the expected state within 10 s";
  }
  void run_for(core::Duration d) {
    run([d] { std::this_thread::sleep_for(d); });
  }

  // From the client thread: runs `fn` on the shard and waits for it.
  template <class F>
  auto on_shard(F fn) -> decltype(fn()) {
    std::packaged_task<decltype(fn())()> task(std::move(fn));
    auto fut = task.get_future();
    {
      std::lock_guard lock(mu);
      posted.emplace_back([&task] { task(); });
    }
    return fut.get();
  }
  void run_posted() {
    std::vector<std::function<void()>> now;
    {
      std::lock_guard lock(mu);
      now.swap(posted);
    }
    for (auto& f : now) f();
  }

  // A session with the browser's credentials and the trunk's address set, on the test thread.
  SessionId make_session(const bench::BrowserTls& tls, const Trunk& trunk, const CodecMap& codecs) {
    auto id = bridge->create();
    EXPECT_TRUE(id) << id.error().message;
    if (!id) return 0;
    bridge->set_browser_remote(id.value(), BrowserRemote{browser_ice(), tls.fingerprint()});
    bridge->set_trunk_remote(id.value(), trunk.rtp->local, codecs);
    return id.value();
  }

  // Waits (bounded) until every port of the range can be bound: a shard destroyed by an earlier
  // test closes its sockets asynchronously (io_uring's ring teardown).
  void wait_ports_free() {
    for (int i = 0; i < 100; ++i) {
      bool all = true;
      for (unsigned p = rtp_min; p <= rtp_max && all; ++p) all = Sock(static_cast<std::uint16_t>(p)).ok();
      if (all) return;
      run_for(10ms);
    }
    ADD_FAILURE() << "ports " << rtp_min << "-" << rtp_max << " stayed busy";
  }

  std::uint16_t rtp_min = 0;
  std::uint16_t rtp_max = 0;
  std::unique_ptr<core::Shard> shard;
  std::shared_ptr<DtlsIdentity> identity;
  std::unique_ptr<MediaBridge> bridge;
  std::vector<std::pair<SessionId, MediaEnd>> ended;
  std::mutex mu;
  std::vector<std::function<void()>> posted;
};

// The browser's side of set-up over a real socket: ICE check (nominating), then DTLS.
struct BrowserPeer {
  Sock sock;
  bench::EmulatedBrowser em;
  SockAddr edge;
  BrowserPeer(bench::BrowserTls& tls, const LocalMedia& lm)
      : em(tls, browser_ice(), lm.ice, lm.fingerprint), edge(lm.browser_addr) {}

  // A nominating check; true when the edge answers it with success and our own address mapped.
  bool ice() {
    std::array<std::byte, 512> req{};
    const std::size_t n = em.make_check(req, true);
    sock.send(edge, std::span(req.data(), n));
    std::vector<std::byte> resp;
    if (!sock.recv(resp)) return false;
    sockaddr_storage mapped{};
    if (!em.check_answered(resp, &mapped)) return false;
    return SockAddr::from_sockaddr(reinterpret_cast<sockaddr*>(&mapped), sizeof(sockaddr_in)) == sock.local;
  }
  // The DTLS handshake, bounded; true once SRTP keys are exported.
  bool dtls() {
    if (!em.start_dtls()) return false;
    sock.timeout(200ms);
    std::vector<std::byte> in;
    for (int i = 0; i < 40 && !em.connected() && em.error().empty(); ++i) {
      while (auto d = em.poll_dtls()) sock.send(edge, *d);
      if (sock.recv(in)) {
        em.on_dtls(in);
      } else {
        em.dtls_timeout();
      }
    }
    while (auto d = em.poll_dtls()) sock.send(edge, *d);  // our final flight
    sock.timeout(1s);
    return em.connected();
  }
  void send_srtp(std::uint8_t pt, std::uint16_t seq, std::uint32_t ts, std::uint32_t ssrc, std::size_t payload = 160,
                 bool marker = false) {
    std::array<std::byte, 1500> buf{};
    const std::size_t n = write_rtp(buf, pt, marker, seq, ts, ssrc, payload);
    auto r = em.tx().protect_rtp(buf, n);
    ASSERT_TRUE(r) << r.error().message;
    sock.send(edge, std::span(buf.data(), r.value()));
  }
  // The next SRTP packet from the edge, unprotected; nullopt on timeout or a failed unprotect.
  std::optional<std::vector<std::byte>> recv_srtp(bool rtcp = false) {
    std::vector<std::byte> in;
    if (!sock.recv(in)) return std::nullopt;
    auto r = rtcp ? em.rx().unprotect_rtcp(in, in.size()) : em.rx().unprotect_rtp(in, in.size());
    if (!r) return std::nullopt;
    in.resize(r.value());
    return in;
  }
};

// ---- the call's media path ----

class BridgeProfileTest : public BridgeTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(BridgeProfileTest, AudioGoesToTheTrunkMappedAndComesBackProtected) {
  auto tls = bench::BrowserTls::make(GetParam());
  ASSERT_TRUE(tls);
  Trunk trunk;
  ASSERT_TRUE(trunk.rtp);
  const SessionId id = make_session(*tls, trunk, opus_pcmu_dtmf());
  const LocalMedia lm = *bridge->local(id);
  EXPECT_EQ(lm.browser_addr, bridge->browser_address());
  EXPECT_EQ(lm.trunk_addr.port() % 2, 0);
  EXPECT_EQ(lm.fingerprint, identity->fingerprint_sha256());

  BrowserPeer browser(*tls, lm);
  int relayed = 0;
  int echoed = 0;
  int rtcp_ok = 0;
  run([&] {
    ASSERT_TRUE(browser.ice());
    ASSERT_TRUE(browser.dtls()) << browser.em.error();
    std::vector<std::byte> at_trunk;
    SockAddr from;
    for (std::uint16_t i = 0; i < 20; ++i) {
      browser.send_srtp(111, static_cast<std::uint16_t>(1000 + i), 48000u * i / 50, 0xabcdef01, 160, i == 0);
      if (!trunk.rtp->recv(at_trunk, &from)) break;
      auto h = parse_rtp(at_trunk);
      ASSERT_TRUE(h);
      EXPECT_EQ(h->payload_type, 96) << "browser PT 111 must reach the trunk as its PT 96";
      EXPECT_EQ(h->seq, 1000 + i);
      EXPECT_EQ(h->ssrc, 0xabcdef01u);
      EXPECT_EQ(h->marker, i == 0);
      EXPECT_EQ(at_trunk.size(), 12u + 160u) << "the trunk gets plain RTP";
      EXPECT_EQ(static_cast<std::uint8_t>(at_trunk[12]), (1000 + i) & 0xff);
      EXPECT_EQ(from, lm.trunk_addr) << "sent from the session's trunk port (symmetric RTP)";
      ++relayed;
      trunk.rtp->send(lm.trunk_addr, at_trunk);  // the echo
      auto back = browser.recv_srtp();
      ASSERT_TRUE(back) << "the browser could not unprotect what came back";
      auto bh = parse_rtp(*back);
      ASSERT_TRUE(bh);
      EXPECT_EQ(bh->payload_type, 111);
      EXPECT_EQ(bh->seq, 1000 + i);
      EXPECT_EQ(*back, [&] {
        std::vector<std::byte> expect(12 + 160);
        write_rtp(expect, 111, i == 0, static_cast<std::uint16_t>(1000 + i), 48000u * i / 50, 0xabcdef01, 160);
        return expect;
      }());
      ++echoed;
    }
    // RTCP: a receiver report each way, muxed on the browser side, on port + 1 at the trunk.
    std::array<std::byte, 64> rr{};
    rr[0] = std::byte{0x81};
    rr[1] = std::byte{201};
    core::store_be16(rr.data() + 2, 7);
    core::store_be32(rr.data() + 4, 0xabcdef01);
    auto p = browser.em.tx().protect_rtcp(rr, 32);
    ASSERT_TRUE(p);
    browser.sock.send(browser.edge, std::span(rr.data(), p.value()));
    if (trunk.rtcp->recv(at_trunk, &from) && at_trunk.size() == 32 && at_trunk[1] == std::byte{201}) {
      EXPECT_EQ(from.port(), lm.trunk_addr.port() + 1);
      trunk.rtcp->send(from, at_trunk);
      auto back = browser.recv_srtp(true);
      if (back && back->size() == 32) ++rtcp_ok;
    }
  });
  EXPECT_EQ(relayed, 20);
  EXPECT_EQ(echoed, 20);
  EXPECT_EQ(rtcp_ok, 1) << "RTCP translated both ways";
  auto st = bridge->stats(id);
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->ice_selected);
  EXPECT_TRUE(st->dtls_connected);
  EXPECT_EQ(st->profile, browser.em.profile());
  EXPECT_EQ(st->browser_rx, 21u);
  EXPECT_EQ(st->trunk_tx, 21u);
  EXPECT_EQ(st->trunk_rx, 21u);
  EXPECT_EQ(st->browser_tx, 21u);
  EXPECT_EQ(st->dropped, 0u);
}

INSTANTIATE_TEST_SUITE_P(EachSrtpProfile, BridgeProfileTest,
                         ::testing::Values("SRTP_AES128_CM_SHA1_80", "SRTP_AEAD_AES_128_GCM", "SRTP_AEAD_AES_256_GCM"));

// MediaConfig::rx_timestamps stamps every media socket: each packet relayed either way (browser
// side, per-call trunk port) shows in the shard's udp_delay(), arrival to send. (A socket without
// stamps adds none: ShardUdp.ArrivalStampsMeasureTheTimeToSendInBothReceiveModes.)
TEST_F(BridgeTest, ArrivalStampsMeasureEveryRelayedPacketBothWays) {
  MediaConfig cfg = per_call();
  cfg.rx_timestamps = true;
  open_bridge(cfg);
  auto tls = bench::BrowserTls::make();
  Trunk trunk;
  const SessionId id = make_session(*tls, trunk, opus_pcmu_dtmf());
  const LocalMedia lm = *bridge->local(id);
  BrowserPeer browser(*tls, lm);
  int back = 0;
  run([&] {
    ASSERT_TRUE(browser.ice());
    ASSERT_TRUE(browser.dtls()) << browser.em.error();
    on_shard([&] { shard->reset_udp_delay(); });  // the ICE and DTLS answers are in it too
    std::vector<std::byte> at_trunk;
    for (std::uint16_t i = 0; i < 5; ++i) {
      browser.send_srtp(111, i, 960u * i, 0xabcdef01);
      if (!trunk.rtp->recv(at_trunk)) break;
      trunk.rtp->send(lm.trunk_addr, at_trunk);
      if (browser.recv_srtp()) ++back;
    }
  });
  EXPECT_EQ(back, 5);
  const core::DelayHistogram& d = shard->udp_delay();
  EXPECT_EQ(d.count(), 10u);
  EXPECT_LT(d.max_us(), 1'000'000.0);  // both ends on one clock
}

TEST_F(BridgeTest, TrunkPacketsFromAnotherAddressOrBeforeDtlsAreDropped) {
  auto tls = bench::BrowserTls::make();
  Trunk trunk;
  const SessionId id = make_session(*tls, trunk, opus_pcmu_dtmf());
  const LocalMedia lm = *bridge->local(id);
  BrowserPeer browser(*tls, lm);
  Sock stranger;
  const auto not_pinned0 = kMediaDropNotPinned.total();
  const auto no_path0 = kMediaDropNoPath.total();
  const auto unknown_pt0 = kMediaDropUnknownPt.total();
  bool got_stranger = true;
  bool got_trunk = false;
  std::array<std::byte, 200> pkt{};
  run([&] {
    ASSERT_TRUE(browser.ice());
    // Before DTLS: nothing may reach the browser.
    trunk.rtp->send(lm.trunk_addr, std::span(pkt.data(), write_rtp(pkt, 96, false, 1, 1, 7, 160)));
    ASSERT_TRUE(browser.dtls()) << browser.em.error();
    browser.sock.timeout(300ms);
    stranger.send(lm.trunk_addr, std::span(pkt.data(), write_rtp(pkt, 96, false, 2, 2, 7, 160)));
    got_stranger = browser.recv_srtp().has_value();
    // A payload type the trunk's SDP did not carry.
    trunk.rtp->send(lm.trunk_addr, std::span(pkt.data(), write_rtp(pkt, 18, false, 3, 3, 7, 160)));
    EXPECT_FALSE(browser.recv_srtp().has_value());
    trunk.rtp->send(lm.trunk_addr, std::span(pkt.data(), write_rtp(pkt, 96, false, 4, 4, 7, 160)));
    auto ok = browser.recv_srtp();
    got_trunk = ok && parse_rtp(*ok) && parse_rtp(*ok)->seq == 4;
  });
  EXPECT_FALSE(got_stranger) << "symmetric RTP: only the trunk's SDP address is relayed";
  EXPECT_TRUE(got_trunk);
  EXPECT_EQ(kMediaDropNotPinned.total() - not_pinned0, 1);
  EXPECT_EQ(kMediaDropNoPath.total() - no_path0, 1);
  EXPECT_EQ(kMediaDropUnknownPt.total() - unknown_pt0, 1);
  EXPECT_EQ(bridge->stats(id)->dropped, 3u);
}

// --trunk-rtp-mode shared: every session's trunk side is the one shared port pair; each trunk's
// packets reach its own call's browser, and each call's audio leaves from the shared port.
TEST_F(BridgeTest, SharedTrunkPortCarriesTwoCallsApartByTheTrunksAddress) {
  MediaConfig cfg;
  cfg.trunk_rtp_mode = TrunkRtpMode::shared;
  open_bridge(cfg);
  auto tls_a = bench::BrowserTls::make();
  auto tls_b = bench::BrowserTls::make();
  Trunk trunk_a;
  Trunk trunk_b;
  ASSERT_TRUE(trunk_a.rtp && trunk_b.rtp);
  const std::size_t free_pairs = bridge->free_port_pairs();
  const SessionId a = make_session(*tls_a, trunk_a, opus_pcmu_dtmf());
  const SessionId b = make_session(*tls_b, trunk_b, opus_pcmu_dtmf());
  EXPECT_EQ(bridge->free_port_pairs(), free_pairs) << "shared mode takes no pair per call";
  const LocalMedia la = *bridge->local(a);
  const LocalMedia lb = *bridge->local(b);
  EXPECT_EQ(la.trunk_addr, lb.trunk_addr);
  BrowserPeer browser_a(*tls_a, la);
  BrowserPeer browser_b(*tls_b, lb);
  int ok = 0;
  run([&] {
    ASSERT_TRUE(browser_a.ice() && browser_b.ice());
    ASSERT_TRUE(browser_a.dtls()) << browser_a.em.error();
    ASSERT_TRUE(browser_b.dtls()) << browser_b.em.error();
    std::array<std::byte, 200> pkt{};
    for (std::uint16_t i = 0; i < 5; ++i) {
      trunk_a.rtp->send(la.trunk_addr, std::span(pkt.data(), write_rtp(pkt, 96, false, 100 + i, 1, 0xa, 160)));
      trunk_b.rtp->send(lb.trunk_addr, std::span(pkt.data(), write_rtp(pkt, 96, false, 200 + i, 1, 0xb, 160)));
      auto got_a = browser_a.recv_srtp();
      auto got_b = browser_b.recv_srtp();
      ASSERT_TRUE(got_a && got_b);
      EXPECT_EQ(parse_rtp(*got_a)->seq, 100 + i);
      EXPECT_EQ(parse_rtp(*got_b)->seq, 200 + i);
      browser_b.send_srtp(111, static_cast<std::uint16_t>(300 + i), 960u * i, 0xb0b);
      std::vector<std::byte> at_trunk;
      SockAddr from;
      ASSERT_TRUE(trunk_b.rtp->recv(at_trunk, &from));
      EXPECT_EQ(parse_rtp(at_trunk)->seq, 300 + i);
      EXPECT_EQ(from, la.trunk_addr) << "sent from the shared port";
      ++ok;
    }
  });
  EXPECT_EQ(ok, 5);
  EXPECT_EQ(bridge->stats(a)->trunk_rx, 5u);
  EXPECT_EQ(bridge->stats(b)->trunk_rx, 5u);
  bridge->release(a);
  bridge->release(b);
  EXPECT_EQ(bridge->free_port_pairs(), free_pairs);
}

TEST_F(BridgeTest, ForgedAndReplayedBrowserPacketsAreDropped) {
  auto tls = bench::BrowserTls::make();
  Trunk trunk;
  const SessionId id = make_session(*tls, trunk, opus_pcmu_dtmf());
  BrowserPeer browser(*tls, *bridge->local(id));
  const auto auth0 = kMediaDropAuth.total();
  const auto replay0 = kMediaDropReplay.total();
  int at_trunk = 0;
  run([&] {
    ASSERT_TRUE(browser.ice());
    ASSERT_TRUE(browser.dtls()) << browser.em.error();
    std::array<std::byte, 1500> buf{};
    const std::size_t n = write_rtp(buf, 0, false, 50, 50, 9, 160);
    const std::size_t len = browser.em.tx().protect_rtp(buf, n).value();
    browser.sock.send(browser.edge, std::span(buf.data(), len));
    browser.sock.send(browser.edge, std::span(buf.data(), len));  // replayed
    const std::size_t n2 = write_rtp(buf, 0, false, 51, 210, 9, 160);
    const std::size_t len2 = browser.em.tx().protect_rtp(buf, n2).value();
    buf[20] ^= std::byte{1};
    browser.sock.send(browser.edge, std::span(buf.data(), len2));  // forged (a new sequence number)
    trunk.rtp->timeout(300ms);
    std::vector<std::byte> in;
    while (trunk.rtp->recv(in)) ++at_trunk;
  });
  EXPECT_EQ(at_trunk, 1);
  EXPECT_EQ(kMediaDropReplay.total() - replay0, 1);
  EXPECT_EQ(kMediaDropAuth.total() - auth0, 1);
  EXPECT_EQ(bridge->stats(id)->dropped, 2u);
}

TEST_F(BridgeTest, OnlyAValidCheckBindsAnAddressToTheSession) {
  auto tls = bench::BrowserTls::make();
  Trunk trunk;
  const SessionId id = make_session(*tls, trunk, opus_pcmu_dtmf());
  LocalMedia wrong_pwd = *bridge->local(id);
  wrong_pwd.ice.pwd = "not-the-session-password";
  LocalMedia wrong_ufrag = *bridge->local(id);
  wrong_ufrag.ice.ufrag = "nosuchuf";
  BrowserPeer forger(*tls, wrong_pwd);
  BrowserPeer stranger(*tls, wrong_ufrag);
  const auto unknown0 = kMediaDropUnknownSession.total();
  bool forger_answered = true;
  bool stranger_answered = true;
  bool dtls_answered = true;
  run([&] {
    forger.sock.timeout(300ms);
    stranger.sock.timeout(300ms);
    forger_answered = forger.ice();     // a 401 comes back, which is not a success
    stranger_answered = stranger.ice();  // nothing comes back
    ASSERT_TRUE(forger.em.start_dtls());
    while (auto d = forger.em.poll_dtls()) forger.sock.send(forger.edge, *d);
    std::vector<std::byte> in;
    dtls_answered = forger.sock.recv(in);
  });
  EXPECT_FALSE(forger_answered) << "a check with the wrong password must not succeed";
  EXPECT_FALSE(stranger_answered) << "a check for an unknown ufrag gets no answer";
  EXPECT_FALSE(dtls_answered) << "DTLS from an address no valid check bound is not answered";
  EXPECT_EQ(kMediaDropUnknownSession.total() - unknown0, 2) << "the unknown ufrag and the unbound DTLS";
  EXPECT_FALSE(bridge->stats(id)->ice_selected);
}

TEST_F(BridgeTest, HoldDropsTheDirectionThatMustNotFlow) {
  auto tls = bench::BrowserTls::make();
  Trunk trunk;
  const SessionId id = make_session(*tls, trunk, opus_pcmu_dtmf());
  const LocalMedia lm = *bridge->local(id);
  BrowserPeer browser(*tls, lm);
  bool to_browser = true;
  bool to_trunk = false;
  run([&] {
    ASSERT_TRUE(browser.ice());
    ASSERT_TRUE(browser.dtls()) << browser.em.error();
    on_shard([&] { bridge->set_direction(id, Direction::sendonly); });  // the browser put the call on hold
    browser.send_srtp(0, 10, 10, 5);
    std::vector<std::byte> in;
    to_trunk = trunk.rtp->recv(in);
    std::array<std::byte, 200> pkt{};
    trunk.rtp->send(lm.trunk_addr, std::span(pkt.data(), write_rtp(pkt, 0, false, 1, 1, 7, 160)));
    browser.sock.timeout(300ms);
    to_browser = browser.recv_srtp().has_value();
  });
  EXPECT_TRUE(to_trunk) << "sendonly: the browser's music on hold still reaches the trunk";
  EXPECT_FALSE(to_browser) << "sendonly: nothing from the trunk reaches the browser";
}

// ---- ports ----

TEST_F(BridgeTest, ReleaseGivesThePortPairBack) {
  auto id = bridge->create();
  ASSERT_TRUE(id) << id.error().message;
  const std::uint16_t port = bridge->local(id.value())->trunk_addr.port();
  const std::size_t free_before = bridge->free_port_pairs();
  bridge->release(id.value());
  EXPECT_EQ(bridge->local(id.value()), nullptr);
  EXPECT_EQ(bridge->sessions(), 0u);
  EXPECT_EQ(bridge->free_port_pairs(), free_before + 1);
  run_for(20ms);  // the shard closes the sockets once their receives are cancelled
  Sock rtp(port);
  Sock rtcp(static_cast<std::uint16_t>(port + 1));
  EXPECT_TRUE(rtp.ok()) << "RTP port " << port << " still bound after release";
  EXPECT_TRUE(rtcp.ok()) << "RTCP port " << port + 1 << " still bound after release";
}

TEST_F(BridgeTest, CreateFailsWithAMessageWhenThePortsAreUsedUp) {
  open_bridge(per_call(), 2);
  wait_ports_free();
  auto a = bridge->create();
  auto b = bridge->create();
  ASSERT_TRUE(a && b);
  const auto refused0 = kMediaSessionsRefused.total();
  auto c = bridge->create();
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("no free RTP port pair"), std::string::npos) << c.error().message;
  EXPECT_EQ(kMediaSessionsRefused.total() - refused0, 1);
  bridge->release(a.value());
  run_for(20ms);
  auto d = bridge->create();
  EXPECT_TRUE(d) << "a released pair is used again";
}

// Two shards' bridges over one --rtp-ports range of 4 pairs, 2 each (on one test shard: what
// decides is bind(2), not the thread): one side's calls take its own pairs and then borrow the
// other's, the other still gets the pair left, and nothing is handed out twice.
TEST_F(BridgeTest, AShardWithItsSliceUsedUpBorrowsFromTheRestOfTheRange) {
  open_bridge(per_call(), 4);
  wait_ports_free();
  bridge.reset();
  auto open_slice = [&](std::uint16_t lo, std::uint16_t hi) {
    MediaConfig cfg = per_call();
    cfg.browser_listen = SockAddr::ipv4_loopback(0);
    cfg.trunk_bind = SockAddr::ipv4_loopback(0);
    cfg.rtp_port_min = lo;
    cfg.rtp_port_max = hi;
    cfg.rtp_borrow_min = rtp_min;
    cfg.rtp_borrow_max = rtp_max;
    cfg.identity = identity;
    auto b = MediaBridge::open(*shard, std::move(cfg));
    EXPECT_TRUE(b) << b.error().message;
    return b ? std::move(b.value()) : nullptr;
  };
  auto first = open_slice(rtp_min, static_cast<std::uint16_t>(rtp_min + 3));
  auto second = open_slice(static_cast<std::uint16_t>(rtp_min + 4), rtp_max);
  ASSERT_TRUE(first && second);
  const auto borrowed0 = kMediaPortsBorrowed.total();
  std::vector<std::uint16_t> ports;
  for (int i = 0; i < 3; ++i) {  // a busy account: everything on the first shard
    auto id = first->create();
    ASSERT_TRUE(id) << "call " << i << ": " << id.error().message;
    ports.push_back(first->local(id.value())->trunk_addr.port());
  }
  EXPECT_EQ(kMediaPortsBorrowed.total() - borrowed0, 1);
  EXPECT_GE(ports[2], rtp_min + 4) << "the third pair comes from the other slice";
  auto other = second->create();  // another account's call on the second shard
  ASSERT_TRUE(other) << other.error().message;
  ports.push_back(second->local(other.value())->trunk_addr.port());
  std::sort(ports.begin(), ports.end());
  EXPECT_EQ(std::adjacent_find(ports.begin(), ports.end()), ports.end()) << "a pair handed out twice";
  // The range is used up now, on both sides, with a message.
  auto none = second->create();
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("no free RTP port pair"), std::string::npos) << none.error().message;
  EXPECT_FALSE(first->create());
}

// ---- session end ----

TEST_F(BridgeTest, ConsentLostEndsTheSessionAfterTheTimeout) {
  MediaConfig cfg;
  cfg.consent_timeout = 300ms;
  cfg.check_interval = 20ms;
  open_bridge(cfg);
  auto tls = bench::BrowserTls::make();
  Trunk trunk;
  const SessionId id = make_session(*tls, trunk, opus_pcmu_dtmf());
  BrowserPeer browser(*tls, *bridge->local(id));
  core::Instant checked{};
  core::Instant ended_at{};
  bridge->on_ended = [&](SessionId sid, MediaEnd why) {
    ended.emplace_back(sid, why);
    ended_at = core::monotonic_now();
  };
  run(
      [&] {
        ASSERT_TRUE(browser.ice());
        checked = core::monotonic_now();
      },
      [&] { return !ended.empty(); });
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].first, id);
  EXPECT_EQ(ended[0].second, MediaEnd::consent_lost);
  EXPECT_GE(ended_at - checked, 250ms) << "consent ended before its timeout";
  EXPECT_LT(ended_at - checked, 2s);
  bridge->release(id);
}

TEST_F(BridgeTest, WrongFingerprintEndsTheSessionAsDtlsFailed) {
  auto tls = bench::BrowserTls::make();
  auto other = bench::BrowserTls::make();
  Trunk trunk;
  auto id = bridge->create();
  ASSERT_TRUE(id);
  bridge->set_browser_remote(id.value(), BrowserRemote{browser_ice(), other->fingerprint()});
  bridge->set_trunk_remote(id.value(), trunk.rtp->local, opus_pcmu_dtmf());
  BrowserPeer browser(*tls, *bridge->local(id.value()));
  run(
      [&] {
        ASSERT_TRUE(browser.ice());
        EXPECT_FALSE(browser.dtls());
      },
      [&] { return !ended.empty(); });
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].second, MediaEnd::dtls_failed);
  EXPECT_FALSE(bridge->stats(id.value())->dtls_connected);
}

// ---- DTMF from SIP INFO ----

TEST_F(BridgeTest, DtmfReachesTheTrunkAsRfc4733InTheAudioSequence) {
  auto tls = bench::BrowserTls::make();
  Trunk trunk;
  CodecMap codecs = opus_pcmu_dtmf();
  const SessionId id = make_session(*tls, trunk, codecs);
  BrowserPeer browser(*tls, *bridge->local(id));
  std::vector<std::vector<std::byte>> seen;  // at the trunk, in order
  run([&] {
    ASSERT_TRUE(browser.ice());
    ASSERT_TRUE(browser.dtls()) << browser.em.error();
    std::vector<std::byte> in;
    for (std::uint16_t i = 0; i < 5; ++i) {
      browser.send_srtp(0, static_cast<std::uint16_t>(65533 + i), 160u * i, 0x1234, 160);
      if (trunk.rtp->recv(in)) seen.push_back(in);
    }
    EXPECT_TRUE(on_shard([&] { return bridge->send_dtmf(id, '5', 100); }));
    EXPECT_FALSE(on_shard([&] { return bridge->send_dtmf(id, 'x', 100); })) << "not a DTMF digit";
    // 100 ms: durations 160..800 every 20 ms, the last (E bit) three times.
    for (int i = 0; i < 7 && trunk.rtp->recv(in); ++i) seen.push_back(in);
    for (std::uint16_t i = 5; i < 10; ++i) {
      browser.send_srtp(0, static_cast<std::uint16_t>(65533 + i), 160u * i, 0x1234, 160);
      if (trunk.rtp->recv(in)) seen.push_back(in);
    }
  });
  ASSERT_EQ(seen.size(), 17u);
  std::uint16_t expect_seq = 65533;
  std::vector<std::uint16_t> durations;
  int ends = 0;
  for (std::size_t i = 0; i < seen.size(); ++i, ++expect_seq) {
    auto h = parse_rtp(seen[i]);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->seq, expect_seq) << "packet " << i << ": the trunk must see one sequence without a gap";
    EXPECT_EQ(h->ssrc, 0x1234u) << "DTMF goes in the browser stream's SSRC";
    const bool dtmf = i >= 5 && i < 12;
    EXPECT_EQ(h->payload_type, dtmf ? 101 : 0) << "packet " << i;
    if (!dtmf) continue;
    ASSERT_EQ(seen[i].size(), 16u);
    EXPECT_EQ(h->marker, i == 5) << "marker on the event's first packet only";
    EXPECT_GE(h->timestamp, 160u * 4) << "the event starts at the stream's current timestamp";
    EXPECT_EQ(static_cast<unsigned>(seen[i][12]), 5u) << "event 5";
    if ((static_cast<unsigned>(seen[i][13]) & 0x80) != 0) ++ends;
    durations.push_back(core::load_be16(seen[i].data() + 14));
  }
  EXPECT_EQ(durations, (std::vector<std::uint16_t>{160, 320, 480, 640, 800, 800, 800}));
  EXPECT_EQ(ends, 3) << "the final packet (E bit) is sent three times";
  const auto st = bridge->stats(id);
  EXPECT_EQ(st->trunk_tx, 17u);
}

}  // namespace
}  // namespace webtrunk::media
