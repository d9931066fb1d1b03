#include "app/edge_limit_flags.hpp"

#include <string>
#include <type_traits>

namespace webtrunk::app {

void add_limit_flags(FlagSet& f) {
  f.add({"max-connections", "N", "TCP connections per shard on the WebSocket port; more are refused", "20000", false});
  f.add({"max-connections-per-address", "N",
         "open connections per source address (IPv6: per /64) per shard; more are refused. Browsers behind one "
         "NAT share an address: keep it in the hundreds",
         "256", false});
  f.add({"max-new-connections-per-address", "N",
         "new connections per source address per second per shard; more bans the source for --ban-time", "100", false});
  f.add({"max-unauth-requests-per-address", "N",
         "SIP requests per source address per second on connections that have not registered; more closes the "
         "connection (1008) and bans the source for --ban-time",
         "50", false});
  f.add({"ban-time", "SECONDS", "how long a source over a rate has its new connections refused", "30", false});
  f.add({"ws-max-send-queue", "BYTES",
         "unsent bytes per WebSocket connection (the peer does not read); more closes it with 1008", "1048576", false});
  f.add({"ws-partial-timeout", "SECONDS",
         "a partial frame or fragmented WebSocket message must be finished within this; else 1008 (0: never)", "10",
         false});
  f.add({"ws-ping-interval", "SECONDS", "ping a WebSocket peer silent for this long, and again as often (0: never)",
         "30", false});
  f.add({"ws-idle-timeout", "SECONDS",
         "close (1008) a WebSocket on which nothing, not even a pong, arrived for this long (0: never)", "120", false});
  f.add({"ws-close-timeout", "MS",
         "a connection the edge closed is dropped if the peer has not answered the close (or read its output) by "
         "then",
         "2000", false});
  f.add({"max-memory-per-shard", "MIB",
         "ceiling on the WebSocket buffers and send queues of one shard; past it the growing connection is closed "
         "with 1013 and new ones are refused",
         "256", false});
  f.add({"max-calls-per-token", "N",
         "concurrent calls one token id (u= claim, else the account; a legacy token's id) may hold on this edge, "
         "split evenly between shards (each admits ceil(N / shards)); over it an INVITE gets 403 (0: no limit). "
         "An account is held by its tokens' calls= claim",
         "100", false});
  f.add({"log-sample-interval", "SECONDS",
         "repeated refusals from one source are logged once per interval, with a count of those left out", "10",
         false});
}

core::Result<void> limits_from(const FlagValues& flags, edge::EdgeLimits& out) {
  auto num = [&flags](const char* name, long min, long max, auto& field) -> core::Result<void> {
    auto v = flags.get_int(name, min, max);
    if (!v) return v.error();
    field = static_cast<std::remove_reference_t<decltype(field)>>(*v);
    return {};
  };
  auto secs = [&flags](const char* name, long min, long max, core::Duration& field) -> core::Result<void> {
    auto v = flags.get_int(name, min, max);
    if (!v) return v.error();
    field = std::chrono::seconds(*v);
    return {};
  };
  auto millis = [&flags](const char* name, core::Duration& field) -> core::Result<void> {
    auto v = flags.get_int(name, 1, 600'000);
    if (!v) return v.error();
    field = std::chrono::milliseconds(*v);
    return {};
  };
  core::AdmissionLimits& a = out.admission;
  std::size_t mib = 0;
  for (auto r :
       {num("max-connections", 1, 10'000'000, a.max_connections),
        num("max-connections-per-address", 1, 10'000'000, a.max_per_address),
        num("max-new-connections-per-address", 1, 1'000'000, a.new_per_address_per_s),
        num("max-unauth-requests-per-address", 1, 1'000'000, a.unauth_per_address_per_s),
        secs("ban-time", 0, 86'400, a.ban), num("ws-max-send-queue", 4096, 1 << 30, out.max_send_queue),
        secs("ws-partial-timeout", 0, 3600, out.partial_timeout),
        secs("ws-ping-interval", 0, 86'400, out.ping_interval), secs("ws-idle-timeout", 0, 86'400, out.idle_timeout),
        millis("ws-close-timeout", out.close_timeout), num("max-memory-per-shard", 1, 1 << 20, mib),
        secs("log-sample-interval", 0, 3600, out.log_sample_interval),
        num("max-calls-per-token", 0, 0x7fffffff, out.max_calls_per_token)}) {
    if (!r) return r.error();
  }
  out.max_memory_per_shard = mib << 20;
  return {};
}

}  // namespace webtrunk::app
