// libFuzzer target: a WsConnection after a valid upgrade, fed arbitrary bytes in data-chosen
// pieces, with data-chosen limits and application calls in between. Input layout:
//   byte 0: seed for the piece sizes; byte 1: limits and actions; the rest: bytes from the "browser".
// Each piece lives in its own exact-size heap buffer that is freed once drained, so a view kept
// past its lifetime, or any over-read, is an ASan report.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>
#include <vector>

#include "core/websocket_frame.hpp"
#include "core/ws_connection.hpp"

namespace {

using namespace webtrunk::core;

void check(bool ok) {
  if (!ok) std::abort();
}

constexpr std::string_view kUpgrade =
    "GET /ws HTTP/1.1\r\nHost: edge.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Protocol: sip\r\n\r\n";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  std::uint32_t rng = data[0] * 2654435761u + 1;
  const std::uint8_t flags = data[1];
  data += 2;
  size -= 2;

  WsConfig config;
  if (flags & 1) {  // small limits reach the 1009 paths quickly
    config.limits.max_frame_bytes = 64;
    config.limits.max_message_bytes = 160;
  }
  if (flags & 32) {  // a small send queue and short timers reach the 1008 paths quickly
    config.limits.max_output_bytes = 512;
    config.limits.partial_timeout = std::chrono::seconds(3);
    config.limits.ping_interval = std::chrono::seconds(2);
    config.limits.idle_timeout = std::chrono::seconds(5);
  }
  WsConnection conn(config);
  {
    std::vector<std::byte> up(reinterpret_cast<const std::byte*>(kUpgrade.data()),
                              reinterpret_cast<const std::byte*>(kUpgrade.data()) + kUpgrade.size());
    conn.handle_bytes(Instant{}, up);
    auto ev = conn.poll_event();
    check(ev && std::holds_alternative<WsUpgraded>(*ev));
    check(!conn.poll_event());
    conn.consume_output(conn.pending_output().size());
  }

  Instant now{};  // the fake clock: a data-chosen 0-7 s between pieces, timers fired on the way
  volatile unsigned sink = 0;
  bool closed_seen = false;
  std::vector<std::byte> sent;
  std::size_t off = 0;
  while (off < size) {
    rng = rng * 1103515245u + 12345u;
    const std::size_t n = std::min<std::size_t>(size - off, 1 + (rng >> 16) % 97);
    std::vector<std::byte> piece(reinterpret_cast<const std::byte*>(data + off),
                                 reinterpret_cast<const std::byte*>(data + off + n));
    off += n;
    now += std::chrono::seconds((rng >> 8) % 8);
    if (auto t = conn.poll_timeout(); t && *t <= now) conn.handle_timeout(now);
    conn.handle_bytes(now, piece);
    while (auto ev = conn.poll_event()) {
      check(!closed_seen);  // nothing after Closed
      if (auto* m = std::get_if<WsMessage>(&*ev)) {
        check(m->opcode == WsOpcode::text || m->opcode == WsOpcode::binary);
        check(m->payload.size() <= config.limits.max_message_bytes);
        if (m->opcode == WsOpcode::text) check(is_valid_utf8(m->payload));
        for (std::byte b : m->payload) sink = sink + std::to_integer<unsigned>(b);
        if (flags & 2) {  // echo, as a SIP reply would
          static_cast<void>(m->opcode == WsOpcode::text ? conn.send_text(m->text()) : conn.send_binary(m->payload));
        }
        if (flags & 4)
          static_cast<void>(conn.send_ping(m->payload.first(std::min<std::size_t>(m->payload.size(), 125))));
        if ((flags & 8) && m->payload.size() % 7 == 0) conn.close(kWsCloseNormal, m->text().substr(0, 200));
      } else if (auto* c = std::get_if<WsClosed>(&*ev)) {
        closed_seen = true;
        check(conn.wants_close());
        check(c->reason.size() <= 125);
        for (char ch : c->reason) sink = sink + static_cast<unsigned char>(ch);
      } else {
        check(false);  // no HTTP events after the upgrade
      }
    }
    // Unsent output stays within the bound, plus the one close frame that may pass it.
    check(conn.pending_output().size() <= config.limits.max_output_bytes + kWsMaxServerHeader + kWsMaxControlPayload);
    // Send some of the output, as a socket would.
    const auto pending = conn.pending_output();
    if (!pending.empty()) {
      const std::size_t take = (flags & 16) ? pending.size() / 2 + 1 : pending.size();
      sent.insert(sent.end(), pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(take));
      conn.consume_output(take);
    }
    if (conn.pending_output().empty()) {
      // Bounded by the limits, never by the input size: partial frame + reassembly buffer.
      const std::size_t bound =
          2 * (config.limits.max_frame_bytes + kWsMaxHeader) + 2 * config.limits.max_message_bytes + 1024;
      check(conn.heap_bytes() <= bound);
    }
  }
  const auto rest = conn.pending_output();
  sent.insert(sent.end(), rest.begin(), rest.end());
  conn.consume_output(rest.size());

  // Everything sent is a sequence of whole, well-formed, unmasked server frames.
  std::span<const std::byte> out(sent);
  WsFrameRules rules;
  rules.require_mask = false;
  rules.max_payload = 1u << 30;
  bool close_sent = false;
  while (!out.empty()) {
    WsFrameHeader h;
    check(parse_frame_header(out, rules, h).status == ParseStatus::ok);
    check(!h.masked && h.fin && h.frame_size() <= out.size());
    check(!close_sent);  // nothing after our close frame (RFC 6455 §5.5.1)
    const auto payload = out.subspan(h.header_size, static_cast<std::size_t>(h.payload_size));
    if (h.opcode == WsOpcode::close) {
      close_sent = true;
      std::uint16_t code = 0;
      std::string_view reason;
      check(parse_close_payload(payload, code, reason) == 0 && code != kWsCloseNoStatus);
    }
    if (h.opcode == WsOpcode::text) check(is_valid_utf8(payload));
    out = out.subspan(static_cast<std::size_t>(h.frame_size()));
  }
  return 0;
}
