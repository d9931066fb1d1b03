// WebSocket receive path: frame-header parse + in-place unmask (RFC 6455 §5.2, §5.3), alone and
// through WsConnection, for the 1 KB frames SIP signalling produces and for a 64 KB frame.
// Run: ./build/bench/webtrunk_microbench --benchmark_filter=WebSocket
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "core/websocket_frame.hpp"
#include "core/ws_connection.hpp"

namespace {

using namespace webtrunk::core;

constexpr std::array<std::byte, 4> kKey{std::byte{0x37}, std::byte{0xfa}, std::byte{0x21}, std::byte{0x3d}};
constexpr std::array<std::byte, 4> kZeroKey{};  // keeps text valid across in-place unmasking rounds

// `count` masked client frames of `size` bytes each, back to back, as one receive buffer holds them.
std::vector<std::byte> frames(WsOpcode op, std::size_t size, std::size_t count, std::array<std::byte, 4> key) {
  std::vector<std::byte> payload(size);
  for (std::size_t i = 0; i < size; ++i) payload[i] = static_cast<std::byte>('a' + i % 26);
  std::vector<std::byte> out;
  for (std::size_t i = 0; i < count; ++i) append_client_frame(out, op, payload, key);
  return out;
}

// Parse + unmask only: what the codec costs per byte.
void parse_and_unmask(benchmark::State& state, std::size_t size, std::size_t count) {
  auto buf = frames(WsOpcode::binary, size, count, kKey);
  const WsFrameRules rules{};
  for (auto _ : state) {
    std::span<std::byte> rest(buf);
    while (!rest.empty()) {
      WsFrameHeader h;
      if (parse_frame_header(rest, rules, h).status != ParseStatus::ok) state.SkipWithError("parse");
      ws_unmask(rest.subspan(h.header_size, static_cast<std::size_t>(h.payload_size)), h.mask);
      rest = rest.subspan(static_cast<std::size_t>(h.frame_size()));
    }
    benchmark::DoNotOptimize(buf.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size * count));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * count));
}

void BM_WebSocketParseUnmask1K(benchmark::State& state) { parse_and_unmask(state, 1024, 64); }
void BM_WebSocketParseUnmask64K(benchmark::State& state) { parse_and_unmask(state, 65536, 1); }
BENCHMARK(BM_WebSocketParseUnmask1K);
BENCHMARK(BM_WebSocketParseUnmask64K);

// The whole receive path of an open connection: handle_bytes + poll_event per segment.
void connection(benchmark::State& state, WsOpcode op, std::size_t size, std::size_t count) {
  WsConfig config;
  WsConnection conn(config);
  std::string_view up =
      "GET / HTTP/1.1\r\nHost: e\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: sip\r\n\r\n";
  std::vector<std::byte> head(reinterpret_cast<const std::byte*>(up.data()),
                              reinterpret_cast<const std::byte*>(up.data()) + up.size());
  conn.handle_bytes(Instant{}, head);
  while (conn.poll_event()) {
  }
  conn.consume_output(conn.pending_output().size());

  // Text uses a zero key: the XOR work is the same, and the payload stays valid UTF-8 when the
  // same buffer is unmasked again on the next round.
  auto buf = frames(op, size, count, op == WsOpcode::text ? kZeroKey : kKey);
  std::size_t messages = 0;
  for (auto _ : state) {
    conn.handle_bytes(Instant{}, buf);
    while (auto ev = conn.poll_event()) messages += std::holds_alternative<WsMessage>(*ev);
  }
  if (messages != state.iterations() * count) state.SkipWithError("lost messages");
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size * count));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * count));
  state.counters["heap_bytes_idle"] = static_cast<double>(conn.heap_bytes());
  state.counters["sizeof_conn"] = static_cast<double>(sizeof(WsConnection));
}

void BM_WebSocketConnectionBinary1K(benchmark::State& state) { connection(state, WsOpcode::binary, 1024, 64); }
void BM_WebSocketConnectionText1K(benchmark::State& state) { connection(state, WsOpcode::text, 1024, 64); }
void BM_WebSocketConnectionBinary64K(benchmark::State& state) { connection(state, WsOpcode::binary, 65536, 1); }
BENCHMARK(BM_WebSocketConnectionBinary1K);
BENCHMARK(BM_WebSocketConnectionText1K);
BENCHMARK(BM_WebSocketConnectionBinary64K);

// A 1 KB frame split across two segments: the copy path a partial frame takes.
void BM_WebSocketConnectionSplit1K(benchmark::State& state) {
  WsConfig config;
  WsConnection conn(config);
  std::string_view up =
      "GET / HTTP/1.1\r\nHost: e\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: sip\r\n\r\n";
  std::vector<std::byte> head(reinterpret_cast<const std::byte*>(up.data()),
                              reinterpret_cast<const std::byte*>(up.data()) + up.size());
  conn.handle_bytes(Instant{}, head);
  while (conn.poll_event()) {
  }
  auto buf = frames(WsOpcode::binary, 1024, 1, kKey);
  const std::size_t cut = buf.size() / 2;
  for (auto _ : state) {
    conn.handle_bytes(Instant{}, std::span(buf).first(cut));
    while (conn.poll_event()) {
    }
    conn.handle_bytes(Instant{}, std::span(buf).subspan(cut));
    while (auto ev = conn.poll_event()) benchmark::DoNotOptimize(ev);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * 1024));
}
BENCHMARK(BM_WebSocketConnectionSplit1K);

void BM_WebSocketUtf8Validate1K(benchmark::State& state) {
  std::vector<std::byte> text(1024);
  for (std::size_t i = 0; i < text.size(); ++i) text[i] = static_cast<std::byte>('a' + i % 26);
  for (auto _ : state) benchmark::DoNotOptimize(is_valid_utf8(text));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_WebSocketUtf8Validate1K);

}  // namespace
