// bench_media_relay's peers (the forked child, pinned to --peer-cpu): --calls emulated browsers
// (media_browser.hpp: ICE, DTLS client, SRTP) and --trunk-sockets echoing trunk sockets on one
// Shard, driven by the relay side over the control channel (bench/tools/media_relay.cpp).
#include <fmt/format.h>

#include <array>
#include <cstring>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "bench/tools/media_browser.hpp"
#include "bench/tools/media_relay_common.hpp"
#include "core/bytes.hpp"
#include "core/delay_histogram.hpp"
#include "core/reactor.hpp"
#include "media/rtp.hpp"
#include "media/types.hpp"

namespace webtrunk::bench::media_relay {
namespace {

using wt::core::DelayHistogram;

using namespace std::chrono_literals;

class Peers;

struct Browser final : wt::core::UdpHandler {
  enum class State { idle, ice, dtls, ready, failed };
  Peers* peers = nullptr;
  unsigned index = 0;
  std::unique_ptr<wt::bench::EmulatedBrowser> em;
  wt::core::UdpId udp;
  wt::core::SockAddr edge;  // the relay's address for this browser
  State state = State::idle;
  std::uint16_t seq = 0;
  std::uint32_t ts = 0;
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  void on_datagram(wt::core::Shard& shard, wt::core::UdpId id, const wt::core::SockAddr& peer,
                   std::span<std::byte> payload) override;
};

struct TrunkEcho final : wt::core::UdpHandler {
  std::uint64_t received = 0;
  std::uint64_t echoed = 0;
  DelayHistogram one_way;  // browser -> relay -> trunk
  void on_datagram(wt::core::Shard& shard, wt::core::UdpId id, const wt::core::SockAddr& peer,
                   std::span<std::byte> payload) override {
    ++received;
    if (const std::int64_t t = stamp_of(payload); t != 0) one_way.add(monotonic_ns() - t);
    if (shard.forward(id, peer, payload)) ++echoed;  // from the very buffer it arrived in
  }
};

class Peers {
 public:
  Peers(const Options& o, Channel& ch) : o_(o), ch_(ch) {}

  void run() {
    pin(o_.peer_cpu);
    tls_ = wt::bench::BrowserTls::make(o_.profiles.c_str());
    if (!tls_) die("peers: browser TLS context");
    wt::core::ShardConfig sc;
    sc.index = 1;
    sc.udp_buffers = 4096;
    sc.fixed_files = 0;
    // Room for the sends of a burst after the emulator got no CPU for a while (every browser's
    // packet leaves from its own socket, so they are separate sends).
    sc.sq_entries = 4096;
    sc.cq_entries = 32768;
    sc.udp_send_copies = 16384;
    sc.udp_sends_in_flight = 32768;
    auto s = wt::core::Shard::create(sc);
    if (!s) die(s.error().message);
    shard_ = std::move(s.value());
    std::string hello = "hello " + tls_->fingerprint();
    for (unsigned k = 0; k < o_.trunk_sockets; ++k) {
      auto t = shard_->open_udp(wt::core::SockAddr::ipv4_loopback(0), trunk_,
                                wt::core::UdpOptions{false, 4 << 20, 4 << 20, {}});
      if (!t) die(t.error().message);
      hello += " " + shard_->udp_address(t.value()).to_string();
    }
    ch_.send(hello);

    browsers_.resize(o_.calls);
    const bool rtpengine = o_.relay == "rtpengine";
    if (rtpengine) {
      // rtpengine has a port per call and takes the browser's candidate from its offer: the
      // sockets exist before the offers, unconnected.
      std::string ports = "ports";
      for (unsigned i = 0; i < o_.calls; ++i) {
        auto u = shard_->open_udp(wt::core::SockAddr::ipv4_loopback(0), browsers_[i], wt::core::UdpOptions{});
        if (!u) die(fmt::format("peers: browser socket {}: {}", i, u.error().message));
        browsers_[i].udp = u.value();
        ports += fmt::format(" {}", shard_->udp_address(u.value()).port());
      }
      ch_.send(ports);
    }
    std::vector<std::string> fingerprints(browsers_.size());
    std::vector<wt::media::IceCredentials> creds(browsers_.size());
    for (;;) {
      const std::string line = ch_.recv().value();
      std::istringstream in(line);
      std::string kind;
      in >> kind;
      if (kind == "go") break;
      unsigned i = 0;
      wt::media::IceCredentials edge_ice;
      std::string addr;
      in >> i >> edge_ice.ufrag >> edge_ice.pwd >> addr;
      if (i >= browsers_.size()) die("peers: bad session line");
      in >> fingerprints[i];
      creds[i] = edge_ice;
      auto a = wt::core::SockAddr::parse(addr);
      if (!a) die("peers: bad relay address " + addr);
      browsers_[i].edge = a.value();
    }
    for (unsigned i = 0; i < o_.calls; ++i) {
      Browser& b = browsers_[i];
      b.peers = this;
      b.index = i;
      b.em = std::make_unique<wt::bench::EmulatedBrowser>(
          *tls_, wt::media::IceCredentials{browser_ufrag(i), kBrowserPwd}, creds[i], fingerprints[i]);
      b.ts = static_cast<std::uint32_t>(i * 7919u);
      if (rtpengine) continue;
      // Connected to the edge's browser port, as a browser's candidate pair is: plain receives,
      // no route lookup per send (the emulator must not be the bottleneck).
      auto u = shard_->open_udp(wt::core::SockAddr::ipv4_loopback(0), b, wt::core::UdpOptions{false, 0, 0, b.edge});
      if (!u) die(fmt::format("peers: browser socket {}: {}", i, u.error().message));
      b.udp = u.value();
    }
    setup_t0_ = wt::core::monotonic_now();
    shard_->add_timer(1ms, [this] { setup_tick(); });
    shard_->add_timer(250ms, [this] { retransmit_tick(); });
    auto r = shard_->run();
    if (!r) die(r.error().message);
  }

  void on_browser_datagram(Browser& b, std::span<std::byte> payload) {
    const auto cls = wt::media::classify(payload);
    if (cls == wt::media::PacketClass::stun) {
      if (b.state == Browser::State::ice && b.em->check_answered(payload)) {
        b.state = Browser::State::dtls;
        if (!b.em->start_dtls()) return fail(b);
        flush_dtls(b);
      }
    } else if (cls == wt::media::PacketClass::dtls) {
      if (b.state != Browser::State::dtls) return;
      b.em->on_dtls(payload);
      flush_dtls(b);
      if (!b.em->error().empty()) return fail(b);
      if (b.em->connected()) {
        b.state = Browser::State::ready;
        ++ready_;
        --in_flight_;
        if (!profile_) profile_ = b.em->profile();
      }
    } else if (cls == wt::media::PacketClass::rtp && b.state == Browser::State::ready) {
      auto r = b.em->rx().unprotect_rtp(payload, payload.size());
      if (r) {
        ++b.received;
        if (const std::int64_t t = stamp_of(payload.first(r.value())); t != 0) round_trip_.add(monotonic_ns() - t);
      } else {
        ++bad_;
      }
    }
  }

 private:
  void fail(Browser& b) {
    if (b.state == Browser::State::failed) return;
    b.state = Browser::State::failed;
    ++failed_;
    --in_flight_;
  }
  void flush_dtls(Browser& b) {
    while (auto d = b.em->poll_dtls()) shard_->send_to(b.udp, b.edge, *d);
  }
  void send_check(Browser& b) {
    std::array<std::byte, 512> req{};
    const std::size_t n = b.em->make_check(req, true);
    shard_->send_to(b.udp, b.edge, std::span(req.data(), n));
  }

  void setup_tick() {
    while (in_flight_ < o_.concurrency && next_ < browsers_.size()) {
      Browser& b = browsers_[next_++];
      b.state = Browser::State::ice;
      ++in_flight_;
      send_check(b);
    }
    const bool all = ready_ + failed_ == browsers_.size();
    if (all || seconds_since(setup_t0_) > o_.setup_timeout) {
      setup_s_ = seconds_since(setup_t0_);
      ch_.send(fmt::format("setup_done {} {} {:.3f}", ready_, failed_, setup_s_));
      // The edge measures its memory now; media starts once it says so.
      (void)ch_.recv();
      start_media();
      return;
    }
    shard_->add_timer(1ms, [this] { setup_tick(); });
  }

  void retransmit_tick() {
    if (media_started_) return;
    for (Browser& b : browsers_) {
      if (b.state == Browser::State::ice) {
        send_check(b);
      } else if (b.state == Browser::State::dtls) {
        b.em->dtls_timeout();
        flush_dtls(b);
      }
    }
    shard_->add_timer(250ms, [this] { retransmit_tick(); });
  }

  void start_media() {
    media_started_ = true;
    wait0_ = runqueue_wait_s();
    trunk0_ = trunk_.received;
    back0_ = 0;
    for (const Browser& b : browsers_) back0_ += b.received;
    ch_.send("media_start");
    media_t0_ = wt::core::monotonic_now();
    slots_done_ = 0;
    shard_->add_timer(1ms, [this] { media_tick(); });
  }

  // Sends every packet due by now: browser i sends in slot (i mod slots) of each packet interval.
  void media_tick() {
    const double interval_s = 1.0 / o_.rate;
    constexpr unsigned kSlots = 20;
    const double elapsed = seconds_since(media_t0_);
    const bool last = elapsed >= o_.seconds;
    const auto due = static_cast<std::uint64_t>(std::min(elapsed, o_.seconds) / (interval_s / kSlots));
    std::array<std::byte, 1500> buf{};
    for (; slots_done_ < due; ++slots_done_) {
      const unsigned slot = static_cast<unsigned>(slots_done_ % kSlots);
      for (unsigned i = slot; i < browsers_.size(); i += kSlots) {
        Browser& b = browsers_[i];
        if (b.state != Browser::State::ready) continue;
        buf[0] = std::byte{0x80};
        buf[1] = std::byte{0};  // PCMU
        wt::core::store_be16(buf.data() + 2, b.seq++);
        wt::core::store_be32(buf.data() + 4, b.ts);
        wt::core::store_be32(buf.data() + 8, 0x10000u + i);
        b.ts += 160;
        std::memset(buf.data() + 12, 0xd5, o_.payload);  // PCMU silence
        if (o_.payload >= 8) {
          const auto now_ns = static_cast<std::uint64_t>(monotonic_ns());
          wt::core::store_be32(buf.data() + 12, static_cast<std::uint32_t>(now_ns >> 32));
          wt::core::store_be32(buf.data() + 16, static_cast<std::uint32_t>(now_ns));
        }
        auto r = b.em->tx().protect_rtp(buf, 12 + o_.payload);
        if (!r) die("peers: protect failed");
        if (shard_->send_to(b.udp, b.edge, std::span(buf.data(), r.value()))) ++b.sent;
      }
    }
    if (last) {
      wait_s_ = runqueue_wait_s() - wait0_;
      std::uint64_t back = 0;
      for (const Browser& b : browsers_) back += b.received;
      // What the relay delivered so far each way: its CPU over the same window is per these packets.
      ch_.send(fmt::format("media_end {} {}", trunk_.received - trunk0_, back - back0_));
      shard_->add_timer(1s, [this] { finish(); });  // drain
      return;
    }
    shard_->add_timer(1ms, [this] { media_tick(); });
  }

  void finish() {
    std::uint64_t sent = 0;
    std::uint64_t received = 0;
    for (const Browser& b : browsers_) {
      sent += b.sent;
      received += b.received;
    }
    const wt::core::ShardStats& st = shard_->stats();
    ch_.send(fmt::format("result {} {} {} {} {} {} {} {} {} {} {:.3f} {:.0f} {:.0f} {:.0f} {:.0f} {:.0f}", ready_,
                         failed_, sent, received, bad_, trunk_.received, trunk_.echoed,
                         profile_ ? wt::media::to_string(*profile_) : "none", st.udp_send_dropped, st.enobufs, wait_s_,
                         round_trip_.quantile_us(0.5), round_trip_.quantile_us(0.99), round_trip_.quantile_us(0.999),
                         trunk_.one_way.quantile_us(0.5), trunk_.one_way.quantile_us(0.99)));
    shard_->request_stop();
  }

  const Options& o_;
  Channel& ch_;
  std::unique_ptr<wt::bench::BrowserTls> tls_;
  std::unique_ptr<wt::core::Shard> shard_;
  TrunkEcho trunk_;
  std::vector<Browser> browsers_;
  DelayHistogram round_trip_;
  std::uint64_t trunk0_ = 0;
  std::uint64_t back0_ = 0;
  std::size_t next_ = 0;
  unsigned in_flight_ = 0;
  unsigned ready_ = 0;
  unsigned failed_ = 0;
  std::uint64_t bad_ = 0;
  std::optional<wt::media::SrtpProfile> profile_;
  wt::core::Instant setup_t0_;
  double setup_s_ = 0;
  bool media_started_ = false;
  wt::core::Instant media_t0_;
  std::uint64_t slots_done_ = 0;
  double wait0_ = 0;
  double wait_s_ = 0;
};

void Browser::on_datagram(wt::core::Shard&, wt::core::UdpId, const wt::core::SockAddr&, std::span<std::byte> payload) {
  peers->on_browser_datagram(*this, payload);
}

}  // namespace

void run_peers(const Options& o, Channel& ch) {
  Peers peers(o, ch);
  peers.run();
}

}  // namespace webtrunk::bench::media_relay
