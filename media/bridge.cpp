// MediaBridge: sockets, the shard timer and MediaSessions around media::Relay. See
// media/bridge.hpp; the relay itself is media/relay.cpp.
#include "media/bridge.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>

#include "core/log.hpp"

namespace webtrunk::media {

// One trunk-side socket of a session: tells the bridge which session and whether RTP or RTCP.
class TrunkPort final : public core::UdpHandler {
 public:
  TrunkPort(MediaBridge& bridge, RelayPort port) : bridge_(bridge), port_(port) {}
  void on_datagram(core::Shard&, core::UdpId, const core::SockAddr& peer, std::span<std::byte> payload) override {
    bridge_.deliver(port_, peer, payload);
  }

 private:
  MediaBridge& bridge_;
  RelayPort port_;
};

// A session's trunk-side port pair; at a fixed address (the sockets' handlers point into it).
struct TrunkPorts {
  TrunkPorts(MediaBridge& bridge, SessionId id)
      : rtp_port(bridge, RelayPort{PortKind::trunk_rtp, id}), rtcp_port(bridge, RelayPort{PortKind::trunk_rtcp, id}) {}
  TrunkPort rtp_port;
  TrunkPort rtcp_port;
  core::UdpId rtp_udp;
  core::UdpId rtcp_udp;
  std::uint16_t port = 0;
};

namespace {

RelayConfig relay_config(const MediaConfig& c) {
  RelayConfig r;
  r.identity = c.identity;
  r.engine = c.engine;
  r.consent_timeout = c.consent_timeout;
  r.media_setup_timeout = c.media_setup_timeout;
  r.trunk_rtp_timeout = c.trunk_rtp_timeout;
  r.check_interval = c.check_interval;
  r.shared_trunk_port = c.trunk_rtp_mode == TrunkRtpMode::shared;
  return r;
}

}  // namespace

std::optional<TrunkRtpMode> parse_trunk_rtp_mode(std::string_view text) noexcept {
  if (text == "per-call") return TrunkRtpMode::per_call;
  if (text == "shared") return TrunkRtpMode::shared;
  return std::nullopt;
}

void set_edge_udp_buffers(core::ShardConfig& sc) {
  sc.udp_buffer_size = 8192 + 64;
  sc.udp_buffers = 512;
  sc.udp_small_buffers = 1024;
  sc.udp_small_buffer_size = 2048;
}

MediaBridge::MediaBridge(core::Shard& shard, MediaConfig cfg)
    : shard_(shard), cfg_(std::move(cfg)), relay_(relay_config(cfg_)), ports_(cfg_.rtp_port_min, cfg_.rtp_port_max) {
  if (cfg_.rtp_borrow_max != 0) ports_.set_borrow_range(cfg_.rtp_borrow_min, cfg_.rtp_borrow_max);
}

core::Result<std::unique_ptr<MediaBridge>> MediaBridge::open(core::Shard& shard, MediaConfig cfg) {
  if (!cfg.identity) return core::Error{-EINVAL, "media: no DTLS certificate"};
  std::unique_ptr<MediaBridge> b(new MediaBridge(shard, std::move(cfg)));
  core::UdpOptions opts;
  opts.recv_buffer = b->cfg_.browser_socket_buffer;
  opts.send_buffer = b->cfg_.browser_socket_buffer;
  opts.small_buffers = true;
  opts.rx_timestamps = b->cfg_.rx_timestamps;
  auto id = shard.open_udp(b->cfg_.browser_listen, *b, opts);
  if (!id) return core::Error{id.error().code, "media: browser-side socket: " + id.error().message};
  b->browser_udp_ = id.value();
  b->browser_addr_ = shard.udp_address(b->browser_udp_);
  b->candidate_addr_ = b->browser_addr_;
  if (!b->cfg_.public_ip.empty()) {
    const bool v6 = b->cfg_.public_ip.find(':') != std::string::npos;
    auto a = core::SockAddr::parse(v6 ? fmt::format("[{}]:{}", b->cfg_.public_ip, b->browser_addr_.port())
                                      : fmt::format("{}:{}", b->cfg_.public_ip, b->browser_addr_.port()));
    if (!a) return core::Error{-EINVAL, fmt::format("media: --public-ip {}: {}", b->cfg_.public_ip, a.error().message)};
    b->candidate_addr_ = a.value();
  }
  if (!b->cfg_.trunk_bind.is_set()) b->cfg_.trunk_bind = b->browser_addr_;
  if (b->cfg_.trunk_rtp_mode == TrunkRtpMode::shared) {
    auto t = std::make_unique<TrunkPorts>(*b, SessionId{0});
    core::UdpOptions topts;
    topts.recv_buffer = b->cfg_.browser_socket_buffer;
    topts.send_buffer = b->cfg_.browser_socket_buffer;
    topts.small_buffers = true;
    topts.rx_timestamps = b->cfg_.rx_timestamps;
    if (!b->take_pair(*t, topts)) {
      return core::Error{-EADDRNOTAVAIL, fmt::format("media: no free RTP port pair in {}-{} for the shared trunk port",
                                                     b->ports_.min(), b->ports_.max())};
    }
    b->shared_ = std::move(t);
  }
  for (const core::SockAddr* a : {&b->candidate_addr_, &b->cfg_.trunk_bind}) {
    const std::string text = a->to_string();
    if (text.starts_with("0.0.0.0:") || text.starts_with("[::]:")) {
      core::log(core::LogLevel::warn, "media.unspecified_address",
                "{} goes into SDP as is: set --public-ip (browser side) or a concrete bind address (trunk side)", text);
    }
  }
  return b;
}

MediaBridge::~MediaBridge() {
  shard_.cancel_timer(timer_);
  shard_.cancel_timer(end_timer_);
  while (!trunk_.empty()) release(trunk_.begin()->first);
  if (shared_) close_pair(*shared_);
  shard_.close_udp(browser_udp_);
}

core::SockAddr MediaBridge::browser_address() const { return browser_addr_; }

// Takes a port pair from the pool and opens its two sockets. A pair whose port another program
// (or a shard that borrowed it) holds is put back at the end of the queue and skipped. Once this
// shard's pairs are all taken, a pair is borrowed from the rest of --rtp-ports: a bounded number of
// binds, each the kernel's word on whether it is free.
bool MediaBridge::take_pair(TrunkPorts& t, const core::UdpOptions& opts) {
  for (std::size_t tries = ports_.free_pairs(); tries > 0; --tries) {
    std::uint16_t port = 0;
    if (!ports_.take(port)) break;
    if (bind_pair(t, port, false, opts)) return true;
    ports_.give_back(port);
  }
  constexpr std::size_t kBorrowTries = 64;
  for (std::size_t tries = std::min(kBorrowTries, ports_.borrow_pairs()); tries > 0; --tries) {
    std::uint16_t port = 0;
    if (!ports_.next_borrow(port)) break;
    if (bind_pair(t, port, true, opts)) {
      kMediaPortsBorrowed.inc();
      return true;
    }
  }
  return false;
}

core::Result<SessionId> MediaBridge::create() {
  IceCredentials creds = make_local_ice_credentials();
  for (int i = 0; i < 4 && relay_.has_ufrag(creds.ufrag); ++i) creds = make_local_ice_credentials();
  if (relay_.has_ufrag(creds.ufrag)) return core::Error{-EAGAIN, "media: could not make a unique ICE ufrag"};

  // Session ids carry the shard so that they are unique in the process.
  const SessionId id = (static_cast<SessionId>(shard_.index() + 1) << 48) | next_id_++;
  std::unique_ptr<TrunkPorts> t;
  if (!shared_) {
    t = std::make_unique<TrunkPorts>(*this, id);
    core::UdpOptions opts;
    opts.small_buffers = true;
    opts.rx_timestamps = cfg_.rx_timestamps;
    if (!take_pair(*t, opts)) {
      kMediaSessionsRefused.inc();
      return core::Error{-EADDRNOTAVAIL, fmt::format("media: no free RTP port pair in {}-{} nor to borrow ({} sessions on this shard)",
                                                     ports_.min(), ports_.max(), trunk_.size())};
    }
  }
  LocalMedia local;
  local.ice = creds;
  local.fingerprint = cfg_.identity->fingerprint_sha256();
  local.browser_addr = candidate_addr_;
  local.trunk_addr = shard_.udp_address((shared_ ? *shared_ : *t).rtp_udp);
  relay_.add_session(shard_.now(), id, std::move(local));
  trunk_.emplace(id, std::move(t));
  kMediaSessionsActive.inc();
  arm_timer();
  return id;
}

bool MediaBridge::bind_pair(TrunkPorts& t, std::uint16_t port, bool borrowed, const core::UdpOptions& opts) {
  core::SockAddr rtp = cfg_.trunk_bind;
  rtp.set_port(port);
  core::SockAddr rtcp = cfg_.trunk_bind;
  rtcp.set_port(static_cast<std::uint16_t>(port + 1));
  // A taken pair is expected where shards borrow (another shard's call holds it): a debug line
  // then; alone in its range, a taken port is another program's, worth a warning.
  const core::LogLevel level = borrowed || cfg_.rtp_borrow_max != 0 ? core::LogLevel::debug : core::LogLevel::warn;
  auto a = shard_.open_udp(rtp, t.rtp_port, opts);
  if (!a) {
    core::log(level, "media.port_busy", "port={} why={}", port, a.error().message);
    return false;
  }
  auto b = shard_.open_udp(rtcp, t.rtcp_port, opts);
  if (!b) {
    core::log(level, "media.port_busy", "port={} why={}", port + 1, b.error().message);
    shard_.close_udp(a.value());
    return false;
  }
  t.rtp_udp = a.value();
  t.rtcp_udp = b.value();
  t.port = port;
  return true;
}

const LocalMedia* MediaBridge::local(SessionId id) const { return relay_.local(id); }

void MediaBridge::set_browser_remote(SessionId id, const BrowserRemote& remote) {
  relay_.set_browser_remote(id, remote);
}

void MediaBridge::set_trunk_remote(SessionId id, const core::SockAddr& rtp, const CodecMap& codecs) {
  relay_.set_trunk_remote(shard_.now(), id, rtp, codecs);
}

void MediaBridge::set_direction(SessionId id, Direction d) { relay_.set_direction(id, d); }

bool MediaBridge::send_dtmf(SessionId id, char digit, std::uint32_t duration_ms) {
  const bool ok = relay_.send_dtmf(shard_.now(), id, digit, duration_ms);
  flush();
  return ok;
}

void MediaBridge::release(SessionId id) {
  auto it = trunk_.find(id);
  if (it == trunk_.end()) return;
  // close_udp: no on_datagram after it, so the ports' handlers may go with the session now.
  if (it->second) close_pair(*it->second);
  trunk_.erase(it);
  relay_.remove_session(id);
  kMediaSessionsActive.dec();
}

void MediaBridge::close_pair(TrunkPorts& t) {
  shard_.close_udp(t.rtp_udp);
  shard_.close_udp(t.rtcp_udp);
  ports_.give_back(t.port);
}

std::optional<MediaSessionStats> MediaBridge::stats(SessionId id) const { return relay_.stats(id); }

void MediaBridge::on_datagram(core::Shard&, core::UdpId, const core::SockAddr& peer, std::span<std::byte> payload) {
  deliver(RelayPort{}, peer, payload);
}

void MediaBridge::deliver(RelayPort port, const core::SockAddr& peer, std::span<std::byte> payload) {
  RxBuf rx(payload, shard_.datagram_tailroom());
  relay_.handle_datagram(shard_.now(), port, peer, rx);
  flush();
}

void MediaBridge::flush() {
  while (const std::optional<Transmit> t = relay_.poll_transmit()) {
    core::UdpId out = browser_udp_;
    if (t->from.kind != PortKind::browser) {
      const TrunkPorts* p = shared_.get();
      if (p == nullptr) {
        auto it = trunk_.find(t->from.session);
        if (it == trunk_.end()) continue;  // released meanwhile
        p = it->second.get();
      }
      out = t->from.kind == PortKind::trunk_rtp ? p->rtp_udp : p->rtcp_udp;
    }
    if (t->in_place) {
      (void)shard_.forward(out, t->to, t->data);
    } else {
      kMediaCopiedSends.inc();
      (void)shard_.send_to(out, t->to, t->data);
    }
  }
  while (auto e = relay_.poll_event()) ending_.push_back(*e);
  // Reported from a timer, never from inside the datagram or call being handled: the owner may release().
  if (!ending_.empty() && !end_timer_) {
    end_timer_ = shard_.add_timer(core::Duration::zero(), [this] {
      end_timer_ = {};
      std::vector<std::pair<SessionId, MediaEnd>> ended;
      ended.swap(ending_);
      for (const auto& [id, why] : ended) {
        if (trunk_.contains(id) && on_ended) on_ended(id, why);  // skip those released meanwhile
      }
    });
  }
  arm_timer();
}

void MediaBridge::arm_timer() {
  const std::optional<core::Instant> at = relay_.poll_timeout();
  if (at == timer_at_ && (timer_ || !at)) return;
  shard_.cancel_timer(timer_);
  timer_ = {};
  timer_at_ = at;
  if (!at) return;
  timer_ = shard_.add_timer(std::max(core::Duration::zero(), *at - shard_.now()), [this] {
    timer_ = {};
    timer_at_.reset();
    relay_.handle_timeout(shard_.now());
    flush();
  });
}

}  // namespace webtrunk::media
