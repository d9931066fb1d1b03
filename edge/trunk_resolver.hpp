// TrunkResolver: the trunk names of the route tables resolved with c-ares on a thread of its own
// (never on a shard), cached by TTL, refreshed before they expire, and published per trunk as an
// immutable ordered target list (edge/trunk_targets.hpp) that the shards read without a lock.
//
//   HOST with :PORT           A/AAAA of HOST (RFC 3263 §4.2)
//   HOST without a port       NAPTR of HOST -> the SRV names of the transports the edge speaks (the
//                             route's alone if it names one) -> SRV ordered by priority and weight
//                             (RFC 2782) -> A/AAAA of each target; no SRV: A/AAAA of HOST on 5060
//
// A name that does not resolve is logged and counted, its slot says why (calls routed to it get 503
// with that reason), and it is tried again with a backoff (1 s doubling to 60 s). A refresh that
// fails keeps the last good targets until their TTL runs out. TTLs are clamped to [min_ttl, max_ttl];
// a refresh starts at three quarters of the TTL.
//
// Bounds: at most max_names names (more are refused with a log line and a metric; their calls get
// 503), at most max_targets targets per name (the first ones in RFC 3263 order). A name no table
// uses any more is dropped at its next refresh.
//
// Threads: attach() and wait_settled() from the thread that builds route tables (start-up, reload);
// everything else on the resolver's thread. The slots are the only thing shared with the shards.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/metrics.hpp"
#include "core/result.hpp"
#include "edge/routes.hpp"

namespace webtrunk::edge {

inline const core::Counter kDnsLookups{"webtrunk_dns_lookups_total", "trunk name resolutions (each name's NAPTR/SRV/A/AAAA chain once)"};
inline const core::Counter kDnsFailures{"webtrunk_dns_failures_total",
                                        "trunk name resolutions that gave no target (NXDOMAIN, no records, timeout)"};
inline const core::Counter kDnsNamesRefused{"webtrunk_dns_names_refused_total",
                                            "trunk names not resolved: more than the resolver keeps (their calls get 503)"};
inline const core::Gauge kDnsUnresolved{"webtrunk_dns_unresolved_names", "trunk names with no target now"};

struct TrunkResolverConfig {
  std::vector<std::string> servers;  // "IP" or "IP:PORT" ("[V6]:PORT"); empty: /etc/resolv.conf
  std::chrono::seconds min_ttl{5};
  std::chrono::seconds max_ttl{3600};
  std::chrono::milliseconds query_timeout{1000};  // per try, per server
  int tries = 2;
  std::size_t max_names = 256;
  std::size_t max_targets = 16;
};

class TrunkResolver {
 public:
  // Starts the thread. Error: c-ares cannot start or a --dns-server is not an address.
  static core::Result<std::unique_ptr<TrunkResolver>> start(TrunkResolverConfig config);
  ~TrunkResolver();  // stops and joins the thread
  TrunkResolver(const TrunkResolver&) = delete;
  TrunkResolver& operator=(const TrunkResolver&) = delete;

  // The routes of `table` that name a host get their targets from here from now on: a name already
  // known gets its current targets at once (a reload loses nothing), a new one is looked up.
  void attach(const RouteTable& table);
  // Waits until every name attached so far has been tried once (or `limit` passes): the start-up
  // code calls it so that the first calls find the targets. True if all were tried.
  bool wait_settled(std::chrono::milliseconds limit);

  struct Impl;

 private:
  explicit TrunkResolver(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace webtrunk::edge
