// Shard::connect_tcp on loopback: an outbound connection that sends before it is connected, reads
// the peer's answer and sees its close; a refused connect; a connect that never completes (a
// listener with a full backlog) ending at its deadline; an abort while connecting.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "core/bytes.hpp"
#include "core/reactor.hpp"
#include "tests/core/reactor_test_support.hpp"

namespace webtrunk::core {
namespace {

using namespace std::chrono_literals;

struct Recorder : TcpHandler {
  bool on_accept(Shard&, ConnId, const SockAddr&) override { return false; }
  void on_data(Shard&, ConnId, std::span<const std::byte> data) override {
    got.append(reinterpret_cast<const char*>(data.data()), data.size());
  }
  void on_closed(Shard&, ConnId, int r) override {
    closed = true;
    reason = r;
  }
  void on_connected(Shard&, ConnId) override { connected = true; }
  std::string got;
  bool connected = false;
  bool closed = false;
  int reason = 1;
};

// A blocking listener on 127.0.0.1 with an ephemeral port.
int listener(SockAddr& addr, int backlog = 8) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const SockAddr any = SockAddr::ipv4_loopback(0);
  EXPECT_EQ(::bind(fd, any.data(), any.size()), 0);
  EXPECT_EQ(::listen(fd, backlog), 0);
  addr = local_address(fd).value();
  return fd;
}

TEST(ShardConnect, SendsQueuedBytesReadsAnswerAndSeesPeerClose) {
  auto shard = Shard::create(ShardConfig{}).value();
  SockAddr addr;
  const int lfd = listener(addr);
  Recorder h;
  auto id = shard->connect_tcp(addr, h, 2s);
  ASSERT_TRUE(id) << id.error().message;
  // Queued before the connect completes: counted, and sent once it does.
  ASSERT_TRUE(shard->send(*id, as_bytes(std::string_view("hello"))));
  EXPECT_EQ(shard->output_queued(*id), 5u);
  EXPECT_EQ(shard->connection_count(), 1u);
  std::string peer_got;
  test::run_with_client(
      *shard,
      [&] {
        const int c = ::accept(lfd, nullptr, nullptr);
        ASSERT_GE(c, 0);
        timeval tv{3, 0};
        ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        char buf[5];
        const ssize_t n = ::recv(c, buf, sizeof(buf), MSG_WAITALL);
        if (n > 0) peer_got.assign(buf, static_cast<std::size_t>(std::min<ssize_t>(n, 5)));
        (void)::send(c, "world", 5, MSG_NOSIGNAL);
        ::close(c);
      },
      [&] { return h.closed; });
  ::close(lfd);
  EXPECT_TRUE(h.connected);
  EXPECT_EQ(peer_got, "hello");
  EXPECT_EQ(h.got, "world");
  EXPECT_EQ(h.reason, 0);
  EXPECT_EQ(shard->connection_count(), 0u);
}

TEST(ShardConnect, RefusedConnectReportsEconnrefused) {
  auto shard = Shard::create(ShardConfig{}).value();
  SockAddr addr;
  const int lfd = listener(addr);
  ::close(lfd);  // nothing listens on the port now
  Recorder h;
  auto id = shard->connect_tcp(addr, h, 2s);
  ASSERT_TRUE(id);
  test::run_with_client(*shard, [] {}, [&] { return h.closed; });
  EXPECT_FALSE(h.connected);
  EXPECT_EQ(h.reason, -ECONNREFUSED);
  EXPECT_FALSE(shard->send(*id, as_bytes(std::string_view("x"))));  // stale
}

// A listener whose accept queue is full (backlog 0, filled by non-blocking connects nobody accepts):
// the kernel drops further SYNs, so a connect to it hangs. Returns the listener; `fillers` are closed by the caller.
int hanging_listener(SockAddr& addr, std::vector<int>& fillers) {
  const int lfd = listener(addr, 0);
  for (int i = 0; i < 4; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    (void)::connect(fd, addr.data(), addr.size());
    fillers.push_back(fd);
  }
  ::usleep(50'000);
  return lfd;
}

TEST(ShardConnect, ConnectThatHangsEndsAtItsDeadline) {
  auto shard = Shard::create(ShardConfig{}).value();
  SockAddr nowhere;
  std::vector<int> fillers;
  const int lfd = hanging_listener(nowhere, fillers);
  Recorder h;
  auto id = shard->connect_tcp(nowhere, h, 100ms);
  ASSERT_TRUE(id);
  test::run_with_client(*shard, [] {}, [&] { return h.closed; });
  EXPECT_FALSE(h.connected);
  EXPECT_EQ(h.reason, -ETIMEDOUT) << std::strerror(-h.reason);
  for (int fd : fillers) ::close(fd);
  ::close(lfd);
}

TEST(ShardConnect, AbortWhileConnectingReportsCanceled) {
  auto shard = Shard::create(ShardConfig{}).value();
  SockAddr nowhere;
  std::vector<int> fillers;
  const int lfd = hanging_listener(nowhere, fillers);
  Recorder h;
  auto id = shard->connect_tcp(nowhere, h, 5s);
  ASSERT_TRUE(id);
  shard->add_timer(5ms, [&] { (void)shard->abort(*id); });
  test::run_with_client(*shard, [] {}, [&] { return h.closed; });
  EXPECT_FALSE(h.connected);
  EXPECT_EQ(h.reason, -ECANCELED) << std::strerror(-h.reason);
  EXPECT_EQ(shard->connection_count(), 0u);
  for (int fd : fillers) ::close(fd);
  ::close(lfd);
}

}  // namespace
}  // namespace webtrunk::core
