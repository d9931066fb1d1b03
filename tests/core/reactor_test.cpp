// The shard on real sockets, 127.0.0.1 only. The shard runs on the test thread (SINGLE_ISSUER: the
// thread that created the ring submits); clients are plain blocking sockets on another thread with
// 3 s timeouts, and every run has a 5 s failsafe, so no test can hang.
#include "core/reactor.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "core/bytes.hpp"
#include "core/delay_histogram.hpp"
#include "tests/core/reactor_test_support.hpp"

namespace webtrunk::core {
namespace {

using namespace std::chrono_literals;

std::span<const std::byte> bytes_of(const std::string& s) { return as_bytes(std::string_view(s)); }

// ---- address parsing ----

TEST(SockAddr, ParsesAndFormatsV4AndV6) {
  auto a = SockAddr::parse("192.0.2.1:5060");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->family(), AF_INET);
  EXPECT_EQ(a->port(), 5060);
  EXPECT_EQ(a->to_string(), "192.0.2.1:5060");
  auto b = SockAddr::parse("[2001:db8::1]:443");
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(b->family(), AF_INET6);
  EXPECT_EQ(b->to_string(), "[2001:db8::1]:443");
  EXPECT_EQ(SockAddr::parse("[::]:0")->to_string(), "[::]:0");
  EXPECT_EQ(SockAddr::parse("0.0.0.0:65535")->port(), 65535);
  EXPECT_TRUE(SockAddr::parse("127.0.0.1:9").value() == SockAddr::ipv4_loopback(9));
  EXPECT_FALSE(SockAddr::parse("127.0.0.1:9").value() == SockAddr::ipv4_loopback(10));
  EXPECT_EQ(SockAddr{}.to_string(), "-");
}

TEST(SockAddr, RejectsMalformedText) {
  for (const char* bad : {"", "1.2.3.4", "1.2.3.4:", "1.2.3.4:65536", "1.2.3.4:-1", "1.2.3.4:80x", "::1:80",
                          "[::1]80", "[::1", "[1.2.3.4]:80", "[::1]:", "example.com:80", "1.2.3:80", ":80",
                          "[fe80::1%eth0]:80", "1.2.3.4:0000080"}) {
    auto r = SockAddr::parse(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_NE(r.error().message.find("bad address"), std::string::npos);
    }
  }
}

TEST(Shard, SetupErrorSaysHowToAllowIoUring) {
  const std::string eperm = describe_io_uring_setup_error(-EPERM);
  EXPECT_NE(eperm.find("io_uring is not available (Operation not permitted)"), std::string::npos) << eperm;
  EXPECT_NE(eperm.find("kernel.io_uring_disabled=0"), std::string::npos);
  EXPECT_NE(eperm.find("seccomp profile that allows io_uring_setup/io_uring_enter/io_uring_register"),
            std::string::npos);
  const std::string enosys = describe_io_uring_setup_error(-ENOSYS);
  EXPECT_NE(enosys.find("io_uring is not available (Function not implemented)"), std::string::npos) << enosys;
}

// ---- harness ----

using test::make_shard;
using test::run_with_client;
using test::test_config;
using test::tcp_client;

bool write_all(int fd, const std::string& s) {
  std::size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

// Reads exactly n bytes, or until EOF/error/timeout (then returns what it got).
std::string read_n(int fd, std::size_t n) {
  std::string out;
  char buf[65536];
  while (out.size() < n) {
    const ssize_t r = ::recv(fd, buf, std::min(sizeof(buf), n - out.size()), 0);
    if (r <= 0) break;
    out.append(buf, static_cast<std::size_t>(r));
  }
  return out;
}

std::string read_to_eof(int fd) { return read_n(fd, SIZE_MAX); }

struct EchoHandler : TcpHandler {
  bool refuse = false;
  bool abort_on_data = false;
  std::size_t max_conns = 0;
  std::size_t bytes = 0;
  std::vector<ConnId> accepted;
  std::vector<int> reasons;
  SockAddr last_peer;

  bool on_accept(Shard& s, ConnId id, const SockAddr& peer) override {
    accepted.push_back(id);
    last_peer = peer;
    max_conns = std::max(max_conns, s.connection_count());
    return !refuse;
  }
  void on_data(Shard& s, ConnId id, std::span<const std::byte> d) override {
    bytes += d.size();
    if (abort_on_data) {
      EXPECT_TRUE(s.abort(id));
      EXPECT_FALSE(s.send(id, d));  // aborting: no more output
      return;
    }
    EXPECT_TRUE(s.send(id, d));
  }
  void on_closed(Shard& s, ConnId id, int reason) override {
    reasons.push_back(reason);
    EXPECT_FALSE(s.send(id, bytes_of("late")));  // the id is already stale
  }
};

// ---- TCP ----

TEST(ShardTcp, UsesSingleIssuerAndDeferTaskrun) {
  auto shard = make_shard();
  ASSERT_TRUE(shard);
  EXPECT_TRUE(shard->ring_flags() & IORING_SETUP_SINGLE_ISSUER);
  EXPECT_TRUE(shard->ring_flags() & IORING_SETUP_DEFER_TASKRUN);
}

TEST(ShardTcp, AcceptEchoAndPeerClose) {
  auto shard = make_shard();
  ASSERT_TRUE(shard);
  EchoHandler h;
  auto l = shard->listen_tcp(SockAddr::ipv4_loopback(0), h);
  ASSERT_TRUE(l) << l.error().message;
  const SockAddr addr = shard->listener_address(l.value());
  ASSERT_NE(addr.port(), 0);
  std::string echoed;
  run_with_client(
      *shard,
      [&] {
        const int fd = tcp_client(addr);
        EXPECT_TRUE(write_all(fd, "hello, shard"));
        echoed = read_n(fd, 12);
        ::close(fd);  // peer close: the shard must report on_closed with reason 0
      },
      [&] { return h.reasons.size() == 1; });
  EXPECT_EQ(echoed, "hello, shard");
  ASSERT_EQ(h.accepted.size(), 1u);
  EXPECT_EQ(h.last_peer.family(), AF_INET);
  EXPECT_EQ(h.reasons, (std::vector<int>{0}));
  EXPECT_EQ(shard->connection_count(), 0u);
  EXPECT_FALSE(shard->send(h.accepted[0], bytes_of("stale")));
  EXPECT_FALSE(shard->close(h.accepted[0]));
  EXPECT_FALSE(shard->abort(h.accepted[0]));
}

TEST(ShardTcp, ManyConnectionsAtOnce) {
  auto shard = make_shard();
  ASSERT_TRUE(shard);
  EchoHandler h;
  auto l = shard->listen_tcp(SockAddr::ipv4_loopback(0), h);
  ASSERT_TRUE(l);
  const SockAddr addr = shard->listener_address(l.value());
  constexpr int kConns = 200;
  int good = 0;
  run_with_client(
      *shard,
      [&] {
        std::vector<int> fds;
        for (int i = 0; i < kConns; ++i) fds.push_back(tcp_client(addr));
        for (int i = 0; i < kConns; ++i) EXPECT_TRUE(write_all(fds[i], "conn " + std::to_string(i) + ";"));
        for (int i = 0; i < kConns; ++i) {
          const std::string want = "conn " + std::to_string(i) + ";";
          if (read_n(fds[i], want.size()) == want) ++good;
        }
        for (int fd : fds) ::close(fd);
      },
      [&] { return h.reasons.size() == kConns; });
  EXPECT_EQ(good, kConns);
  EXPECT_EQ(h.max_conns, static_cast<std::size_t>(kConns));  // all were open together
  EXPECT_EQ(shard->connection_count(), 0u);
  // Slots are reused: generations keep old ids stale.
  for (ConnId id : h.accepted) EXPECT_FALSE(shard->send(id, bytes_of("x")));
}

TEST(ShardTcp, OneMegabyteSendArrivesIntactInOrderThenEof) {
  auto shard = make_shard();
  ASSERT_TRUE(shard);
  constexpr std::size_t kChunk = 4096;
  constexpr std::size_t kChunks = 256;  // 1 MiB in 256 send() calls, coalesced, then close()
  struct Sender : EchoHandler {
    bool on_accept(Shard& s, ConnId id, const SockAddr& peer) override {
      EchoHandler::on_accept(s, id, peer);
      std::vector<std::byte> chunk(kChunk);
      for (std::size_t c = 0; c < kChunks; ++c) {
        for (std::size_t i = 0; i < kChunk; ++i) chunk[i] = static_cast<std::byte>((c * 131 + i * 7) & 0xff);
        EXPECT_TRUE(s.send(id, chunk));
      }
      EXPECT_EQ(s.output_queued(id), kChunk * kChunks);
      EXPECT_TRUE(s.close(id));  // graceful: after the megabyte is out
      return true;
    }
  } h;
  // On loopback (64 KiB MSS) autotuning would grow the send buffer past 1 MiB and take it in one
  // write; a 64 KiB buffer forces the partial writes this test is about.
  TcpListenOptions opts;
  opts.send_buffer = 64 * 1024;
  auto l = shard->listen_tcp(SockAddr::ipv4_loopback(0), h, opts);
  ASSERT_TRUE(l);
  std::string got;
  run_with_client(
      *shard,
      [&] {
        const int fd = tcp_client(shard->listener_address(l.value()), 4096);  // small window
        std::this_thread::sleep_for(100ms);  // let the server hit a full socket buffer
        got = read_to_eof(fd);
        ::close(fd);
      },
      [&] { return h.reasons.size() == 1; });
  ASSERT_EQ(got.size(), kChunk * kChunks);
  std::size_t bad = 0;
  for (std::size_t c = 0; c < kChunks; ++c) {
    for (std::size_t i = 0; i < kChunk; ++i) {
      bad += static_cast<unsigned char>(got[c * kChunk + i]) != ((c * 131 + i * 7) & 0xff);
    }
  }
  EXPECT_EQ(bad, 0u);
  EXPECT_GT(shard->stats().tcp_short_writes, 0u);  // it took several partial writes
  EXPECT_EQ(h.reasons, (std::vector<int>{0}));
}

TEST(ShardTcp, AbortDropsTheConnectionAndRefusedConnectionsAreNotReported) {
  auto shard = make_shard();
  ASSERT_TRUE(shard);
  EchoHandler aborting;
  aborting.abort_on_data = true;
  EchoHandler refusing;
  refusing.refuse = true;
  auto la = shard->listen_tcp(SockAddr::ipv4_loopback(0), aborting);
  auto lr = shard->listen_tcp(SockAddr::ipv4_loopback(0), refusing);
  ASSERT_TRUE(la && lr);
  std::string after_abort = "unset";
  std::string after_refuse = "unset";
  run_with_client(
      *shard,
      [&] {
        const int a = tcp_client(shard->listener_address(la.value()));
        EXPECT_TRUE(write_all(a, "bye"));
        after_abort = read_to_eof(a);
        ::close(a);
        const int r = tcp_client(shard->listener_address(lr.value()));
        after_refuse = read_to_eof(r);
        ::close(r);
      },
      [&] { return aborting.reasons.size() == 1 && refusing.accepted.size() == 1; });
  EXPECT_EQ(after_abort, "");
  EXPECT_EQ(after_refuse, "");
  EXPECT_EQ(aborting.reasons, (std::vector<int>{-ECANCELED}));
  EXPECT_TRUE(refusing.reasons.empty());
  EXPECT_EQ(shard->stats().refused, 1u);
  EXPECT_EQ(shard->connection_count(), 0u);
}

TEST(ShardTcp, RunningOutOfBuffersRearmsWithoutLosingBytes) {
  ShardConfig cfg = test_config();
  cfg.tcp_buffers = 2;  // two 64-byte buffers for a 256 KiB echo
  cfg.tcp_buffer_size = 64;
  auto shard = make_shard(cfg);
  ASSERT_TRUE(shard);
  EchoHandler h;
  auto l = shard->listen_tcp(SockAddr::ipv4_loopback(0), h);
  ASSERT_TRUE(l);
  std::string sent(256 * 1024, '\0');
  for (std::size_t i = 0; i < sent.size(); ++i) sent[i] = static_cast<char>((i * 31 + i / 251) & 0xff);
  std::string got;
  run_with_client(
      *shard,
      [&] {
        const int fd = tcp_client(shard->listener_address(l.value()));
        std::thread writer([&] { EXPECT_TRUE(write_all(fd, sent)); });
        got = read_n(fd, sent.size());
        writer.join();
        ::close(fd);
      },
      [&] { return h.reasons.size() == 1; });
  EXPECT_TRUE(got == sent) << "got " << got.size() << " bytes";
  EXPECT_GT(shard->stats().enobufs, 0u);
  EXPECT_EQ(h.reasons, (std::vector<int>{0}));  // ENOBUFS never dropped the connection
}

TEST(ShardTcp, Ipv6LoopbackEcho) {
  auto shard = make_shard();
  ASSERT_TRUE(shard);
  EchoHandler h;
  auto l = shard->listen_tcp(SockAddr::parse("[::1]:0").value(), h);
  if (!l) GTEST_SKIP() << "no IPv6 loopback: " << l.error().message;
  std::string echoed;
  run_with_client(
      *shard,
      [&] {
        const int fd = tcp_client(shard->listener_address(l.value()));
        EXPECT_TRUE(write_all(fd, "v6"));
        echoed = read_n(fd, 2);
        ::close(fd);
      },
      [&] { return h.reasons.size() == 1; });
  EXPECT_EQ(echoed, "v6");
  EXPECT_EQ(h.last_peer.family(), AF_INET6);
}


// ---- loop control ----

TEST(ShardLoop, StopFromAnotherThreadAndTimersFire) {
  auto shard = make_shard();
  ASSERT_TRUE(shard);
  int fired = 0;
  shard->add_timer(20ms, [&] { ++fired; });
  shard->add_timer(10s, [&] { ADD_FAILURE() << "the loop outlived its stop"; });
  const auto t0 = std::chrono::steady_clock::now();
  std::thread stopper([&] {
    std::this_thread::sleep_for(100ms);
    shard->request_stop();
  });
  auto r = shard->run();
  stopper.join();
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_TRUE(r);
  EXPECT_EQ(fired, 1);
  EXPECT_GE(took, 100ms);
  EXPECT_LT(took, 2s);
  EXPECT_FALSE(shard->post(0, [](Shard&) {}));  // a standalone shard has no mailbox
}

TEST(ShardLoop, AnEarlierTimerMovesTheArmedWakeUp) {
  auto shard = make_shard();
  ASSERT_TRUE(shard);
  // The loop keeps one kernel timeout armed for the next deadline (2 s here); a timer added later
  // with an earlier deadline must move it, or the loop would sleep through it.
  shard->add_timer(2s, [&] { shard->request_stop(); });
  Instant fired_at{};
  const Instant t0 = shard->now();  // add_timer counts from the loop's time, not from this line
  shard->add_timer(10ms, [&] {
    shard->add_timer(30ms, [&] {
      fired_at = monotonic_now();
      shard->request_stop();
    });
  });
  auto r = shard->run();
  EXPECT_TRUE(r);
  ASSERT_NE(fired_at, Instant{});
  EXPECT_GE(fired_at - t0, 40ms);
  EXPECT_LT(fired_at - t0, 1s);
}

}  // namespace
}  // namespace webtrunk::core
