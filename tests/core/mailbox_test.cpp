// SPSC queue, eventfd waker and mailbox; then Shards: messages between real shard threads,
// all-or-nothing start-up, stop from another thread and on SIGTERM.
#include "core/mailbox.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "core/metrics.hpp"
#include "core/shards.hpp"

namespace webtrunk::core {
namespace {

using namespace std::chrono_literals;

TEST(SpscQueue, FifoAndBounded) {
  SpscQueue<int> q(4);
  EXPECT_EQ(q.capacity(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(q.push(int{i}));
  int extra = 99;
  EXPECT_FALSE(q.push(std::move(extra)));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(q.pop(), i);
  EXPECT_FALSE(q.pop().has_value());
}

TEST(SpscQueue, MoveOnlyPayloadsAreDestroyed) {
  auto counter = std::make_shared<int>(0);
  {
    SpscQueue<std::shared_ptr<int>> q(8);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(q.push(std::shared_ptr<int>(counter)));
    EXPECT_EQ(counter.use_count(), 6);
    q.pop();
    EXPECT_EQ(counter.use_count(), 5);
  }  // the queue's destructor drops the rest
  EXPECT_EQ(counter.use_count(), 1);
}

TEST(SpscQueue, TwoThreadsKeepOrderUnderContention) {
  SpscQueue<std::uint64_t> q(64);
  constexpr std::uint64_t kN = 200'000;
  // Both sides yield when blocked and give up at the deadline: the machine may be oversubscribed.
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  std::thread producer([&] {
    for (std::uint64_t i = 0; i < kN && std::chrono::steady_clock::now() < deadline;) {
      std::uint64_t v = i;
      if (q.push(std::move(v))) {
        ++i;
      } else {
        std::this_thread::yield();
      }
    }
  });
  std::uint64_t expect = 0;
  bool in_order = true;
  while (expect < kN && std::chrono::steady_clock::now() < deadline) {
    if (auto v = q.pop()) {
      in_order = in_order && *v == expect;
      ++expect;
    } else {
      std::this_thread::yield();
    }
  }
  producer.join();
  EXPECT_TRUE(in_order);
  EXPECT_EQ(expect, kN);
}

TEST(Waker, CoalescesWakesUntilConsumed) {
  auto w = Waker::create();
  ASSERT_TRUE(w) << w.error().message;
  Waker& waker = *w.value();
  waker.wake();
  waker.wake();
  waker.wake();
  pollfd p{waker.fd(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 1000), 1);
  std::uint64_t v = 0;
  ASSERT_EQ(::read(waker.fd(), &v, sizeof(v)), static_cast<ssize_t>(sizeof(v)));
  EXPECT_EQ(v, 1u);  // three wakes, one write
  EXPECT_TRUE(waker.consume());
  EXPECT_FALSE(waker.consume());
  EXPECT_EQ(::poll(&p, 1, 0), 0);
  waker.wake();  // after consume, the next wake writes again
  EXPECT_EQ(::poll(&p, 1, 1000), 1);
}

TEST(Mailbox, RoutesByLaneAndWakesTheTarget) {
  auto w0 = Waker::create();
  auto w1 = Waker::create();
  ASSERT_TRUE(w0 && w1);
  Mailbox<std::string> mb(2, 3, 4, {w0.value().get(), w1.value().get()});
  EXPECT_TRUE(mb.post(0, 1, "from0"));
  EXPECT_TRUE(mb.post(2, 1, "from-main"));
  EXPECT_FALSE(mb.post(3, 1, "bad lane"));
  EXPECT_FALSE(mb.post(0, 2, "bad target"));
  pollfd p{w1.value()->fd(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 1000), 1);
  pollfd p0{w0.value()->fd(), POLLIN, 0};
  EXPECT_EQ(::poll(&p0, 1, 0), 0);  // nobody posted to shard 0
  std::vector<std::string> got;
  EXPECT_EQ(mb.drain(1, [&](std::string& m) { got.push_back(m); }), 2u);
  EXPECT_EQ(got, (std::vector<std::string>{"from0", "from-main"}));
  // A full lane refuses instead of blocking.
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(mb.post(1, 0, "x"));
  EXPECT_FALSE(mb.post(1, 0, "overflow"));
}

TEST(CpuList, ParsesListsAndRanges) {
  auto a = parse_cpu_list("0,1");
  ASSERT_TRUE(a);
  EXPECT_EQ(a.value(), (std::vector<unsigned>{0, 1}));
  auto b = parse_cpu_list("0-3,8,10-11");
  ASSERT_TRUE(b);
  EXPECT_EQ(b.value(), (std::vector<unsigned>{0, 1, 2, 3, 8, 10, 11}));
  for (const char* bad : {"", ",", "1,", "a", "3-1", "1-", "0,0", "0-2,1", "99999", "-1"}) {
    auto r = parse_cpu_list(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("--cpu-list"), std::string::npos);
  }
}

ShardsConfig small_shards(unsigned n) {
  ShardsConfig cfg;
  cfg.shards = n;
  cfg.shard.tcp_buffers = 16;
  cfg.shard.udp_buffers = 16;
  return cfg;
}

TEST(Shards, PingPongBetweenShardsThenStopFromAnotherThread) {
  Shards shards(small_shards(2));
  std::atomic<int> pongs{0};
  std::atomic<int> ran_on[2] = {-1, -1};
  auto started = shards.start([&](Shard& s) -> Result<void> {
    ran_on[s.index()] = static_cast<int>(current_shard());
    return {};
  });
  ASSERT_TRUE(started) << started.error().message;
  EXPECT_EQ(ran_on[0], 0);  // set_current_shard(k) on each thread, so metrics land in row k
  EXPECT_EQ(ran_on[1], 1);
  constexpr int kRounds = 1000;
  // A chain of round trips: shard 0 pings shard 1, whose pong makes shard 0 send the next ping.
  std::function<void(Shard&)> ping = [&](Shard& s1) {
    EXPECT_EQ(s1.index(), 1u);
    EXPECT_TRUE(s1.post(0, [&](Shard& s0) {
      EXPECT_EQ(s0.index(), 0u);
      if (++pongs < kRounds) {
        EXPECT_TRUE(s0.post(1, ping));
      }
    }));
  };
  ASSERT_TRUE(shards.post(1, ping));  // the first ping comes from the main thread's lane
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (pongs < kRounds && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(pongs, kRounds);
  std::thread stopper([&] { shards.request_stop(); });
  auto joined = shards.join();
  stopper.join();
  EXPECT_TRUE(joined) << joined.error().message;
}

TEST(Shards, AnInitFailureStopsAllAndIsReturned) {
  Shards shards(small_shards(2));
  std::atomic<int> inits{0};
  auto r = shards.start([&](Shard& s) -> Result<void> {
    ++inits;
    if (s.index() == 1) return Error{-EADDRINUSE, "bind 127.0.0.1:5060: Address already in use"};
    return {};
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(inits, 2);
  EXPECT_EQ(r.error().code, -EADDRINUSE);
  EXPECT_NE(r.error().message.find("shard 1: bind"), std::string::npos) << r.error().message;
}

TEST(Shards, PinningToACpuOutsideTheSetFailsClearly) {
  ShardsConfig cfg = small_shards(1);
  cfg.cpus = {CPU_SETSIZE - 1};
  Shards shards(cfg);
  auto r = shards.start([](Shard&) -> Result<void> { return {}; });
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("cannot pin to CPU"), std::string::npos) << r.error().message;
}

TEST(Shards, SigtermStopsRunUntilSignal) {
  Shards shards(small_shards(2));
  std::atomic<int> inits{0};
  std::thread killer;
  auto r = shards.run_until_signal([&](Shard& s) -> Result<void> {
    if (++inits == 2) {
      // Created from a shard thread, so SIGTERM is blocked here too: the signal stays pending for
      // the process until run_until_signal's signalfd reads it.
      killer = std::thread([] {
        std::this_thread::sleep_for(50ms);
        ::kill(::getpid(), SIGTERM);
      });
    }
    (void)s;
    return {};
  });
  killer.join();
  EXPECT_TRUE(r) << r.error().message;
  EXPECT_EQ(inits, 2);
}

TEST(Shards, RequestStopEndsRunUntilSignal) {
  Shards shards(small_shards(1));
  std::thread stopper;
  auto r = shards.run_until_signal([&](Shard&) -> Result<void> {
    stopper = std::thread([&] {
      std::this_thread::sleep_for(50ms);
      shards.request_stop();
    });
    return {};
  });
  stopper.join();
  EXPECT_TRUE(r);
}

}  // namespace
}  // namespace webtrunk::core
