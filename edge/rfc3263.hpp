// RFC 3263 §4 choices made from DNS answers, without any DNS: which SRV names the NAPTR records
// point to, and the order SRV targets are tried in (RFC 2782). The lookups themselves are
// edge/trunk_resolver.hpp's (c-ares); these are pure functions so that tests feed them records.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sip/transport.hpp"

namespace webtrunk::edge {

struct NaptrRecord {
  std::uint16_t order = 0;
  std::uint16_t preference = 0;
  std::string flags;        // "s": the replacement is an SRV name
  std::string service;      // "SIP+D2U", "SIP+D2T", "SIPS+D2T", "SIP+D2S"
  std::string replacement;  // "_sip._udp.example.com"
};

struct SrvRecord {
  std::uint16_t priority = 0;
  std::uint16_t weight = 0;
  std::uint16_t port = 0;
  std::string target;  // "." or "": the service is not offered there (RFC 2782)
};

struct SrvQuery {
  sip::Transport transport = sip::Transport::udp;
  std::string name;  // "_sip._udp.example.com"
};

// The transport a NAPTR service names, if it is one of SIP's (RFC 3263 §4.1, RFC 3261 §26.5).
std::optional<sip::Transport> naptr_transport(std::string_view service) noexcept;

// RFC 3263 §4.1: the SRV names to query, from the NAPTR answers for a host: "s" records whose
// service is a transport in `usable` (only `wanted` if the route names one), in NAPTR order then
// preference. Empty: no usable record (then srv_without_naptr).
std::vector<SrvQuery> srv_from_naptr(std::vector<NaptrRecord> records, std::optional<sip::Transport> wanted,
                                     std::span<const sip::Transport> usable);

// RFC 3263 §4.1 without NAPTR: _sip._udp.HOST, _sip._tcp.HOST (_sips._tcp.HOST for TLS), for `wanted`
// alone or every transport of `usable` in its order.
std::vector<SrvQuery> srv_without_naptr(std::string_view host, std::optional<sip::Transport> wanted,
                                        std::span<const sip::Transport> usable);

// RFC 2782: ascending priority; within one priority, a weighted random order (each pick chooses a
// record with probability about weight/sum of the weights left; a weight 0 record goes first only
// when the draw is 0). `random(n)` returns a uniform integer in [0, n]. Targets "." are dropped.
std::vector<SrvRecord> order_srv(std::vector<SrvRecord> records, const std::function<std::uint32_t(std::uint32_t)>& random);

// The default port of a transport when SRV gives none (RFC 3261 §19.1.2: 5060, 5061 for TLS).
constexpr std::uint16_t default_sip_port(sip::Transport t) noexcept { return t == sip::Transport::tls ? 5061 : 5060; }

}  // namespace webtrunk::edge
