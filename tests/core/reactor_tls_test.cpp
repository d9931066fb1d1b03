// The shard's TLS connection path on real sockets, 127.0.0.1 only: an OpenSSL client (blocking,
// on another thread, 3 s socket timeouts) against a TLS listener on a shard run on the test thread,
// with a 5 s failsafe.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/bytes.hpp"
#include "core/reactor.hpp"
#include "tests/core/reactor_test_support.hpp"
#include "tests/core/tls_test_support.hpp"

namespace webtrunk::core {
namespace {

using namespace std::chrono_literals;

std::unique_ptr<Shard> make_shard() {
  ShardConfig cfg;
  cfg.tcp_buffers = 64;
  cfg.udp_buffers = 64;
  auto s = Shard::create(cfg);
  if (!s) ADD_FAILURE() << s.error().message;
  return s ? std::move(s.value()) : nullptr;
}

using test::run_with_client;
using test::tcp_client;

// Echoes what it gets; greets from on_accept (before the handshake is done) when asked.
struct EchoHandler : TcpHandler {
  std::string greeting;
  std::atomic<int> closed{0};
  std::vector<int> reasons;
  std::vector<bool> tls;
  bool on_accept(Shard& s, ConnId id, const SockAddr&) override {
    tls.push_back(s.is_tls(id));
    if (!greeting.empty()) {
      EXPECT_TRUE(s.send(id, as_bytes(std::string_view(greeting))));
    }
    return true;
  }
  void on_data(Shard& s, ConnId id, std::span<const std::byte> d) override { EXPECT_TRUE(s.send(id, d)); }
  void on_closed(Shard&, ConnId, int reason) override {
    reasons.push_back(reason);
    ++closed;
  }
};

// A blocking OpenSSL client that trusts `ca_pem` and checks `host`.
struct Client {
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;
  int fd = -1;
  Client(const SockAddr& to, const std::string& ca_pem, const char* host) {
    ctx = SSL_CTX_new(TLS_client_method());
    BIO* bio = BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size()));
    X509* ca = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca);
    X509_free(ca);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    fd = tcp_client(to);
    ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, host);
    SSL_set1_host(ssl, host);
    static const unsigned char alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_set_alpn_protos(ssl, alpn, sizeof(alpn));
  }
  ~Client() {
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    ::close(fd);
  }
  bool connect() { return SSL_connect(ssl) == 1; }
  std::string read_n(std::size_t n) {
    std::string out;
    char buf[4096];
    while (out.size() < n) {
      const int r = SSL_read(ssl, buf, static_cast<int>(std::min(sizeof(buf), n - out.size())));
      if (r <= 0) break;
      out.append(buf, static_cast<std::size_t>(r));
    }
    return out;
  }
  bool write(const std::string& s) { return SSL_write(ssl, s.data(), static_cast<int>(s.size())) == static_cast<int>(s.size()); }
};

TEST(ShardTls, HandshakeThenEchoOfDecryptedBytesAndPeerCloseNotify) {
  auto shard = make_shard();
  ASSERT_TRUE(shard);
  const TlsPem ca = test::make_ca();
  const TlsPem leaf = test::make_cert({"edge.test"}, TlsCertSpec::KeyType::ec_p256, &ca);
  TlsServerConfig sc;
  sc.certs = {test::pem_files(leaf)};
  auto ctx = test::server_ctx(sc);
  ASSERT_TRUE(ctx);
  EchoHandler h;
  h.greeting = "hello before the keys;";
  auto l = shard->listen_tcp(SockAddr::ipv4_loopback(0), h, {}, ctx);
  ASSERT_TRUE(l) << l.error().message;
  const SockAddr addr = shard->listener_address(l.value());
  std::string greeting, echoed, alpn;
  int version = 0;
  run_with_client(
      *shard,
      [&] {
        Client c(addr, ca.cert, "edge.test");
        ASSERT_TRUE(c.connect());
        version = SSL_version(c.ssl);
        const unsigned char* p = nullptr;
        unsigned len = 0;
        SSL_get0_alpn_selected(c.ssl, &p, &len);
        alpn.assign(reinterpret_cast<const char*>(p), len);
        greeting = c.read_n(h.greeting.size());
        // 40 KiB: several records each way.
        std::string big(40 * 1024, 'x');
        for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
        EXPECT_TRUE(c.write(big));
        echoed = c.read_n(big.size());
        EXPECT_EQ(echoed, big);
        SSL_shutdown(c.ssl);  // close_notify: an orderly end
        char b;
        (void)::recv(c.fd, &b, 1, 0);
      },
      [&] { return h.closed == 1; });
  EXPECT_EQ(greeting, h.greeting);
  EXPECT_EQ(version, TLS1_3_VERSION);
  EXPECT_EQ(alpn, "http/1.1");
  EXPECT_EQ(echoed.size(), 40u * 1024);
  EXPECT_EQ(h.tls, (std::vector<bool>{true}));
  EXPECT_EQ(h.reasons, (std::vector<int>{0}));
  EXPECT_EQ(shard->connection_count(), 0u);
}

TEST(ShardTls, PlaintextOnTheTlsPortIsClosedAndCounted) {
  auto shard = make_shard();
  ASSERT_TRUE(shard);
  TlsServerConfig sc;
  sc.certs = {test::pem_files(test::make_cert({"edge.test"}))};
  auto ctx = test::server_ctx(sc);
  ASSERT_TRUE(ctx);
  EchoHandler h;
  auto l = shard->listen_tcp(SockAddr::ipv4_loopback(0), h, {}, ctx);
  ASSERT_TRUE(l);
  const SockAddr addr = shard->listener_address(l.value());
  const auto before = kTlsPlaintextTotal.total();
  std::string answer = "unset";
  run_with_client(
      *shard,
      [&] {
        const int fd = tcp_client(addr);
        const std::string get = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
        EXPECT_EQ(::send(fd, get.data(), get.size(), MSG_NOSIGNAL), static_cast<ssize_t>(get.size()));
        char buf[256];
        const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);  // the shard closes: EOF, nothing echoed
        answer.assign(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
        ::close(fd);
      },
      [&] { return h.closed == 1; });
  EXPECT_EQ(answer.find("GET"), std::string::npos);  // the handler never saw the bytes
  EXPECT_EQ(kTlsPlaintextTotal.total(), before + 1);
  EXPECT_EQ(h.reasons, (std::vector<int>{-EPROTO}));
}

TEST(ShardTls, ReloadedContextServesNewConnectionsOnly) {
  auto shard = make_shard();
  ASSERT_TRUE(shard);
  const TlsPem ca = test::make_ca();
  const TlsPem a = test::make_cert({"edge.test"}, TlsCertSpec::KeyType::ec_p256, &ca, "first");
  const TlsPem b = test::make_cert({"edge.test"}, TlsCertSpec::KeyType::ec_p256, &ca, "second");
  TlsServerConfig sc;
  sc.certs = {test::pem_files(a)};
  auto first = test::server_ctx(sc);
  sc.certs = {test::pem_files(b)};
  auto second = test::server_ctx(sc);
  ASSERT_TRUE(first && second);
  EchoHandler h;
  auto l = shard->listen_tcp(SockAddr::ipv4_loopback(0), h, {}, first);
  ASSERT_TRUE(l);
  const SockAddr addr = shard->listener_address(l.value());
  auto subject = [](SSL* ssl) {
    X509* peer = SSL_get1_peer_certificate(ssl);
    char buf[256] = {};
    X509_NAME_oneline(X509_get_subject_name(peer), buf, sizeof(buf));
    X509_free(peer);
    return std::string(buf);
  };
  std::string old_subject, new_subject, old_echo;
  std::atomic<bool> swapped{false};
  // The swap happens on the shard's thread, as a reload's mailbox task would run it.
  std::function<void()> watch = [&] {
    if (swapped) {
      shard->set_listener_tls(l.value(), second);
      swapped = false;
    }
    shard->add_timer(1ms, watch);
  };
  shard->add_timer(1ms, watch);
  run_with_client(
      *shard,
      [&] {
        Client old_conn(addr, ca.cert, "edge.test");
        ASSERT_TRUE(old_conn.connect());
        old_subject = subject(old_conn.ssl);
        swapped = true;
        for (int i = 0; i < 3000 && swapped; ++i) std::this_thread::sleep_for(1ms);
        Client fresh(addr, ca.cert, "edge.test");
        ASSERT_TRUE(fresh.connect());
        new_subject = subject(fresh.ssl);
        EXPECT_TRUE(old_conn.write("still here"));  // the established connection is untouched
        old_echo = old_conn.read_n(10);
      },
      [] { return true; });
  EXPECT_EQ(old_subject, "/CN=first");
  EXPECT_EQ(new_subject, "/CN=second");
  EXPECT_EQ(old_echo, "still here");
}

}  // namespace
// connect_tls: a client connection from the same shard to its own TLS listener (EchoHandler).
struct TlsClientRecorder : TcpHandler {
  bool on_accept(Shard&, ConnId, const SockAddr&) override { return false; }
  void on_connected(Shard& s, ConnId id) override {
    connected = true;
    got_before_connected = got;
    (void)s, (void)id;
  }
  void on_data(Shard& s, ConnId id, std::span<const std::byte> d) override {
    got.append(reinterpret_cast<const char*>(d.data()), d.size());
    if (!session) session = s.tls_session(id);
  }
  void on_tls_failed(Shard&, ConnId, TlsFailure f, std::string_view why) override {
    failure = f;
    reason = std::string(why);
  }
  void on_closed(Shard&, ConnId, int r) override {
    closed = true;
    close_reason = r;
  }
  bool connected = false;
  bool closed = false;
  int close_reason = 1;
  std::string got, got_before_connected, reason;
  std::optional<TlsFailure> failure;
  TlsSession session;
};

TEST(ShardTls, ConnectTlsVerifiesTheServerSendsQueuedPlaintextAndResumes) {
  auto shard = make_shard();
  ASSERT_TRUE(shard);
  const TlsPem ca = test::make_ca();
  const TlsPem leaf = test::make_cert({"trunk.test"}, TlsCertSpec::KeyType::ec_p256, &ca);
  TlsServerConfig sc;
  sc.certs = {test::pem_files(leaf)};
  sc.ticket_keys = TlsTicketKeys::create();
  auto sctx = test::server_ctx(sc);
  ASSERT_TRUE(sctx);
  EchoHandler echo;
  auto l = shard->listen_tcp(SockAddr::ipv4_loopback(0), echo, {}, sctx);
  ASSERT_TRUE(l) << l.error().message;
  const SockAddr addr = shard->listener_address(l.value());
  auto cctx = test::client_ctx(ca.cert);

  // One run of the loop (a stopped shard stays stopped): each step starts when the last is done.
  TlsClientRecorder first, second, wrong_name;
  auto id = shard->connect_tls(addr, first, 2s, cctx, "trunk.test");
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_TRUE(shard->is_tls(*id));
  ASSERT_TRUE(shard->send(*id, as_bytes(std::string_view("OPTIONS"))));  // before connect and handshake
  const auto resumed_before = kTlsResumedTotal.total();
  std::optional<TlsSession> first_session;
  ConnId id2{};
  int step = 0;
  run_with_client(*shard, [] {}, [&] {
    if (step == 0 && first.got == "OPTIONS") {
      first_session = first.session;
      (void)shard->close(*id);
      step = 1;
    } else if (step == 1 && first.closed) {
      id2 = shard->connect_tls(addr, second, 2s, cctx, "trunk.test", first.session).value();
      (void)shard->send(id2, as_bytes(std::string_view("again")));
      step = 2;
    } else if (step == 2 && second.got == "again") {
      (void)shard->close(id2);
      step = 3;
    } else if (step == 3 && second.closed) {
      const ConnId id3 = shard->connect_tls(addr, wrong_name, 2s, cctx, "other.test").value();
      (void)shard->send(id3, as_bytes(std::string_view("never")));
      step = 4;
    }
    return step == 4 && wrong_name.closed;
  });
  EXPECT_TRUE(first.connected);
  EXPECT_EQ(first.got_before_connected, "");  // on_connected came with the handshake, before any data
  ASSERT_TRUE(first_session.has_value());
  EXPECT_NE(*first_session, nullptr);
  EXPECT_EQ(first.close_reason, 0);
  EXPECT_EQ(second.got, "again");
  EXPECT_EQ(kTlsResumedTotal.total(), resumed_before + 2);  // both ends count a resumed handshake
  EXPECT_FALSE(wrong_name.connected);
  ASSERT_TRUE(wrong_name.failure);
  EXPECT_EQ(*wrong_name.failure, TlsFailure::verify);
  EXPECT_EQ(wrong_name.reason, "server certificate refused: hostname mismatch");
  EXPECT_EQ(wrong_name.close_reason, -EPROTO);
  EXPECT_EQ(wrong_name.got, "");
}

}  // namespace webtrunk::core
