// Helpers shared by the WsConnection tests: events with their views copied, client frames,
// a decoder for server frames and a harness that feeds one connection on a fake clock.
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <initializer_list>
#include <ostream>
#include <string>
#include <vector>

#include "core/ws_connection.hpp"

namespace webtrunk::core::test {

// An event with its views copied, so tests can keep it after the next call.
struct Ev {
  enum Kind { upgraded, message, closed, http_request, rejected } kind{};
  std::string a, b, c, d;  // upgraded: path host origin subprotocol; message: payload; closed: reason;
                           // http_request: method target raw_head; rejected: why
  int code = 0;            // message: opcode; closed: code; rejected: status
  bool remote = false;
  bool operator==(const Ev&) const = default;
};

inline void PrintTo(const Ev& e, std::ostream* os) {
  *os << "{kind=" << e.kind << " code=" << e.code << " remote=" << e.remote << " a=\"" << e.a.substr(0, 40) << "\" b=\""
      << e.b << "\" c=\"" << e.c.substr(0, 40) << "\" d=\"" << e.d << "\"}";
}

inline std::string str(std::span<const std::byte> b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }
inline std::vector<std::byte> vec(std::string_view s) {
  auto p = reinterpret_cast<const std::byte*>(s.data());
  return {p, p + s.size()};
}

inline Ev own(const WsEvent& e) {
  using S = std::string;
  if (auto* u = std::get_if<WsUpgraded>(&e)) {
    return {Ev::upgraded, S(u->path), S(u->host), S(u->origin), S(u->subprotocol), 0, false};
  }
  if (auto* m = std::get_if<WsMessage>(&e)) return {Ev::message, str(m->payload), {}, {}, {}, int(m->opcode), false};
  if (auto* c = std::get_if<WsClosed>(&e)) return {Ev::closed, S(c->reason), {}, {}, {}, c->code, c->remote};
  if (auto* h = std::get_if<WsHttpRequest>(&e))
    return {Ev::http_request, S(h->method), S(h->target), S(h->raw_head), {}, 0, false};
  const auto& r = std::get<WsRejected>(e);
  return {Ev::rejected, S(r.why), {}, {}, {}, r.status, false};
}

inline Ev msg(std::string_view payload, WsOpcode op = WsOpcode::text) {
  return {Ev::message, std::string(payload), {}, {}, {}, static_cast<int>(op), false};
}
inline Ev closed(int code, std::string_view reason, bool remote) {
  return {Ev::closed, std::string(reason), {}, {}, {}, code, remote};
}

constexpr std::string_view kRfcKey = "dGhlIHNhbXBsZSBub25jZQ==";  // RFC 6455 §1.3

inline std::string upgrade_request(std::string_view extra = "Sec-WebSocket-Protocol: sip\r\n",
                                   std::string_view key = kRfcKey) {
  return "GET /ws?token=abc HTTP/1.1\r\n"
         "Host: edge.test\r\n"
         "Upgrade: websocket\r\n"
         "Connection: Upgrade\r\n"
         "Origin: https://app.example\r\n"
         "Sec-WebSocket-Version: 13\r\n"
         "Sec-WebSocket-Key: " +
         std::string(key) + "\r\n" + std::string(extra) + "\r\n";
}

constexpr std::array<std::byte, 4> kMask{std::byte{0x37}, std::byte{0xfa}, std::byte{0x21}, std::byte{0x3d}};

inline std::vector<std::byte> frame(WsOpcode op, std::string_view payload, bool fin = true) {
  std::vector<std::byte> out;
  append_client_frame(out, op, vec(payload), kMask, fin);
  return out;
}
inline std::vector<std::byte> raw(std::initializer_list<int> v) {
  std::vector<std::byte> out;
  for (int b : v) out.push_back(static_cast<std::byte>(b));
  return out;
}
inline std::vector<std::byte> cat(std::initializer_list<std::vector<std::byte>> parts) {
  std::vector<std::byte> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
inline std::string close_body(int code, std::string_view reason = {}) {
  std::string s{static_cast<char>(code >> 8), static_cast<char>(code & 0xff)};
  return s + std::string(reason);
}

// Decodes server frames (unmasked) from the output.
struct OutFrame {
  WsOpcode op;
  bool fin;
  std::string payload;
  bool operator==(const OutFrame&) const = default;
};
inline std::vector<OutFrame> decode(std::string_view out) {
  std::vector<OutFrame> frames;
  auto b = std::span<const std::byte>(reinterpret_cast<const std::byte*>(out.data()), out.size());
  WsFrameRules rules{1 << 24, false, false};
  while (!b.empty()) {
    WsFrameHeader h;
    auto r = parse_frame_header(b, rules, h);
    EXPECT_EQ(r.status, ParseStatus::ok);
    if (r.status != ParseStatus::ok || h.frame_size() > b.size()) break;
    frames.push_back({h.opcode, h.fin, str(b.subspan(h.header_size, h.payload_size))});
    b = b.subspan(h.frame_size());
  }
  return frames;
}

struct Harness {
  explicit Harness(WsLimits limits = {}) { config.limits = limits; }
  WsConfig config;
  WsConnection conn{config};
  Instant now{};  // the fake clock: what feed() passes as `now`

  // Each segment gets its own heap buffer, freed once drained: a view or pointer the connection
  // kept past that point is a use-after-free under ASan.
  std::vector<Ev> feed(std::span<const std::byte> bytes) {
    std::vector<std::byte> buf(bytes.begin(), bytes.end());
    conn.handle_bytes(now, buf);
    return drain();
  }
  std::vector<Ev> feed(std::string_view s) {
    const auto v = vec(s);
    return feed(std::span<const std::byte>(v));
  }
  std::vector<Ev> drain() {
    std::vector<Ev> evs;
    while (auto e = conn.poll_event()) evs.push_back(own(*e));
    return evs;
  }
  std::string take_output() {
    std::string s = str(conn.pending_output());
    conn.consume_output(s.size());
    return s;
  }
  // Upgrades and drops the 101.
  void open() {
    auto evs = feed(upgrade_request());
    ASSERT_EQ(evs.size(), 1u);
    ASSERT_EQ(evs[0].kind, Ev::upgraded);
    take_output();
  }
};

}  // namespace webtrunk::core::test
