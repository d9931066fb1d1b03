// Call routing: which SIP trunk a call goes to, by the called number (the Request-URI user).
//
//   --trunk udp:HOST:PORT     every call goes there (a table with one "*" entry); tcp:HOST:PORT for a
//                             TCP trunk (one connection per trunk address per shard: edge/trunk_links.hpp)
//   --routes FILE             one route per line: "PREFIX udp|tcp:HOST:PORT [user=NAME password-file=FILE]
//                             [register=yes [register-expires=SECONDS]]";
//                             '#' starts a comment; the longest matching prefix wins; "*" is the
//                             default route
//   --trunk-user NAME --trunk-password-file FILE   credentials for --trunk
//   --trunk-register, --trunk-register-expires S   register=yes, register-expires= for --trunk
//
// register=yes: the edge REGISTERs itself with that trunk as USER (edge/trunk_registrations.hpp);
// it needs user= and password-file=. register-expires (60-86400, default 600) is what it asks for.
//
// Credentials answer the trunk's digest challenges (edge/trunk_auth.hpp). The password file's first
// line is the password (trailing CR/LF/blanks dropped); it is read when the table is built (at
// start and on every reload) and never logged.
//
// A leading '+' is ignored on both sides, so "+1555" and "1555" are the same prefix. HOST is an
// IPv4 address, a bracketed IPv6 address or a name, resolved once when the table is built
// (start-up code: errors name the file and line).
//
// Lifetimes: a RouteTable is immutable once built and shared read-only by every shard (as a
// shared_ptr, swapped whole on reload: app/routes_reloader.hpp); the TrunkTarget pointers lookup()
// hands out live as long as the table, so a call keeps its table alive (an aliasing shared_ptr).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "core/socket.hpp"
#include "edge/trunk_auth.hpp"
#include "sip/transport.hpp"

namespace webtrunk::edge {

struct TrunkTarget {
  std::string spec;       // as configured: "udp:10.0.0.5:5060"
  sip::Transport transport = sip::Transport::udp;  // udp or tcp
  std::string host;       // as written, IPv6 without brackets: the host part of the trunk To/R-URI
  std::uint16_t port = 5060;
  core::SockAddr addr;    // resolved
  bool ipv6_literal = false;
  TrunkCredentials credentials;  // empty: the trunk trusts our address
  std::string password_file;     // where credentials.password came from ("" without credentials)
  bool register_with = false;          // register=yes: the edge REGISTERs with this trunk
  std::uint32_t register_expires = 600;  // register-expires=

  // "host:port" (IPv6 in brackets), for Request-URIs toward the trunk.
  std::string hostport() const;
};

// "udp:HOST:PORT" or "tcp:HOST:PORT" -> a resolved target (TLS comes later).
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
                                         std::uint32_t register_expires = kDefaultRegisterExpires);
  static constexpr std::uint32_t kDefaultRegisterExpires = 600;
  // File content; `source` names it in errors ("routes.txt:3: ...").
  static core::Result<RouteTable> parse(std::string_view content, std::string_view source);
  static core::Result<RouteTable> load_file(const std::string& path);

  // The route for `number` (longest prefix, else "*"), or nullptr: no route.
  const TrunkTarget* lookup(std::string_view number) const noexcept;
  // True when `addr`'s IP address (any port: a trunk may send from another port than it listens on)
  // is one of the routes' trunks.
  [[nodiscard]] bool is_trunk_address(const core::SockAddr& addr) const noexcept;
  // True when a route sends to `addr` (IP and port) over TCP.
  [[nodiscard]] bool is_tcp_trunk(const core::SockAddr& addr) const noexcept;

  const std::vector<Route>& routes() const noexcept { return routes_; }
  // The password files the routes name (a reload re-reads them; the file watch checks them).
  std::vector<std::string> password_files() const;
  bool empty() const noexcept { return routes_.empty(); }

 private:
  void index_tcp();
  std::vector<Route> routes_;  // sorted by prefix length, longest first; "*" last
  std::vector<core::SockAddr> tcp_trunks_;  // distinct addresses of the tcp: routes (per message: not every route)
};

}  // namespace webtrunk::edge
