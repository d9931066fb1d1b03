// Two TlsStreams joined in memory on a fake clock, and certificates made at test time.
// Lifetimes: an Endpoint copies what its events carry, so nothing points into the stream.
#pragma once

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <string>

#include "core/tls_certificate.hpp"
#include "core/tls_context.hpp"
#include "core/tls_stream.hpp"

namespace webtrunk::core::test {

// A fresh directory under the system temp dir, removed with what it holds.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "webtrunk-tls-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data()) ? tmpl : std::string();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name, const std::string& text) const {
    const std::string p = path_ + "/" + name;
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline TlsPem make_cert(std::vector<std::string> names, TlsCertSpec::KeyType type = TlsCertSpec::KeyType::ec_p256,
                        const TlsPem* issuer = nullptr, std::string cn = "") {
  TlsCertSpec spec;
  spec.key_type = type;
  spec.common_name = cn.empty() ? (names.empty() ? "webtrunk" : names.front()) : cn;
  spec.dns_names = std::move(names);
  auto pem = make_tls_certificate(spec, issuer);
  EXPECT_TRUE(pem.ok()) << (pem.ok() ? "" : pem.error().message);
  return pem.ok() ? *pem : TlsPem{};
}

inline TlsPem make_ca() {
  TlsCertSpec spec;
  spec.common_name = "webtrunk test CA";
  spec.ca = true;
  auto pem = make_tls_certificate(spec);
  EXPECT_TRUE(pem.ok());
  return pem.ok() ? *pem : TlsPem{};
}

inline TlsCertFiles pem_files(const TlsPem& p) { return TlsCertFiles{"", "", p.cert, p.key}; }

// A server context on in-memory PEM (first = default certificate).
inline std::shared_ptr<const TlsContext> server_ctx(TlsServerConfig config) {
  auto c = TlsContext::server(config);
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
  return c.ok() ? *c : nullptr;
}

// A client context trusting only `ca` (its PEM certificate).
inline std::shared_ptr<const TlsContext> client_ctx(const std::string& ca_pem,
                                                    TlsVersion max = TlsVersion::tls1_3) {
  TlsClientConfig config;
  config.system_cas = false;
  config.extra_ca_pem = ca_pem;
  config.max_version = max;
  auto c = TlsContext::client(config);
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
  return c.ok() ? *c : nullptr;
}

// One side of a connection and what it has seen so far.
struct Endpoint {
  explicit Endpoint(TlsStream s) : stream(std::move(s)) {}
  TlsStream stream;
  std::string data;
  bool done = false;
  TlsVersion version = TlsVersion::tls1_3;
  bool resumed = false;
  std::string alpn, sni, cipher;
  bool closed = false;
  std::optional<TlsFailure> failed;
  std::string reason;
  int events_after_end = 0;

  void drain() {
    for (int i = 0; i < 10000; ++i) {
      auto ev = stream.poll_event();
      if (!ev) return;
      if (closed || failed) ++events_after_end;
      if (auto* d = std::get_if<TlsHandshakeDone>(&*ev)) {
        done = true;
        version = d->version;
        resumed = d->resumed;
        alpn = d->alpn;
        sni = d->server_name;
        cipher = d->cipher;
      } else if (auto* x = std::get_if<TlsData>(&*ev)) {
        data.append(reinterpret_cast<const char*>(x->bytes.data()), x->bytes.size());
      } else if (std::holds_alternative<TlsClosed>(*ev)) {
        closed = true;
      } else if (auto* f = std::get_if<TlsFailed>(&*ev)) {
        failed = f->failure;
        reason = f->reason;
      }
    }
  }
};

// Moves `from`'s output to `to` in pieces of at most `chunk` bytes; returns the byte count.
inline std::size_t deliver(Endpoint& from, Endpoint& to, Instant now,
                           std::size_t chunk = std::numeric_limits<std::size_t>::max()) {
  std::size_t moved = 0;
  for (auto out = from.stream.pending_output(); !out.empty(); out = from.stream.pending_output()) {
    const std::size_t n = std::min(chunk, out.size());
    std::vector<std::byte> piece(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n));
    from.stream.consume_output(n);
    to.stream.handle_bytes(now, piece);
    to.drain();
    moved += n;
  }
  return moved;
}

// Runs both ways until nothing moves (bounded).
inline void pump(Endpoint& a, Endpoint& b, Instant now, std::size_t chunk = std::numeric_limits<std::size_t>::max()) {
  a.drain();
  b.drain();
  for (int i = 0; i < 100; ++i) {
    if (deliver(a, b, now, chunk) + deliver(b, a, now, chunk) == 0) return;
  }
}

inline std::span<const std::byte> bytes_of(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

// Writes all of `text` (pumping while the stream's output bound holds it back).
inline void write_all(Endpoint& from, Endpoint& to, Instant now, std::string_view text) {
  for (int i = 0; i < 100000 && !text.empty(); ++i) {
    const std::size_t n = from.stream.write(bytes_of(text));
    text.remove_prefix(n);
    if (n == 0) pump(from, to, now);
  }
  pump(from, to, now);
}

}  // namespace webtrunk::core::test
