// The emulated stream trunk of `webtrunk bench calls --trunk-transport tcp|tls` (bench/tools/
// sip_load_trunk_stream.hpp) against a client on loopback sockets: what the edge would see. Over TLS
// the client verifies the trunk's certificate for 127.0.0.1 against the CA made with it (as the edge
// does with --trunk-ca), so the TLS side is checked here too, without an edge that speaks TLS.
#include "bench/tools/sip_load_trunk_stream.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "bench/tools/sip_load_messages.hpp"
#include "core/socket.hpp"
#include "core/tls_certificate.hpp"
#include "core/tls_context.hpp"
#include "core/tls_stream.hpp"
#include "sip/parser.hpp"
#include "sip/stream_framer.hpp"

namespace webtrunk::bench {
namespace {

std::string invite(std::uint32_t call) {
  const std::string number = fmt::format("{}{:08}", kNumberPrefix, call);
  return fmt::format(
      "INVITE sip:{0}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK{1}\r\n"
      "From: <sip:edge@127.0.0.1>;tag=f{1}\r\nTo: <sip:{0}@127.0.0.1>\r\nCall-ID: c{1}@127.0.0.1\r\n"
      "CSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
      number, call);
}

// The edge's side of one connection: plain TCP or TLS (verifying the trunk against `ca_pem`).
class EdgeSide {
 public:
  EdgeSide(TrunkStreamServer& trunk, const std::string* ca_pem) : trunk_(trunk) {
    fd_ = connect_loopback(trunk.port());
    EXPECT_GE(fd_, 0);
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
    if (ca_pem != nullptr) {
      core::TlsClientConfig cfg;
      cfg.system_cas = false;
      cfg.extra_ca_pem = *ca_pem;
      auto ctx = core::TlsContext::client(cfg);
      EXPECT_TRUE(static_cast<bool>(ctx));
      if (ctx) tls_.emplace(core::TlsStream::client(*ctx, core::monotonic_now(), "127.0.0.1"));
    }
  }
  ~EdgeSide() {
    if (fd_ >= 0) ::close(fd_);
  }

  void send(std::string_view text) {
    pending_ += text;
    flush();
  }
  // Runs both ends for `rounds` turns of up to 10 ms.
  void pump(int rounds) {
    int n = 0;
    pump_until([&] { return n++ >= rounds; });
  }
  // Runs both ends until `done` or 3 s; false on the timeout.
  bool pump_until(const std::function<bool()>& done) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (!done()) {
      if (std::chrono::steady_clock::now() > until) return false;
      pollfd p[2] = {{fd_, POLLIN, 0}, {trunk_.fd(), POLLIN, 0}};
      ::poll(p, 2, 10);
      trunk_.on_readable();
      receive();
      flush();
    }
    return true;
  }

  std::vector<int> codes;  // status codes of the responses received, in order
  int pongs = 0;           // CRLF keep-alive answers
  bool closed = false;     // the trunk closed the connection
  std::string tls_error;

 private:
  void flush() {
    if (tls_) {
      if (tls_->is_open() && !pending_.empty()) {
        pending_.erase(0, tls_->write(std::as_bytes(std::span(pending_))));
      }
      const auto out = tls_->pending_output();
      if (!out.empty()) {
        const ssize_t r = ::send(fd_, out.data(), out.size(), MSG_NOSIGNAL);
        if (r > 0) tls_->consume_output(static_cast<std::size_t>(r));
      }
    } else if (!pending_.empty()) {
      const ssize_t r = ::send(fd_, pending_.data(), pending_.size(), MSG_NOSIGNAL);
      if (r > 0) pending_.erase(0, static_cast<std::size_t>(r));
    }
  }
  void receive() {
    std::array<std::byte, 16384> buf{};
    for (;;) {
      const ssize_t r = ::recv(fd_, buf.data(), buf.size(), 0);
      if (r == 0) closed = true;
      if (r <= 0) return;
      const std::span<const std::byte> got(buf.data(), static_cast<std::size_t>(r));
      if (!tls_) {
        take(got);
        continue;
      }
      tls_->handle_bytes(core::monotonic_now(), got);
      while (auto ev = tls_->poll_event()) {
        if (const auto* d = std::get_if<core::TlsData>(&*ev)) take(d->bytes);
        if (const auto* f = std::get_if<core::TlsFailed>(&*ev)) tls_error = std::string(f->reason);
      }
    }
  }
  void take(std::span<const std::byte> bytes) {
    // A lone CRLF (the pong) is what the framer skips; count it before it does.
    if (bytes.size() == 2 && bytes[0] == std::byte{'\r'} && bytes[1] == std::byte{'\n'}) ++pongs;
    framer_.feed(bytes);
    for (auto n = framer_.next(); n.kind != sip::StreamFramer::Kind::none; n = framer_.next()) {
      if (n.kind != sip::StreamFramer::Kind::message) continue;
      sip::MessageView m;
      ASSERT_EQ(sip::parse_message(n.message, m).status, sip::ParseStatus::ok);
      codes.push_back(m.status_code());
    }
  }

  TrunkStreamServer& trunk_;
  int fd_ = -1;
  std::optional<core::TlsStream> tls_;
  sip::StreamFramer framer_;
  std::string pending_;
};

class TrunkStreamTest : public ::testing::TestWithParam<bool> {  // true: TLS
 protected:
  void SetUp() override {
    emu_.on_invite = [this](std::uint32_t idx, bool first, std::int64_t, std::int64_t) {
      invites_.push_back(idx);
      firsts_ += first ? 1 : 0;
    };
    emu_.on_ack = [](std::uint32_t) {};
    emu_.on_bye = [](std::uint32_t) {};
    std::string err;
    if (GetParam()) {
      core::TlsCertSpec ca_spec;
      ca_spec.common_name = "test CA";
      ca_spec.ca = true;
      auto ca = core::make_tls_certificate(ca_spec);
      ASSERT_TRUE(static_cast<bool>(ca));
      core::TlsCertSpec leaf_spec;
      leaf_spec.common_name = "127.0.0.1";
      leaf_spec.dns_names = {"127.0.0.1"};
      auto leaf = core::make_tls_certificate(leaf_spec, &*ca);
      ASSERT_TRUE(static_cast<bool>(leaf));
      ca_pem_ = ca->cert;
      ASSERT_TRUE(trunk_.open(&*leaf, err)) << err;
    } else {
      ASSERT_TRUE(trunk_.open(nullptr, err)) << err;
    }
  }
  const std::string* ca() const { return GetParam() ? &ca_pem_ : nullptr; }

  TrunkEmulator emu_{TrunkEmulator::Options{false, true, 10}};
  TrunkStreamServer trunk_{emu_};
  std::string ca_pem_;
  std::vector<std::uint32_t> invites_;
  int firsts_ = 0;
};

TEST_P(TrunkStreamTest, AnswersEachInviteOnTheConnectionItCameIn) {
  EdgeSide edge(trunk_, ca());
  edge.send(invite(3));
  ASSERT_TRUE(edge.pump_until([&] { return edge.codes.size() >= 2; })) << edge.tls_error;
  EXPECT_EQ(edge.codes, (std::vector<int>{180, 200}));
  EXPECT_EQ(invites_, std::vector<std::uint32_t>{3});
  // A second call on the same connection, its INVITE cut in two, and a message for an unknown call.
  const std::string second = invite(4);
  edge.send(second.substr(0, 100));
  edge.pump(20);
  EXPECT_EQ(edge.codes.size(), 2u) << "half an INVITE got an answer";
  edge.send(second.substr(100));
  edge.send(invite(99));
  ASSERT_TRUE(edge.pump_until([&] { return edge.codes.size() >= 5; })) << edge.tls_error;
  EXPECT_EQ(edge.codes, (std::vector<int>{180, 200, 180, 200, 404}));
  EXPECT_EQ(invites_, (std::vector<std::uint32_t>{3, 4}));
  EXPECT_EQ(trunk_.connections_accepted(), 1u);
  EXPECT_TRUE(trunk_.anomalies.empty());
}

TEST_P(TrunkStreamTest, AnswersAKeepAlivePingWithAPong) {
  EdgeSide edge(trunk_, ca());
  edge.send("\r\n\r\n");
  ASSERT_TRUE(edge.pump_until([&] { return edge.pongs == 1; })) << edge.tls_error;
  EXPECT_TRUE(edge.codes.empty());
}

TEST_P(TrunkStreamTest, ClosesAConnectionThatSendsAMessageWithoutContentLength) {
  EdgeSide edge(trunk_, ca());
  edge.send("OPTIONS sip:trunk@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK1\r\n\r\n");
  ASSERT_TRUE(edge.pump_until([&] { return edge.closed; })) << edge.tls_error;
  EXPECT_TRUE(edge.codes.empty());
  ASSERT_EQ(trunk_.anomalies.size(), 1u);
  EXPECT_TRUE(trunk_.anomalies.begin()->first.starts_with("trunk stream framing")) << trunk_.anomalies.begin()->first;
}

INSTANTIATE_TEST_SUITE_P(Transports, TrunkStreamTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& i) { return i.param ? "Tls" : "Tcp"; });

}  // namespace
}  // namespace webtrunk::bench
