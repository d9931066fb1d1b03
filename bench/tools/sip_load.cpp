// bench_sip_load: signalling-only calls per second through a real `webtrunk edge` process
// (issue 3, "Benchmark": >= 3,000 calls/s per shard, no failed call, p50/p99 INVITE in -> out).
//
//   emulated browsers --WebSocket (TCP, subprotocol sip)--> webtrunk edge --UDP--> emulated trunk
//
// The tool writes an edge secret file, starts `webtrunk edge` itself (fork/exec, pinned to
// --edge-cpus), connects --browsers WebSocket clients, and drives calls from one thread (epoll,
// pinned to --gen-cpu) that also runs the trunk. Per call, as JsSIP does it:
//   INVITE (1.1 KB SDP) -> 100, 407 -> ACK, INVITE + Proxy-Authorization (MD5 digest over an edge
//   token minted with auth::mint_edge_token) -> 100, 180, 200 (relayed from the trunk) -> ACK, BYE -> 200
// With --auth cached (default) a browser keeps the nonce of its first 407 and sends credentials
// on the first INVITE of its later calls (nc counting up); --auth every-call takes the 407 round
// trip on every call. The trunk (sip_load_trunk.hpp) answers each INVITE with [100] [180] 200 +
// SDP, absorbs the ACK and answers the BYE with 200. A call succeeds when the browser got 200 to
// INVITE and BYE and the trunk saw INVITE, ACK and BYE.
//
// Latency "INVITE in -> INVITE out": from just before the send(2) of the browser's authenticated
// INVITE to the trunk's recvmmsg(2) return (same thread, same monotonic clock); "krx" uses the
// kernel's SO_TIMESTAMPNS receive time instead, which leaves out the generator's own queueing.
// Edge CPU is utime + stime of the edge process from /proc/PID/stat: calls per edge CPU-second =
// the calls/s one shard manages at 100 % of a core. The edge's run-queue wait (schedstat) shows
// how much of a shared machine's CPU went to other tasks.
//
// It stops by itself: after --calls calls, or at --duration seconds (no call starts after it; the
// calls in flight get 2 s more, then count as failed), then SIGTERMs the edge by PID. A call still
// unfinished --call-timeout seconds after it started fails. Exit code 0 only if all --calls calls
// were made and succeeded. --warmup S leaves the first S seconds out of the rates, CPU figures
// and latencies; a progress line every --progress seconds shows the steady state being reached
// (the edge keeps finished calls for a few seconds of transaction timers: its heap grows first).
//
// --tls: the same over WSS (the edge gets --wss, a certificate made at start, and --admin-listen
// for /metrics); --compare-tls N: N pairs of runs, WS then WSS, each on a fresh edge, with each
// run's edge CPU per call, the medians and the WSS/WS ratio (issue 11's target: <= 1.3).
//
// --inbound: the calls go the other way. Each browser REGISTERs as its own user (401, then an
// Authorization digest over its edge token, as JsSIP does); the trunk (TrunkCaller, on the edge's
// --trunk address) sends INVITE sip:USER@edge (an RTP/AVP offer as sipp's call-browser.xml; call i
// to browser i % --browsers and to shard i % --shards), the browser answers 180 and 200 with a
// Chromium SDP answer, the trunk ACKs, holds the call --hold seconds and sends BYE. A call succeeds
// when the trunk got 200 to INVITE and BYE and the browser got INVITE, ACK and BYE. Latencies:
// "INVITE in -> out" is the trunk's send(2) to the browser's read, set-up time the trunk's INVITE to
// its 200. No media flows (no browser does ICE).
//
// The tool is the function run_sip_load (bench/tools/load.hpp): bench_sip_load and
// `webtrunk bench calls` both run it.
// Files: sip_load_options.hpp (flags), sip_load_edge.hpp (the edge process, /proc),
// sip_load_messages.hpp (JsSIP and trunk messages), sip_load_ws_clients.hpp (browsers' WebSockets),
// sip_load_trunk.hpp (the trunk), sip_load_report.hpp (snapshots, figures).
#include <fmt/ranges.h>
#include <sys/epoll.h>
#include <sys/stat.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <random>

#include "auth/edge_token.hpp"
#include "auth/nonce.hpp"
#include "bench/tools/load.hpp"
#include "bench/tools/tool_flags.hpp"
#include "core/shards.hpp"
#include "core/tls_certificate.hpp"
#include "sip/auth_params.hpp"
#include "sip/parser.hpp"
#include "sip_load_edge.hpp"
#include "sip_load_messages.hpp"
#include "sip_load_options.hpp"
#include "sip_load_report.hpp"
#include "sip_load_trunk.hpp"
#include "sip_load_trunk_caller.hpp"
#include "sip_load_ws_clients.hpp"

namespace wt = webtrunk;
namespace bn = webtrunk::bench;

namespace {

// One call, from both ends. Its index is in its Call-ID (8 hex digits first) and its called number
// (--inbound: the trunk's From user, which the edge keeps in its INVITE to the browser).
// --inbound reads the fields from the other side: t_start/t_auth = the trunk's INVITE sent,
// trunk_invite/trunk_ack/trunk_bye = the browser got INVITE/ACK/BYE (t_trunk: its INVITE), got_200 and
// bye_ok = the trunk got 200 to its INVITE/BYE (t_answer: the 200).
struct Call {
  std::uint32_t browser = 0;
  std::uint32_t cseq = 0;       // of the current INVITE; the BYE uses cseq + 1
  std::uint8_t challenges = 0;  // 407s received
  bool done = false;
  bool ok = false;
  bool auth_sent = false;  // an INVITE with credentials was queued
  bool got_200 = false, bye_ok = false;
  bool trunk_invite = false, trunk_ack = false, trunk_bye = false;
  std::int64_t t_start = 0;    // first INVITE queued (monotonic ns)
  std::int64_t t_auth = 0;     // authenticated INVITE: just before its send(2)
  std::int64_t rt_auth = 0;    // same, CLOCK_REALTIME (to compare with the kernel receive stamp)
  std::int64_t t_trunk = 0;    // the trunk's recvmmsg returned the edge's INVITE
  std::int64_t krx_trunk = 0;  // its SO_TIMESTAMPNS (CLOCK_REALTIME)
  std::int64_t t_answer = 0;   // 200 to the INVITE at the browser
  std::string number, ruri, call_id, from_tag, branch, to_tag, target;
};

// A browser's SIP state (its WebSocket lives in WsClients under the same index).
struct Browser {
  bn::BrowserIdentity id;
  std::string nonce;  // from the last 407, reused for the later calls (--auth cached)
  std::uint32_t nc = 0;
  // --inbound: its registration (the REGISTER's Call-ID, From tag, CSeq).
  std::string reg_call_id, reg_tag;
  std::uint32_t reg_cseq = 0;
  bool registered = false;
};

class Generator {
 public:
  Generator(const bn::Options& o, std::uint16_t ws_port)
      : o_(o),
        ws_port_(ws_port),
        ep_(::epoll_create1(EPOLL_CLOEXEC)),
        calls_(o.calls),
        rng_(std::random_device{}()),
        ws_(ep_, rng_()),
        trunk_(bn::TrunkEmulator::Options{o.trunk_trying, o.trunk_ringing, o.calls}) {
    ws_.on_message = [this](std::uint32_t b, std::string_view text) { on_edge_message(b, text); };
    ws_.on_lost = [this](std::uint32_t b, std::string_view why) { on_browser_lost(b, why); };
    ws_.on_written = [this](std::uint32_t idx, std::int64_t mono, std::int64_t real) {
      calls_[idx].t_auth = mono;
      calls_[idx].rt_auth = real;
    };
    trunk_.on_invite = [this](std::uint32_t idx, bool first, std::int64_t mono, std::int64_t krx) {
      Call& c = calls_[idx];
      if (!first) {
        ++stats_.trunk_retransmits;
        return;
      }
      c.trunk_invite = true;
      c.t_trunk = mono;
      c.krx_trunk = krx;
    };
    trunk_.on_ack = [this](std::uint32_t idx) { calls_[idx].trunk_ack = true; };
    trunk_.on_bye = [this](std::uint32_t idx) {
      calls_[idx].trunk_bye = true;
      maybe_complete(idx);
    };
    caller_.on_response = [this](const wt::sip::MessageView& m) { on_trunk_response(m); };
    caller_.on_request = [this](const wt::sip::MessageView& m) {
      if (m.method() == wt::sip::Method::bye) ++stats_.anomalies["BYE from the edge at the trunk"];
    };
  }
  ~Generator() { ::close(ep_); }

  // --inbound: the trunk that calls (TrunkCaller), else the trunk that answers (TrunkEmulator).
  bool open_trunk(std::string& err) {
    if (!(o_.inbound ? caller_.open(err) : trunk_.open(err))) return false;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kTrunkTag;
    ::epoll_ctl(ep_, EPOLL_CTL_ADD, o_.inbound ? caller_.fd() : trunk_.fd(), &ev);
    return true;
  }
  std::uint16_t trunk_port() const noexcept { return o_.inbound ? caller_.port() : trunk_.port(); }
  // --inbound: the edge's first SIP port; shard k listens on port + k, and call i goes to shard i % shards.
  void set_edge_sip_port(std::uint16_t port) noexcept { edge_sip_port_ = port; }
  // The edge is started once the trunk's port is known; its CPU is read through this pid.
  void set_edge_pid(pid_t pid) noexcept { edge_pid_ = pid; }

  // Mints a token per browser and connects their WebSockets (before any clock runs).
  bool connect_browsers(const wt::auth::Secret& secret, std::string& err);
  void run();
  const bn::RunStats& stats() const noexcept { return stats_; }
  std::uint32_t tls_handshakes() const noexcept { return ws_.tls_handshakes(); }
  std::uint32_t tls_resumed() const noexcept { return ws_.tls_resumed(); }
  bool all_ok() const noexcept { return stats_.attempted == o_.calls && stats_.completed == o_.calls; }
  // An authenticated INVITE as the browsers send it (for its size in the report).
  std::string sample_invite();

 private:
  // The call a Call-ID names (its first 8 characters are the call index in hex), if it is one of ours.
  std::optional<std::uint32_t> call_of(std::string_view cid) const {
    std::uint32_t idx = 0;
    if (cid.size() < 8 || std::from_chars(cid.data(), cid.data() + 8, idx, 16).ec != std::errc() ||
        idx >= calls_.size() || calls_[idx].call_id != cid) {
      return std::nullopt;
    }
    return idx;
  }
  static constexpr std::uint64_t kTrunkTag = UINT64_MAX;  // epoll data of the trunk socket

  std::string rnd(std::size_t n, std::string_view alphabet = "abcdefghijklmnopqrstuvwxyz0123456789") {
    std::string s(n, 'x');
    for (auto& ch : s) ch = alphabet[rng_() % alphabet.size()];
    return s;
  }
  static bn::BrowserCallIds ids(const Call& c) {
    return bn::BrowserCallIds{c.ruri, c.number, c.call_id, c.from_tag, c.to_tag};
  }

  void start_call(std::uint32_t idx, std::int64_t now);
  // --inbound: the browsers' registrations, the trunk's calls and the browsers' answers.
  bool register_browsers(std::string& err);
  void on_register_response(std::uint32_t b, const wt::sip::MessageView& m);
  void start_inbound(std::uint32_t idx, std::int64_t now);
  void on_browser_request(std::uint32_t b, const wt::sip::MessageView& m);
  void on_trunk_response(const wt::sip::MessageView& m);
  void send_trunk(std::uint32_t idx, std::string_view method, std::string_view ruri, std::uint32_t cseq,
                  std::string_view branch, std::string_view sdp = {});
  bn::TrunkCallIds trunk_ids(const Call& c) const {
    return bn::TrunkCallIds{caller_.local(), edge_host_, c.number, browsers_[c.browser].id.user,
                            c.call_id,       c.from_tag, c.to_tag};
  }
  void send_invite(std::uint32_t idx, bool with_credentials);
  void on_edge_message(std::uint32_t b, std::string_view text);
  void on_invite_response(std::uint32_t b, std::uint32_t idx, const wt::sip::MessageView& m);
  void on_browser_lost(std::uint32_t b, std::string_view why);
  void maybe_complete(std::uint32_t idx);
  void fail(std::uint32_t idx, std::string why);
  void finish(std::uint32_t idx, bool ok);
  std::string stuck_at(const Call& c) const;
  bn::Snapshot snapshot(std::int64_t t) const {
    return bn::take_snapshot(edge_pid_, t, stats_.completed, stats_.failed);
  }

  const bn::Options& o_;
  pid_t edge_pid_ = -1;
  std::uint16_t ws_port_;
  int ep_;
  std::vector<Call> calls_;
  std::vector<Browser> browsers_;
  std::mt19937_64 rng_;
  bn::WsClients ws_;
  bn::TrunkEmulator trunk_;
  bn::TrunkCaller caller_;
  std::uint16_t edge_sip_port_ = 0;
  std::string edge_host_;  // --inbound: "127.0.0.1:<edge SIP port>" (the To host)
  std::deque<std::pair<std::int64_t, std::uint32_t>> holds_;  // --inbound: (BYE due, call), in due order
  std::uint32_t registered_ = 0;
  std::string register_error_;
  bn::RunStats stats_;
  std::uint64_t in_flight_ = 0;
  std::deque<std::uint32_t> in_flight_order_;  // start order, for the per-call timeout
  std::int64_t t_last_ = 0;                    // the last call finished
};

bool Generator::connect_browsers(const wt::auth::Secret& secret, std::string& err) {
  browsers_.resize(o_.browsers);
  const std::int64_t expiry = wt::core::unix_now() + 3600;
  const std::string hex = "0123456789abcdef";
  for (std::uint32_t i = 0; i < o_.browsers; ++i) {
    bn::BrowserIdentity& id = browsers_[i].id;
    id.via_host = rnd(12) + ".invalid";
    id.user = fmt::format("alice{}", i);
    id.instance =
        fmt::format("urn:uuid:{}-{}-4{}-8{}-{}", rnd(8, hex), rnd(4, hex), rnd(3, hex), rnd(3, hex), rnd(12, hex));
    wt::auth::MintClaims claims;
    claims.account = "bench";
    auto tok = wt::auth::mint_edge_token(secret, expiry, id.user, claims);
    if (!tok) {
      err = "mint_edge_token: " + tok.error().message;
      return false;
    }
    id.token_user = tok->username;
    id.token_password = tok->password;
  }
  if (o_.tls && !ws_.enable_tls(err)) return false;
  if (!ws_.connect(o_.browsers, ws_port_, err)) return false;
  return !o_.inbound || register_browsers(err);
}

// REGISTER each browser (401, then Authorization as JsSIP sends it); at most 10 s for all of them.
bool Generator::register_browsers(std::string& err) {
  edge_host_ = fmt::format("127.0.0.1:{}", edge_sip_port_);
  for (std::uint32_t i = 0; i < o_.browsers; ++i) {
    Browser& br = browsers_[i];
    br.reg_call_id = rnd(22);
    br.reg_tag = rnd(10);
    br.reg_cseq = 1;
    ws_.send_text(i, bn::jssip_register(br.id, br.reg_call_id, br.reg_tag, "z9hG4bK" + rnd(7, "0123456789"),
                                        br.reg_cseq, ""));
  }
  const std::int64_t until = bn::mono_ns() + 10'000'000'000;
  std::array<epoll_event, 256> evs{};
  while (registered_ < o_.browsers && register_error_.empty() && bn::mono_ns() < until) {
    ws_.flush_dirty();
    const int n = ::epoll_wait(ep_, evs.data(), static_cast<int>(evs.size()), 100);
    for (int i = 0; i < n; ++i) {
      if (evs[i].data.u64 == kTrunkTag) {
        caller_.on_readable();  // the edge's OPTIONS pings, if any
      } else {
        ws_.on_event(static_cast<std::uint32_t>(evs[i].data.u64), evs[i].events);
      }
    }
  }
  if (registered_ == o_.browsers) return true;
  err = fmt::format("{} of {} browsers registered: {}", registered_, o_.browsers,
                    register_error_.empty() ? "no answer within 10 s" : register_error_);
  return false;
}

void Generator::on_register_response(std::uint32_t b, const wt::sip::MessageView& m) {
  Browser& br = browsers_[b];
  const int code = m.status_code();
  if (code < 200 || br.registered) return;
  if (code == 401 && br.reg_cseq == 1) {
    wt::sip::AuthParams ap;
    const wt::sip::HeaderField* h = m.find(wt::sip::HeaderId::www_authenticate);
    std::optional<std::string_view> nonce;
    if (h == nullptr || !wt::sip::parse_auth(h->value, ap) || !(nonce = ap.get("nonce"))) {
      register_error_ = "401 without a usable WWW-Authenticate";
      return;
    }
    ++stats_.challenges;
    ++br.reg_cseq;
    const std::string ruri = fmt::format("sip:{}", bn::kRealm);
    ws_.send_text(b, bn::jssip_register(br.id, br.reg_call_id, br.reg_tag, "z9hG4bK" + rnd(7, "0123456789"),
                                        br.reg_cseq, bn::jssip_digest(br.id, ruri, *nonce, 1, rnd(12), "REGISTER")));
    return;
  }
  if (code == 200) {
    br.registered = true;
    ++registered_;
    return;
  }
  register_error_ = fmt::format("browser {}: REGISTER {} {}", b, code, m.reason_phrase());
}

std::string Generator::sample_invite() {
  Call c;
  if (o_.inbound) {  // the trunk's INVITE to browser 0
    c.number = fmt::format("{}{:08}", bn::kNumberPrefix, 0);
    c.ruri = fmt::format("sip:{}@{}", browsers_.at(0).id.user, edge_host_);
    c.call_id = fmt::format("{:08x}{}@127.0.0.1", 0, rnd(12));
    c.from_tag = rnd(10);
    return bn::trunk_request(trunk_ids(c), "INVITE", c.ruri, "z9hG4bK" + rnd(10), 1,
                             fmt::format(fmt::runtime(bn::kTrunkOfferTemplate), 30000));
  }
  c.number = fmt::format("{}{:08}", bn::kNumberPrefix, 0);
  c.ruri = fmt::format("sip:{}@{}", c.number, bn::kRealm);
  c.call_id = rnd(20);
  c.from_tag = rnd(10);
  const bn::BrowserIdentity& b = browsers_.at(0).id;
  const std::string auth = bn::jssip_digest(b, c.ruri, std::string(wt::auth::kNonceTextSize, 'n'), 1, rnd(12));
  return bn::jssip_invite(b, ids(c), "z9hG4bK1234567", 1864, auth, bn::make_offer(1, 40000));
}

void Generator::start_call(std::uint32_t idx, std::int64_t now) {
  if (o_.inbound) return start_inbound(idx, now);
  Call& c = calls_[idx];
  c.browser = idx % o_.browsers;
  c.number = fmt::format("{}{:08}", bn::kNumberPrefix, idx);
  c.ruri = fmt::format("sip:{}@{}", c.number, bn::kRealm);
  c.call_id = fmt::format("{:08x}{}", idx, rnd(12));  // 20 characters, like JsSIP's
  c.from_tag = rnd(10);
  c.cseq = 1000 + static_cast<std::uint32_t>(rng_() % 9000);
  c.t_start = now;
  ++stats_.attempted;
  ++in_flight_;
  in_flight_order_.push_back(idx);
  if (ws_.lost(c.browser)) return fail(idx, "browser connection lost");
  send_invite(idx, !o_.auth_every_call && !browsers_[c.browser].nonce.empty());
}

void Generator::send_invite(std::uint32_t idx, bool with_credentials) {
  Call& c = calls_[idx];
  Browser& b = browsers_[c.browser];
  c.branch = "z9hG4bK" + rnd(7, "0123456789");
  std::string auth;
  if (with_credentials) {
    auth = bn::jssip_digest(b.id, c.ruri, b.nonce, ++b.nc, rnd(12));
    c.auth_sent = true;
    ++stats_.auth_invites;
  }
  const std::string sdp = bn::make_offer(rng_() >> 1, 40000 + idx % 20000);
  ws_.send_text(c.browser, bn::jssip_invite(b.id, ids(c), c.branch, c.cseq, auth, sdp),
                with_credentials ? idx : UINT32_MAX);
}

void Generator::on_edge_message(std::uint32_t b, std::string_view text) {
  wt::sip::MessageView m;
  if (wt::sip::parse_message(text, m).status != wt::sip::ParseStatus::ok) {
    ++stats_.anomalies["unparsable message from the edge"];
    return;
  }
  if (m.is_request() && o_.inbound) return on_browser_request(b, m);
  if (m.is_request()) {
    // Nothing in this flow makes the edge send a request (session refreshes come after 45 s);
    // answer like JsSIP would rather than leave a transaction open.
    ++stats_.edge_requests;
    if (m.method() != wt::sip::Method::ack) {
      ws_.send_text(b, bn::trunk_response(m, 200, "OK", "", "<sip:x@invalid;transport=ws>"));
    }
    return;
  }
  if (const auto cs = wt::sip::cseq(m); cs && cs->method == wt::sip::Method::register_) {
    return on_register_response(b, m);
  }
  const auto found = call_of(wt::sip::call_id(m));
  if (!found) {
    ++stats_.anomalies["response for an unknown Call-ID"];
    return;
  }
  const std::uint32_t idx = *found;
  Call& c = calls_[idx];
  if (c.done) return;
  const auto cs = wt::sip::cseq(m);
  if (!cs) return fail(idx, "response without CSeq");
  if (cs->method == wt::sip::Method::invite) return on_invite_response(b, idx, m);
  if (cs->method == wt::sip::Method::bye && m.status_code() >= 200) {
    if (m.status_code() >= 300) return fail(idx, fmt::format("BYE {}", m.status_code()));
    c.bye_ok = true;
    maybe_complete(idx);
  }
}

void Generator::on_invite_response(std::uint32_t b, std::uint32_t idx, const wt::sip::MessageView& m) {
  Call& c = calls_[idx];
  Browser& br = browsers_[b];
  const int code = m.status_code();
  if (code < 200) return;                          // 100 from the edge, 180 relayed from the trunk
  if (wt::sip::cseq(m)->number != c.cseq) return;  // a late answer to the challenged INVITE
  if (code >= 300) {
    // RFC 3261 §17.1.1.3: ACK a non-2xx with the INVITE's branch, Request-URI and the response's To tag.
    c.to_tag = std::string(wt::sip::to_tag(m));
    ws_.send_text(b, bn::jssip_in_dialog(br.id, ids(c), "ACK", c.ruri, c.branch, c.cseq));
    c.to_tag.clear();
    // A 407 to credentials (a stale cached nonce) is retried once with the new nonce, as JsSIP does.
    if (code == 407 && c.challenges < 2) {
      ++c.challenges;
      ++stats_.challenges;
      wt::sip::AuthParams ap;
      const wt::sip::HeaderField* h = m.find(wt::sip::HeaderId::proxy_authenticate);
      std::optional<std::string_view> nonce;
      if (h == nullptr || !wt::sip::parse_auth(h->value, ap) || !(nonce = ap.get("nonce"))) {
        return fail(idx, "407 without a usable Proxy-Authenticate");
      }
      br.nonce = std::string(*nonce);
      br.nc = 0;
      ++c.cseq;  // JsSIP retries with the next CSeq, same Call-ID and From tag
      return send_invite(idx, true);
    }
    return fail(idx, fmt::format("INVITE {}{}", code, code == 407 ? " (again, after credentials)" : ""));
  }
  if (c.got_200) return;
  c.got_200 = true;
  c.t_answer = bn::mono_ns();
  c.to_tag = std::string(wt::sip::to_tag(m));
  wt::sip::NameAddr contact;
  if (!wt::sip::parse_name_addr(m.value(wt::sip::HeaderId::contact), contact))
    return fail(idx, "200 without a Contact");
  c.target = std::string(contact.uri);
  // ACK and BYE at once: signalling only, no hold time. Both go in one send(2) this turn.
  ws_.send_text(b, bn::jssip_in_dialog(br.id, ids(c), "ACK", c.target, "z9hG4bK" + rnd(7, "0123456789"), c.cseq));
  ws_.send_text(b, bn::jssip_in_dialog(br.id, ids(c), "BYE", c.target, "z9hG4bK" + rnd(7, "0123456789"), c.cseq + 1));
}

void Generator::start_inbound(std::uint32_t idx, std::int64_t now) {
  Call& c = calls_[idx];
  c.browser = idx % o_.browsers;
  c.number = fmt::format("{}{:08}", bn::kNumberPrefix, idx);  // the caller: the edge passes it to the browser
  const auto shard_port = static_cast<std::uint16_t>(edge_sip_port_ + idx % o_.shards);
  c.ruri = fmt::format("sip:{}@127.0.0.1:{}", browsers_[c.browser].id.user, shard_port);
  c.call_id = fmt::format("{:08x}{}@127.0.0.1", idx, rnd(12));
  c.from_tag = rnd(10);
  c.cseq = 1;
  c.branch = "z9hG4bK" + rnd(10);
  c.t_start = now;
  c.auth_sent = true;  // no challenge on this path
  ++stats_.attempted;
  ++in_flight_;
  in_flight_order_.push_back(idx);
  if (ws_.lost(c.browser)) return fail(idx, "browser connection lost");
  const std::string sdp = fmt::format(fmt::runtime(bn::kTrunkOfferTemplate), 30000 + 2 * (idx % 10000));
  c.t_auth = bn::mono_ns();
  send_trunk(idx, "INVITE", c.ruri, 1, c.branch, sdp);
}

void Generator::send_trunk(std::uint32_t idx, std::string_view method, std::string_view ruri, std::uint32_t cseq,
                           std::string_view branch, std::string_view sdp) {
  const Call& c = calls_[idx];
  caller_.send(static_cast<std::uint16_t>(edge_sip_port_ + idx % o_.shards),
               bn::trunk_request(trunk_ids(c), method, ruri, branch, cseq, sdp));
}

// The edge's requests to a browser: INVITE -> 180 + 200 with Chromium's answer, ACK, BYE -> 200.
void Generator::on_browser_request(std::uint32_t b, const wt::sip::MessageView& m) {
  const std::int64_t idx = bn::call_index_of_number(bn::name_addr_user(m.value(wt::sip::HeaderId::from)));
  const bool known = idx >= 0 && static_cast<std::uint64_t>(idx) < calls_.size() &&
                     calls_[static_cast<std::size_t>(idx)].browser == b;
  const std::string tag = fmt::format("b{}", idx);
  const std::string contact = fmt::format("<sip:{}@{};transport=ws>", browsers_[b].id.user, browsers_[b].id.via_host);
  const wt::sip::Method method = m.method();
  if (method == wt::sip::Method::ack) {
    if (!known) return;
    calls_[static_cast<std::size_t>(idx)].trunk_ack = true;
    return maybe_complete(static_cast<std::uint32_t>(idx));
  }
  if (method == wt::sip::Method::invite && known && !calls_[static_cast<std::size_t>(idx)].trunk_invite) {
    Call& c = calls_[static_cast<std::size_t>(idx)];
    c.trunk_invite = true;
    c.t_trunk = bn::mono_ns();
    ws_.send_text(b, bn::trunk_response(m, 180, "Ringing", tag, contact));
    ws_.send_text(b, bn::trunk_response(m, 200, "OK", tag, contact, bn::chromium_answer(m.body(), rng_() >> 1)));
    return;
  }
  if (method == wt::sip::Method::invite) {  // a re-INVITE or a stranger: nothing this flow expects
    ++stats_.edge_requests;
    ws_.send_text(b, bn::trunk_response(m, 488, "Not Acceptable Here", tag, contact));
    return;
  }
  ws_.send_text(b, bn::trunk_response(m, 200, "OK", tag, contact));
  if (method == wt::sip::Method::bye && known) {
    calls_[static_cast<std::size_t>(idx)].trunk_bye = true;
    return maybe_complete(static_cast<std::uint32_t>(idx));
  }
  if (method == wt::sip::Method::cancel && known) return fail(static_cast<std::uint32_t>(idx), "CANCEL from the edge");
  ++stats_.edge_requests;
}

// Responses to the trunk's INVITE (ACK the 200, hold the call, BYE) and BYE.
void Generator::on_trunk_response(const wt::sip::MessageView& m) {
  const auto found = call_of(wt::sip::call_id(m));
  if (!found) {
    ++stats_.anomalies["response for an unknown Call-ID at the trunk"];
    return;
  }
  const std::uint32_t idx = *found;
  Call& c = calls_[idx];
  const auto cs = wt::sip::cseq(m);
  const int code = m.status_code();
  if (c.done || !cs || code < 200) return;
  if (cs->method == wt::sip::Method::bye) {
    if (code >= 300) return fail(idx, fmt::format("BYE {}", code));
    c.bye_ok = true;
    return maybe_complete(idx);
  }
  if (cs->method != wt::sip::Method::invite) return;
  if (code >= 300) {
    // RFC 3261 §17.1.1.3: ACK a non-2xx with the INVITE's branch and Request-URI.
    c.to_tag = std::string(wt::sip::to_tag(m));
    send_trunk(idx, "ACK", c.ruri, 1, c.branch);
    return fail(idx, fmt::format("INVITE {} {}", code, m.reason_phrase()));
  }
  if (!c.got_200) {
    c.got_200 = true;
    c.t_answer = bn::mono_ns();
    c.to_tag = std::string(wt::sip::to_tag(m));
    wt::sip::NameAddr contact;
    if (!wt::sip::parse_name_addr(m.value(wt::sip::HeaderId::contact), contact))
      return fail(idx, "200 without a Contact");
    c.target = std::string(contact.uri);
    holds_.emplace_back(c.t_answer + static_cast<std::int64_t>(o_.hold_s * 1e9), idx);
  }
  // RFC 3261 §13.2.2.4: every 2xx (the edge retransmits it until the ACK) gets an ACK.
  send_trunk(idx, "ACK", c.target, 1, "z9hG4bK" + rnd(10));
}

void Generator::on_browser_lost(std::uint32_t b, std::string_view why) {
  std::fprintf(stderr, "sip_load: browser %u: %.*s\n", b, static_cast<int>(why.size()), why.data());
  for (std::uint32_t idx : std::vector<std::uint32_t>(in_flight_order_.begin(), in_flight_order_.end())) {
    if (!calls_[idx].done && calls_[idx].browser == b) fail(idx, "browser connection lost");
  }
}

void Generator::maybe_complete(std::uint32_t idx) {
  const Call& c = calls_[idx];
  if (!c.done && c.got_200 && c.bye_ok && c.trunk_invite && c.trunk_ack && c.trunk_bye) finish(idx, true);
}

void Generator::fail(std::uint32_t idx, std::string why) {
  if (calls_[idx].done) return;
  ++stats_.failures[std::move(why)];
  finish(idx, false);
}

void Generator::finish(std::uint32_t idx, bool ok) {
  Call& c = calls_[idx];
  c.done = true;
  c.ok = ok;
  --in_flight_;
  ++(ok ? stats_.completed : stats_.failed);
  t_last_ = bn::mono_ns();
  if (!ok || c.t_auth < stats_.measure.t) return;
  if (c.t_trunk >= c.t_auth) stats_.invite_in_out.push_back(c.t_trunk - c.t_auth);
  if (c.krx_trunk > 0) stats_.invite_in_out_krx.push_back(std::max<std::int64_t>(c.krx_trunk - c.rt_auth, 0));
  stats_.setup.push_back(c.t_answer - c.t_start);
  stats_.answer_back.push_back(c.t_answer - c.t_trunk);
}

std::string Generator::stuck_at(const Call& c) const {
  if (o_.inbound) {
    if (!c.trunk_invite) return "the INVITE never reached the browser";
    if (!c.got_200) return "no 200 at the trunk";
    if (!c.trunk_ack) return "no ACK at the browser";
    if (!c.bye_ok) return "no 200 to the trunk's BYE";
    return "the BYE never reached the browser";
  }
  if (!c.auth_sent) return "no 407 from the edge";
  if (!c.trunk_invite) return "the INVITE never reached the trunk";
  if (!c.got_200) return "no 200 at the browser";
  if (!c.trunk_ack) return "no ACK at the trunk";
  if (!c.bye_ok) return "no 200 to the BYE";
  return "the BYE never reached the trunk";
}

void Generator::run() {
  const std::int64_t t0 = bn::mono_ns();
  stats_.begin = snapshot(t0);
  stats_.measure = stats_.begin;
  const std::int64_t warm_end = t0 + static_cast<std::int64_t>(o_.warmup_s * 1e9);
  bool warm = o_.warmup_s <= 0;
  const auto progress_every = static_cast<std::int64_t>(o_.progress_s * 1e9);
  bn::Snapshot last_progress = stats_.begin;
  const std::int64_t deadline = t0 + static_cast<std::int64_t>(o_.duration_s * 1e9);
  constexpr std::int64_t kDrain = 2'000'000'000;
  bool draining = false;
  const auto call_timeout = static_cast<std::int64_t>(o_.call_timeout_s * 1e9);
  std::uint64_t started = 0;
  std::array<epoll_event, 256> evs{};
  for (;;) {
    const std::int64_t now = bn::mono_ns();
    if (!warm && now >= warm_end) {
      warm = true;
      stats_.measure = snapshot(now);
    }
    if (progress_every > 0 && now - last_progress.t >= progress_every) {
      const bn::Snapshot p = snapshot(now);
      bn::print_progress(stats_.begin, last_progress, p, in_flight_);
      last_progress = p;
    }
    // At --duration no call starts any more; those in flight get kDrain to finish.
    if (now >= deadline && !draining) {
      draining = true;
      stats_.stop_reason =
          fmt::format("--duration {} s reached with {} of {} calls started", o_.duration_s, started, o_.calls);
    }
    if (draining && (in_flight_ == 0 || now >= deadline + kDrain)) break;
    std::int64_t next_start = -1;
    while (!draining && started < o_.calls && in_flight_ < o_.concurrency) {
      if (o_.rate > 0) {
        const std::int64_t due = t0 + static_cast<std::int64_t>(static_cast<double>(started) * 1e9 / o_.rate);
        if (due > now) {
          next_start = due;
          break;
        }
      }
      start_call(static_cast<std::uint32_t>(started++), now);
    }
    while (!in_flight_order_.empty()) {
      const std::uint32_t idx = in_flight_order_.front();
      if (!calls_[idx].done && now - calls_[idx].t_start > call_timeout) fail(idx, "timeout: " + stuck_at(calls_[idx]));
      if (!calls_[idx].done) break;
      in_flight_order_.pop_front();
    }
    if (started == o_.calls && in_flight_ == 0) break;
    // --inbound: the trunk hangs up the calls held --hold seconds (one hold for all: due order).
    while (!holds_.empty() && holds_.front().first <= now) {
      const std::uint32_t idx = holds_.front().second;
      holds_.pop_front();
      if (!calls_[idx].done) send_trunk(idx, "BYE", calls_[idx].target, 2, "z9hG4bK" + rnd(10));
    }
    if (!holds_.empty() && (next_start < 0 || holds_.front().first < next_start)) next_start = holds_.front().first;
    ws_.flush_dirty();
    int timeout_ms = 100;
    if (next_start >= 0) {
      timeout_ms = static_cast<int>(std::clamp<std::int64_t>((next_start - now + 999'999) / 1'000'000, 0, 100));
    }
    const int n = ::epoll_wait(ep_, evs.data(), static_cast<int>(evs.size()), timeout_ms);
    for (int i = 0; i < n; ++i) {
      if (evs[i].data.u64 == kTrunkTag) {
        if (o_.inbound) {
          caller_.on_readable();
        } else {
          trunk_.on_readable();
        }
      } else {
        ws_.on_event(static_cast<std::uint32_t>(evs[i].data.u64), evs[i].events);
      }
    }
  }
  stats_.end = snapshot(t_last_ > 0 ? t_last_ : bn::mono_ns());
  for (std::uint32_t idx : in_flight_order_) {
    if (!calls_[idx].done) fail(idx, "unfinished 2 s after --duration: " + stuck_at(calls_[idx]));
  }
  for (const auto& [why, count] : trunk_.anomalies) stats_.anomalies[why] += count;
  for (const auto& [why, count] : caller_.anomalies) stats_.anomalies[why] += count;
  ws_.close_all();
}

void pin_self(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(static_cast<unsigned>(cpu), &set);
  if (::sched_setaffinity(0, sizeof(set), &set) != 0) std::fprintf(stderr, "sip_load: cannot pin to CPU %d\n", cpu);
}

// One run: its own temp dir, edge and browsers. The exit code (0: every call ok; 2: a bad flag);
// `figures` gets what compare_tls prints.
int run_once(const char* prog, bn::Options o, bn::RunFigures& figures) {
  std::string err;
  auto edge_cpus = wt::core::parse_cpu_list(o.edge_cpus);
  if (!edge_cpus) {
    std::fprintf(stderr, "%s: --edge-cpus: %s\n", prog, edge_cpus.error().message.c_str());
    return 2;
  }
  // Pin only to CPUs that exist (a 1-CPU machine runs both unpinned).
  const auto ncpu = static_cast<unsigned>(::sysconf(_SC_NPROCESSORS_ONLN));
  std::vector<unsigned> pin_edge = *edge_cpus;
  std::erase_if(pin_edge, [&](unsigned c) { return c >= ncpu; });
  const bool pin_gen = o.gen_cpu >= 0 && static_cast<unsigned>(o.gen_cpu) < ncpu;

  // The secret file: one secret with a key id, so the tokens carry claims (auth/README.md).
  char dir_tmpl[] = "/tmp/sip_load.XXXXXX";
  if (::mkdtemp(dir_tmpl) == nullptr) {
    std::fprintf(stderr, "%s: mkdtemp: %s\n", prog, std::strerror(errno));
    return 1;
  }
  const std::string dir = dir_tmpl;
  std::mt19937_64 seed_rng(std::random_device{}());
  const wt::auth::Secret secret{"k1", fmt::format("{:016x}{:016x}", seed_rng(), seed_rng())};
  const std::string secret_path = dir + "/edge-secrets.txt";
  {
    std::ofstream f(secret_path);
    f << "# bench_sip_load\n" << secret.kid << ':' << secret.key << '\n';
  }
  ::chmod(secret_path.c_str(), 0600);
  // WSS: a certificate for 127.0.0.1 made now (ECDSA P-256, as the demo's), and /metrics on a
  // plain admin port.
  std::vector<std::string> tls_args;
  std::uint16_t metrics_port = 0;
  if (o.tls) {
    wt::core::TlsCertSpec spec;
    spec.common_name = "127.0.0.1";
    spec.dns_names = {"127.0.0.1", "localhost"};
    spec.not_after_s = 86400;
    auto pem = wt::core::make_tls_certificate(spec);
    if (!pem) {
      std::fprintf(stderr, "%s: making a certificate: %s\n", prog, pem.error().message.c_str());
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
      return 1;
    }
    std::ofstream(dir + "/edge.crt") << pem->cert;
    std::ofstream(dir + "/edge.key") << pem->key;
    ::chmod((dir + "/edge.key").c_str(), 0600);
    metrics_port = bn::free_tcp_port();
    tls_args = {"--tls-cert", dir + "/edge.crt", "--tls-key", dir + "/edge.key", "--admin-listen",
                fmt::format("127.0.0.1:{}", metrics_port)};
  }
  auto cleanup = [&] {
    std::error_code ec;
    if (o.keep) {
      std::printf("sip_load: kept %s\n", dir.c_str());
    } else {
      std::filesystem::remove_all(dir, ec);
    }
  };

  // The trunk first: its port is a flag of the edge.
  const std::uint16_t ws_port = bn::free_tcp_port();
  // --inbound: the trunk calls the edge's SIP port, so it is fixed here (shard k: + k).
  const std::uint16_t sip_port = o.inbound ? bn::free_udp_port() : 0;
  Generator gen(o, ws_port);
  gen.set_edge_sip_port(sip_port);
  if (ws_port == 0 || !gen.open_trunk(err)) {
    std::fprintf(stderr, "%s: %s\n", prog, err.empty() ? "no free TCP port" : err.c_str());
    cleanup();
    return 1;
  }
  std::vector<std::string> edge_argv{o.edge_bin,
                                     "edge",
                                     o.tls ? "--wss" : "--ws",
                                     fmt::format("127.0.0.1:{}", ws_port),
                                     "--trunk",
                                     fmt::format("udp:127.0.0.1:{}", gen.trunk_port()),
                                     "--sip-listen",
                                     "127.0.0.1",
                                     "--sip-port",
                                     std::to_string(sip_port),
                                     "--edge-secret-file",
                                     secret_path,
                                     "--realm",
                                     std::string(bn::kRealm),
                                     "--shards",
                                     std::to_string(o.shards),
                                     "--log-level",
                                     o.edge_log_level,
                                     // Every emulated browser comes from 127.0.0.1: lift the
                                     // per-address admission limits meant for real sources.
                                     "--max-connections-per-address",
                                     "10000000",
                                     "--max-new-connections-per-address",
                                     "1000000",
                                     "--max-unauth-requests-per-address",
                                     "1000000"};
  edge_argv.insert(edge_argv.end(), tls_args.begin(), tls_args.end());
  if (!pin_edge.empty()) {
    edge_argv.push_back("--cpu-list");
    edge_argv.push_back(fmt::format("{}", fmt::join(pin_edge, ",")));
  }
  edge_argv.insert(edge_argv.end(), o.edge_args.begin(), o.edge_args.end());
  std::string cmdline;
  for (const auto& a : o.edge_wrapper) cmdline += a + " ";
  for (const auto& a : edge_argv) cmdline += a + " ";
  const std::string log_path = dir + "/edge.log";
  std::printf("sip_load: edge: %s(log %s)\n", cmdline.c_str(), log_path.c_str());
  std::fflush(stdout);

  bn::EdgeProcess edge;
  if (!edge.start(o.edge_wrapper, edge_argv, pin_edge, log_path, err) ||
      !edge.wait_ready(ws_port, std::chrono::milliseconds(static_cast<long>(o.ready_timeout_s * 1000)), err)) {
    std::fprintf(stderr, "%s: %s (see %s)\n", prog, err.c_str(), log_path.c_str());
    o.keep = true;
    cleanup();
    return 1;
  }
  std::printf("sip_load: edge pid=%d\n", static_cast<int>(edge.pid()));
  std::fflush(stdout);
  gen.set_edge_pid(edge.pid());
  if (pin_gen) pin_self(o.gen_cpu);

  // The connections' cost (TCP, TLS handshakes, upgrades) apart from the calls': nanosecond CPU
  // from schedstat, since a few dozen handshakes take less than one /proc/PID/stat tick.
  const double connect_cpu0 = bn::process_sched(edge.pid()).cpu_s;
  const bool connected = gen.connect_browsers(secret, err);
  const double connect_cpu_s = bn::process_sched(edge.pid()).cpu_s - connect_cpu0;
  if (!connected) {
    std::fprintf(stderr, "%s: %s\n", prog, err.c_str());
    std::printf("sip_load: edge %s\n", edge.stop(std::chrono::seconds(5)).c_str());
    cleanup();
    return 1;
  }
  const std::size_t invite_size = gen.sample_invite().size();
  const std::size_t sdp_size =
      o.inbound ? fmt::format(fmt::runtime(bn::kTrunkOfferTemplate), 30000).size() : bn::make_offer(1, 40000).size();
  gen.run();
  std::printf("sip_load: connections: transport=%s browsers=%u edge_cpu_us_per_connection=%.0f", o.tls ? "wss" : "ws",
              o.browsers, 1e6 * connect_cpu_s / o.browsers);
  if (o.tls) std::printf(" tls_handshakes=%u resumed=%u", gen.tls_handshakes(), gen.tls_resumed());
  std::printf("\n");

  const auto metrics = bn::nonzero_metrics(bn::http_get(o.tls ? metrics_port : ws_port, "/metrics"));
  std::printf("sip_load: edge metrics (non-zero):\n");
  for (const auto& line : metrics) {
    if (line.find("shard=\"") == std::string::npos || o.shards > 1) std::printf("  %s\n", line.c_str());
  }
  std::printf("sip_load: edge %s\n", edge.stop(std::chrono::seconds(10)).c_str());
  bn::print_report(o, gen.stats(), sdp_size, invite_size);
  figures = bn::run_figures(gen.stats());
  figures.edge_cpu_us_per_connection = 1e6 * connect_cpu_s / o.browsers;
  cleanup();
  return gen.all_ok() ? 0 : 1;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// --compare-tls PAIRS: WS, WSS, WS, WSS, ... on the same flags, then one line per run, the medians
// and the ratio. Alternating spreads a drift of the machine (neighbours, heat) over both.
int compare_tls(const char* prog, const bn::Options& base) {
  struct Row {
    bool tls;
    int rc;
    bn::RunFigures f;
  };
  std::vector<Row> rows;
  for (unsigned pair = 0; pair < base.compare_tls; ++pair) {
    for (bool tls : {false, true}) {
      bn::Options o = base;
      o.tls = tls;
      std::printf("sip_load: compare: run %zu of %u (%s)\n", rows.size() + 1, 2 * base.compare_tls, tls ? "wss" : "ws");
      std::fflush(stdout);
      Row r{tls, 0, {}};
      r.rc = run_once(prog, o, r.f);
      rows.push_back(r);
      if (r.rc == 2) return 2;
    }
  }
  std::vector<double> cpu[2], cps[2], p50[2], conn[2];
  bool all_ok = true;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    all_ok = all_ok && r.rc == 0;
    std::printf(
        "sip_load: compare run=%zu transport=%s ok=%llu failed=%llu cps=%.0f edge_cpu_us_per_call=%.1f "
        "calls_per_edge_cpu_s=%.0f p50_us=%.0f p99_us=%.0f edge_cpu_us_per_connection=%.0f\n",
        i + 1, r.tls ? "wss" : "ws", static_cast<unsigned long long>(r.f.ok), static_cast<unsigned long long>(r.f.failed),
        r.f.cps, r.f.edge_cpu_us_per_call, r.f.calls_per_edge_cpu_s, r.f.p50_us, r.f.p99_us,
        r.f.edge_cpu_us_per_connection);
    cpu[r.tls].push_back(r.f.edge_cpu_us_per_call);
    cps[r.tls].push_back(r.f.cps);
    p50[r.tls].push_back(r.f.p50_us);
    conn[r.tls].push_back(r.f.edge_cpu_us_per_connection);
  }
  const double ws = median(cpu[0]), wss = median(cpu[1]);
  std::printf(
      "sip_load: compare median ws: edge_cpu_us_per_call=%.1f cps=%.0f p50_us=%.0f edge_cpu_us_per_connection=%.0f | "
      "wss: edge_cpu_us_per_call=%.1f cps=%.0f p50_us=%.0f edge_cpu_us_per_connection=%.0f | "
      "wss/ws edge CPU per call=%.2f (target <= 1.3)\n",
      ws, median(cps[0]), median(p50[0]), median(conn[0]), wss, median(cps[1]), median(p50[1]), median(conn[1]),
      ws > 0 ? wss / ws : 0.0);
  return all_ok ? 0 : 1;
}

}  // namespace

int webtrunk::bench::run_sip_load(int argc, char** argv) {
  const char* prog = argc > 0 ? argv[0] : "bench_sip_load";
  bn::Options o;
  std::string err;
  const bool parsed = bn::parse_options(argc, argv, o, err);
  if (auto rc = flags_outcome(prog, parsed, o.help, err, bn::usage(prog))) return *rc;
  if (o.edge_bin.empty()) o.edge_bin = bn::default_webtrunk_bin();
  if (o.compare_tls > 0) return compare_tls(prog, o);
  bn::RunFigures figures;
  return run_once(prog, o, figures);
}
