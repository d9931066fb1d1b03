#include "core/timer_wheel.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <vector>

namespace webtrunk::core {
namespace {

using std::chrono::milliseconds;

// A fake clock: tests move `now` by hand, the wheel never reads a clock.
struct FakeClock {
  Instant now{};
  Instant at(int ms) const { return Instant{} + milliseconds(ms); }
};

TEST(TimerWheel, FiresAtDeadlineNeverEarly) {
  FakeClock clk;
  TimerWheel w(clk.now, milliseconds(1), 256);
  int fired = 0;
  w.insert(clk.at(10), [&] { ++fired; });
  EXPECT_EQ(w.advance(clk.at(9)), 0u);
  EXPECT_EQ(fired, 0);
  EXPECT_EQ(w.advance(clk.at(10)), 1u);
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(w.size(), 0u);
  EXPECT_FALSE(w.next_deadline().has_value());
}

TEST(TimerWheel, RoundsSubResolutionDeadlinesUp) {
  TimerWheel w(Instant{}, milliseconds(10), 256);
  int fired = 0;
  w.insert(Instant{} + std::chrono::microseconds(10'500), [&] { ++fired; });  // 10.5 ms -> tick 2 (20 ms)
  ASSERT_TRUE(w.next_deadline().has_value());
  EXPECT_EQ(*w.next_deadline(), Instant{} + milliseconds(20));
  w.advance(Instant{} + milliseconds(19));
  EXPECT_EQ(fired, 0);
  w.advance(Instant{} + milliseconds(20));
  EXPECT_EQ(fired, 1);
}

TEST(TimerWheel, FiresInDeadlineOrder) {
  TimerWheel w(Instant{}, milliseconds(1), 64);
  std::vector<int> order;
  for (int d : {30, 5, 20, 5, 1}) w.insert(Instant{} + milliseconds(d), [&order, d] { order.push_back(d); });
  w.advance(Instant{} + milliseconds(40));
  EXPECT_EQ(order, (std::vector<int>{1, 5, 5, 20, 30}));
}

TEST(TimerWheel, CancelPreventsFiringAndStaleHandlesAreHarmless) {
  TimerWheel w(Instant{}, milliseconds(1), 64);
  int a = 0;
  int b = 0;
  TimerHandle ha = w.insert(Instant{} + milliseconds(5), [&] { ++a; });
  TimerHandle hb = w.insert(Instant{} + milliseconds(5), [&] { ++b; });
  EXPECT_TRUE(w.cancel(ha));
  EXPECT_FALSE(w.cancel(ha));  // twice
  w.advance(Instant{} + milliseconds(5));
  EXPECT_EQ(a, 0);
  EXPECT_EQ(b, 1);
  EXPECT_FALSE(w.cancel(hb));  // already fired
  // The slot is reused with a new generation: the old handle must not cancel the new timer.
  TimerHandle hc = w.insert(Instant{} + milliseconds(8), [&] { ++a; });
  EXPECT_EQ(hc.index, hb.index);
  EXPECT_FALSE(w.cancel(hb));
  EXPECT_FALSE(w.cancel(ha));
  EXPECT_FALSE(w.cancel(TimerHandle{}));
  EXPECT_FALSE(w.cancel(TimerHandle{999, 1}));
  w.advance(Instant{} + milliseconds(8));
  EXPECT_EQ(a, 1);
}

TEST(TimerWheel, CallbackMayReinsertItselfAndCancelOthersDueNow) {
  TimerWheel w(Instant{}, milliseconds(1), 64);
  int ticks = 0;
  int victim = 0;
  TimerHandle victim_h;
  std::function<void()> periodic = [&] {
    ++ticks;
    w.insert(Instant{} + milliseconds(10 * (ticks + 1)), periodic);  // re-arm from inside the callback
  };
  w.insert(Instant{} + milliseconds(10), periodic);
  // Both due at 50 ms; the first cancels the second while they sit in the same due batch.
  w.insert(Instant{} + milliseconds(50), [&] { EXPECT_TRUE(w.cancel(victim_h)); });
  victim_h = w.insert(Instant{} + milliseconds(50), [&] { ++victim; });
  for (int t = 1; t <= 100; ++t) w.advance(Instant{} + milliseconds(t));
  EXPECT_EQ(ticks, 10);
  EXPECT_EQ(victim, 0);
  EXPECT_EQ(w.size(), 1u);  // the periodic timer, armed for 110 ms
  EXPECT_EQ(*w.next_deadline(), Instant{} + milliseconds(110));
}

TEST(TimerWheel, PastDeadlineInsertedInCallbackFiresWhenTimeAllows) {
  TimerWheel w(Instant{}, milliseconds(1), 64);
  std::vector<int> seen;
  w.insert(Instant{} + milliseconds(3), [&] {
    seen.push_back(3);
    w.insert(Instant{}, [&] { seen.push_back(0); });  // deadline long past
  });
  w.advance(Instant{} + milliseconds(10));  // still time left in this advance: fires at tick 4
  EXPECT_EQ(seen, (std::vector<int>{3, 0}));
}

TEST(TimerWheel, FarFutureDeadlinesWrapTheWheel) {
  // 64 slots of 1 ms: a revolution is 64 ms. Deadlines of 5, 64, 65, 130 and 10,000 ms share slots.
  TimerWheel w(Instant{}, milliseconds(1), 64);
  std::vector<int> fired_at;
  int now_ms = 0;
  for (int d : {10'000, 130, 65, 64, 5, 69}) {
    w.insert(Instant{} + milliseconds(d), [&fired_at, &now_ms, d] {
      EXPECT_GE(now_ms, d);
      EXPECT_LE(now_ms, d + 1);
      fired_at.push_back(d);
    });
  }
  EXPECT_EQ(*w.next_deadline(), Instant{} + milliseconds(5));
  for (now_ms = 1; now_ms <= 200; ++now_ms) w.advance(Instant{} + milliseconds(now_ms));
  EXPECT_EQ(fired_at, (std::vector<int>{5, 64, 65, 69, 130}));
  // Only the 10 s timer is left; every slot it is not due in must be skipped by next_deadline.
  EXPECT_EQ(*w.next_deadline(), Instant{} + milliseconds(10'000));
  w.advance(Instant{} + milliseconds(9'999));  // one big jump, > one revolution
  EXPECT_EQ(fired_at.size(), 5u);
  now_ms = 10'000;
  w.advance(Instant{} + milliseconds(10'000));
  EXPECT_EQ(fired_at.back(), 10'000);
}

TEST(TimerWheel, BigJumpFiresEverythingDueInOrder) {
  TimerWheel w(Instant{}, milliseconds(1), 64);
  std::vector<int> order;
  for (int d : {500, 3, 200, 64, 1000}) w.insert(Instant{} + milliseconds(d), [&order, d] { order.push_back(d); });
  w.advance(Instant{} + milliseconds(600));
  EXPECT_EQ(order, (std::vector<int>{3, 64, 200, 500}));
  EXPECT_EQ(*w.next_deadline(), Instant{} + milliseconds(1000));
}

TEST(TimerWheel, ThousandsOfTimersWithRandomCancels) {
  TimerWheel w(Instant{}, milliseconds(1), 4096);
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> dist(1, 20'000);  // up to ~5 revolutions
  constexpr int kN = 20'000;
  std::vector<int> deadline(kN);
  std::vector<int> fired(kN, -1);
  std::vector<TimerHandle> handles(kN);
  std::multiset<int> pending;  // the brute-force model next_deadline() is checked against
  int now_ms = 0;
  for (int i = 0; i < kN; ++i) {
    deadline[i] = dist(rng);
    pending.insert(deadline[i]);
    handles[i] = w.insert(Instant{} + milliseconds(deadline[i]), [&, i] {
      fired[i] = now_ms;
      pending.erase(pending.find(deadline[i]));
    });
  }
  std::vector<bool> cancelled(kN, false);
  for (int i = 0; i < kN; i += 3) {
    cancelled[i] = w.cancel(handles[i]);
    pending.erase(pending.find(deadline[i]));
  }
  EXPECT_EQ(w.size(), pending.size());

  // Advance in uneven steps, checking next_deadline against the model as we go.
  while (w.size() > 0) {
    ASSERT_TRUE(w.next_deadline().has_value());
    ASSERT_EQ(*w.next_deadline(), Instant{} + milliseconds(*pending.begin()));
    now_ms = *pending.begin() + static_cast<int>(rng() % 7);
    w.advance(Instant{} + milliseconds(now_ms));
    ASSERT_EQ(w.size(), pending.size());
  }
  for (int i = 0; i < kN; ++i) {
    if (cancelled[i]) {
      EXPECT_EQ(fired[i], -1) << i;
    } else {
      EXPECT_GE(fired[i], deadline[i]) << i;  // never early
    }
  }
}

TEST(TimerWheel, NextDeadlineTracksInsertAndCancel) {
  TimerWheel w(Instant{}, milliseconds(1), 64);
  EXPECT_FALSE(w.next_deadline());
  auto h1 = w.insert(Instant{} + milliseconds(50), [] {});
  EXPECT_EQ(*w.next_deadline(), Instant{} + milliseconds(50));
  auto h2 = w.insert(Instant{} + milliseconds(20), [] {});
  EXPECT_EQ(*w.next_deadline(), Instant{} + milliseconds(20));
  EXPECT_TRUE(w.cancel(h2));
  EXPECT_EQ(*w.next_deadline(), Instant{} + milliseconds(50));
  EXPECT_TRUE(w.cancel(h1));
  EXPECT_FALSE(w.next_deadline());
  w.insert(Instant{} + milliseconds(70), [] {});
  EXPECT_EQ(*w.next_deadline(), Instant{} + milliseconds(70));
}

}  // namespace
}  // namespace webtrunk::core
