// Call routing: which SIP trunk a call goes to, by the called number (the Request-URI user).
//
//   --trunk udp:HOST:PORT     every call goes there (a table with one "*" entry); tcp:HOST:PORT for a
//                             TCP trunk (one connection per trunk address per shard: edge/edge_shard.hpp),
//                             tls:HOST:PORT for TLS on it (the certificate checked against HOST);
//                             udp:HOST, tcp:HOST, tls:HOST or HOST alone (a name): RFC 3263 NAPTR/SRV lookups
//   --routes FILE             one route per line: "PREFIX TRUNK [user=NAME password-file=FILE]
//                             [register=yes [register-expires=SECONDS]]", TRUNK as for --trunk;
//                             '#' starts a comment; the longest matching prefix wins; "*" is the
//                             default route
//   --trunk-user NAME --trunk-password-file FILE   credentials for --trunk
//   --trunk-register, --trunk-register-expires S   register=yes, register-expires= for --trunk
//   --trunk-tcp-fallback                           tcp-fallback=yes for --trunk
//
// tcp-fallback=yes: a request to a UDP target longer than 1,300 bytes (an INVITE with a big SDP)
// goes over TCP to the same address instead, and the rest of that call follows (RFC 3261 §18.1.1);
// without it, it goes over UDP and is counted (webtrunk_trunk_udp_oversize_total).
//
// register=yes: the edge REGISTERs itself with that trunk as USER (edge/trunk_registrations.hpp);
// it needs user= and password-file=. register-expires (60-86400, default 600) is what it asks for.
//
// Credentials answer the trunk's digest challenges (edge/trunk_auth.hpp). The password file's first
// line is the password (trailing CR/LF/blanks dropped); it is read when the table is built (at
// start and on every reload) and never logged.
//
// A leading '+' is ignored on both sides, so "+1555" and "1555" are the same prefix. HOST is an
// IPv4 address, a bracketed IPv6 address or a name. An address is the trunk's one target; a name is
// resolved off the shards by edge/trunk_resolver.hpp (A/AAAA with a :PORT; RFC 3263 NAPTR -> SRV ->
// A/AAAA without), which publishes the ordered targets in the route's TargetSlot.
//
// Each route's calls are counted under its own labels in /metrics (edge/route_metrics.hpp): route =
// the prefix as written ("+1555", "*"), trunk = the spec; the same labels after a reload keep counting.
//
// Lifetimes: a RouteTable is immutable once built and shared read-only by every shard (as a
// shared_ptr, swapped whole on reload: app/routes_reloader.hpp); the TrunkTarget pointers lookup()
// hands out live as long as the table, so a call keeps its table alive (an aliasing shared_ptr).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/metrics.hpp"
#include "core/result.hpp"
#include "core/socket.hpp"
#include "edge/trunk_auth.hpp"
#include "edge/trunk_targets.hpp"
#include "sip/transport.hpp"

namespace webtrunk::edge {

struct TrunkTarget {
  std::string spec;       // as configured: "udp:10.0.0.5:5060"
  sip::Transport transport = sip::Transport::udp;  // udp, tcp or tls (a bare name: udp unless NAPTR/SRV say otherwise)
  std::string host;       // as written, IPv6 without brackets: the host part of the trunk To/R-URI
  std::uint16_t port = 5060;
  core::SockAddr addr;    // an IP literal's address; unset for a name (see targets)
  bool ipv6_literal = false;
  bool srv = false;              // a name without :PORT: RFC 3263 NAPTR/SRV lookups
  bool transport_given = true;   // false for a bare name: NAPTR/SRV choose
  // Where requests go, in order (the literal alone, or what the name resolved to); shared with the
  // resolver, which fills it. Never null in a parsed table.
  std::shared_ptr<TargetSlot> targets;
  TrunkCredentials credentials;  // empty: the trunk trusts our address
  std::string password_file;     // where credentials.password came from ("" without credentials)
  core::SeriesId series = 0;     // the route's label set in /metrics (edge/route_metrics.hpp)
  bool register_with = false;          // register=yes: the edge REGISTERs with this trunk
  std::uint32_t register_expires = 600;  // register-expires=
  // tcp-fallback=yes: a request over kUdpMtuLimit bytes to a UDP target goes over TCP to the same
  // address, and the rest of its call follows (RFC 3261 §18.1.1).
  bool tcp_fallback = false;
  static constexpr std::size_t kUdpMtuLimit = 1300;

  // "host:port" (IPv6 in brackets), for Request-URIs toward the trunk; the name alone when SRV
  // chooses the port (RFC 3263 §4.2: the URI keeps the domain).
  std::string hostport() const;
  bool by_name() const noexcept { return !addr.is_set(); }
  // The current targets (a snapshot: the call keeps it for its failover).
  std::shared_ptr<const TrunkTargets> resolved() const;
};

// "udp:HOST:PORT", "tcp:HOST:PORT", "tls:HOST:PORT", the same without ":PORT", or "HOST" -> a target.
core::Result<TrunkTarget> parse_trunk(std::string_view text);

class RouteTable {
 public:
  struct Route {
    std::string prefix;  // digits as written without a leading '+'; "*" for the default
    TrunkTarget trunk;
  };

  RouteTable() = default;

  // Every call to one trunk.
  static core::Result<RouteTable> single(std::string_view trunk, std::string_view user = {},
                                         std::string_view password_file = {}, bool register_with = false,
                                         std::uint32_t register_expires = kDefaultRegisterExpires,
                                         bool tcp_fallback = false);
  static constexpr std::uint32_t kDefaultRegisterExpires = 600;
  // File content; `source` names it in errors ("routes.txt:3: ...").
  static core::Result<RouteTable> parse(std::string_view content, std::string_view source);
  static core::Result<RouteTable> load_file(const std::string& path);

  // The route for `number` (longest prefix, else "*"), or nullptr: no route.
  const TrunkTarget* lookup(std::string_view number) const noexcept;
  // True when `addr`'s IP address (any port: a trunk may send from another port than it listens on)
  // is one of the routes' trunks.
  [[nodiscard]] bool is_trunk_address(const core::SockAddr& addr) const noexcept;
  // True when a route sends to `addr` (IP and port) over TCP or TLS (a name's current targets included).
  [[nodiscard]] bool is_tcp_trunk(const core::SockAddr& addr) const noexcept;
  // The first tls: route's trunk at `addr` (its host is the name the certificate must carry; a name's
  // current targets included), or nullptr when no route sends there over TLS.
  [[nodiscard]] const TrunkTarget* tls_trunk(const core::SockAddr& addr) const noexcept;
  // The trunk names (routes whose HOST is not an address), for the resolver.
  std::vector<const TrunkTarget*> named_trunks() const;

  const std::vector<Route>& routes() const noexcept { return routes_; }
  // The password files the routes name (a reload re-reads them; the file watch checks them).
  std::vector<std::string> password_files() const;
  bool empty() const noexcept { return routes_.empty(); }

 private:
  void index_tcp();
  std::vector<Route> routes_;  // sorted by prefix length, longest first; "*" last
  std::vector<core::SockAddr> tcp_trunks_;  // distinct addresses of the tcp:/tls: routes (per message: not every route)
  std::vector<std::size_t> tls_routes_;     // indices of the tls: routes
  std::vector<const TargetSlot*> named_;      // the slots of routes by name (their addresses change)
  std::vector<const TargetSlot*> named_tcp_;  // those that may resolve to TCP or TLS (tcp:, tls: or a bare name): per message
};

}  // namespace webtrunk::edge
