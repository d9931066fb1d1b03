// Shared by the shard tests on real sockets: run a shard on the test thread against a blocking
// client on another, with a 5 s failsafe.
#pragma once

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>

#include "core/reactor.hpp"

namespace webtrunk::core::test {

using namespace std::chrono_literals;

// Runs the loop on this thread while `client` runs on another, until `done()` holds (checked every
// millisecond on the loop) or 5 s pass.
inline void run_with_client(Shard& shard, const std::function<void()>& client, const std::function<bool()>& done) {
  std::atomic<bool> client_done{false};
  bool timed_out = false;
  const Instant deadline = monotonic_now() + 5s;
  std::function<void()> check = [&] {
    if (client_done && done()) {
      shard.request_stop();
    } else if (monotonic_now() > deadline) {
      timed_out = true;
      shard.request_stop();
    } else {
      shard.add_timer(1ms, check);
    }
  };
  shard.add_timer(1ms, check);
  std::thread t([&] {
    client();
    client_done = true;
  });
  auto r = shard.run();
  t.join();
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  EXPECT_FALSE(timed_out) << "the shard did not reach the expected state within 5 s";
}

inline int tcp_client(const SockAddr& to, int rcvbuf = 0) {
  const int fd = ::socket(to.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{3, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  if (rcvbuf > 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  if (::connect(fd, to.data(), to.size()) != 0) ADD_FAILURE() << "connect: " << std::strerror(errno);
  return fd;
}

// A shard with small buffer rings (64 TCP, 64 UDP buffers).
inline ShardConfig test_config() {
  ShardConfig cfg;
  cfg.tcp_buffers = 64;
  cfg.udp_buffers = 64;
  return cfg;
}

inline std::unique_ptr<Shard> make_shard(const ShardConfig& cfg = test_config()) {
  auto s = Shard::create(cfg);
  if (!s) ADD_FAILURE() << s.error().message;
  return s ? std::move(s.value()) : nullptr;
}

}  // namespace webtrunk::core::test
