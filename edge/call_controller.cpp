// CallController: entry points, parsing and validation, the registrar, OPTIONS and stateless answers.
// The B2BUA call itself is in call_controller_calls.cpp.
#include "edge/call_controller.hpp"

#include <fmt/format.h>

#include <array>
#include <cstring>

#include "core/log.hpp"
#include "edge/call.hpp"
#include "edge/sip_messages.hpp"
#include "sip/header_parsers.hpp"
#include "sip/parser.hpp"
#include "sip/validate.hpp"
#include "sip/writer.hpp"

namespace webtrunk::edge {
namespace {

constexpr std::string_view kAllow = "INVITE, ACK, CANCEL, BYE, UPDATE, INFO, OPTIONS, REGISTER";
// Log-sampler keys of WebSocket refusals (the front door knows the source; here one key per kind).
// Address keys have one of their top two bits set, so these never collide with one.
constexpr std::uint64_t kWsParseErrorKey = 1;
constexpr std::uint64_t kWsInvalidRequestKey = 2;

std::string json_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned>(static_cast<unsigned char>(c)));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// Every trunk a route names, for the keep-alives (the pinger pings each address once).
std::vector<TrunkPinger::Target> ping_targets(const RouteTable& routes) {
  std::vector<TrunkPinger::Target> targets;
  for (const auto& r : routes.routes()) {
    // A name's addresses change and fail over per call: only fixed addresses are pinged.
    if (!r.trunk.by_name()) targets.push_back({r.trunk.spec, r.trunk.hostport(), r.trunk.addr, r.trunk.transport});
  }
  return targets;
}

// Every route's trunk that wants the edge to register (once per trunk and user).
std::vector<TrunkRegistrations::Target> register_targets(const RouteTable& routes) {
  std::vector<TrunkRegistrations::Target> targets;
  for (const auto& r : routes.routes()) {
    const TrunkTarget& t = r.trunk;
    if (!t.register_with) continue;
    targets.push_back({t.spec, t.hostport(), t.ipv6_literal ? "[" + t.host + "]" : t.host, t.addr, t.transport,
                       t.targets, t.credentials, t.register_expires});
  }
  return targets;
}

}  // namespace

std::string CallRecord::to_json() const {
  return fmt::format(
      R"({{"call_id":"{}","trunk_call_id":"{}","caller":"{}","called":"{}","trunk":"{}","start":{},"answer":{},)"
      R"("end":{},"duration":{},"end_reason":"{}","code":{}}})",
      json_escape(call_id), json_escape(trunk_call_id), json_escape(caller), json_escape(called), json_escape(trunk),
      start, answer, end, duration_s, json_escape(end_reason), code);
}

CallController::CallController(CallControllerConfig config, std::unique_ptr<AuthGate> gate)
    : cfg_(std::move(config)),
      gate_(std::move(gate)),
      registrar_(cfg_.registrar),
      ids_(cfg_.id_seed == 0 ? sip::IdGenerator() : sip::IdGenerator(cfg_.id_seed)),
      limiter_(cfg_.call_limits) {
  if (!cfg_.routes) cfg_.routes = std::make_shared<const RouteTable>();
  if (!cfg_.unix_time) {
    // Anchor the wall clock to the monotonic one once: unix time at `now` without reading a clock.
    const std::int64_t unix0 = core::unix_now();
    const core::Instant mono0 = core::monotonic_now();
    cfg_.unix_time = [unix0, mono0](core::Instant now) {
      return unix0 + std::chrono::duration_cast<std::chrono::seconds>(now - mono0).count();
    };
  }
  if (cfg_.ping_trunks && cfg_.trunk_ping.interval > core::Duration::zero()) {
    pinger_.emplace(cfg_.trunk_ping, ping_targets(*cfg_.routes), host_port(cfg_.sip_host, cfg_.sip_port),
                    cfg_.user_agent, cfg_.id_seed == 0 ? 0 : cfg_.id_seed + 1);
  }
  if (cfg_.register_trunks) {
    trunk_regs_.emplace(register_targets(*cfg_.routes), host_port(cfg_.sip_host, cfg_.sip_port), cfg_.user_agent,
                        cfg_.id_seed == 0 ? 0 : cfg_.id_seed + 2, cfg_.timers);
  }
}

CallController::~CallController() {
  std::int64_t live = 0;
  for (const auto& [id, call] : calls_) live += call->cdr_written ? 0 : 1;
  kCallsActive.add(-live);
  kRegistrations.add(-registrations_reported_);
  if (draining_) kDraining.dec();
}

std::int64_t CallController::unix_at(core::Instant now) const { return cfg_.unix_time(now); }

std::string CallController::binding_of(core::ConnId flow) const {
  return fmt::format("{}.{}.{}", cfg_.shard, flow.index, flow.generation);
}

void CallController::update_registration_gauge() {
  const auto now_size = static_cast<std::int64_t>(registrar_.size());
  kRegistrations.add(now_size - registrations_reported_);
  registrations_reported_ = now_size;
}

// ---------------------------------------------------------------------------------------------
// Output

void CallController::send_ws(core::ConnId flow, std::string bytes) {
  out_.push_back(SipTransmit{SipTransmit::To::flow, flow, {}, std::move(bytes)});
}

void CallController::send_udp(const core::SockAddr& to, std::string bytes) {
  out_.push_back(SipTransmit{SipTransmit::To::udp, {}, to, std::move(bytes)});
}

void CallController::send_trunk(const core::SockAddr& to, sip::Transport transport, std::string bytes) {
  out_.push_back(SipTransmit{SipTransmit::To::udp, {}, to, std::move(bytes), transport});
}

void CallController::reply_ws(core::ConnId flow, const sip::MessageView& req, int code, std::string_view reason,
                       HeaderList extra) {
  // A To tag of our own on every final response to a request that had none (RFC 3261 §8.2.6.2).
  send_ws(flow, build_response(req, code, reason, sip::to_tag(req).empty() ? ids_.tag() : std::string(), extra));
}

void CallController::reply_udp(const core::SockAddr& to, const sip::MessageView& req, int code, std::string_view reason) {
  send_udp(to, build_response(req, code, reason, sip::to_tag(req).empty() ? ids_.tag() : std::string()));
}

void CallController::flush_pinger() {
  if (!pinger_) return;
  while (auto t = pinger_->poll_transmit()) send_udp(t->to, std::move(t->bytes));
  while (auto c = pinger_->poll_change()) {
    // One line per change (not per ping): an operator sees when and why a trunk went down.
    core::log(c->up ? core::LogLevel::info : core::LogLevel::warn, c->up ? "trunk.up" : "trunk.down",
              "trunk={} addr={} why={}", c->spec, c->addr.to_string(), c->why);
    set_trunk_state(c->addr, c->up);
    if (on_trunk_state && !on_trunk_state(c->addr, c->up)) pinger_->change_not_delivered(c->addr);
  }
}

void CallController::flush_registrations() {
  if (!trunk_regs_) return;
  while (auto t = trunk_regs_->poll_transmit()) send_udp(t->to, std::move(t->bytes));
}

void CallController::unregister_trunks(core::Instant now) {
  if (!trunk_regs_) return;
  trunk_regs_->unregister_all(now);
  flush_registrations();
}

std::vector<TrunkRegistrations::Status> CallController::trunk_registrations(core::Instant now) const {
  if (!trunk_regs_) return {};
  return trunk_regs_->status(now);
}

void CallController::set_trunk_state(const core::SockAddr& trunk, bool up) {
  std::erase(down_trunks_, trunk);
  if (!up) down_trunks_.push_back(trunk);
}

bool CallController::trunk_down(const core::SockAddr& trunk) const noexcept {
  for (const auto& a : down_trunks_) {
    if (a == trunk) return true;
  }
  return false;
}

std::optional<SipTransmit> CallController::poll_transmit() {
  if (out_.empty()) return std::nullopt;
  SipTransmit t = std::move(out_.front());
  out_.pop_front();
  return t;
}

std::optional<core::Instant> CallController::poll_timeout() const {
  std::optional<core::Instant> t = registrar_.next_expiry();
  if (!deadlines_.empty() && (!t || deadlines_.begin()->first < *t)) t = deadlines_.begin()->first;
  if (!inbound_deadlines_.empty() && (!t || inbound_deadlines_.begin()->first < *t)) {
    t = inbound_deadlines_.begin()->first;
  }
  if (pinger_) {
    if (auto p = pinger_->poll_timeout(); p && (!t || *p < *t)) t = p;
  }
  if (trunk_regs_) {
    if (auto p = trunk_regs_->poll_timeout(); p && (!t || *p < *t)) t = p;
  }
  return t;
}

void CallController::handle_timeout(core::Instant now) {
  if (registrar_.expire(now) > 0) update_registration_gauge();
  inbound_timeout(now);
  if (pinger_) {
    pinger_->handle_timeout(now);
    flush_pinger();
  }
  if (trunk_regs_) {
    trunk_regs_->handle_timeout(now);
    flush_registrations();
  }
  // Collect first: pumping a call reschedules it (and may reap it).
  std::vector<std::uint64_t> due;
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    due.push_back(deadlines_.begin()->second);
    deadlines_.erase(deadlines_.begin());
  }
  for (std::uint64_t id : due) {
    auto it = calls_.find(id);
    if (it == calls_.end()) continue;
    it->second->scheduled = {};
    it->second->handle_timeout(now);
    pump(now, *it->second);
  }
}

// ---------------------------------------------------------------------------------------------
// Input

void CallController::handle_ws_message(core::Instant now, core::ConnId flow, std::string_view bytes) {
  // RFC 5626 §4.4.1 keep-alives inside a WebSocket message: the front door answers them.
  if (bytes.find_first_not_of("\r\n") == std::string_view::npos) return;
  sip::MessageView msg;
  const sip::ParseResult pr = sip::parse_message(bytes, msg);
  if (pr.status != sip::ParseStatus::ok) {
    kSipParseErrorsWs.inc();
    core::log_sampled(log_sampler_, now, kWsParseErrorKey, core::LogLevel::info, "sip.parse_error",
                      "from=ws conn={} bytes={} why={}", flow.index, bytes.size(), pr.reason);
    // A request whose head can still be read far enough to answer (Via, From, To, Call-ID, CSeq)
    // gets 400 with the parser's reason; anything else is dropped (RFC 3261 §18.1.2, §18.2.1).
    if (auto r = salvage_bad_request(bytes, pr.reason)) send_ws(flow, std::move(*r));
    return;
  }
  if (forward_to_coordinator(flow, msg, bytes)) return;
  if (msg.is_request()) {
    on_browser_request(now, flow, msg);
  } else {
    on_browser_response(now, flow, msg);
  }
}

void CallController::set_routes(std::shared_ptr<const RouteTable> routes) {
  std::erase_if(replaced_routes_, [](const auto& w) { return w.expired(); });
  // Calls routed by the old table hold it: its trunks may go on sending in-dialog requests.
  replaced_routes_.push_back(cfg_.routes);
  cfg_.routes = std::move(routes);
  if (pinger_) {
    pinger_->set_targets(ping_targets(*cfg_.routes));
    flush_pinger();
  }
  if (trunk_regs_) trunk_regs_->set_targets(register_targets(*cfg_.routes));  // sent at the next timeout: at once
}

bool CallController::may_send_requests(const core::SockAddr& from) {
  if (cfg_.routes->is_trunk_address(from)) return true;
  bool hit = false;
  std::erase_if(replaced_routes_, [&](const auto& w) {
    auto t = w.lock();
    if (t && t->is_trunk_address(from)) hit = true;
    return !t;
  });
  return hit;
}

void CallController::handle_trunk_datagram(core::Instant now, const core::SockAddr& from, std::string_view bytes) {
  if (bytes.find_first_not_of("\r\n") == std::string_view::npos) return;  // CRLF keep-alive
  // Requests come only from the configured trunks: anyone else gets no answer at all (not even a
  // 400), so the port is no oracle and no amplifier. Responses are matched to our own transactions
  // (a trunk's in-dialog Contact may be another host).
  if (!bytes.starts_with("SIP/") && !may_send_requests(from)) {
    kTrunkPortRefused.inc();
    core::log_sampled(log_sampler_, now, core::address_key(from), core::LogLevel::info, "sip.not_a_trunk",
                      "from={} bytes={}", from.to_string(), bytes.size());
    return;
  }
  sip::MessageView msg;
  const sip::ParseResult pr = sip::parse_message(bytes, msg);
  if (pr.status != sip::ParseStatus::ok) {
    kSipParseErrorsTrunk.inc();
    core::log_sampled(log_sampler_, now, core::address_key(from), core::LogLevel::info, "sip.parse_error",
                      "from={} bytes={} why={}", from.to_string(), bytes.size(), pr.reason);
    if (auto r = salvage_bad_request(bytes, pr.reason)) send_udp(from, std::move(*r));
    return;
  }
  if (msg.is_request()) {
    on_trunk_request(now, from, msg);
  } else {
    on_trunk_response(now, from, msg);
  }
}

void CallController::on_browser_request(core::Instant now, core::ConnId flow, const sip::MessageView& req) {
  const sip::Verdict v = sip::validate_request(req);
  if (!v.ok()) {
    kSipInvalidRequests.inc();
    core::log_sampled(log_sampler_, now, kWsInvalidRequestKey, core::LogLevel::info, "sip.invalid_request",
                      "from=ws conn={} method={} code={} why={}", flow.index, req.method_text(), v.code, v.reason);
    if (req.method() == sip::Method::ack) return;  // never answered (RFC 3261 §17.2.1)
    // Without a usable Via/From/To/Call-ID/CSeq no response can be matched by the client; still
    // answer: browsers log the reason, which is the point.
    reply_ws(flow, req, v.code, v.reason);
    return;
  }
  const bool in_dialog = !sip::to_tag(req).empty();
  const sip::Method m = req.method();
  if (in_dialog) {
    if (InboundCall* ic = find_inbound_browser(sip::call_id(req))) {
      ic->on_browser_request(now, BrowserFlow{cfg_.shard, flow}, req);
      return pump_inbound(now, *ic);
    }
  }
  if (m == sip::Method::cancel) return on_browser_cancel(now, flow, req);
  if (in_dialog) return on_browser_in_dialog(now, flow, req);
  if ((m == sip::Method::register_ || m == sip::Method::invite) && refuse_if_draining(now, flow, req)) return;
  switch (m) {
    case sip::Method::register_: return on_register(now, flow, req);
    case sip::Method::options: return answer_options(flow, req);
    case sip::Method::ack: return;  // for a final we sent without a dialog: absorbed
    case sip::Method::invite: {
      // RFC 3261 §16.3 step 3 applies to what we forward: nothing with Max-Forwards 0 goes on.
      if (auto mf = sip::parse_max_forwards(req.value(sip::HeaderId::max_forwards)); mf && *mf == 0) {
        return reply_ws(flow, req, 483, "Too Many Hops");
      }
      // A retransmission of an INVITE we already hold (not expected on a WebSocket): ignore it.
      if (find_browser_call(sip::call_id(req), sip::from_tag(req)) != nullptr) return;
      const std::string called(uri_user(req.request_uri()));
      AuthDecision d = gate_->check(unix_at(now), req, binding_of(flow), called);
      if (d.kind == AuthDecision::Kind::challenge) {
        std::vector<std::pair<std::string_view, std::string_view>> h;
        for (const auto& c : d.challenges) h.emplace_back(d.header_name, c);
        return reply_ws(flow, req, d.code, d.reason, h);
      }
      if (d.kind == AuthDecision::Kind::forbidden) {
        kCallsForbidden.inc();
        return reply_ws(flow, req, 403, d.reason);
      }
      return start_call(now, flow, req, std::move(d));
    }
    default: {
      kSipUnsupported.inc();
      const std::array<std::pair<std::string_view, std::string_view>, 1> allow{{{"Allow", kAllow}}};
      return reply_ws(flow, req, 405, "Method Not Allowed", allow);
    }
  }
}

void CallController::answer_options(core::ConnId flow, const sip::MessageView& req) {
  const std::array<std::pair<std::string_view, std::string_view>, 4> h{{{"Allow", kAllow},
                                                                        {"Accept", "application/sdp"},
                                                                        {"Supported", "timer, outbound, path"},
                                                                        {"User-Agent", cfg_.user_agent}}};
  reply_ws(flow, req, 200, "OK", h);
}

void CallController::on_register(core::Instant now, core::ConnId flow, const sip::MessageView& req) {
  kRegisterRequests.inc();
  AuthDecision d = gate_->check(unix_at(now), req, binding_of(flow), {});
  if (d.kind == AuthDecision::Kind::challenge) {
    std::vector<std::pair<std::string_view, std::string_view>> h;
    for (const auto& c : d.challenges) h.emplace_back(d.header_name, c);
    return reply_ws(flow, req, d.code, d.reason, h);
  }
  if (d.kind == AuthDecision::Kind::forbidden) return reply_ws(flow, req, 403, d.reason);

  const RegisterResult r = registrar_.handle_register(now, req, flow, d.identity);
  update_registration_gauge();
  if (r.code == 423) {
    const std::string min = std::to_string(r.min_expires);
    const std::array<std::pair<std::string_view, std::string_view>, 1> h{{{"Min-Expires", min}}};
    return reply_ws(flow, req, 423, r.reason, h);
  }
  if (r.code != 200) return reply_ws(flow, req, r.code, r.reason);
  std::vector<std::pair<std::string_view, std::string_view>> h;
  for (const auto& c : r.contacts) h.emplace_back("Contact", c);
  h.emplace_back("Supported", "outbound, path");
  h.emplace_back("User-Agent", cfg_.user_agent);
  core::log(core::LogLevel::debug, "sip.register", "conn={} user={} bindings={}", flow.index, d.identity,
            r.contacts.size());
  reply_ws(flow, req, 200, "OK", h);
}

void CallController::on_browser_response(core::Instant now, core::ConnId flow, const sip::MessageView& resp) {
  if (!sip::validate_response(resp).ok()) {
    kSipInvalidResponses.inc();
    return;
  }
  if (InboundCall* ic = find_inbound_browser(sip::call_id(resp))) {
    ic->on_browser_response(now, BrowserFlow{cfg_.shard, flow}, resp);
    return pump_inbound(now, *ic);
  }
  // Responses to our requests on the browser leg: From tag is ours, To tag is the browser's.
  Call* call = find_browser_call(sip::call_id(resp), sip::to_tag(resp));
  if (call == nullptr || !(call->flow == flow)) {
    kSipStrayResponses.inc();
    return;
  }
  call->on_browser_response(now, resp);
  pump(now, *call);
}

void CallController::on_trunk_response(core::Instant now, const core::SockAddr& from, const sip::MessageView& resp) {
  (void)from;
  if (!sip::validate_response(resp).ok()) {
    kSipInvalidResponses.inc();
    return;
  }
  if (pinger_ && pinger_->handle_response(now, resp)) return flush_pinger();
  if (trunk_regs_ && trunk_regs_->handle_response(now, resp)) return flush_registrations();
  Call* call = find_trunk_call(sip::call_id(resp));
  if (call == nullptr) {
    kSipStrayResponses.inc();
    return;
  }
  call->on_trunk_response(now, resp);
  pump(now, *call);
}

void CallController::on_trunk_request(core::Instant now, const core::SockAddr& from, const sip::MessageView& req) {
  const sip::Verdict v = sip::validate_request(req);
  if (!v.ok()) {
    kSipInvalidRequests.inc();
    core::log_sampled(log_sampler_, now, core::address_key(from), core::LogLevel::info, "sip.invalid_request",
                      "from={} method={} code={} why={}", from.to_string(), req.method_text(), v.code, v.reason);
    if (req.method() != sip::Method::ack) reply_udp(from, req, v.code, v.reason);
    return;
  }
  if (InboundCall* ic = find_inbound_trunk(sip::call_id(req))) {
    ic->on_trunk_request(now, from, req);
    return pump_inbound(now, *ic);
  }
  if (!sip::to_tag(req).empty() || req.method() == sip::Method::cancel) return on_trunk_in_dialog(now, from, req);
  switch (req.method()) {
    case sip::Method::options: {
      std::string out = build_response(req, 200, "OK", ids_.tag(),
                                       std::array<std::pair<std::string_view, std::string_view>, 3>{
                                           {{"Allow", kAllow}, {"Accept", "application/sdp"}, {"Supported", "timer"}}});
      return send_udp(from, std::move(out));
    }
    case sip::Method::ack: return;
    case sip::Method::invite: return start_inbound(now, from, req);
    default: {
      kSipUnsupported.inc();
      return reply_udp(from, req, 405, "Method Not Allowed");
    }
  }
}

void CallController::handle_flow_closed(core::Instant now, core::ConnId flow) {
  if (registrar_.remove_flow(flow) > 0) update_registration_gauge();
  inbound_flow_closed(now, BrowserFlow{cfg_.shard, flow});
  remote_flow_closed(flow);
  std::vector<std::uint64_t> ids;
  if (auto f = by_flow_.find(flow_key(flow)); f != by_flow_.end()) ids.assign(f->second.begin(), f->second.end());
  for (std::uint64_t id : ids) {
    auto it = calls_.find(id);
    if (it == calls_.end()) continue;
    it->second->on_flow_closed(now);
    pump(now, *it->second);
  }
}

void CallController::handle_trunk_unreachable(core::Instant now, const core::SockAddr& addr, int error,
                                              std::string_view detail, bool fallback_link) {
  if (pinger_ && !fallback_link) {
    pinger_->handle_unreachable(now, addr);
    flush_pinger();
  }
  if (trunk_regs_ && !fallback_link) {
    trunk_regs_->handle_unreachable(now, addr);
    flush_registrations();
  }
  std::vector<std::uint64_t> ids;
  std::string_view route = "-";
  for (auto& [id, call] : calls_) {
    if (call->trunk_dest != addr || (fallback_link && call->trunk_transport() == sip::Transport::udp)) continue;
    ids.push_back(id);
    if (call->trunk != nullptr) route = call->trunk->spec;
  }
  kTrunkUnreachable.inc();
  core::log_sampled(log_sampler_, now, core::address_key(addr), core::LogLevel::warn, "sip.trunk_unreachable",
                    "trunk={} route={} calls={} error={}", addr.to_string(), route, ids.size(),
                    detail.empty() ? std::string_view(std::strerror(error)) : detail);
  for (std::uint64_t id : ids) {
    auto it = calls_.find(id);
    if (it == calls_.end()) continue;
    Call& c = *it->second;
    c.on_trunk_unreachable(now, detail, unreachable_class(c.trunk_transport() == sip::Transport::udp, error));
    pump(now, c);
  }
}

void CallController::handle_trunk_connection_lost(core::Instant now, const core::SockAddr& addr, int error) {
  if (trunk_regs_) trunk_regs_->handle_connection_lost(now, addr);
  std::vector<std::uint64_t> ids;
  for (auto& [id, call] : calls_) {
    if (call->trunk_dest == addr && call->trunk_transport() != sip::Transport::udp) ids.push_back(id);
  }
  if (ids.empty()) return;
  kCallsTrunkConnectionLost.inc(ids.size());
  core::log_sampled(log_sampler_, now, core::address_key(addr), core::LogLevel::warn, "sip.trunk_connection_lost",
                    "trunk={} calls={} error={}", addr.to_string(), ids.size(),
                    error == 0 ? "closed by the trunk" : std::strerror(-error));
  for (std::uint64_t id : ids) {
    auto it = calls_.find(id);
    if (it == calls_.end()) continue;
    it->second->on_trunk_connection_lost(now);
    pump(now, *it->second);
  }
}

}  // namespace webtrunk::edge
