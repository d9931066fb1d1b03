// Calls counted per route (edge/route_metrics.hpp): attempted, answered, and failed by reason, on
// the label set of the route the call took; a reloaded table keeps the counters of a route that
// stays. The counters are process-wide, so each check reads a difference.
#include <gtest/gtest.h>

#include "edge/route_metrics.hpp"
#include "sip_sim.hpp"

namespace webtrunk::sim {
namespace {

using edge::RouteFailure;
using std::chrono::seconds;

constexpr std::string_view kRoutes = "+1555 udp:127.0.0.1:5080\n* udp:127.0.0.1:5090\n";

Sim::Options routed() {
  Sim::Options o;
  o.routes_file = true;
  o.routes = std::string(kRoutes);
  return o;
}

core::SeriesId series_of(Sim& sim, std::string_view number) {
  const edge::TrunkTarget* t = sim.core->routes().lookup(number);
  EXPECT_NE(t, nullptr);
  return t != nullptr ? t->series : 0;
}

std::int64_t failed(core::SeriesId s, RouteFailure why) {
  return edge::kRouteCallsFailed.total(s, static_cast<std::uint32_t>(why));
}

TEST(RouteMetrics, EachOutcomeCountsOnTheRouteTheCallTook) {
  Sim sim(routed());
  const core::SeriesId s = series_of(sim, "15551234567");
  const core::SeriesId other = series_of(sim, "4420");
  ASSERT_NE(s, 0u);
  ASSERT_NE(s, other);
  Browser& b = sim.browser("alice");
  const std::int64_t attempted = edge::kRouteCallsAttempted.total(s);
  const std::int64_t answered = edge::kRouteCallsAnswered.total(s);
  const std::int64_t icmp = failed(s, RouteFailure::unreachable_icmp);
  const std::int64_t timeout = failed(s, RouteFailure::timeout);
  const std::int64_t busy = failed(s, RouteFailure::trunk_4xx);
  const std::int64_t decline = failed(s, RouteFailure::trunk_6xx);
  const std::int64_t cancelled = failed(s, RouteFailure::cancelled);
  const std::int64_t on_default = edge::kRouteCallsAttempted.total(other);

  // Answered.
  (void)connect_call(sim, b);
  EXPECT_EQ(edge::kRouteCallsAnswered.total(s), answered + 1);

  // ICMP unreachable: 503 to the browser, "unreachable_icmp" on the route.
  {
    BrowserCall call;
    ASSERT_EQ(sim.invite(b, call)->view.status_code(), 100);
    (void)sim.trunk.next_request("INVITE");
    sim.core->handle_trunk_unreachable(sim.now, sim.trunk.addr);
    sim.deliver();
    EXPECT_EQ(b.next()->view.status_code(), 503);
    EXPECT_EQ(failed(s, RouteFailure::unreachable_icmp), icmp + 1);
  }
  // The trunk's own 486 and 603.
  for (auto [code, why] : {std::pair{486, RouteFailure::trunk_4xx}, std::pair{603, RouteFailure::trunk_6xx}}) {
    BrowserCall call;
    ASSERT_EQ(sim.invite(b, call)->view.status_code(), 100);
    Msg inv = sim.trunk.next_request("INVITE");
    sim.from_trunk(sim.trunk.respond(inv->view, code, "No"));
    (void)sim.trunk.next_request("ACK");
    EXPECT_EQ(b.next()->view.status_code(), code);
  }
  EXPECT_EQ(failed(s, RouteFailure::trunk_4xx), busy + 1);
  EXPECT_EQ(failed(s, RouteFailure::trunk_6xx), decline + 1);
  // The caller cancels while it rings.
  {
    BrowserCall call;
    ASSERT_EQ(sim.invite(b, call)->view.status_code(), 100);
    Msg inv = sim.trunk.next_request("INVITE");
    sim.from_trunk(sim.trunk.respond(inv->view, 180, "Ringing"));
    EXPECT_EQ(b.next()->view.status_code(), 180);
    b.send(b.request("CANCEL", call.ruri, call.call_id, call.from_tag, call.to, call.cseq, {}, {}, {},
                     call.invite_branch));
    EXPECT_EQ(b.next()->view.status_code(), 200);
    EXPECT_EQ(b.next()->view.status_code(), 487);
    EXPECT_EQ(failed(s, RouteFailure::cancelled), cancelled + 1);
  }
  // Nothing answers (Timer B): 408, "timeout".
  {
    sim.drop_to_trunk = [](std::string_view) { return true; };
    BrowserCall call;
    ASSERT_EQ(sim.invite(b, call)->view.status_code(), 100);
    sim.advance(seconds(33));
    EXPECT_EQ(b.next()->view.status_code(), 408);
    EXPECT_EQ(failed(s, RouteFailure::timeout), timeout + 1);
    sim.drop_to_trunk = nullptr;
  }
  EXPECT_EQ(edge::kRouteCallsAttempted.total(s), attempted + 6);
  EXPECT_EQ(edge::kRouteCallsAnswered.total(s), answered + 1);
  EXPECT_EQ(edge::kRouteCallsAttempted.total(other), on_default);  // none of them took the default route

  // The exposition names the route as written and its trunk.
  const std::string text = core::render_metrics();
  EXPECT_NE(text.find(fmt::format("webtrunk_route_calls_failed_total{{route=\"+1555\",trunk=\"udp:127.0.0.1:5080\","
                                  "reason=\"timeout\"}} {}\n",
                                  timeout + 1)),
            std::string::npos)
      << text;
}

TEST(RouteMetrics, AReloadKeepsTheCountersOfRoutesThatStay) {
  auto before = edge::RouteTable::parse(kRoutes, "routes");
  ASSERT_TRUE(before);
  auto after = edge::RouteTable::parse("+1555 udp:127.0.0.1:5080\n+44 udp:127.0.0.1:5099\n", "routes");
  ASSERT_TRUE(after);
  EXPECT_EQ(before->lookup("1555")->series, after->lookup("1555")->series);
  EXPECT_NE(after->lookup("4420")->series, before->lookup("4420")->series);  // "*" gone, "+44" new
  // The same prefix toward another trunk is another label set.
  auto moved = edge::RouteTable::parse("+1555 udp:127.0.0.1:5081\n", "routes");
  ASSERT_TRUE(moved);
  EXPECT_NE(moved->lookup("1555")->series, before->lookup("1555")->series);
}

}  // namespace
}  // namespace webtrunk::sim
