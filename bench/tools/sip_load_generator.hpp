// bench_sip_load, part 6: the generator, one thread that drives every call from both ends: the
// emulated browsers (WsClients) and the emulated trunk (TrunkEmulator answering, or TrunkCaller
// calling with --inbound). sip_load_generator.cpp has the calls from the browsers and the loop,
// sip_load_inbound.cpp the calls from the trunk to registered browsers (--inbound).
// Lifetimes: a Generator keeps a reference to its Options, which must outlive it.
#pragma once

#include <sys/epoll.h>
#include <sys/types.h>

#include <deque>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "auth/edge_token.hpp"
#include "sip/parser.hpp"
#include "sip_load_messages.hpp"
#include "sip_load_options.hpp"
#include "sip_load_report.hpp"
#include "sip_load_trunk.hpp"
#include "sip_load_trunk_caller.hpp"
#include "sip_load_trunk_stream.hpp"
#include "sip_load_ws_clients.hpp"

namespace webtrunk::bench::sip_load {

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
  BrowserIdentity id;
  std::string nonce;  // from the last 407, reused for the later calls (--auth cached)
  std::uint32_t nc = 0;
  // --inbound: its registration (the REGISTER's Call-ID, From tag, CSeq).
  std::string reg_call_id, reg_tag;
  std::uint32_t reg_cseq = 0;
  bool registered = false;
};

class Generator {
 public:
  Generator(const Options& o, std::uint16_t ws_port)
      : o_(o),
        ws_port_(ws_port),
        ep_(::epoll_create1(EPOLL_CLOEXEC)),
        calls_(o.calls),
        rng_(std::random_device{}()),
        ws_(ep_, rng_()),
        trunk_(TrunkEmulator::Options{o.trunk_trying, o.trunk_ringing, o.calls}) {
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
    caller_.on_response = [this](const sip::MessageView& m) { on_trunk_response(m); };
    caller_.on_request = [this](const sip::MessageView& m) {
      if (m.method() == sip::Method::bye) ++stats_.anomalies["BYE from the edge at the trunk"];
    };
  }
  ~Generator() { ::close(ep_); }

  // --inbound: the trunk that calls (TrunkCaller), else the trunk that answers (TrunkEmulator), on
  // UDP or, through TrunkStreamServer, on TCP or TLS (`trunk_tls`: its certificate and key).
  bool open_trunk(const core::TlsPem* trunk_tls, std::string& err) {
    int fd = -1;
    if (o_.inbound) {
      if (!caller_.open(err)) return false;
      fd = caller_.fd();
    } else if (o_.trunk_transport == TrunkTransport::udp) {
      if (!trunk_.open(err)) return false;
      fd = trunk_.fd();
    } else {
      if (!stream_.open(o_.trunk_transport == TrunkTransport::tls ? trunk_tls : nullptr, err)) return false;
      fd = stream_.fd();
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kTrunkTag;
    ::epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
    return true;
  }
  std::uint16_t trunk_port() const noexcept {
    if (o_.inbound) return caller_.port();
    return o_.trunk_transport == TrunkTransport::udp ? trunk_.port() : stream_.port();
  }
  // Stream trunks: the connections the edge opened to the trunk.
  std::uint64_t trunk_connections() const noexcept { return stream_.connections_accepted(); }
  // --inbound: the edge's first SIP port; shard k listens on port + k, and call i goes to shard i % shards.
  void set_edge_sip_port(std::uint16_t port) noexcept { edge_sip_port_ = port; }
  // The edge is started once the trunk's port is known; its CPU is read through this pid.
  void set_edge_pid(pid_t pid) noexcept { edge_pid_ = pid; }

  // Mints a token per browser and connects their WebSockets (before any clock runs).
  bool connect_browsers(const auth::Secret& secret, std::string& err);
  void run();
  const RunStats& stats() const noexcept { return stats_; }
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
  static BrowserCallIds ids(const Call& c) {
    return BrowserCallIds{c.ruri, c.number, c.call_id, c.from_tag, c.to_tag};
  }

  void start_call(std::uint32_t idx, std::int64_t now);
  // --inbound: the browsers' registrations, the trunk's calls and the browsers' answers.
  bool register_browsers(std::string& err);
  void on_register_response(std::uint32_t b, const sip::MessageView& m);
  void start_inbound(std::uint32_t idx, std::int64_t now);
  void on_browser_request(std::uint32_t b, const sip::MessageView& m);
  void on_trunk_response(const sip::MessageView& m);
  void send_trunk(std::uint32_t idx, std::string_view method, std::string_view ruri, std::uint32_t cseq,
                  std::string_view branch, std::string_view sdp = {});
  TrunkCallIds trunk_ids(const Call& c) const {
    return TrunkCallIds{caller_.local(), edge_host_, c.number, browsers_[c.browser].id.user,
                            c.call_id,       c.from_tag, c.to_tag};
  }
  void send_invite(std::uint32_t idx, bool with_credentials);
  void on_edge_message(std::uint32_t b, std::string_view text);
  void on_invite_response(std::uint32_t b, std::uint32_t idx, const sip::MessageView& m);
  void on_browser_lost(std::uint32_t b, std::string_view why);
  void maybe_complete(std::uint32_t idx);
  void fail(std::uint32_t idx, std::string why);
  void finish(std::uint32_t idx, bool ok);
  std::string stuck_at(const Call& c) const;
  Snapshot snapshot(std::int64_t t) const {
    return take_snapshot(edge_pid_, t, stats_.completed, stats_.failed);
  }

  const Options& o_;
  pid_t edge_pid_ = -1;
  std::uint16_t ws_port_;
  int ep_;
  std::vector<Call> calls_;
  std::vector<Browser> browsers_;
  std::mt19937_64 rng_;
  WsClients ws_;
  TrunkEmulator trunk_;
  TrunkStreamServer stream_{trunk_};  // --trunk-transport tcp|tls: trunk_'s listener
  TrunkCaller caller_;
  std::uint16_t edge_sip_port_ = 0;
  std::string edge_host_;  // --inbound: "127.0.0.1:<edge SIP port>" (the To host)
  std::deque<std::pair<std::int64_t, std::uint32_t>> holds_;  // --inbound: (BYE due, call), in due order
  std::uint32_t registered_ = 0;
  std::string register_error_;
  RunStats stats_;
  std::uint64_t in_flight_ = 0;
  std::deque<std::uint32_t> in_flight_order_;  // start order, for the per-call timeout
  std::int64_t t_last_ = 0;                    // the last call finished
};

}  // namespace webtrunk::bench::sip_load
