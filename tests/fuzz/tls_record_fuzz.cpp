// libFuzzer target: a TlsStream server after a completed in-memory handshake, fed records: valid
// ones the client seals from fuzz data, key updates, close_notify, and raw or corrupted bytes, cut
// into data-chosen pieces. Input layout: byte 0 = flags (bit 0: TLS 1.2; bit 1: the server echoes
// what it reads), then steps framed as in fuzz_steps.hpp:
//   0 raw bytes to the server        1 the client writes the bytes (valid records)
//   2 the client sends a KeyUpdate   3 the server writes the bytes to the client
//   4 the client closes              5 flip one bit of the client's next output (bytes: where, which)
//   6 the handshake deadline passes  7 the client's output goes over one byte at a time
// Checks: the server reads exactly what the client wrote while nothing was tampered with; nothing
// after Closed/Failed; buffers stay within their bounds.
#include <openssl/ssl.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "core/log.hpp"
#include "core/tls_certificate.hpp"
#include "core/tls_context.hpp"
#include "core/tls_stream.hpp"
#include "tests/fuzz/fuzz_steps.hpp"

namespace {

using namespace webtrunk::core;

void check(bool ok) {
  if (!ok) std::abort();
}

struct Contexts {
  std::shared_ptr<const TlsContext> server;
  std::shared_ptr<const TlsContext> client13;
  std::shared_ptr<const TlsContext> client12;
};

const Contexts& contexts() {
  static const Contexts c = [] {
    set_log_level(LogLevel::error);
    TlsCertSpec ca_spec;
    ca_spec.ca = true;
    ca_spec.common_name = "fuzz CA";
    const TlsPem ca = make_tls_certificate(ca_spec).value();
    TlsCertSpec leaf;
    leaf.common_name = "edge.example";
    leaf.dns_names = {"edge.example"};
    const TlsPem edge = make_tls_certificate(leaf, &ca).value();
    TlsServerConfig sc;
    sc.certs = {TlsCertFiles{"", "", edge.cert, edge.key}};
    Contexts out;
    out.server = TlsContext::server(sc).value();
    TlsClientConfig cc;
    cc.system_cas = false;
    cc.extra_ca_pem = ca.cert;
    out.client13 = TlsContext::client(cc).value();
    cc.max_version = TlsVersion::tls1_2;
    out.client12 = TlsContext::client(cc).value();
    return out;
  }();
  return c;
}

struct Side {
  explicit Side(TlsStream s) : stream(std::move(s)) {}
  TlsStream stream;
  std::string read;
  bool ended = false;
  bool failed = false;
};

void drain(Side& side, bool echo) {
  for (int i = 0; i < 1024; ++i) {
    auto ev = side.stream.poll_event();
    if (!ev) return;
    check(!side.ended);  // nothing after Closed or Failed
    if (auto* d = std::get_if<TlsData>(&*ev)) {
      check(!d->bytes.empty() && d->bytes.size() <= TlsStream::kReadChunk);
      side.read.append(reinterpret_cast<const char*>(d->bytes.data()), d->bytes.size());
      if (echo) static_cast<void>(side.stream.write(d->bytes));
    } else if (std::holds_alternative<TlsClosed>(*ev)) {
      side.ended = true;
    } else if (auto* f = std::get_if<TlsFailed>(&*ev)) {
      side.ended = side.failed = true;
      check(!f->reason.empty());
    }
  }
}

// Moves `from`'s output into `to` in pieces of `piece` bytes (0: all at once); `flip` >= 0 flips
// that bit of the bytes moved first.
void deliver(Side& from, Side& to, bool echo, std::size_t piece, long flip) {
  for (int rounds = 0;; ++rounds) {
    auto out = from.stream.pending_output();
    if (out.empty()) return;
    if (rounds >= 64) piece = 0;  // byte by byte for the first 64 bytes, then the rest at once
    const std::size_t n = piece == 0 ? out.size() : std::min(piece, out.size());
    std::vector<std::byte> bytes(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n));
    from.stream.consume_output(n);
    if (flip >= 0) {
      const auto bit = static_cast<std::size_t>(flip) % (bytes.size() * 8);
      bytes[bit / 8] ^= std::byte{static_cast<unsigned char>(1u << (bit % 8))};
      flip = -1;
    }
    to.stream.handle_bytes(Instant{}, bytes);
    drain(to, echo);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const Contexts& ctx = contexts();
  const std::uint8_t flags = data[0];
  const bool echo = (flags & 2) != 0;
  Side server(TlsStream::server(ctx.server, Instant{}));
  Side client(TlsStream::client((flags & 1) ? ctx.client12 : ctx.client13, Instant{}, "edge.example"));
  for (int i = 0; i < 8 && !(server.stream.is_open() && client.stream.is_open() &&
                             client.stream.pending_output().empty() && server.stream.pending_output().empty());
       ++i) {
    deliver(client, server, false, 0, -1);
    deliver(server, client, false, 0, -1);
  }
  check(server.stream.is_open() && client.stream.is_open());
  drain(server, false);
  drain(client, false);

  std::string written;    // what the client wrote
  bool tampered = false;  // raw bytes or flipped bits reached the server
  long flip = -1;
  std::size_t piece = 0;
  webtrunk::fuzz::for_each_step(
      std::string_view(reinterpret_cast<const char*>(data + 1), size - 1), [&](unsigned op, std::string_view arg) {
        const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(arg.data()), arg.size());
        switch (op % 8) {
          case 0:
            tampered = true;
            server.stream.handle_bytes(Instant{}, bytes);
            drain(server, echo);
            break;
          case 1: {
            const std::size_t n = client.stream.write(bytes);
            check(n <= bytes.size());
            written.append(arg.substr(0, n));
            break;
          }
          case 2:
            if (SSL_version(client.stream.native_handle()) == TLS1_3_VERSION && client.stream.is_open()) {
              // RFC 8446 §4.6.3; SSL_do_handshake sends it at once.
              if (SSL_key_update(client.stream.native_handle(), SSL_KEY_UPDATE_REQUESTED) == 1) {
                static_cast<void>(SSL_do_handshake(client.stream.native_handle()));
              }
            }
            break;
          case 3:
            check(server.stream.write(bytes) <= bytes.size());
            break;
          case 4:
            client.stream.close();
            break;
          case 5:
            flip = arg.size() >= 2 ? static_cast<unsigned char>(arg[0]) * 256L + static_cast<unsigned char>(arg[1]) : 0;
            tampered = true;
            break;
          case 6:
            server.stream.handle_timeout(Instant{} + std::chrono::hours(1));
            check(server.stream.is_open() || server.ended || server.failed || server.stream.wants_close());
            break;
          case 7:
            piece = 1;
            break;
        }
        deliver(client, server, echo, piece, flip);
        flip = -1;
        piece = 0;
        deliver(server, client, false, 0, -1);
        // Bounded by the limits and the largest single input, never by the number of steps.
        const std::size_t out_bound = TlsStream::kMaxPendingOutput + TlsStream::kProtocolOutputSlack + 32 * 1024;
        check(server.stream.pending_output().size() <= out_bound);
        check(server.stream.buffer_bytes() <= TlsStream::kReadChunk + TlsStream::kMaxPendingInput + size + out_bound);
        if (server.failed) check(server.stream.buffer_bytes() <= out_bound);
      });
  if (!tampered) check(server.read == written.substr(0, server.read.size()));
  if (!tampered && !server.failed && !client.failed) check(server.read == written);
  return 0;
}
