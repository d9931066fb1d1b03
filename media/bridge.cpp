// MediaBridge: sessions, the relay both ways, and the end of a session. See media/bridge.hpp for
// what goes where; DTMF injection is in media/bridge_dtmf.cpp.
#include "media/bridge.hpp"

#include <fmt/format.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/log.hpp"
#include "media/bridge_session.hpp"
#include "media/rtp.hpp"

namespace webtrunk::media {
namespace {

using bridge_detail::kNoPt;
// Addresses one session's valid checks may bind (host, srflx and relay candidates of both address
// families fit); beyond that the oldest unselected one is forgotten, so no browser can fill the map.
constexpr std::size_t kMaxPaths = 8;

std::uint32_t random_u32() {
  std::uint32_t v = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&v), sizeof(v)) != 1) v = 0x5eed1234u;
  return v;
}

// RFC 3550 §A.1 sequence space: is `a` after `b`?
bool seq_after(std::uint16_t a, std::uint16_t b) noexcept {
  return static_cast<std::int16_t>(static_cast<std::uint16_t>(a - b)) > 0;
}

bool browser_may_send(Direction d) noexcept { return d == Direction::sendrecv || d == Direction::sendonly; }
bool browser_may_receive(Direction d) noexcept { return d == Direction::sendrecv || d == Direction::recvonly; }

std::uint64_t mix64(std::uint64_t x) noexcept {  // splitmix64's finalizer: spreads ports and addresses
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

std::size_t MediaBridge::AddrHash::operator()(const core::SockAddr& a) const noexcept {
  std::uint64_t h = static_cast<std::uint64_t>(a.port()) << 48;
  if (a.family() == AF_INET) {
    sockaddr_in in{};
    std::memcpy(&in, a.data(), sizeof(in));
    h ^= in.sin_addr.s_addr;
  } else if (a.family() == AF_INET6) {
    sockaddr_in6 in6{};
    std::memcpy(&in6, a.data(), sizeof(in6));
    std::uint64_t hi = 0;
    std::uint64_t lo = 0;
    std::memcpy(&hi, in6.sin6_addr.s6_addr, 8);
    std::memcpy(&lo, in6.sin6_addr.s6_addr + 8, 8);
    h ^= mix64(hi) ^ lo;
  }
  return static_cast<std::size_t>(mix64(h));
}

MediaBridge::MediaBridge(core::Shard& shard, MediaConfig cfg)
    : shard_(shard), cfg_(std::move(cfg)), ports_(cfg_.rtp_port_min, cfg_.rtp_port_max) {}

core::Result<std::unique_ptr<MediaBridge>> MediaBridge::open(core::Shard& shard, MediaConfig cfg) {
  if (!cfg.identity) return core::Error{-EINVAL, "media: no DTLS certificate"};
  std::unique_ptr<MediaBridge> b(new MediaBridge(shard, std::move(cfg)));
  core::UdpOptions opts;
  opts.recv_buffer = b->cfg_.browser_socket_buffer;
  opts.send_buffer = b->cfg_.browser_socket_buffer;
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
  for (const core::SockAddr* a : {&b->candidate_addr_, &b->cfg_.trunk_bind}) {
    const std::string text = a->to_string();
    if (text.starts_with("0.0.0.0:") || text.starts_with("[::]:")) {
      core::log(core::LogLevel::warn, "media.unspecified_address",
                "{} goes into SDP as is: set --public-ip (browser side) or a concrete bind address (trunk side)", text);
    }
  }
  b->arm_check();
  return b;
}

MediaBridge::~MediaBridge() {
  shard_.cancel_timer(check_timer_);
  shard_.cancel_timer(end_timer_);
  while (!sessions_.empty()) release(sessions_.begin()->first);
  shard_.close_udp(browser_udp_);
}

core::SockAddr MediaBridge::browser_address() const { return browser_addr_; }

BridgeSession* MediaBridge::find(SessionId id) const noexcept {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : it->second.get();
}

core::Result<SessionId> MediaBridge::create() {
  IceCredentials creds = make_local_ice_credentials();
  for (int i = 0; i < 4 && by_ufrag_.contains(creds.ufrag); ++i) creds = make_local_ice_credentials();
  if (by_ufrag_.contains(creds.ufrag)) return core::Error{-EAGAIN, "media: could not make a unique ICE ufrag"};

  // Session ids carry the shard so that they are unique in the process.
  const SessionId id = (static_cast<SessionId>(shard_.index() + 1) << 48) | next_id_++;
  auto s = std::make_unique<BridgeSession>(*this, id, creds, cfg_.consent_timeout);
  // A pair whose port another program holds is put back at the end of the queue and skipped.
  bool bound = false;
  for (std::size_t tries = ports_.free_pairs(); tries > 0 && !bound; --tries) {
    std::uint16_t port = 0;
    if (!ports_.take(port)) break;
    core::SockAddr rtp = cfg_.trunk_bind;
    rtp.set_port(port);
    core::SockAddr rtcp = cfg_.trunk_bind;
    rtcp.set_port(static_cast<std::uint16_t>(port + 1));
    auto a = shard_.open_udp(rtp, s->rtp_port);
    if (!a) {
      core::log(core::LogLevel::warn, "media.port_busy", "port={} why={}", port, a.error().message);
      ports_.give_back(port);
      continue;
    }
    auto b = shard_.open_udp(rtcp, s->rtcp_port);
    if (!b) {
      core::log(core::LogLevel::warn, "media.port_busy", "port={} why={}", port + 1, b.error().message);
      shard_.close_udp(a.value());
      ports_.give_back(port);
      continue;
    }
    s->rtp_udp = a.value();
    s->rtcp_udp = b.value();
    s->port = port;
    bound = true;
  }
  if (!bound) {
    kMediaSessionsRefused.inc();
    return core::Error{-EADDRNOTAVAIL, fmt::format("media: no free RTP port pair in {}-{} ({} sessions on this shard)",
                                                   ports_.min(), ports_.max(), sessions_.size())};
  }
  s->local.ice = creds;
  s->local.fingerprint = cfg_.identity->fingerprint_sha256();
  s->local.browser_addr = candidate_addr_;
  s->local.trunk_addr = shard_.udp_address(s->rtp_udp);
  s->ssrc = random_u32();
  s->last_seq = static_cast<std::uint16_t>(random_u32());
  s->last_ts = random_u32();
  s->last_ts_at = shard_.now();
  by_ufrag_.emplace(creds.ufrag, s.get());
  sessions_.emplace(id, std::move(s));
  kMediaSessionsActive.inc();
  return id;
}

const LocalMedia* MediaBridge::local(SessionId id) const {
  const BridgeSession* s = find(id);
  return s == nullptr ? nullptr : &s->local;
}

void MediaBridge::set_browser_remote(SessionId id, const BrowserRemote& remote) {
  BridgeSession* s = find(id);
  if (s == nullptr) return;
  s->ice.set_remote(remote.ice);
  s->remote_fingerprint = remote.fingerprint_sha256;
  if (s->dtls) s->dtls->set_remote_fingerprint(remote.fingerprint_sha256);
}

void MediaBridge::set_trunk_remote(SessionId id, const core::SockAddr& rtp, const CodecMap& codecs) {
  BridgeSession* s = find(id);
  if (s == nullptr) return;
  // Port 0 (a rejected stream) or 65535 (no room for RTCP) leaves nowhere to send.
  if (rtp.is_set() && rtp.port() != 0 && rtp.port() != 65535) {
    s->trunk_rtp = rtp;
    s->trunk_rtcp = rtp;
    s->trunk_rtcp.set_port(static_cast<std::uint16_t>(rtp.port() + 1));
  } else {
    s->trunk_rtp = s->trunk_rtcp = core::SockAddr{};
  }
  s->to_trunk_pt.fill(kNoPt);
  s->to_browser_pt.fill(kNoPt);
  for (const CodecMapping& c : codecs.codecs) {
    if (c.browser_pt >= 128 || c.trunk_pt >= 128) continue;
    s->to_trunk_pt[c.browser_pt] = c.trunk_pt;
    s->to_browser_pt[c.trunk_pt] = c.browser_pt;
  }
  if (codecs.browser_dtmf_pt && codecs.trunk_dtmf_pt && *codecs.browser_dtmf_pt < 128 && *codecs.trunk_dtmf_pt < 128) {
    s->to_trunk_pt[*codecs.browser_dtmf_pt] = *codecs.trunk_dtmf_pt;
    s->to_browser_pt[*codecs.trunk_dtmf_pt] = *codecs.browser_dtmf_pt;
  }
  s->trunk_dtmf_pt = codecs.trunk_dtmf_pt;
  s->dtmf_clock = 8000;
  for (const CodecMapping& c : codecs.codecs) {
    if (codecs.trunk_dtmf_pt && c.trunk_pt == *codecs.trunk_dtmf_pt && c.clock_rate > 0) s->dtmf_clock = c.clock_rate;
  }
}

void MediaBridge::set_direction(SessionId id, Direction d) {
  if (BridgeSession* s = find(id)) s->direction = d;
}

void MediaBridge::release(SessionId id) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  BridgeSession& s = *it->second;
  // close_udp: no on_datagram after it, so the ports' handlers may go with the session now.
  shard_.close_udp(s.rtp_udp);
  shard_.close_udp(s.rtcp_udp);
  ports_.give_back(s.port);
  shard_.cancel_timer(s.dtls_timer);
  shard_.cancel_timer(s.dtmf_timer);
  by_ufrag_.erase(s.local.ice.ufrag);
  for (const core::SockAddr& p : s.paths) {
    auto b = by_peer_.find(p);
    if (b != by_peer_.end() && b->second == &s) by_peer_.erase(b);
  }
  sessions_.erase(it);
  kMediaSessionsActive.dec();
}

std::optional<MediaSessionStats> MediaBridge::stats(SessionId id) const {
  const BridgeSession* s = find(id);
  if (s == nullptr) return std::nullopt;
  MediaSessionStats st = s->st;
  st.ice_selected = s->ice.selected() != nullptr;
  st.dtls_connected = s->srtp_rx != nullptr;
  st.profile = s->profile;
  return st;
}

void MediaBridge::drop(BridgeSession* s, const core::Counter& why) noexcept {
  why.inc();
  if (s != nullptr) ++s->st.dropped;
}

// ---- browser side ----

void MediaBridge::on_datagram(core::Shard&, core::UdpId, const core::SockAddr& peer, std::span<std::byte> payload) {
  const PacketClass cls = classify(payload);
  if (cls == PacketClass::stun) {
    on_stun(peer, payload);
    return;
  }
  if (cls == PacketClass::unknown) {
    drop(nullptr, kMediaDropMalformed);
    return;
  }
  auto it = by_peer_.find(peer);
  if (it == by_peer_.end()) {
    drop(nullptr, kMediaDropUnknownSession);
    return;
  }
  BridgeSession& s = *it->second;
  if (s.ended) {
    drop(&s, kMediaDropEnded);
  } else if (cls == PacketClass::dtls) {
    on_dtls(s, peer, payload);
  } else {
    on_srtp(s, peer, payload, cls == PacketClass::rtcp);
  }
}

void MediaBridge::on_stun(const core::SockAddr& peer, std::span<std::byte> pkt) {
  BridgeSession* s = nullptr;
  if (auto ufrag = stun_request_local_ufrag(pkt)) {
    auto it = by_ufrag_.find(*ufrag);
    if (it != by_ufrag_.end()) s = it->second;
  }
  // An ICE-lite agent sends no requests, so a response or indication has no session either.
  if (s == nullptr) {
    drop(nullptr, kMediaDropUnknownSession);
    return;
  }
  if (s->ended) {
    drop(s, kMediaDropEnded);
    return;
  }
  const IceLiteAgent::Reply reply = s->ice.handle(shard_.now(), pkt, peer, stun_out_);
  if (reply.len > 0) shard_.send_to(browser_udp_, peer, std::span<const std::byte>(stun_out_.data(), reply.len));
  if (reply.valid) bind_path(*s, peer);
}

void MediaBridge::bind_path(BridgeSession& s, const core::SockAddr& peer) {
  auto [it, inserted] = by_peer_.try_emplace(peer, &s);
  if (!inserted) {
    if (it->second == &s) return;
    // The address now checks for another session (a NAT gave the port to a new browser).
    auto& old = it->second->paths;
    old.erase(std::remove(old.begin(), old.end(), peer), old.end());
    it->second = &s;
  }
  if (s.paths.size() >= kMaxPaths) {
    const core::SockAddr* sel = s.ice.selected();
    auto victim = std::find_if(s.paths.begin(), s.paths.end(),
                               [&](const core::SockAddr& p) { return sel == nullptr || !(p == *sel); });
    by_peer_.erase(*victim);
    s.paths.erase(victim);
  }
  s.paths.push_back(peer);
}

void MediaBridge::on_dtls(BridgeSession& s, const core::SockAddr& peer, std::span<const std::byte> pkt) {
  if (!s.dtls) {
    if (!s.remote_fingerprint) {  // nothing to check the browser's certificate against yet
      drop(&s, kMediaDropNoPath);
      return;
    }
    s.dtls = std::make_unique<DtlsEndpoint>(cfg_.identity, *s.remote_fingerprint);
  }
  s.dtls_peer = peer;
  s.dtls->handle_datagram(shard_.now(), pkt);
  pump_dtls(s);
}

void MediaBridge::pump_dtls(BridgeSession& s) {
  while (auto out = s.dtls->poll_transmit()) shard_.send_to(browser_udp_, s.dtls_peer, *out);
  const DtlsEndpoint::State state = s.dtls->state();
  if (state == DtlsEndpoint::State::connected && !s.srtp_rx && !s.ending) {
    auto keys = s.dtls->take_srtp_keys();
    core::Result<std::unique_ptr<SrtpTransform>> rx = core::Error{-EINVAL, "no DTLS-SRTP keys"};
    core::Result<std::unique_ptr<SrtpTransform>> tx = core::Error{-EINVAL, "no DTLS-SRTP keys"};
    if (keys) {
      rx = make_srtp(cfg_.engine, keys->rx);
      tx = make_srtp(cfg_.engine, keys->tx);
    }
    if (rx && tx) {
      s.srtp_rx = std::move(rx.value());
      s.srtp_tx = std::move(tx.value());
      s.profile = keys->rx.profile;
      kMediaDtlsOk.inc();
      core::log(core::LogLevel::info, "media.dtls_connected", "session={} profile={} peer={}", s.id,
                to_string(keys->rx.profile), s.dtls_peer.to_string());
    } else {
      kMediaDtlsFailed.inc();
      core::log(core::LogLevel::warn, "media.srtp_failed", "session={} why={}", s.id,
                rx ? tx.error().message : rx.error().message);
      end_soon(s, MediaEnd::dtls_failed);
    }
  } else if (state == DtlsEndpoint::State::failed && !s.ending) {
    kMediaDtlsFailed.inc();
    core::log(core::LogLevel::warn, "media.dtls_failed", "session={} peer={} why={}", s.id, s.dtls_peer.to_string(),
              s.dtls->failure());
    end_soon(s, MediaEnd::dtls_failed);
  }
  arm_dtls_timer(s);
}

void MediaBridge::arm_dtls_timer(BridgeSession& s) {
  const std::optional<core::Instant> at = s.dtls->poll_timeout();
  if (at == s.dtls_timer_at && (s.dtls_timer || !at)) return;
  shard_.cancel_timer(s.dtls_timer);
  s.dtls_timer = {};
  s.dtls_timer_at = at;
  if (!at) return;
  const SessionId id = s.id;
  s.dtls_timer = shard_.add_timer(std::max(core::Duration::zero(), *at - shard_.now()), [this, id] {
    BridgeSession* t = find(id);
    if (t == nullptr || !t->dtls) return;
    t->dtls_timer = {};
    t->dtls_timer_at.reset();
    t->dtls->handle_timeout(shard_.now());
    pump_dtls(*t);
  });
}

// Browser -> trunk: SRTP/SRTCP unprotected in place and sent on from the same buffer.
void MediaBridge::on_srtp(BridgeSession& s, const core::SockAddr& peer, std::span<std::byte> payload, bool rtcp) {
  if (!s.srtp_rx) {
    drop(&s, kMediaDropNoPath);
    return;
  }
  auto r = rtcp ? s.srtp_rx->unprotect_rtcp(payload, payload.size()) : s.srtp_rx->unprotect_rtp(payload, payload.size());
  if (!r) {
    switch (static_cast<SrtpError>(r.error().code)) {
      case SrtpError::auth_failed: drop(&s, kMediaDropAuth); break;
      case SrtpError::replayed:
      case SrtpError::too_old: drop(&s, kMediaDropReplay); break;
      default: drop(&s, kMediaDropMalformed); break;
    }
    return;
  }
  ++s.st.browser_rx;
  // RFC 7675 §5.1: authenticated media on the selected path counts as consent.
  if (const core::SockAddr* sel = s.ice.selected(); sel != nullptr && *sel == peer) s.ice.note_media(shard_.now());
  const std::span<std::byte> pkt = payload.first(r.value());
  if (rtcp) {
    if (!s.trunk_rtcp.is_set()) {
      drop(&s, kMediaDropNoPath);
    } else if (shard_.forward(s.rtcp_udp, s.trunk_rtcp, pkt)) {
      ++s.st.trunk_tx;
      kMediaToTrunk.inc();
    }
    return;
  }
  const std::optional<RtpHeader> h = parse_rtp(pkt);
  if (!h) {
    drop(&s, kMediaDropMalformed);
    return;
  }
  if (!browser_may_send(s.direction)) {
    drop(&s, kMediaDropDirection);
    return;
  }
  if (!s.trunk_rtp.is_set()) {
    drop(&s, kMediaDropNoPath);
    return;
  }
  const std::uint8_t pt = s.to_trunk_pt[h->payload_type & 0x7f];
  if (pt == kNoPt) {
    drop(&s, kMediaDropUnknownPt);
    return;
  }
  if (pt != h->payload_type) set_payload_type(pkt, pt);
  if (!s.seen_rtp || h->ssrc != s.ssrc) {
    // A new stream: if DTMF went out before it, continue that sequence; else keep the browser's.
    s.seq_offset = s.injected && !s.seen_rtp ? static_cast<std::uint16_t>(s.last_seq + 1 - h->seq) : 0;
    s.ssrc = h->ssrc;
    s.seen_rtp = true;
    s.last_seq = static_cast<std::uint16_t>(h->seq + s.seq_offset - 1);
  }
  const auto seq = static_cast<std::uint16_t>(h->seq + s.seq_offset);
  if (s.seq_offset != 0) set_sequence(pkt, seq);
  if (seq_after(seq, s.last_seq)) {
    s.last_seq = seq;
    s.last_ts = h->timestamp;
    s.last_ts_at = shard_.now();
  }
  if (shard_.forward(s.rtp_udp, s.trunk_rtp, pkt)) {
    ++s.st.trunk_tx;
    kMediaToTrunk.inc();
  }
}

// ---- trunk side ----

// Trunk -> browser: RTP/RTCP from the pinned address, protected in place into the tailroom.
void MediaBridge::on_trunk_datagram(BridgeSession& s, bool rtcp, const core::SockAddr& peer,
                                    std::span<std::byte> payload) {
  if (s.ended) {
    drop(&s, kMediaDropEnded);
    return;
  }
  const core::SockAddr& pinned = rtcp ? s.trunk_rtcp : s.trunk_rtp;
  if (!pinned.is_set() || !(peer == pinned)) {
    drop(&s, kMediaDropNotPinned);
    return;
  }
  ++s.st.trunk_rx;
  const core::SockAddr* to = s.ice.selected();
  if (!s.srtp_tx || to == nullptr) {  // nothing goes to the browser before DTLS is connected
    drop(&s, kMediaDropNoPath);
    return;
  }
  const std::size_t len = payload.size();
  if (rtcp) {
    if (!valid_rtcp(payload)) {
      drop(&s, kMediaDropMalformed);
      return;
    }
  } else {
    const std::optional<RtpHeader> h = parse_rtp(payload);
    if (!h) {
      drop(&s, kMediaDropMalformed);
      return;
    }
    if (!browser_may_receive(s.direction)) {
      drop(&s, kMediaDropDirection);
      return;
    }
    const std::uint8_t pt = s.to_browser_pt[h->payload_type & 0x7f];
    if (pt == kNoPt) {
      drop(&s, kMediaDropUnknownPt);
      return;
    }
    if (pt != h->payload_type) set_payload_type(payload, pt);
  }
  const std::span<std::byte> buf(payload.data(), len + shard_.datagram_tailroom());
  if (shard_.datagram_tailroom() < kSrtpMaxOverhead) {
    drop(&s, kMediaDropMalformed);
    return;
  }
  auto r = rtcp ? s.srtp_tx->protect_rtcp(buf, len) : s.srtp_tx->protect_rtp(buf, len);
  if (!r) {
    drop(&s, kMediaDropMalformed);
    return;
  }
  if (shard_.forward(browser_udp_, *to, buf.first(r.value()))) {
    ++s.st.browser_tx;
    kMediaToBrowser.inc();
  }
}

// ---- session end: consent freshness and DTLS failure ----

void MediaBridge::arm_check() {
  check_timer_ = shard_.add_timer(cfg_.check_interval, [this] {
    check_timer_ = {};
    check_sessions();
    arm_check();
  });
}

void MediaBridge::end_soon(BridgeSession& s, MediaEnd why) {
  s.ending = why;
  // Reported from a timer, never from inside the datagram being handled: the owner may release().
  if (!end_timer_) {
    end_timer_ = shard_.add_timer(core::Duration::zero(), [this] {
      end_timer_ = {};
      check_sessions();
    });
  }
}

void MediaBridge::check_sessions() {
  const core::Instant now = shard_.now();
  ending_.clear();
  for (auto& [id, s] : sessions_) {
    if (s->ended) continue;
    if (s->ending) {
      ending_.emplace_back(id, *s->ending);
    } else if (s->ice.consent_expired(now)) {
      kMediaConsentLost.inc();
      core::log(core::LogLevel::info, "media.consent_lost", "session={}", id);
      ending_.emplace_back(id, MediaEnd::consent_lost);
    }
  }
  for (const auto& [id, why] : ending_) {
    BridgeSession* s = find(id);
    if (s == nullptr || s->ended) continue;  // released by an earlier callback
    s->ended = true;
    s->dtmf_active = false;
    s->digits.clear();
    shard_.cancel_timer(s->dtmf_timer);
    if (on_ended) on_ended(id, why);
  }
}

}  // namespace webtrunk::media
