// TlsStream: a server and a client stream joined in memory on a fake clock (no sockets).
#include "core/tls_stream.hpp"

#include <gtest/gtest.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "core/bytes.hpp"
#include "tests/core/tls_test_support.hpp"

namespace webtrunk::core {
namespace {

using test::Endpoint;

const Instant t0 = Instant{} + seconds(1000);

std::string peer_subject(const Endpoint& e) {
  const X509* cert = SSL_get0_peer_certificate(e.stream.native_handle());
  if (!cert) return "";
  char buf[256];
  X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof buf);
  return buf;
}

class TlsStreamTest : public ::testing::Test {
 protected:
  TlsPem ca = test::make_ca();
  TlsPem edge = test::make_cert({"edge.example"}, TlsCertSpec::KeyType::ec_p256, &ca);

  std::shared_ptr<const TlsContext> server_ctx(std::shared_ptr<TlsTicketKeys> keys = nullptr) {
    TlsServerConfig config;
    config.certs = {test::pem_files(edge)};
    config.ticket_keys = std::move(keys);
    return test::server_ctx(config);
  }
  // A connected pair (server, client to edge.example).
  std::pair<Endpoint, Endpoint> connect(std::shared_ptr<const TlsContext> sctx,
                                        std::shared_ptr<const TlsContext> cctx, TlsSession resume = nullptr) {
    Endpoint s(TlsStream::server(std::move(sctx), t0));
    Endpoint c(TlsStream::client(std::move(cctx), t0, "edge.example", std::move(resume)));
    test::pump(c, s, t0);
    return {std::move(s), std::move(c)};
  }
};

TEST_F(TlsStreamTest, Tls13HandshakeThenDataBothWays) {
  auto [s, c] = connect(server_ctx(), test::client_ctx(ca.cert));
  ASSERT_TRUE(s.done && c.done) << s.reason << c.reason;
  EXPECT_EQ(s.version, TlsVersion::tls1_3);
  EXPECT_EQ(c.version, TlsVersion::tls1_3);
  EXPECT_FALSE(s.resumed);
  EXPECT_EQ(s.sni, "edge.example");
  EXPECT_EQ(s.alpn, "");  // the client offered none
  EXPECT_TRUE(s.stream.is_open());
  test::write_all(c, s, t0, "INVITE sip:1@edge.example SIP/2.0\r\n");
  test::write_all(s, c, t0, "SIP/2.0 100 Trying\r\n");
  EXPECT_EQ(s.data, "INVITE sip:1@edge.example SIP/2.0\r\n");
  EXPECT_EQ(c.data, "SIP/2.0 100 Trying\r\n");
  EXPECT_FALSE(s.failed || c.failed);
}

TEST_F(TlsStreamTest, Tls12WhenTheClientCapsIt) {
  auto [s, c] = connect(server_ctx(), test::client_ctx(ca.cert, TlsVersion::tls1_2));
  ASSERT_TRUE(s.done && c.done) << s.reason << c.reason;
  EXPECT_EQ(s.version, TlsVersion::tls1_2);
  EXPECT_EQ(s.cipher.substr(0, 6), "ECDHE-");
  EXPECT_NE(s.cipher.find("GCM"), std::string::npos);
  test::write_all(c, s, t0, "hello over 1.2");
  EXPECT_EQ(s.data, "hello over 1.2");
}

TEST_F(TlsStreamTest, AlpnPicksHttp11FromABrowserList) {
  TlsClientConfig cc;
  cc.system_cas = false;
  cc.extra_ca_pem = ca.cert;
  cc.alpn = {"h2", "http/1.1"};
  auto cctx = TlsContext::client(cc);
  ASSERT_TRUE(cctx.ok());
  auto [s, c] = connect(server_ctx(), *cctx);
  ASSERT_TRUE(s.done && c.done);
  EXPECT_EQ(s.alpn, "http/1.1");
  EXPECT_EQ(c.alpn, "http/1.1");
}

TEST_F(TlsStreamTest, SniPicksTheCertificateThatNamesTheHost) {
  TlsPem other = test::make_cert({"*.calls.example"}, TlsCertSpec::KeyType::ec_p256, &ca, "calls wildcard");
  TlsServerConfig config;
  config.certs = {test::pem_files(edge), test::pem_files(other)};
  auto sctx = test::server_ctx(config);
  ASSERT_EQ(sctx->certificates().size(), 2u);
  EXPECT_EQ(sctx->certificates()[1].names, std::vector<std::string>{"*.calls.example"});

  Endpoint s(TlsStream::server(sctx, t0));
  Endpoint c(TlsStream::client(test::client_ctx(ca.cert), t0, "eu1.calls.example"));
  test::pump(c, s, t0);
  ASSERT_TRUE(c.done) << c.reason;  // the client checked the name, so the right one was sent
  EXPECT_EQ(s.sni, "eu1.calls.example");
  EXPECT_EQ(peer_subject(c), "/CN=calls wildcard");

  Endpoint s2(TlsStream::server(sctx, t0));
  Endpoint c2(TlsStream::client(test::client_ctx(ca.cert), t0, "edge.example"));
  test::pump(c2, s2, t0);
  ASSERT_TRUE(c2.done) << c2.reason;
  EXPECT_EQ(peer_subject(c2), "/CN=edge.example");

  // A name no certificate has: the first one, which the client then refuses.
  Endpoint s3(TlsStream::server(sctx, t0));
  Endpoint c3(TlsStream::client(test::client_ctx(ca.cert), t0, "a.b.calls.example"));
  test::pump(c3, s3, t0);
  ASSERT_TRUE(c3.failed);
  EXPECT_EQ(*c3.failed, TlsFailure::verify);
  EXPECT_NE(c3.reason.find("mismatch"), std::string::npos) << c3.reason;
}

TEST_F(TlsStreamTest, HandshakeAndRecordsSurviveEveryByteBoundary) {
  Endpoint s(TlsStream::server(server_ctx(), t0));
  Endpoint c(TlsStream::client(test::client_ctx(ca.cert), t0, "edge.example"));
  test::pump(c, s, t0, 1);  // every handshake message one byte at a time
  ASSERT_TRUE(s.done && c.done) << s.reason << c.reason;

  // One record, cut in two at each position in turn.
  const std::string msg = "REGISTER sip:edge.example SIP/2.0\r\n\r\n";
  for (std::size_t cut = 1;; ++cut) {
    ASSERT_EQ(c.stream.write(test::bytes_of(msg)), msg.size());
    const auto out = c.stream.pending_output();
    const std::vector<std::byte> record(out.begin(), out.end());
    c.stream.consume_output(record.size());
    if (cut >= record.size()) break;
    s.data.clear();
    s.stream.handle_bytes(t0, std::span(record).first(cut));
    s.drain();
    EXPECT_EQ(s.data, "");
    s.stream.handle_bytes(t0, std::span(record).subspan(cut));
    s.drain();
    ASSERT_EQ(s.data, msg) << "cut at " << cut;
  }
  EXPECT_FALSE(s.failed);
}

TEST_F(TlsStreamTest, LargeWritesAreBoundedAndSplitIntoRecords) {
  auto [s, c] = connect(server_ctx(), test::client_ctx(ca.cert));
  ASSERT_TRUE(s.done);
  std::string big(300 * 1024, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  // Nothing is sent: the stream takes up to its output bound, then nothing.
  std::size_t taken = 0;
  for (int i = 0; i < 10; ++i) taken += s.stream.write(test::bytes_of(std::string_view(big).substr(taken)));
  EXPECT_LE(taken, TlsStream::kMaxPendingOutput);
  EXPECT_GE(taken, TlsStream::kMaxPendingOutput - 16 * 1024 - 512);
  // The ciphertext is whole records of at most 2^14 + 256 bytes (RFC 8446 §5.2).
  auto out = s.stream.pending_output();
  std::size_t records = 0;
  while (out.size() >= 5) {
    const std::size_t len = load_be16(out.data() + 3);
    EXPECT_EQ(std::to_integer<int>(out[0]), 23);  // application_data
    EXPECT_LE(len, 16384u + 256u);
    ASSERT_LE(5 + len, out.size());
    out = out.subspan(5 + len);
    ++records;
  }
  EXPECT_TRUE(out.empty());
  EXPECT_GE(records, 4u);
  test::pump(s, c, t0);
  test::write_all(s, c, t0, std::string_view(big).substr(taken));
  EXPECT_EQ(c.data.size(), big.size());
  EXPECT_TRUE(c.data == big);
}

TEST_F(TlsStreamTest, CloseNotifyFromEitherSide) {
  for (bool client_first : {true, false}) {
    auto [s, c] = connect(server_ctx(), test::client_ctx(ca.cert));
    Endpoint& first = client_first ? c : s;
    Endpoint& second = client_first ? s : c;
    test::write_all(first, second, t0, "last words");
    first.stream.close();
    EXPECT_EQ(first.stream.write(test::bytes_of("more")), 0u);
    EXPECT_FALSE(first.stream.wants_close());  // waits for the peer's close_notify
    test::pump(first, second, t0);
    EXPECT_EQ(second.data, "last words");
    EXPECT_TRUE(second.closed);
    EXPECT_TRUE(first.closed);
    EXPECT_TRUE(first.stream.wants_close() && second.stream.wants_close());
    EXPECT_EQ(first.events_after_end + second.events_after_end, 0);
    EXPECT_FALSE(first.failed || second.failed);
  }
}

TEST_F(TlsStreamTest, CorruptedRecordFailsWithAReason) {
  auto [s, c] = connect(server_ctx(), test::client_ctx(ca.cert));
  const auto before = kTlsBadRecordsTotal.total();
  ASSERT_EQ(c.stream.write(test::bytes_of("BYE sip:x SIP/2.0\r\n")), 19u);
  auto out = c.stream.pending_output();
  std::vector<std::byte> record(out.begin(), out.end());
  c.stream.consume_output(record.size());
  record[record.size() / 2] ^= std::byte{0x40};
  s.stream.handle_bytes(t0, record);
  s.drain();
  ASSERT_TRUE(s.failed);
  EXPECT_EQ(*s.failed, TlsFailure::bad_record);
  EXPECT_NE(s.reason.find("decrypt"), std::string::npos) << s.reason;
  EXPECT_EQ(s.data, "");
  EXPECT_TRUE(s.stream.wants_close());
  EXPECT_EQ(kTlsBadRecordsTotal.total(), before + 1);
  // The alert OpenSSL queued reaches the client, which fails too.
  test::pump(s, c, t0);
  ASSERT_TRUE(c.failed);
  EXPECT_EQ(*c.failed, TlsFailure::peer_alert);
  EXPECT_NE(c.reason.find("bad record mac"), std::string::npos) << c.reason;
}

TEST_F(TlsStreamTest, RenegotiationIsRefused) {
  auto [s, c] = connect(server_ctx(), test::client_ctx(ca.cert, TlsVersion::tls1_2));
  ASSERT_TRUE(s.done && c.done);
  const auto before = kTlsRenegotiationRefusedTotal.total();
  SSL* cssl = c.stream.native_handle();
  SSL_clear_options(cssl, SSL_OP_NO_RENEGOTIATION);  // a client that still tries (ours would not)
  // An idle stream holds no BIOs; a record written through the stream brings them back, so that
  // OpenSSL, driven directly here, has somewhere to put its ClientHello.
  ASSERT_EQ(c.stream.write(test::bytes_of("x")), 1u);
  ASSERT_EQ(SSL_renegotiate(cssl), 1);
  static_cast<void>(SSL_do_handshake(cssl));  // queues a new ClientHello
  test::pump(c, s, t0);
  EXPECT_EQ(kTlsRenegotiationRefusedTotal.total(), before + 1);
  ASSERT_TRUE(c.failed);  // the client gives up on the no_renegotiation alert
  EXPECT_NE(c.reason.find("renegotiation"), std::string::npos) << c.reason;
  EXPECT_NE(s.failed, std::optional<TlsFailure>{});  // and tells the server so
  EXPECT_EQ(SSL_num_renegotiations(s.stream.native_handle()), 0);
}

TEST_F(TlsStreamTest, PlainHttpOnTheTlsPortIsItsOwnFailure) {
  const auto before = kTlsPlaintextTotal.total();
  Endpoint s(TlsStream::server(server_ctx(), t0));
  s.stream.handle_bytes(t0, test::bytes_of("GET /ws HTTP/1.1\r\nHost: edge.example\r\n\r\n"));
  s.drain();
  ASSERT_TRUE(s.failed);
  EXPECT_EQ(*s.failed, TlsFailure::plaintext);
  EXPECT_NE(s.reason.find("plaintext on a TLS port"), std::string::npos);
  EXPECT_TRUE(s.stream.wants_close());
  EXPECT_TRUE(s.stream.pending_output().empty());
  EXPECT_EQ(kTlsPlaintextTotal.total(), before + 1);
}

TEST_F(TlsStreamTest, HandshakeDeadline) {
  Endpoint s(TlsStream::server(server_ctx(), t0));
  Endpoint c(TlsStream::client(test::client_ctx(ca.cert), t0, "edge.example"));
  // Only part of the ClientHello arrives.
  auto hello = c.stream.pending_output();
  s.stream.handle_bytes(t0, hello.first(20));
  ASSERT_EQ(s.stream.poll_timeout(), t0 + seconds(10));
  s.stream.handle_timeout(t0 + seconds(9));
  s.drain();
  EXPECT_FALSE(s.failed);
  s.stream.handle_timeout(t0 + seconds(10));
  s.drain();
  ASSERT_TRUE(s.failed);
  EXPECT_EQ(*s.failed, TlsFailure::handshake_timeout);
  EXPECT_EQ(s.stream.poll_timeout(), std::nullopt);
  // A finished handshake has no deadline.
  auto [s2, c2] = connect(server_ctx(), test::client_ctx(ca.cert));
  EXPECT_EQ(s2.stream.poll_timeout(), std::nullopt);
  s2.stream.handle_timeout(t0 + seconds(3600));
  EXPECT_TRUE(s2.stream.is_open());
}

TEST_F(TlsStreamTest, SessionTicketsResumeOnAnotherShardUntilTheKeyRotatesOut) {
  auto keys = TlsTicketKeys::create();
  auto shard_a = server_ctx(keys);
  auto shard_b = server_ctx(keys);  // built separately, as each shard would get its own
  auto cctx = test::client_ctx(ca.cert);

  auto [s0, c0] = connect(shard_a, cctx);
  const TlsSession first_key_ticket = c0.stream.session();  // sealed under the first key, kept for later
  auto [s1, c1] = connect(shard_a, cctx);
  ASSERT_TRUE(c1.done);
  EXPECT_FALSE(c1.resumed);
  const TlsSession t1 = c1.stream.session();  // the NewSessionTicket was read while draining
  ASSERT_NE(t1, nullptr);
  ASSERT_NE(first_key_ticket, nullptr);

  auto [s2, c2] = connect(shard_b, cctx, t1);
  ASSERT_TRUE(s2.done) << s2.reason;
  EXPECT_TRUE(s2.resumed);
  EXPECT_TRUE(c2.resumed);
  test::write_all(c2, s2, t0, "resumed");
  EXPECT_EQ(s2.data, "resumed");
  const TlsSession t2 = c2.stream.session();  // a resumption brings a fresh ticket (RFC 8446 §C.4)
  ASSERT_NE(t2, nullptr);
  EXPECT_NE(t2.get(), t1.get());

  keys->rotate();  // t2's key is now the previous one: it still opens, and a ticket under the new key comes back
  auto [s3, c3] = connect(shard_a, cctx, t2);
  EXPECT_TRUE(s3.resumed);
  const TlsSession t3 = c3.stream.session();
  ASSERT_NE(t3, nullptr);

  keys->rotate();  // the first key is gone: full handshake, and it says so in a metric
  const auto unknown = kTlsTicketKeyUnknownTotal.total();
  auto [s4, c4] = connect(shard_b, cctx, first_key_ticket);
  ASSERT_TRUE(s4.done);
  EXPECT_FALSE(s4.resumed);
  EXPECT_EQ(kTlsTicketKeyUnknownTotal.total(), unknown + 1);

  auto [s5, c5] = connect(shard_b, cctx, t3);  // sealed under the second key, now the previous one
  EXPECT_TRUE(s5.resumed);
}

TEST_F(TlsStreamTest, ATicketOutlivesItsConnectionUnlessItFailed) {
  auto sctx = server_ctx(TlsTicketKeys::create());
  auto cctx = test::client_ctx(ca.cert);
  TlsSession ticket;
  {
    auto [s1, c1] = connect(sctx, cctx);
    ticket = c1.stream.session();
  }  // dropped without close_notify, as when the TCP connection just ends
  auto [s2, c2] = connect(sctx, cctx, ticket);
  EXPECT_TRUE(s2.resumed);
  const TlsSession t2 = c2.stream.session();
  {
    auto [s3, c3] = connect(sctx, cctx, t2);
    ASSERT_TRUE(c3.done);
    c3.stream.handle_bytes(t0, test::bytes_of(std::string(64, '\x17')));  // garbage: the connection fails
    c3.drain();
    ASSERT_TRUE(c3.failed);
    EXPECT_EQ(c3.stream.session(), nullptr);  // a failed connection's session is not resumed
  }
}

TEST_F(TlsStreamTest, NoTicketKeysMeansNoResumption) {
  auto sctx = server_ctx();
  auto cctx = test::client_ctx(ca.cert);
  auto [s1, c1] = connect(sctx, cctx);
  EXPECT_EQ(c1.stream.session(), nullptr);
}

TEST_F(TlsStreamTest, ClientRefusesAnUntrustedOrMisnamedServer) {
  TlsPem other_ca = test::make_ca();
  Endpoint s(TlsStream::server(server_ctx(), t0));
  Endpoint c(TlsStream::client(test::client_ctx(other_ca.cert), t0, "edge.example"));
  test::pump(c, s, t0);
  ASSERT_TRUE(c.failed);
  EXPECT_EQ(*c.failed, TlsFailure::verify);
  EXPECT_FALSE(s.done);

  Endpoint s2(TlsStream::server(server_ctx(), t0));
  Endpoint c2(TlsStream::client(test::client_ctx(ca.cert), t0, "trunk.example"));
  test::pump(c2, s2, t0);
  ASSERT_TRUE(c2.failed);
  EXPECT_EQ(*c2.failed, TlsFailure::verify);
}

TEST_F(TlsStreamTest, ATrunkByAddressIsCheckedAgainstTheCertificatesAddressesAndSentNoSni) {
  TlsPem by_ip = test::make_cert({"192.0.2.10", "2001:db8::10"}, TlsCertSpec::KeyType::ec_p256, &ca, "trunk");
  TlsServerConfig config;
  config.certs = {test::pem_files(by_ip)};
  auto sctx = test::server_ctx(config);
  for (const char* host : {"192.0.2.10", "2001:db8::10"}) {
    Endpoint s(TlsStream::server(sctx, t0));
    Endpoint c(TlsStream::client(test::client_ctx(ca.cert), t0, host));
    test::pump(c, s, t0);
    ASSERT_TRUE(c.done) << host << ": " << c.reason;
    EXPECT_EQ(s.sni, "");  // RFC 6066 §3: no IP literals in SNI
  }
  Endpoint s(TlsStream::server(sctx, t0));
  Endpoint c(TlsStream::client(test::client_ctx(ca.cert), t0, "192.0.2.11"));
  test::pump(c, s, t0);
  ASSERT_TRUE(c.failed);
  EXPECT_EQ(*c.failed, TlsFailure::verify);
}

TEST_F(TlsStreamTest, TheClientPresentsItsCertificateForMutualTls) {
  TlsPem client_cert = test::make_cert({"webtrunk.client"}, TlsCertSpec::KeyType::ec_p256, &ca, "edge client");
  TlsClientConfig cc;
  cc.system_cas = false;
  cc.extra_ca_pem = ca.cert;
  cc.client_cert = test::pem_files(client_cert);
  auto cctx = TlsContext::client(cc);
  ASSERT_TRUE(cctx.ok()) << cctx.error().message;
  for (TlsVersion v : {TlsVersion::tls1_3, TlsVersion::tls1_2}) {
    Endpoint s(TlsStream::server(server_ctx(), t0));
    // A trunk's TLS server that asks for a client certificate (our server side does not yet).
    SSL_set_verify(s.stream.native_handle(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                   [](int, X509_STORE_CTX*) { return 1; });
    if (v == TlsVersion::tls1_2) SSL_set_max_proto_version(s.stream.native_handle(), TLS1_2_VERSION);
    Endpoint c(TlsStream::client(*cctx, t0, "edge.example"));
    test::pump(c, s, t0);
    ASSERT_TRUE(s.done && c.done) << s.reason << c.reason;
    EXPECT_EQ(peer_subject(s), "/CN=edge client");
  }
}

TEST_F(TlsStreamTest, AClientWithoutTheCertificateATrunkRequiresFailsWithTheTrunksAlert) {
  for (TlsVersion v : {TlsVersion::tls1_3, TlsVersion::tls1_2}) {
    Endpoint s(TlsStream::server(server_ctx(), t0));
    SSL_set_verify(s.stream.native_handle(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                   [](int, X509_STORE_CTX*) { return 1; });
    if (v == TlsVersion::tls1_2) SSL_set_max_proto_version(s.stream.native_handle(), TLS1_2_VERSION);
    Endpoint c(TlsStream::client(test::client_ctx(ca.cert), t0, "edge.example"));
    test::pump(c, s, t0);
    // TLS 1.3: the client's side of the handshake is done before the server checks its
    // certificate, so the refusal arrives as an alert on the client's first read.
    (void)c.stream.write(test::bytes_of("OPTIONS"));
    test::pump(c, s, t0);
    ASSERT_TRUE(s.failed.has_value());
    ASSERT_TRUE(c.failed.has_value()) << (v == TlsVersion::tls1_3 ? "1.3" : "1.2");
    EXPECT_EQ(*c.failed, TlsFailure::peer_alert);
    EXPECT_EQ(c.reason, v == TlsVersion::tls1_3 ? "peer sent alert: certificate required" : "peer sent alert: handshake failure");
    EXPECT_TRUE(c.data.empty());
  }
}

TEST_F(TlsStreamTest, AVerifyFailureSaysWhichCheckFailed) {
  TlsPem other_ca = test::make_ca();
  Endpoint s(TlsStream::server(server_ctx(), t0));
  Endpoint c(TlsStream::client(test::client_ctx(other_ca.cert), t0, "edge.example"));
  test::pump(c, s, t0);
  ASSERT_TRUE(c.failed);
  EXPECT_TRUE(c.reason.starts_with("server certificate refused: ")) << c.reason;
  EXPECT_EQ(c.reason.find("hostname"), std::string::npos) << c.reason;

  Endpoint s2(TlsStream::server(server_ctx(), t0));
  Endpoint c2(TlsStream::client(test::client_ctx(ca.cert), t0, "trunk.example"));
  test::pump(c2, s2, t0);
  ASSERT_TRUE(c2.failed);
  EXPECT_EQ(c2.reason, "server certificate refused: hostname mismatch");
}

TEST_F(TlsStreamTest, UnreadInputIsBounded) {
  auto [s, c] = connect(server_ctx(), test::client_ctx(ca.cert));
  std::string chunk(8 * 1024, 'x');
  int writes = 0;
  // The server is fed but never polled.
  while (!s.stream.wants_close() && writes < 100) {
    ASSERT_EQ(c.stream.write(test::bytes_of(chunk)), chunk.size());
    auto out = c.stream.pending_output();
    s.stream.handle_bytes(t0, out);
    c.stream.consume_output(out.size());
    ++writes;
  }
  EXPECT_LT(writes, 10);
  s.drain();
  ASSERT_TRUE(s.failed);
  EXPECT_EQ(*s.failed, TlsFailure::backlog);
}

TEST_F(TlsStreamTest, APeerThatNeverReadsOurAnswersIsCutOff) {
  auto [s, c] = connect(server_ctx(), test::client_ctx(ca.cert));
  SSL* cssl = c.stream.native_handle();
  std::size_t rounds = 0;
  // Each KeyUpdate(update_requested) makes the server answer with one (RFC 8446 §4.6.3); the
  // server's output is never sent, as with a peer that stopped reading.
  while (!s.stream.wants_close() && rounds < 20000) {
    ASSERT_EQ(c.stream.write(test::bytes_of("x")), 1u);
    ASSERT_EQ(SSL_key_update(cssl, SSL_KEY_UPDATE_REQUESTED), 1);
    ASSERT_EQ(SSL_do_handshake(cssl), 1);
    auto out = c.stream.pending_output();
    s.stream.handle_bytes(t0, out);
    c.stream.consume_output(out.size());
    s.drain();
    ++rounds;
  }
  ASSERT_TRUE(s.failed) << rounds;
  EXPECT_EQ(*s.failed, TlsFailure::backlog);
  EXPECT_LE(s.stream.pending_output().size(), TlsStream::kMaxPendingOutput + TlsStream::kProtocolOutputSlack + 1024);
}

TEST_F(TlsStreamTest, AnIdleConnectionHoldsNoBuffers) {
  auto [s, c] = connect(server_ctx(), test::client_ctx(ca.cert));
  test::write_all(c, s, t0, std::string(40 * 1024, 'a'));
  test::write_all(s, c, t0, std::string(40 * 1024, 'b'));
  EXPECT_EQ(s.data.size(), 40u * 1024);
  EXPECT_EQ(s.stream.buffer_bytes(), 0u);
  EXPECT_EQ(c.stream.buffer_bytes(), 0u);
}

TEST_F(TlsStreamTest, AnIdleConnectionKeepsNoBiosAndWorksOnAfterwards) {
  auto [s, c] = connect(server_ctx(), test::client_ctx(ca.cert));
  test::write_all(c, s, t0, "REGISTER");
  test::write_all(s, c, t0, "200 OK");
  // Both sides drained: neither keeps a memory BIO (they come back with the next record).
  EXPECT_EQ(SSL_get_rbio(s.stream.native_handle()), nullptr);
  EXPECT_EQ(SSL_get_wbio(s.stream.native_handle()), nullptr);
  EXPECT_EQ(SSL_get_rbio(c.stream.native_handle()), nullptr);
  EXPECT_EQ(SSL_get_wbio(c.stream.native_handle()), nullptr);
  test::write_all(c, s, t0, std::string(20 * 1024, 'a'));
  test::write_all(s, c, t0, "bye");
  EXPECT_EQ(s.data.size(), 8u + 20 * 1024);
  EXPECT_EQ(c.data.size(), 9u);
  EXPECT_EQ(SSL_get_wbio(s.stream.native_handle()), nullptr);
  // A server that answers between two poll_event calls (the WebSocket upgrade): the answer sent,
  // the next poll_event finds nothing to read and frees the plaintext buffer too.
  ASSERT_EQ(c.stream.write(test::bytes_of("GET")), 3u);
  auto req = c.stream.pending_output();
  s.stream.handle_bytes(t0, req);
  c.stream.consume_output(req.size());
  auto ev = s.stream.poll_event();
  ASSERT_TRUE(ev && std::holds_alternative<TlsData>(*ev));
  ASSERT_EQ(s.stream.write(test::bytes_of("101")), 3u);
  s.stream.consume_output(s.stream.pending_output().size());
  EXPECT_FALSE(s.stream.poll_event());
  EXPECT_EQ(s.stream.buffer_bytes(), 0u);
  // A close_notify from the idle side still goes out and is answered.
  c.stream.close();
  test::pump(c, s, t0);
  EXPECT_TRUE(s.closed);
}

TEST_F(TlsStreamTest, AReloadLeavesEstablishedConnectionsAlone) {
  std::shared_ptr<const TlsContext> slot = server_ctx();
  auto [s, c] = connect(slot, test::client_ctx(ca.cert));
  TlsPem renewed = test::make_cert({"edge.example"}, TlsCertSpec::KeyType::ec_p256, &ca, "renewed");
  TlsServerConfig config;
  config.certs = {test::pem_files(renewed)};
  ASSERT_TRUE(reload_tls_context(slot, config).ok());
  test::write_all(c, s, t0, "still here");
  EXPECT_EQ(s.data, "still here");  // the old context is alive as long as the connection
  auto [s2, c2] = connect(slot, test::client_ctx(ca.cert));
  EXPECT_EQ(peer_subject(c2), "/CN=renewed");

  config.certs = {TlsCertFiles{"/nonexistent/cert.pem", "", "", ""}};
  const auto* before = slot.get();
  EXPECT_FALSE(reload_tls_context(slot, config).ok());
  EXPECT_EQ(slot.get(), before);
}

}  // namespace
}  // namespace webtrunk::core
