// TLS stream layer (core/tls_stream.hpp) on memory BIOs, no sockets: handshakes per core-second
// on the server side (ECDSA P-256 vs RSA-2048 certificates, TLS 1.3 full vs resumed by ticket, and
// TLS 1.2), the cost of a 1 KiB record sealed by one side and opened by the other, and the heap an
// established idle connection keeps (mallinfo2 over 1,000 connections).
// Run: ./build/bench/webtrunk_microbench --benchmark_filter=Tls
#include <benchmark/benchmark.h>

#include <malloc.h>
#include <time.h>
#include <openssl/ssl.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/tls_certificate.hpp"
#include "core/tls_context.hpp"
#include "core/tls_stream.hpp"

namespace {

using namespace webtrunk::core;
// The calling thread's CPU time: on this shared machine wall time includes other processes' turns.
struct BenchClock {
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<BenchClock, duration>;
  static time_point now() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return time_point(duration(std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec));
  }
};

const Instant kNow = Instant{} + seconds(1);

template <class T>
T must(Result<T> r) {
  if (!r) {
    std::fprintf(stderr, "tls_bench setup: %s\n", r.error().message.c_str());
    std::abort();
  }
  return std::move(r).value();
}

struct Setup {
  TlsPem ca;
  std::shared_ptr<const TlsContext> server;
  std::shared_ptr<const TlsContext> client;
};

// A CA, a server certificate for "edge.example" of `type` signed by it, a server context with
// ticket keys and a client context trusting the CA, capped at `max`.
Setup setup(TlsCertSpec::KeyType type, TlsVersion max = TlsVersion::tls1_3) {
  Setup s;
  TlsCertSpec ca_spec;
  ca_spec.ca = true;
  ca_spec.common_name = "webtrunk bench CA";
  s.ca = must(make_tls_certificate(ca_spec));
  TlsCertSpec leaf;
  leaf.key_type = type;
  leaf.common_name = "edge.example";
  leaf.dns_names = {"edge.example"};
  const TlsPem edge = must(make_tls_certificate(leaf, &s.ca));
  TlsServerConfig sc;
  sc.certs = {TlsCertFiles{"", "", edge.cert, edge.key}};
  sc.ticket_keys = TlsTicketKeys::create();
  s.server = must(TlsContext::server(sc));
  TlsClientConfig cc;
  cc.system_cas = false;
  cc.extra_ca_pem = s.ca.cert;
  cc.max_version = max;
  s.client = must(TlsContext::client(cc));
  return s;
}

// Moves everything `from` wants sent into `to` and drains `to`; returns false on a failure.
bool deliver(TlsStream& from, TlsStream& to, std::vector<std::byte>& scratch) {
  auto out = from.pending_output();
  if (out.empty()) return true;
  scratch.assign(out.begin(), out.end());
  from.consume_output(scratch.size());
  to.handle_bytes(kNow, scratch);
  while (auto ev = to.poll_event()) {
    if (std::holds_alternative<TlsFailed>(*ev)) return false;
  }
  return true;
}

// Runs the handshake to the end; `server_time` accumulates the time spent in the server's calls.
bool handshake(TlsStream& server, TlsStream& client, std::vector<std::byte>& scratch,
               BenchClock::duration& server_time) {
  for (int i = 0; i < 16; ++i) {
    const auto t = BenchClock::now();
    const bool ok_s = deliver(client, server, scratch);
    server_time += BenchClock::now() - t;
    if (!ok_s || !deliver(server, client, scratch)) return false;
    if (server.is_open() && client.is_open() && client.pending_output().empty() &&
        server.pending_output().empty()) {
      return true;
    }
  }
  return false;
}

// A ticket from one full handshake, the client having read the server's NewSessionTicket.
TlsSession ticket(const Setup& s) {
  std::vector<std::byte> scratch;
  BenchClock::duration unused{};
  TlsStream server = TlsStream::server(s.server, kNow);
  TlsStream client = TlsStream::client(s.client, kNow, "edge.example");
  if (!handshake(server, client, scratch, unused)) return nullptr;
  return client.session();
}

// Manual time = the server's CPU time only (what one edge core spends per handshake); pair_us is
// both sides' CPU time together.
void handshakes(benchmark::State& state, TlsCertSpec::KeyType type, TlsVersion max, bool resume) {
  const Setup s = setup(type, max);
  // A client uses each ticket once (RFC 8446 §C.4): every resumption brings the next one.
  TlsSession session = resume ? ticket(s) : nullptr;
  if (resume && !session) state.SkipWithError("no ticket");
  std::vector<std::byte> scratch;
  BenchClock::duration pair_total{};
  std::int64_t resumed = 0;
  for (auto _ : state) {
    const auto t0 = BenchClock::now();
    BenchClock::duration server_time{};
    const auto t = BenchClock::now();
    TlsStream server = TlsStream::server(s.server, kNow);
    server_time += BenchClock::now() - t;
    TlsStream client = TlsStream::client(s.client, kNow, "edge.example", session);
    if (!handshake(server, client, scratch, server_time)) state.SkipWithError("handshake failed");
    resumed += SSL_session_reused(server.native_handle());
    if (resume) session = client.session();
    state.SetIterationTime(std::chrono::duration<double>(server_time).count());
    pair_total += BenchClock::now() - t0;
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["pair_us"] =
      std::chrono::duration<double, std::micro>(pair_total).count() / static_cast<double>(state.iterations());
  state.counters["resumed"] = static_cast<double>(resumed) / static_cast<double>(state.iterations());
}

void BM_TlsHandshake13EcdsaFull(benchmark::State& st) {
  handshakes(st, TlsCertSpec::KeyType::ec_p256, TlsVersion::tls1_3, false);
}
void BM_TlsHandshake13RsaFull(benchmark::State& st) {
  handshakes(st, TlsCertSpec::KeyType::rsa2048, TlsVersion::tls1_3, false);
}
void BM_TlsHandshake13EcdsaResumed(benchmark::State& st) {
  handshakes(st, TlsCertSpec::KeyType::ec_p256, TlsVersion::tls1_3, true);
}
void BM_TlsHandshake12EcdsaFull(benchmark::State& st) {
  handshakes(st, TlsCertSpec::KeyType::ec_p256, TlsVersion::tls1_2, false);
}
BENCHMARK(BM_TlsHandshake13EcdsaFull)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TlsHandshake13RsaFull)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TlsHandshake13EcdsaResumed)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TlsHandshake12EcdsaFull)->UseManualTime()->Unit(benchmark::kMicrosecond);

// One 1 KiB record: the client seals it (write), the server opens it (handle_bytes + poll_event).
void BM_TlsRecord1K(benchmark::State& state) {
  const Setup s = setup(TlsCertSpec::KeyType::ec_p256);
  std::vector<std::byte> scratch;
  BenchClock::duration unused{};
  TlsStream server = TlsStream::server(s.server, kNow);
  TlsStream client = TlsStream::client(s.client, kNow, "edge.example");
  if (!handshake(server, client, scratch, unused)) state.SkipWithError("handshake failed");
  std::vector<std::byte> payload(1024, std::byte{'s'});
  std::size_t wire = 0;
  std::size_t got = 0;
  for (auto _ : state) {
    if (client.write(payload) != payload.size()) state.SkipWithError("write");
    const auto out = client.pending_output();
    wire += out.size();
    server.handle_bytes(kNow, out);
    client.consume_output(out.size());
    while (auto ev = server.poll_event()) {
      if (auto* d = std::get_if<TlsData>(&*ev)) got += d->bytes.size();
    }
  }
  if (got != payload.size() * state.iterations()) state.SkipWithError("lost data");
  state.SetBytesProcessed(static_cast<std::int64_t>(got));
  state.SetItemsProcessed(state.iterations());
  state.counters["wire_bytes"] = static_cast<double>(wire) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_TlsRecord1K);

// Heap per established idle server connection: 1,000 handshakes (and a request/response each), the
// clients freed, heap in use compared with before. `bytes_per_conn` counts the SSL object, its
// session, keys and the stream; the TlsContext and certificates are shared and not counted.
void idle_memory(benchmark::State& state, TlsVersion max, bool resume) {
  const Setup s = setup(TlsCertSpec::KeyType::ec_p256, max);
  const TlsSession session = resume ? ticket(s) : nullptr;
  constexpr int kConns = 1000;
  std::vector<std::byte> scratch;
  BenchClock::duration unused{};
  std::vector<std::byte> request(600, std::byte{'r'});
  for (auto _ : state) {
    std::vector<TlsStream> servers;
    std::vector<TlsStream> clients;
    servers.reserve(kConns);
    clients.reserve(kConns);
    malloc_trim(0);
    const std::size_t before = mallinfo2().uordblks;
    for (int i = 0; i < kConns; ++i) {
      servers.push_back(TlsStream::server(s.server, kNow));
      clients.push_back(TlsStream::client(s.client, kNow, "edge.example", session));
      if (!handshake(servers.back(), clients.back(), scratch, unused)) state.SkipWithError("handshake failed");
      static_cast<void>(clients.back().write(request));
      static_cast<void>(deliver(clients.back(), servers.back(), scratch));
      static_cast<void>(servers.back().write(request));
      static_cast<void>(deliver(servers.back(), clients.back(), scratch));
    }
    clients.clear();
    clients.shrink_to_fit();
    scratch.clear();
    scratch.shrink_to_fit();
    const std::size_t after = mallinfo2().uordblks;
    std::size_t buffers = 0;
    for (const auto& sv : servers) buffers += sv.buffer_bytes();
    // The vector of streams itself (kConns * sizeof) is in `after`; report it apart.
    state.counters["bytes_per_conn"] = (static_cast<double>(after) - static_cast<double>(before)) / kConns;
    state.counters["stream_object"] = sizeof(TlsStream);
    state.counters["stream_buffers"] = static_cast<double>(buffers) / kConns;
  }
}
void BM_TlsIdleMemory13(benchmark::State& st) { idle_memory(st, TlsVersion::tls1_3, false); }
void BM_TlsIdleMemory13Resumed(benchmark::State& st) { idle_memory(st, TlsVersion::tls1_3, true); }
void BM_TlsIdleMemory12(benchmark::State& st) { idle_memory(st, TlsVersion::tls1_2, false); }
BENCHMARK(BM_TlsIdleMemory13)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TlsIdleMemory13Resumed)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TlsIdleMemory12)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
