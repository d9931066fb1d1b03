// Calls counted per route in /metrics: one label set per route of the table (route = the prefix as
// written, "*" for the default; trunk = the trunk spec), interned when the table is built, so a
// route that stays across a reload keeps its counters. At most kMaxRouteSeries label sets per
// process; a route past that counts under route="other",trunk="other" (and says so at load).
//
//   webtrunk_route_calls_attempted_total{route="+1555",trunk="udp:10.0.0.5:5060"}  INVITEs sent
//   webtrunk_route_calls_answered_total{...}                                       2xx from the trunk
//   webtrunk_route_calls_failed_total{...,reason="unreachable_icmp"}               one of RouteFailure
//
// The unlabelled totals (webtrunk_calls_*_total) stay as they are.
#pragma once

#include <string_view>

#include "core/metrics.hpp"

namespace webtrunk::edge {

inline constexpr std::uint32_t kMaxRouteSeries = 128;

// Why a call on a route failed; the values of the `reason` label, in this order.
enum class RouteFailure : std::uint32_t {
  unreachable_icmp,     // 503: ICMP port/host unreachable for the INVITE (UDP)
  unreachable_refused,  // 503: TCP connect refused
  unreachable_reset,    // 503: connection reset or lost while the call rang
  unreachable_timeout,  // 503: TCP connect not done in time
  unreachable_tls,      // 503: TLS handshake failed
  unreachable_other,    // 503: any other transport error (host unreachable, no descriptors, ...)
  timeout,              // 408: the trunk never answered the INVITE (Timer B)
  trunk_4xx,            // the trunk's final response
  trunk_5xx,
  trunk_6xx,
  cancelled,            // the caller hung up before an answer
  trunk_down,           // refused at once: keep-alives say the trunk is down (no INVITE sent)
  other,                // anything else after the INVITE went out (codec, media, edge shutdown)
};

inline const core::SeriesSet kRouteSeries{kMaxRouteSeries, {{"route", "other"}, {"trunk", "other"}}};
inline const core::CounterFamily kRouteCallsAttempted{"webtrunk_route_calls_attempted_total",
                                                      "calls sent toward the route's trunk (INVITE out)", kRouteSeries};
inline const core::CounterFamily kRouteCallsAnswered{"webtrunk_route_calls_answered_total",
                                                     "calls the route's trunk answered (2xx)", kRouteSeries};
inline const core::CounterFamily kRouteCallsFailed{
    "webtrunk_route_calls_failed_total", "calls on the route that ended without an answer, by reason", kRouteSeries,
    "reason",
    {"unreachable_icmp", "unreachable_refused", "unreachable_reset", "unreachable_timeout", "unreachable_tls",
     "unreachable_other", "timeout", "trunk_4xx", "trunk_5xx", "trunk_6xx", "cancelled", "trunk_down", "other"}};

// The label set of a route ("+1555" or "*", "udp:10.0.0.5:5060"); past kMaxRouteSeries, the
// overflow set (logged).
core::SeriesId route_series(std::string_view route, std::string_view trunk);

inline void count_route_failure(core::SeriesId series, RouteFailure why) noexcept {
  kRouteCallsFailed.inc(series, static_cast<std::uint32_t>(why));
}

// The class of a transport error toward a trunk: `icmp` for UDP (IP_RECVERR), else by errno.
RouteFailure unreachable_class(bool icmp, int error) noexcept;

}  // namespace webtrunk::edge
