// Relay: sessions, the relay both ways, and the end of a session. See media/relay.hpp for what
// goes where; DTMF injection is in media/relay_dtmf.cpp.
#include "media/relay.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/bytes.hpp"
#include "core/log.hpp"
#include "media/relay_session.hpp"
#include "media/rtp.hpp"

namespace webtrunk::media {
namespace {

using relay_detail::kNoPt;
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

// Whether `a` and `b` have the same IP (either family), ports aside.
bool same_ip(const core::SockAddr& a, const core::SockAddr& b) noexcept {
  core::SockAddr x = a;
  x.set_port(b.port());
  return x == b;
}

std::optional<core::Instant> earlier(std::optional<core::Instant> a, std::optional<core::Instant> b) noexcept {
  if (!a) return b;
  if (!b) return a;
  return std::min(*a, *b);
}

}  // namespace

std::size_t Relay::AddrHash::operator()(const core::SockAddr& a) const noexcept {
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

Relay::Relay(RelayConfig cfg) : cfg_(std::move(cfg)) { out_.reserve(8); }

Relay::~Relay() = default;

RelaySession* Relay::find(SessionId id) const noexcept {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : it->second.get();
}

void Relay::add_session(core::Instant now, SessionId id, LocalMedia local) {
  auto s = std::make_unique<RelaySession>(id, local.ice, cfg_.consent_timeout);
  s->local = std::move(local);
  s->ssrc = random_u32();
  s->last_seq = static_cast<std::uint16_t>(random_u32());
  s->last_ts = random_u32();
  s->last_ts_at = now;
  by_ufrag_.emplace(s->local.ice.ufrag, s.get());
  sessions_.emplace(id, std::move(s));
  if (!next_check_) next_check_ = now + cfg_.check_interval;
}

void Relay::remove_session(SessionId id) noexcept {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  RelaySession& s = *it->second;
  by_ufrag_.erase(s.local.ice.ufrag);
  unregister_trunk(s);
  for (const core::SockAddr& p : s.paths) {
    auto b = by_peer_.find(p);
    if (b != by_peer_.end() && b->second == &s) by_peer_.erase(b);
  }
  timed_.erase(id);
  // Transmits already queued for it keep their bytes (owned or in the RxBuf): nothing dangles.
  sessions_.erase(it);
  if (sessions_.empty()) next_check_.reset();
}

const LocalMedia* Relay::local(SessionId id) const noexcept {
  const RelaySession* s = find(id);
  return s == nullptr ? nullptr : &s->local;
}

void Relay::set_browser_remote(SessionId id, const BrowserRemote& remote) {
  RelaySession* s = find(id);
  if (s == nullptr) return;
  s->ice.set_remote(remote.ice);
  s->remote_fingerprint = remote.fingerprint_sha256;
  if (s->dtls) s->dtls->set_remote_fingerprint(remote.fingerprint_sha256);
}

void Relay::set_trunk_remote(core::Instant now, SessionId id, const core::SockAddr& rtp, const CodecMap& codecs) {
  RelaySession* s = find(id);
  if (s == nullptr) return;
  // The answer toward the browser goes out with (or before) the trunk's: from here the browser
  // has what it needs to finish ICE and DTLS.
  if (!s->setup_deadline && cfg_.media_setup_timeout > core::Duration::zero()) {
    s->setup_deadline = now + cfg_.media_setup_timeout;
  }
  if (!s->trunk_heard) s->trunk_heard = now;
  unregister_trunk(*s);
  s->trunk_rtp_fixed = s->trunk_rtcp_fixed = false;
  // Port 0 (a rejected stream) or 65535 (no room for RTCP) leaves nowhere to send.
  if (rtp.is_set() && rtp.port() != 0 && rtp.port() != 65535) {
    s->trunk_rtp = rtp;
    s->trunk_rtcp = rtp;
    s->trunk_rtcp.set_port(static_cast<std::uint16_t>(rtp.port() + 1));
    register_trunk(*s);
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

// Shared trunk port: the session answers to its trunk address (RTP and RTCP), and until it hears
// from the trunk also to an unknown source of that IP (waiting_). See relay.hpp for the order.
void Relay::register_trunk(RelaySession& s) {
  if (!cfg_.shared_trunk_port) return;
  auto& rtp_users = by_trunk_[0][s.trunk_rtp];
  auto& rtcp_users = by_trunk_[1][s.trunk_rtcp];
  if (rtp_users.size() >= kMaxSessionsPerTrunkAddress || rtcp_users.size() >= kMaxSessionsPerTrunkAddress) {
    if (rtp_users.empty()) by_trunk_[0].erase(s.trunk_rtp);
    if (rtcp_users.empty()) by_trunk_[1].erase(s.trunk_rtcp);
    kMediaTrunkAddressFull.inc();
    core::log(core::LogLevel::warn, "media.trunk_address_full",
              "session={} trunk={}: {} calls already share this trunk media address; this one gets no trunk media "
              "(use --trunk-rtp-mode per-call for this trunk)",
              s.id, s.trunk_rtp.to_string(), kMaxSessionsPerTrunkAddress);
    return;
  }
  rtp_users.push_back(&s);
  rtcp_users.push_back(&s);
  if (rtp_users.size() > 1) {
    kMediaTrunkAddressConflicts.inc();
    core::log(core::LogLevel::info, "media.trunk_address_shared",
              "session={} trunk={}: {} calls have this trunk media address; told apart by SSRC", s.id,
              s.trunk_rtp.to_string(), rtp_users.size());
  }
  for (int k = 0; k < 2; ++k) {
    core::SockAddr ip = k == 0 ? s.trunk_rtp : s.trunk_rtcp;
    ip.set_port(0);
    waiting_[k][ip].push_back(&s);
  }
  s.trunk_registered = true;
  s.trunk_answer = ++trunk_answers_;
}

void Relay::unregister_trunk(RelaySession& s) noexcept {
  if (!s.trunk_registered) return;
  s.trunk_registered = false;
  for (int k = 0; k < 2; ++k) {
    const core::SockAddr& addr = k == 0 ? s.trunk_rtp : s.trunk_rtcp;
    unlist(by_trunk_[k], addr, &s);
    if (!(k == 0 ? s.trunk_rtp_fixed : s.trunk_rtcp_fixed)) {
      core::SockAddr ip = addr;
      ip.set_port(0);
      unlist(waiting_[k], ip, &s);
    }
  }
}

void Relay::unlist(SessionsByAddr& m, const core::SockAddr& key, const RelaySession* s) noexcept {
  auto it = m.find(key);
  if (it == m.end()) return;
  std::erase(it->second, s);
  if (it->second.empty()) m.erase(it);
}

namespace {

// The SSRC a trunk packet names: RTP's, or the RTCP sender's (the first packet of a compound).
std::optional<std::uint32_t> packet_ssrc(std::span<const std::byte> pkt, bool rtcp) noexcept {
  const std::size_t at = rtcp ? 4 : 8;
  if (pkt.size() < at + 4) return std::nullopt;
  return core::load_be32(pkt.data() + at);
}

// Among sessions that share a trunk address (or wait on its IP): the one whose trunk SSRC is
// `ssrc`, else the only one with none known yet, else (`newest`) the one whose trunk SDP came last.
RelaySession* pick_by_ssrc(const std::vector<RelaySession*>& list, std::optional<std::uint32_t> ssrc,
                           bool newest) noexcept {
  if (!ssrc) return nullptr;
  RelaySession* unknown = nullptr;
  std::size_t unknowns = 0;
  RelaySession* last = nullptr;
  for (RelaySession* s : list) {
    if (s->trunk_ssrc == ssrc) return s;
    if (!s->trunk_ssrc) {
      unknown = s;
      ++unknowns;
    }
    if (last == nullptr || s->trunk_answer > last->trunk_answer) last = s;
  }
  if (unknowns == 1) return unknown;
  return unknowns == 0 && newest ? last : nullptr;
}

}  // namespace

RelaySession* Relay::trunk_sender(bool rtcp, const core::SockAddr& peer, std::span<const std::byte> pkt) noexcept {
  const int k = rtcp ? 1 : 0;
  if (auto it = by_trunk_[k].find(peer); it != by_trunk_[k].end()) {
    if (it->second.size() == 1) return it->second.front();
    RelaySession* s = pick_by_ssrc(it->second, packet_ssrc(pkt, rtcp), true);
    if (s == nullptr) drop(nullptr, kMediaDropTrunkAmbiguous);
    return s;
  }
  core::SockAddr ip = peer;
  ip.set_port(0);
  auto w = waiting_[k].find(ip);
  if (w == waiting_[k].end()) {
    drop(nullptr, kMediaDropNotPinned);
    return nullptr;
  }
  if (w->second.size() == 1) return w->second.front();
  RelaySession* s = pick_by_ssrc(w->second, packet_ssrc(pkt, rtcp), false);
  if (s == nullptr) drop(nullptr, kMediaDropTrunkAmbiguous);
  return s;
}

// Shared trunk port: `s` accepted a packet from `peer`; it now answers to that address and waits
// no more (RTP or RTCP).
void Relay::trunk_heard_at(RelaySession& s, bool rtcp, const core::SockAddr& peer) noexcept {
  if (!s.trunk_registered) return;
  const int k = rtcp ? 1 : 0;
  core::SockAddr& pinned = rtcp ? s.trunk_rtcp : s.trunk_rtp;
  core::SockAddr ip = pinned;
  ip.set_port(0);
  unlist(waiting_[k], ip, &s);
  if (peer == pinned) return;
  unlist(by_trunk_[k], pinned, &s);
  by_trunk_[k][peer].push_back(&s);  // one entry per session: bounded by the sessions
}

RelayPort Relay::trunk_port(PortKind kind, const RelaySession& s) const noexcept {
  return RelayPort{kind, cfg_.shared_trunk_port ? SessionId{0} : s.id};
}

void Relay::set_direction(SessionId id, Direction d) noexcept {
  if (RelaySession* s = find(id)) s->direction = d;
}

std::optional<MediaSessionStats> Relay::stats(SessionId id) const {
  const RelaySession* s = find(id);
  if (s == nullptr) return std::nullopt;
  MediaSessionStats st = s->st;
  st.ice_selected = s->ice.selected() != nullptr;
  st.dtls_connected = s->srtp_rx != nullptr;
  st.profile = s->profile;
  return st;
}

void Relay::drop(RelaySession* s, const core::Counter& why) noexcept {
  why.inc();
  if (s != nullptr) ++s->st.dropped;
}

// ---- output ----

void Relay::start_output() noexcept {
  // The previous call's transmits were drained (or are abandoned): their spans end here.
  if (out_next_ >= out_.size()) {
    out_.clear();
    out_next_ = 0;
  }
}

void Relay::emit_in_place(RelayPort from, const core::SockAddr& to, std::span<const std::byte> view) {
  Pending& p = out_.emplace_back();
  p.from = from;
  p.to = to;
  p.view = view;
  p.in_place = true;
}

void Relay::emit_copy(RelayPort from, const core::SockAddr& to, std::span<const std::byte> data) {
  Pending& p = out_.emplace_back();
  p.from = from;
  p.to = to;
  p.owned.assign(data.begin(), data.end());
  p.view = p.owned;
}

std::optional<Transmit> Relay::poll_transmit() noexcept {
  if (out_next_ >= out_.size()) return std::nullopt;
  const Pending& p = out_[out_next_++];
  return Transmit{p.from, p.to, p.view, p.in_place};
}

std::optional<std::pair<SessionId, MediaEnd>> Relay::poll_event() noexcept {
  if (events_next_ >= events_.size()) {
    events_.clear();
    events_next_ = 0;
    return std::nullopt;
  }
  return events_[events_next_++];
}

// ---- input ----

void Relay::handle_datagram(core::Instant now, RelayPort port, const core::SockAddr& peer, RxBuf& rx) noexcept {
  start_output();
  if (port.kind == PortKind::browser) {
    on_browser(now, peer, rx);
    return;
  }
  const bool rtcp = port.kind == PortKind::trunk_rtcp;
  if (port.session == 0) {  // the shared trunk port: the sender's address names the session
    RelaySession* s = trunk_sender(rtcp, peer, rx.payload());
    if (s == nullptr) return;  // dropped and counted
    on_trunk(now, *s, rtcp, peer, rx);
    return;
  }
  RelaySession* s = find(port.session);
  if (s == nullptr) {
    drop(nullptr, kMediaDropUnknownSession);
    return;
  }
  on_trunk(now, *s, rtcp, peer, rx);
}

void Relay::on_browser(core::Instant now, const core::SockAddr& peer, RxBuf& rx) noexcept {
  const std::span<std::byte> payload = rx.payload();
  const PacketClass cls = classify(payload);
  if (cls == PacketClass::stun) {
    on_stun(now, peer, payload);
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
  RelaySession& s = *it->second;
  if (s.ended) {
    drop(&s, kMediaDropEnded);
  } else if (cls == PacketClass::dtls) {
    on_dtls(now, s, peer, payload);
  } else {
    on_srtp(now, s, peer, rx, cls == PacketClass::rtcp);
  }
}

void Relay::on_stun(core::Instant now, const core::SockAddr& peer, std::span<std::byte> pkt) noexcept {
  RelaySession* s = nullptr;
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
  const IceLiteAgent::Reply reply = s->ice.handle(now, pkt, peer, stun_out_);
  if (reply.len > 0) emit_copy(RelayPort{}, peer, std::span<const std::byte>(stun_out_.data(), reply.len));
  if (reply.valid) bind_path(*s, peer);
}

void Relay::bind_path(RelaySession& s, const core::SockAddr& peer) {
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

void Relay::on_dtls(core::Instant now, RelaySession& s, const core::SockAddr& peer, std::span<const std::byte> pkt) {
  if (!s.dtls) {
    if (!s.remote_fingerprint) {  // nothing to check the browser's certificate against yet
      drop(&s, kMediaDropNoPath);
      return;
    }
    s.dtls = std::make_unique<DtlsEndpoint>(cfg_.identity, *s.remote_fingerprint);
  }
  s.dtls_peer = peer;
  s.dtls->handle_datagram(now, pkt);
  pump_dtls(now, s);
}

void Relay::pump_dtls(core::Instant now, RelaySession& s) {
  (void)now;
  while (auto out = s.dtls->poll_transmit()) emit_copy(RelayPort{}, s.dtls_peer, *out);
  const DtlsEndpoint::State state = s.dtls->state();
  if (state == DtlsEndpoint::State::connected && !s.srtp_rx && !s.ended) {
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
      s.setup_deadline.reset();
      kMediaDtlsOk.inc();
      core::log(core::LogLevel::info, "media.dtls_connected", "session={} profile={} peer={}", s.id,
                to_string(keys->rx.profile), s.dtls_peer.to_string());
    } else {
      kMediaDtlsFailed.inc();
      core::log(core::LogLevel::warn, "media.srtp_failed", "session={} why={}", s.id,
                rx ? tx.error().message : rx.error().message);
      end(s, MediaEnd::dtls_failed);
    }
  } else if (state == DtlsEndpoint::State::failed && !s.ended) {
    kMediaDtlsFailed.inc();
    core::log(core::LogLevel::warn, "media.dtls_failed", "session={} peer={} why={}", s.id, s.dtls_peer.to_string(),
              s.dtls->failure());
    end(s, MediaEnd::dtls_failed);
  }
  update_timed(s);
}

void Relay::update_timed(RelaySession& s) {
  const bool timed = (s.dtls && s.dtls->poll_timeout()) || s.dtmf_at.has_value();
  if (timed) {
    timed_.insert(s.id);
  } else {
    timed_.erase(s.id);
  }
}

// Browser -> trunk: SRTP/SRTCP unprotected in place and sent on from the same buffer.
void Relay::on_srtp(core::Instant now, RelaySession& s, const core::SockAddr& peer, RxBuf& rx, bool rtcp) noexcept {
  if (!s.srtp_rx) {
    drop(&s, kMediaDropNoPath);
    return;
  }
  const std::span<std::byte> payload = rx.payload();
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
  if (const core::SockAddr* sel = s.ice.selected(); sel != nullptr && *sel == peer) s.ice.note_media(now);
  const std::span<std::byte> pkt = payload.first(r.value());
  if (rtcp) {
    if (!s.trunk_rtcp.is_set()) {
      drop(&s, kMediaDropNoPath);
      return;
    }
    emit_in_place(trunk_port(PortKind::trunk_rtcp, s), s.trunk_rtcp, pkt);
    ++s.st.trunk_tx;
    kMediaToTrunk.inc();
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
    s.last_ts_at = now;
  }
  emit_in_place(trunk_port(PortKind::trunk_rtp, s), s.trunk_rtp, pkt);
  ++s.st.trunk_tx;
  kMediaToTrunk.inc();
}

// Trunk -> browser: RTP/RTCP from the trunk's address (latched once on a per-call port, see
// relay.hpp), protected in place into the tailroom.
void Relay::on_trunk(core::Instant now, RelaySession& s, bool rtcp, const core::SockAddr& peer, RxBuf& rx) noexcept {
  if (s.ended) {
    drop(&s, kMediaDropEnded);
    return;
  }
  core::SockAddr& pinned = rtcp ? s.trunk_rtcp : s.trunk_rtp;
  bool& fixed = rtcp ? s.trunk_rtcp_fixed : s.trunk_rtp_fixed;
  if (!pinned.is_set()) {
    drop(&s, kMediaDropNotPinned);
    return;
  }
  if (!(peer == pinned)) {
    // On the shared port trunk_sender() found `s` among the sessions waiting on the peer's IP.
    if (fixed || !same_ip(peer, pinned)) {
      drop(&s, kMediaDropNotPinned);
      return;
    }
    kMediaTrunkLatched.inc();
    core::log(core::LogLevel::info, "media.trunk_latched", "session={} {} sdp={} actual={}", s.id,
              rtcp ? "rtcp" : "rtp", pinned.to_string(), peer.to_string());
    trunk_heard_at(s, rtcp, peer);
    pinned = peer;
  } else if (!fixed) {
    trunk_heard_at(s, rtcp, peer);
  }
  fixed = true;
  if (cfg_.shared_trunk_port && !rtcp) {
    if (auto ssrc = packet_ssrc(rx.payload(), false)) s.trunk_ssrc = ssrc;
  }
  ++s.st.trunk_rx;
  s.trunk_heard = now;
  const core::SockAddr* to = s.ice.selected();
  if (!s.srtp_tx || to == nullptr) {  // nothing goes to the browser before DTLS is connected
    drop(&s, kMediaDropNoPath);
    return;
  }
  const std::span<std::byte> payload = rx.payload();
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
  if (rx.tailroom() < kSrtpMaxOverhead) {
    drop(&s, kMediaDropMalformed);
    return;
  }
  const std::span<std::byte> buf = rx.with_tailroom();
  auto r = rtcp ? s.srtp_tx->protect_rtcp(buf, len) : s.srtp_tx->protect_rtp(buf, len);
  if (!r) {
    drop(&s, kMediaDropMalformed);
    return;
  }
  emit_in_place(RelayPort{}, *to, buf.first(r.value()));
  ++s.st.browser_tx;
  kMediaToBrowser.inc();
}

// ---- timers: DTLS retransmission, DTMF, consent and the media timeouts ----

std::optional<core::Instant> Relay::poll_timeout() const noexcept {
  std::optional<core::Instant> at = next_check_;
  for (SessionId id : timed_) {
    const RelaySession* s = find(id);
    if (s == nullptr) continue;
    if (s->dtls) at = earlier(at, s->dtls->poll_timeout());
    at = earlier(at, s->dtmf_at);
  }
  return at;
}

void Relay::handle_timeout(core::Instant now) {
  start_output();
  // Copied: the handlers below change timed_.
  std::vector<SessionId> due;
  for (SessionId id : timed_) due.push_back(id);
  for (SessionId id : due) {
    RelaySession* s = find(id);
    if (s == nullptr) continue;
    if (s->dtls) {
      if (auto at = s->dtls->poll_timeout(); at && *at <= now) {
        s->dtls->handle_timeout(now);
        pump_dtls(now, *s);
      }
    }
    if (s->dtmf_at && *s->dtmf_at <= now) {
      if (s->dtmf_next_digit) {
        s->dtmf_at.reset();
        s->dtmf_next_digit = false;
        start_next_digit(now, *s);
      } else {
        dtmf_tick(now, *s);
      }
    }
    update_timed(*s);
  }
  if (next_check_ && *next_check_ <= now) {
    check_sessions(now);
    next_check_ = sessions_.empty() ? std::nullopt : std::optional<core::Instant>(now + cfg_.check_interval);
  }
}

void Relay::end(RelaySession& s, MediaEnd why) {
  if (s.ended) return;
  s.ended = true;
  s.dtmf_active = false;
  s.digits.clear();
  s.dtmf_at.reset();
  update_timed(s);
  events_.emplace_back(s.id, why);
}

void Relay::check_sessions(core::Instant now) {
  for (auto& [id, sp] : sessions_) {
    RelaySession& s = *sp;
    if (s.ended) continue;
    if (s.ice.consent_expired(now)) {
      kMediaConsentLost.inc();
      core::log(core::LogLevel::info, "media.consent_lost", "session={}", id);
      end(s, MediaEnd::consent_lost);
    } else if (s.setup_deadline && !s.srtp_rx && now >= *s.setup_deadline) {
      kMediaSetupTimeouts.inc();
      core::log(core::LogLevel::info, "media.setup_timeout", "session={} ice_selected={} dtls_started={}", id,
                s.ice.selected() != nullptr, s.dtls != nullptr);
      end(s, MediaEnd::media_setup_timeout);
    } else if (cfg_.trunk_rtp_timeout > core::Duration::zero() && s.trunk_heard &&
               now - *s.trunk_heard >= cfg_.trunk_rtp_timeout) {
      kMediaTrunkRtpTimeouts.inc();
      core::log(core::LogLevel::info, "media.trunk_rtp_timeout", "session={} trunk={}", id, s.trunk_rtp.to_string());
      end(s, MediaEnd::trunk_rtp_timeout);
    }
  }
}

}  // namespace webtrunk::media
