#include "app/echo_trunk.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cerrno>

#include "core/log.hpp"
#include "sip/branch.hpp"
#include "sip/header_parsers.hpp"
#include "sip/parser.hpp"
#include "sip/sdp.hpp"
#include "sip/text.hpp"
#include "sip/writer.hpp"

namespace webtrunk::app {
namespace {

constexpr std::string_view kAllow = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE";

// RFC 3264 §6.1: the answer's direction for an offered one.
std::string_view answer_direction(std::string_view offered) {
  if (offered == "sendonly") return "recvonly";
  if (offered == "recvonly") return "sendonly";
  if (offered == "inactive") return "inactive";
  return "sendrecv";
}

bool has_g711(const EchoOffer& offer) {
  return std::any_of(offer.codecs.begin(), offer.codecs.end(), [](const auto& c) { return c.name != "telephone-event"; });
}

bool has_sdp(const sip::MessageView& msg) {
  if (msg.body().empty()) return false;
  sip::MediaType mt;
  return sip::parse_media_type(msg.value(sip::HeaderId::content_type), mt) && sip::text::iequals(mt.type, "application") &&
         sip::text::iequals(mt.subtype, "sdp");
}

}  // namespace

EchoOffer read_echo_offer(std::string_view sdp) {
  EchoOffer offer;
  auto session = sip::sdp::parse(sdp);
  if (!session) return offer;
  for (const auto& m : session->media) {
    if (m.media != "audio" || m.port == 0) continue;  // port 0: a refused stream
    offer.has_audio = true;
    offer.direction = std::string(session->direction(m));
    for (const auto fmt : m.formats) {
      const auto pt = sip::sdp::payload_type(fmt);
      const auto map = pt ? m.rtpmap(*pt) : std::nullopt;  // static 0 and 8 need no a=rtpmap (RFC 3551 §6)
      if (!map || map->clock_rate != 8000) continue;
      for (std::string_view name : {"PCMU", "PCMA", "telephone-event"}) {
        if (sip::text::iequals(map->encoding, name)) offer.codecs.push_back({*pt, std::string(name)});
      }
    }
    break;  // only the first audio stream
  }
  return offer;
}

EchoTrunkCore::EchoTrunkCore(EchoTrunkConfig cfg, MediaPorts media)
    : cfg_(std::move(cfg)), media_(std::move(media)), session_id_(sip::thread_id_generator().next() >> 2) {}

void EchoTrunkCore::handle_datagram(core::Instant now, const core::SockAddr& from, std::string_view bytes) {
  sip::MessageView msg;
  const sip::ParseResult r = sip::parse_message(bytes, msg);
  if (r.status != sip::ParseStatus::ok) {
    kEchoRejectedTotal.inc();
    if (msg.is_request() && msg.method() != sip::Method::ack && msg.find(sip::HeaderId::via) != nullptr) {
      out_.push_back({from, sip::make_response(msg, 400, r.reason, sip::new_tag())});
    }
    return;
  }
  if (msg.is_response()) {
    // The only requests we send are the BYEs of a shutdown.
    if (const auto key = sip::TransactionKey::of_response(msg)) {
      for (Bye& b : byes_) {
        if (b.txn->branch() != key->branch) continue;
        b.txn->handle_response(now, msg);
        while (b.txn->poll_event()) {
        }
        return;
      }
    }
    kEchoRejectedTotal.inc();
    return;
  }
  handle_request(now, from, msg);
}

void EchoTrunkCore::reject_stateless(const core::SockAddr& from, const sip::MessageView& msg, int code,
                                     std::string_view reason) {
  kEchoRejectedTotal.inc();
  if (msg.method() != sip::Method::ack) out_.push_back({from, sip::make_response(msg, code, reason, sip::new_tag())});
}

void EchoTrunkCore::handle_request(core::Instant now, const core::SockAddr& from, const sip::MessageView& msg) {
  if (msg.method() == sip::Method::ack) {
    handle_ack(now, msg);
    return;
  }
  auto key = sip::TransactionKey::of_request(msg);
  if (!key) {
    reject_stateless(from, msg, 400, "Via without an RFC 3261 branch");
    return;
  }
  if (auto it = txns_.find(*key); it != txns_.end()) {
    it->second.txn->handle_retransmission(now);
    drain(it->second);
    return;
  }
  sip::CSeq cseq;
  if (!sip::parse_cseq(msg.value(sip::HeaderId::cseq), cseq) || msg.value(sip::HeaderId::call_id).empty()) {
    reject_stateless(from, msg, 400, "Bad CSeq or Call-ID");
    return;
  }
  if (msg.method() == sip::Method::invite && shutting_down_ && msg.value(sip::HeaderId::to).find("tag=") == std::string_view::npos) {
    reject_stateless(from, msg, 503, "Service Unavailable: shutting down");
    return;
  }
  if (msg.method() == sip::Method::invite) {
    handle_invite(now, from, msg, *key);
    return;
  }
  auto [it, inserted] = txns_.emplace(
      *key, Txn{std::make_unique<sip::ServerTransaction>(now, msg, sip::Transport::udp, cfg_.timers), from});
  sip::ServerTransaction& txn = *it->second.txn;
  switch (msg.method()) {
    case sip::Method::cancel:
      handle_cancel(now, msg, txn, *key);
      break;
    case sip::Method::options:
      respond(now, txn, msg, 200, "OK", sip::new_tag());
      break;
    case sip::Method::bye: {
      Call* call = find_call(msg);
      if (call == nullptr) {
        kEchoRejectedTotal.inc();
        respond(now, txn, msg, 481, "Call/Transaction Does Not Exist", {});
        break;
      }
      respond(now, txn, msg, 200, "OK", {});
      core::log(core::LogLevel::info, "echo.bye", "call={} peer={}", call->id, call->peer.to_string());
      end_call(call->call_id);
      break;
    }
    case sip::Method::info:
    case sip::Method::update:
      if (find_call(msg) == nullptr) {
        kEchoRejectedTotal.inc();
        respond(now, txn, msg, 481, "Call/Transaction Does Not Exist", {});
      } else {
        // A session refresh (UPDATE without SDP) or DTMF as INFO: nothing to change for an echo.
        respond(now, txn, msg, 200, "OK", {});
      }
      break;
    default:
      kEchoRejectedTotal.inc();
      respond(now, txn, msg, 405, "Method Not Allowed", sip::new_tag());
      break;
  }
  drain(it->second);
}

EchoTrunkCore::Call* EchoTrunkCore::find_call(const sip::MessageView& msg) {
  auto it = calls_.find(std::string(msg.value(sip::HeaderId::call_id)));
  if (it == calls_.end()) return nullptr;
  sip::NameAddr to;
  if (!sip::parse_name_addr(msg.value(sip::HeaderId::to), to) || to.tag() != it->second.to_tag) return nullptr;
  return &it->second;
}

void EchoTrunkCore::handle_ack(core::Instant now, const sip::MessageView& msg) {
  // An ACK for a non-2xx final shares the INVITE's transaction key (RFC 3261 §17.2.3).
  if (auto key = sip::TransactionKey::of_request(msg)) {
    if (auto it = txns_.find(*key); it != txns_.end()) {
      it->second.txn->handle_ack(now);
      drain(it->second);
      return;
    }
  }
  Call* call = find_call(msg);
  sip::CSeq cseq;
  if (call == nullptr || !sip::parse_cseq(msg.value(sip::HeaderId::cseq), cseq)) {
    kEchoRejectedTotal.inc();  // a stray ACK: nothing to answer (RFC 3261 §17.2.3)
    return;
  }
  if (call->rtx && cseq.number == call->invite_cseq) {
    call->rtx->handle_ack(now);
    call->confirmed = true;
  }
}

void EchoTrunkCore::handle_invite(core::Instant now, const core::SockAddr& from, const sip::MessageView& msg,
                                  const sip::TransactionKey& key) {
  sip::NameAddr to;
  if (!sip::parse_name_addr(msg.value(sip::HeaderId::to), to)) {
    reject_stateless(from, msg, 400, "Bad To header");
    return;
  }
  auto [it, inserted] = txns_.emplace(
      key, Txn{std::make_unique<sip::ServerTransaction>(now, msg, sip::Transport::udp, cfg_.timers), from});
  Txn& t = it->second;
  sip::CSeq cseq;
  (void)sip::parse_cseq(msg.value(sip::HeaderId::cseq), cseq);
  if (!to.tag().empty()) {
    Call* call = find_call(msg);
    if (call == nullptr) {
      kEchoRejectedTotal.inc();
      respond(now, *t.txn, msg, 481, "Call/Transaction Does Not Exist", {});
    } else {
      call->invite_cseq = cseq.number;
      handle_reinvite(now, *call, msg, *t.txn);
    }
    drain(t);
    return;
  }
  const std::string call_id(msg.value(sip::HeaderId::call_id));
  if (calls_.count(call_id) != 0) {
    // Same Call-ID, new transaction, no To tag: a forked or looped request (RFC 3261 §8.2.2.2).
    kEchoRejectedTotal.inc();
    respond(now, *t.txn, msg, 482, "Loop Detected", sip::new_tag());
    drain(t);
    return;
  }
  if (calls_.size() >= cfg_.max_calls) {
    kEchoRejectedTotal.inc();
    respond(now, *t.txn, msg, 486, "Busy Here", sip::new_tag());
    drain(t);
    return;
  }
  Call call;
  call.id = next_call_++;
  call.call_id = call_id;
  call.to_tag = sip::new_tag();
  call.peer = from;
  call.invite_cseq = cseq.number;
  if (has_sdp(msg)) {
    const EchoOffer offer = read_echo_offer(msg.body());
    if (!has_g711(offer)) {
      kEchoRejectedTotal.inc();
      respond(now, *t.txn, msg, 488, offer.has_audio ? "No PCMU or PCMA offered" : "No audio stream offered",
              call.to_tag);
      drain(t);
      return;
    }
    call.codecs = offer.codecs;
  } else {
    // No offer: ours goes in the 200 (RFC 3264 §4 via RFC 3261 §13.2.1); the ACK carries the answer.
    call.codecs = {{0, "PCMU"}, {8, "PCMA"}, {101, "telephone-event"}};
  }
  auto port = media_.open(call.id);
  if (!port) {
    kEchoRejectedTotal.inc();
    core::log(core::LogLevel::warn, "echo.no_media", "call={} {}", call.id, port.error().message);
    respond(now, *t.txn, msg, 503, "No media ports", call.to_tag);
    drain(t);
    return;
  }
  call.rtp_port = *port;
  kEchoCallsActive.inc();
  // The transaction keeps only the last provisional: the 100 goes out on its own, first.
  out_.push_back({from, sip::make_response(msg, 100, "Trying", {})});
  respond(now, *t.txn, msg, 180, "Ringing", call.to_tag);
  call.answer_200 = make_2xx(msg, call, make_sdp(call, "sendrecv"));
  call.dialog = sip::Dialog::from_uas(msg, call.to_tag, fmt::format("<sip:echo@{}:{}>", cfg_.contact_host, cfg_.contact_port));
  if (call.dialog) call.dialog->set_local_cseq(1);
  {
    sip::MessageWriter w(call.cancelled_487);  // built now: the CANCEL's CSeq method differs (§9.2)
    sip::write_response_head(msg, 487, "Request Terminated", call.to_tag, w);
    w.finish();
  }
  {
    sip::MessageWriter w(call.shutdown_503);
    sip::write_response_head(msg, 503, "Service Unavailable: shutting down", call.to_tag, w);
    w.finish();
  }
  call.ringing = key;
  call.answer_at = now + cfg_.ring_time;
  core::log(core::LogLevel::info, "echo.invite", "call={} peer={} rtp={} codecs={}", call.id, from.to_string(),
            call.rtp_port, call.codecs.size());
  auto& stored = calls_.emplace(call_id, std::move(call)).first->second;
  drain(t);
  if (cfg_.ring_time <= core::Duration::zero()) answer(now, stored);
}

void EchoTrunkCore::handle_reinvite(core::Instant now, Call& call, const sip::MessageView& msg,
                                    sip::ServerTransaction& txn) {
  std::string_view direction = "sendrecv";
  if (has_sdp(msg)) {
    const EchoOffer offer = read_echo_offer(msg.body());
    if (!has_g711(offer)) {
      kEchoRejectedTotal.inc();
      respond(now, txn, msg, 488, "No PCMU or PCMA offered", {});
      return;
    }
    call.codecs = offer.codecs;
    direction = answer_direction(offer.direction);
  }
  ++call.sdp_version;
  std::string ok = make_2xx(msg, call, make_sdp(call, direction));
  txn.respond(now, ok, 200);
  call.rtx.emplace(now, std::move(ok), sip::Transport::udp, cfg_.timers);
  call.confirmed = false;
}

void EchoTrunkCore::handle_cancel(core::Instant now, const sip::MessageView& msg, sip::ServerTransaction& txn,
                                  const sip::TransactionKey& key) {
  auto invite = txns_.find(key.cancelled_invite());
  if (invite == txns_.end()) {
    kEchoRejectedTotal.inc();
    respond(now, txn, msg, 481, "Call/Transaction Does Not Exist", sip::new_tag());
    return;
  }
  const std::string call_id(msg.value(sip::HeaderId::call_id));
  auto c = calls_.find(call_id);
  // RFC 3261 §9.2: 200 for the CANCEL; 487 for the INVITE if it is still unanswered.
  respond(now, txn, msg, 200, "OK", c != calls_.end() ? std::string_view(c->second.to_tag) : std::string_view{});
  sip::ServerTransaction& inv = *invite->second.txn;
  if (!inv.answered() && c != calls_.end()) {
    inv.respond(now, std::move(c->second.cancelled_487), 487);
    core::log(core::LogLevel::info, "echo.cancel", "call={}", c->second.id);
    end_call(call_id);
    drain(invite->second);
  }
}

void EchoTrunkCore::respond(core::Instant now, sip::ServerTransaction& txn, const sip::MessageView& msg, int code,
                            std::string_view reason, std::string_view to_tag, std::string_view sdp) {
  std::string resp;
  sip::MessageWriter w(resp);
  sip::write_response_head(msg, code, reason, to_tag, w);
  if (code == 405 || msg.method() == sip::Method::options) w.header(sip::HeaderId::allow, kAllow);
  w.header(sip::HeaderId::server, "webtrunk echo trunk");
  if (!sdp.empty()) w.header(sip::HeaderId::content_type, "application/sdp");
  w.finish(sdp);
  txn.respond(now, std::move(resp), code);
}

std::string EchoTrunkCore::make_2xx(const sip::MessageView& msg, const Call& call, std::string_view sdp) const {
  std::string resp;
  sip::MessageWriter w(resp);
  sip::write_response_head(msg, 200, "OK", call.to_tag, w);
  // Record-Route is copied into 2xx responses to dialog-creating requests (RFC 3261 §12.1.1).
  for (const auto* rr = msg.find(sip::HeaderId::record_route); rr != nullptr; rr = msg.find_next(rr)) w.header(*rr);
  w.header(sip::HeaderId::contact, fmt::format("<sip:echo@{}:{}>", cfg_.contact_host, cfg_.contact_port));
  w.header(sip::HeaderId::allow, kAllow);
  w.header(sip::HeaderId::server, "webtrunk echo trunk");
  w.header(sip::HeaderId::content_type, "application/sdp");
  w.finish(sdp);
  return resp;
}

std::string EchoTrunkCore::make_sdp(const Call& call, std::string_view direction) const {
  std::string pts;
  std::string attrs;
  for (const auto& c : call.codecs) {
    pts += fmt::format(" {}", c.pt);
    if (c.name == "telephone-event") {
      attrs += fmt::format("a=rtpmap:{} telephone-event/8000\r\na=fmtp:{} 0-16\r\n", c.pt, c.pt);
    } else {
      attrs += fmt::format("a=rtpmap:{} {}/8000\r\n", c.pt, c.name);
    }
  }
  return fmt::format(
      "v=0\r\no=echo {} {} IN IP4 {}\r\ns=webtrunk echo trunk\r\nc=IN IP4 {}\r\nt=0 0\r\n"
      "m=audio {} RTP/AVP{}\r\n{}a=ptime:20\r\na={}\r\n",
      session_id_ + call.id, call.sdp_version, cfg_.media_ip, cfg_.media_ip, call.rtp_port, pts, attrs, direction);
}

void EchoTrunkCore::answer(core::Instant now, Call& call) {
  call.answer_at = sip::detail::kNever;
  if (!call.ringing) return;
  auto it = txns_.find(*call.ringing);
  call.ringing.reset();
  if (it == txns_.end()) return;
  it->second.txn->respond(now, call.answer_200, 200);
  call.rtx.emplace(now, std::move(call.answer_200), sip::Transport::udp, cfg_.timers);
  call.answer_200.clear();
  kEchoCallsTotal.inc();
  core::log(core::LogLevel::info, "echo.answer", "call={}", call.id);
  drain(it->second);
}

void EchoTrunkCore::end_call(std::string_view call_id) {
  auto it = calls_.find(std::string(call_id));
  if (it == calls_.end()) return;
  media_.close(it->second.id);
  kEchoCallsActive.dec();
  calls_.erase(it);
}

std::size_t EchoTrunkCore::hang_up_all(core::Instant now) {
  shutting_down_ = true;
  std::vector<std::string> ids;
  for (auto& [id, call] : calls_) {
    ids.push_back(id);
    if (call.ringing) {
      // Still ringing: the INVITE's final answer says why (RFC 3261 §21.5.4).
      if (auto it = txns_.find(*call.ringing); it != txns_.end()) {
        it->second.txn->respond(now, std::move(call.shutdown_503), 503);
        drain(it->second);
      }
      call.ringing.reset();
      continue;
    }
    if (!call.dialog) continue;
    call.dialog->confirm();
    const std::string branch = sip::new_branch();
    const std::array<sip::HeaderPair, 1> reason{{{"Reason", "SIP;cause=503;text=\"Echo trunk shutting down\""}}};
    std::string bye = call.dialog->make_request(sip::Method::bye, fmt::format("{}:{}", cfg_.contact_host, cfg_.contact_port),
                                                branch, reason, {}, {});
    Bye b{std::make_unique<sip::ClientTransaction>(now, sip::Method::bye, std::move(bye), branch, sip::Transport::udp,
                                                   cfg_.timers),
          call.peer};
    while (auto bytes = b.txn->poll_transmit()) out_.push_back({b.peer, std::move(*bytes)});
    byes_.push_back(std::move(b));
    core::log(core::LogLevel::info, "echo.bye_sent", "call={} peer={} why=shutting down", call.id, call.peer.to_string());
  }
  for (const auto& id : ids) end_call(id);
  return ids.size();
}

std::size_t EchoTrunkCore::unanswered_byes() const noexcept {
  std::size_t n = 0;
  for (const Bye& b : byes_) n += !b.txn->terminated() && b.txn->last_status() < 200 ? 1 : 0;
  return n;
}

void EchoTrunkCore::drain(Txn& t) {
  while (auto b = t.txn->poll_transmit()) out_.push_back({t.peer, std::move(*b)});
  while (auto ev = t.txn->poll_event()) {
    if (ev->kind == sip::TxnEvent::Kind::timeout) {
      core::log(core::LogLevel::info, "echo.txn_timeout", "a final response was never acknowledged");
    }
  }
}

void EchoTrunkCore::handle_timeout(core::Instant now) {
  std::vector<std::string> ended;
  for (auto& [id, call] : calls_) {
    if (call.answer_at <= now) answer(now, call);
    if (!call.rtx) continue;
    call.rtx->handle_timeout(now);
    while (auto b = call.rtx->poll_transmit()) out_.push_back({call.peer, std::move(*b)});
    while (auto ev = call.rtx->poll_event()) {
      if (ev->kind == sip::TxnEvent::Kind::timeout) {
        // §13.3.1.4 says to send BYE; the edge ends its side when its own ACK never came back, so
        // freeing the ports here is enough for a test trunk.
        core::log(core::LogLevel::warn, "echo.no_ack", "call={} 200 never acknowledged: call dropped", call.id);
        ended.push_back(id);
      }
    }
    if (call.rtx->done()) call.rtx.reset();
  }
  for (const auto& id : ended) end_call(id);
  for (Bye& b : byes_) {
    if (auto d = b.txn->poll_timeout(); d && *d <= now) b.txn->handle_timeout(now);
    while (auto bytes = b.txn->poll_transmit()) out_.push_back({b.peer, std::move(*bytes)});
    while (b.txn->poll_event()) {
    }
  }
  std::erase_if(byes_, [](const Bye& b) { return b.txn->terminated(); });
  for (auto it = txns_.begin(); it != txns_.end();) {
    it->second.txn->handle_timeout(now);
    drain(it->second);
    if (it->second.txn->terminated()) {
      it = txns_.erase(it);
    } else {
      ++it;
    }
  }
}

std::optional<EchoTransmit> EchoTrunkCore::poll_transmit() {
  if (out_.empty()) return std::nullopt;
  EchoTransmit t = std::move(out_.front());
  out_.pop_front();
  return t;
}

std::optional<core::Instant> EchoTrunkCore::poll_timeout() const {
  // A linear scan: the echo trunk carries a handful of calls (demo, tests), not a load.
  core::Instant next = sip::detail::kNever;
  for (const auto& [key, t] : txns_) {
    if (auto d = t.txn->poll_timeout()) next = std::min(next, *d);
    if (t.txn->terminated()) next = std::min(next, core::Instant::min());
  }
  for (const Bye& b : byes_) {
    if (auto d = b.txn->poll_timeout()) next = std::min(next, *d);
  }
  for (const auto& [id, call] : calls_) {
    next = std::min(next, call.answer_at);
    if (call.rtx) {
      if (auto d = call.rtx->poll_timeout()) next = std::min(next, *d);
    }
  }
  if (next == sip::detail::kNever) return std::nullopt;
  return next;
}

// ---- on a shard ----

core::Result<core::SockAddr> EchoTrunk::open(core::Shard& shard, const core::SockAddr& sip_addr, EchoTrunkConfig cfg) {
  auto media = core::SockAddr::parse(cfg.media_ip + ":0");
  if (!media) return core::Error{EINVAL, "media address '" + cfg.media_ip + "': " + media.error().message};
  media_ip_ = *media;
  auto id = shard.open_udp(sip_addr, *this);
  if (!id) return id.error();
  sip_ = *id;
  const core::SockAddr bound = shard.udp_address(sip_);
  cfg.contact_port = bound.port();
  EchoTrunkCore::MediaPorts ports{[this, &shard](std::uint64_t call) { return open_media(shard, call); },
                                  [this, &shard](std::uint64_t call) { close_media(shard, call); }};
  core_ = std::make_unique<EchoTrunkCore>(std::move(cfg), std::move(ports));
  return bound;
}

core::Result<std::uint16_t> EchoTrunk::open_media(core::Shard& shard, std::uint64_t call) {
  // RTP on an even port, RTCP on the next one (RFC 3550 §11), so the SDP needs no a=rtcp. The
  // kernel's pick is even half the time; a few tries find a free pair.
  for (int attempt = 0; attempt < 32; ++attempt) {
    auto rtp = shard.open_udp(media_ip_, echo_);
    if (!rtp) return rtp.error();
    const std::uint16_t port = shard.udp_address(*rtp).port();
    if (port % 2 == 0 && port < 65535) {
      core::SockAddr next = media_ip_;
      next.set_port(static_cast<std::uint16_t>(port + 1));
      if (auto rtcp = shard.open_udp(next, echo_)) {
        ports_[call] = Ports{*rtp, *rtcp};
        return port;
      }
    }
    shard.close_udp(*rtp);
  }
  return core::Error{EADDRINUSE, "no free RTP/RTCP port pair after 32 tries"};
}

void EchoTrunk::close_media(core::Shard& shard, std::uint64_t call) {
  auto it = ports_.find(call);
  if (it == ports_.end()) return;
  shard.close_udp(it->second.rtp);
  shard.close_udp(it->second.rtcp);
  ports_.erase(it);
}

void EchoTrunk::Echo::on_datagram(core::Shard& shard, core::UdpId id, const core::SockAddr& peer,
                                  std::span<std::byte> payload) {
  // Symmetric: back to the source, from the port it reached, in the very buffer it arrived in.
  if (shard.forward(id, peer, payload)) kEchoPacketsTotal.inc();
}

void EchoTrunk::on_datagram(core::Shard& shard, core::UdpId, const core::SockAddr& peer, std::span<std::byte> payload) {
  core_->handle_datagram(shard.now(), peer,
                         std::string_view(reinterpret_cast<const char*>(payload.data()), payload.size()));
  flush(shard);
}

std::size_t EchoTrunk::hang_up_all(core::Shard& shard) {
  if (!core_) return 0;
  const std::size_t n = core_->hang_up_all(shard.now());
  flush(shard);
  return n;
}

void EchoTrunk::flush(core::Shard& shard) {
  while (auto t = core_->poll_transmit()) {
    if (!shard.send_to(sip_, t->to, std::as_bytes(std::span<const char>(t->bytes.data(), t->bytes.size())))) {
      core::log(core::LogLevel::warn, "echo.send_failed", "to={} bytes={}", t->to.to_string(), t->bytes.size());
    }
  }
  timer_.arm(shard, core_->poll_timeout(), [this, &shard] {
    core_->handle_timeout(shard.now());
    flush(shard);
  });
}

}  // namespace webtrunk::app
