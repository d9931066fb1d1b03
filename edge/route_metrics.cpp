#include "edge/route_metrics.hpp"

#include <cerrno>

#include "core/log.hpp"

namespace webtrunk::edge {

core::SeriesId route_series(std::string_view route, std::string_view trunk) {
  const core::SeriesId id = kRouteSeries.intern({{"route", route}, {"trunk", trunk}});
  if (id == 0) {
    core::log(core::LogLevel::warn, "routes.metrics_full",
              "route={} trunk={} counted as route=\"other\" (more than {} routes seen)", route, trunk,
              kMaxRouteSeries - 1);
  }
  return id;
}

RouteFailure unreachable_class(bool icmp, int error) noexcept {
  if (icmp) return RouteFailure::unreachable_icmp;
  switch (error) {
    case ECONNREFUSED: return RouteFailure::unreachable_refused;
    case ECONNRESET:
    case EPIPE: return RouteFailure::unreachable_reset;
    case ETIMEDOUT: return RouteFailure::unreachable_timeout;
    case EPROTO: return RouteFailure::unreachable_tls;
    default: return RouteFailure::unreachable_other;
  }
}

}  // namespace webtrunk::edge
