#include "app/http_limit_flags.hpp"

#include <chrono>

namespace webtrunk::app {

void add_http_limit_flags(FlagSet& f) {
  f.add({"max-connections", "N", "open HTTP connections in all; more are closed at accept", "10000", false});
  f.add({"max-connections-per-address", "N",
         "open connections per source address (IPv6: per /64); more are closed at accept. Behind a reverse proxy "
         "every client has the proxy's address: raise it there",
         "256", false});
  f.add({"max-new-connections-per-address", "N",
         "new connections per source address per second; more bans the source for --ban-time", "100", false});
  f.add({"ban-time", "SECONDS", "how long a source over the new-connection rate has its connections refused", "30",
         false});
  f.add({"idle-timeout", "SECONDS", "close a keep-alive connection with no request for this long", "60", false});
  f.add({"request-timeout", "SECONDS", "a request must arrive whole within this of its first byte (slow-loris)", "10",
         false});
}

core::Result<void> http_limits_from(const FlagValues& flags, core::HttpServerOptions& out) {
  core::AdmissionLimits& a = out.admission;
  auto num = [&flags](const char* name, long min, long max) -> core::Result<long> { return flags.get_int(name, min, max); };
  auto conns = num("max-connections", 1, 10'000'000);
  auto per_addr = num("max-connections-per-address", 1, 10'000'000);
  auto rate = num("max-new-connections-per-address", 1, 1'000'000);
  auto ban = num("ban-time", 0, 86'400);
  auto idle = num("idle-timeout", 1, 86'400);
  auto request = num("request-timeout", 1, 3600);
  for (const auto* r : {&conns, &per_addr, &rate, &ban, &idle, &request}) {
    if (!*r) return r->error();
  }
  a.max_connections = static_cast<std::size_t>(*conns);
  a.max_per_address = static_cast<std::size_t>(*per_addr);
  a.new_per_address_per_s = static_cast<std::uint32_t>(*rate);
  a.ban = std::chrono::seconds(*ban);
  out.idle_timeout = std::chrono::seconds(*idle);
  out.request_timeout = std::chrono::seconds(*request);
  return {};
}

}  // namespace webtrunk::app
