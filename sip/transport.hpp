// SIP transports (RFC 3261 §18, RFC 7118 for WebSocket) and what the transaction layer needs to
// know about them: whether the transport is reliable, which decides if requests and responses are
// retransmitted (RFC 3261 §17.1.1.2, §17.1.2.2, §17.2.1) and how long a transaction lingers.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace webtrunk::sip {

enum class Transport : std::uint8_t { udp, tcp, tls, ws, wss };

// Everything but UDP delivers in order or reports an error: no retransmissions (RFC 3261 §17).
[[nodiscard]] constexpr bool is_reliable(Transport t) noexcept { return t != Transport::udp; }

// The transport token of a Via sent-protocol: "SIP/2.0/UDP" -> "UDP" (RFC 3261 §20.42, RFC 7118 §5.2).
[[nodiscard]] constexpr std::string_view via_transport_name(Transport t) noexcept {
  switch (t) {
    case Transport::udp: return "UDP";
    case Transport::tcp: return "TCP";
    case Transport::tls: return "TLS";
    case Transport::ws: return "WS";
    case Transport::wss: return "WSS";
  }
  return "UDP";
}

// The value of a URI ";transport=" parameter (RFC 3261 §19.1.1, RFC 7118 §5.3). TLS has none of
// its own: a sips: URI with ";transport=tcp" means TLS; "tls" is what many trunks write anyway.
[[nodiscard]] constexpr std::string_view uri_transport_param(Transport t) noexcept {
  switch (t) {
    case Transport::udp: return "udp";
    case Transport::tcp: return "tcp";
    case Transport::tls: return "tls";
    case Transport::ws: return "ws";
    case Transport::wss: return "wss";
  }
  return "udp";
}

// Reads a Via transport token or a ;transport= value, case-insensitively. nullopt for SCTP and
// anything else the edge does not speak.
[[nodiscard]] constexpr std::optional<Transport> transport_from_name(std::string_view name) noexcept {
  auto eq = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      const char c = (a[i] >= 'A' && a[i] <= 'Z') ? static_cast<char>(a[i] + 32) : a[i];
      if (c != b[i]) return false;
    }
    return true;
  };
  if (eq(name, "udp")) return Transport::udp;
  if (eq(name, "tcp")) return Transport::tcp;
  if (eq(name, "tls")) return Transport::tls;
  if (eq(name, "ws")) return Transport::ws;
  if (eq(name, "wss")) return Transport::wss;
  return std::nullopt;
}

}  // namespace webtrunk::sip
