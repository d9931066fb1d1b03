// CallController: one shard's whole SIP layer, sans-IO (DESIGN.md "Sans-IO protocol code"). It owns no
// socket and reads no clock: the shard glue (edge/edge_shard.hpp) or a simulation feeds it
//
//   handle_ws_message(now, flow, bytes)         a SIP message from a browser's WebSocket
//   handle_trunk_datagram(now, from, bytes)     a UDP datagram on the shard's trunk-side port
//   handle_flow_closed(now, flow)               a browser's WebSocket is gone
//   handle_timeout(now)                         when poll_timeout() is due
//
// and sends what poll_transmit() hands out (to a WebSocket flow or to a UDP address).
//
// What it does (issue 3, the edge part): every message is parsed (sip/parser) and requests are
// validated (sip/validate): a bad one is answered 400 with the reason, counted and logged. REGISTER
// goes to the registrar (edge/registrar.hpp) behind the auth gate (edge/auth_gate.hpp); OPTIONS is
// answered 200; an INVITE becomes a B2BUA call (edge/call.hpp): browser leg on the WebSocket,
// trunk leg on UDP with a fresh Call-ID, tags, CSeq, Via and Contact; responses are mapped back
// precisely; CANCEL, ACK, BYE, re-INVITE, UPDATE and INFO are handled per leg; session timers
// (RFC 4028) run on each leg; one CDR line per call. Retransmissions on the trunk side are the
// sip/ transactions' job.
//
// Media (issue 4): every call has a session in the shard's media::MediaSessions (CallControllerConfig::
// media). The SDP on each leg is the edge's own, written from that session and the call's state
// (edge/media_sdp.hpp): the browser's offer is read, never forwarded; the trunk gets plain RTP/AVP.
// The owner feeds handle_media_ended() when a session ends by itself (consent lost, DTLS failed).
//
// Lifetimes: the bytes given to handle_* are read during the call only (whatever must outlive it
// is copied). SipTransmit owns its bytes. The RouteTable and the AuthGate given at construction
// must outlive the CallController (the gate is owned; the table is shared).
#pragma once

#include <cerrno>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/clock.hpp"
#include "core/log_sampler.hpp"
#include "core/metrics.hpp"
#include "core/reactor.hpp"
#include "core/socket.hpp"
#include "edge/auth_gate.hpp"
#include "edge/inbound_call.hpp"
#include "edge/call_limits.hpp"
#include "edge/media_sdp.hpp"
#include "edge/registrar.hpp"
#include "edge/routes.hpp"
#include "edge/sip_messages.hpp"
#include "edge/trunk_pinger.hpp"
#include "edge/trunk_registrations.hpp"
#include "media/types.hpp"
#include "sip/branch.hpp"
#include "sip/message_view.hpp"
#include "sip/transaction.hpp"

namespace webtrunk::edge {

inline const core::Counter kSipParseErrorsWs{"webtrunk_sip_parse_errors_ws_total",
                                             "SIP messages from browsers that failed to parse"};
inline const core::Counter kSipParseErrorsTrunk{"webtrunk_sip_parse_errors_trunk_total",
                                                "SIP datagrams from trunks that failed to parse"};
inline const core::Counter kSipInvalidRequests{"webtrunk_sip_invalid_requests_total",
                                               "SIP requests refused by validation (400, 416, 420, 505)"};
inline const core::Counter kSipInvalidResponses{"webtrunk_sip_invalid_responses_total",
                                                "SIP responses dropped by validation"};
inline const core::Counter kSipUnknownDialog{"webtrunk_sip_unknown_dialog_total",
                                             "in-dialog requests for no known dialog (481)"};
inline const core::Counter kSipStrayResponses{"webtrunk_sip_stray_responses_total",
                                              "responses matching no transaction (dropped)"};
inline const core::Counter kSipUnsupported{"webtrunk_sip_unsupported_requests_total",
                                           "requests answered 405/501 (method not handled here)"};
inline const core::Counter kRegisterRequests{"webtrunk_sip_register_requests_total", "REGISTER requests received"};
inline const core::Gauge kRegistrations{"webtrunk_registrations", "registered bindings (browser flows)"};
inline const core::Counter kCallsStarted{"webtrunk_calls_started_total", "calls placed toward a trunk"};
inline const core::Counter kCallsAnswered{"webtrunk_calls_answered_total", "calls answered (2xx from the trunk)"};
inline const core::Counter kCallsFailed{"webtrunk_calls_failed_total", "calls that ended without an answer"};
inline const core::Counter kCallsFailed4xx{"webtrunk_calls_failed_4xx_total", "calls failed with a 4xx"};
inline const core::Counter kCallsFailed5xx{"webtrunk_calls_failed_5xx_total", "calls failed with a 5xx"};
inline const core::Counter kCallsFailed6xx{"webtrunk_calls_failed_6xx_total", "calls failed with a 6xx"};
inline const core::Counter kCallsBusy{"webtrunk_calls_failed_486_total", "calls failed: busy (486)"};
inline const core::Counter kCallsCancelled{"webtrunk_calls_failed_487_total", "calls cancelled by the caller (487)"};
inline const core::Counter kCallsNoRoute{"webtrunk_calls_failed_404_total", "calls failed: 404 (no route, or the trunk's)"};
inline const core::Counter kCallsTrunkTimeout{"webtrunk_calls_failed_408_total", "calls failed: the trunk did not answer (408)"};
inline const core::Counter kCallsTrunkUnreachable{"webtrunk_calls_failed_503_total", "calls failed: 503 (trunk unreachable, or the trunk's)"};
inline const core::Counter kCallsForbidden{"webtrunk_calls_failed_403_total", "calls refused 403 (auth or the trunk's)"};
inline const core::Counter kCallsSessionExpired{"webtrunk_calls_session_expired_total",
                                                "calls hung up because session refreshes stopped (RFC 4028)"};
inline const core::Gauge kCallsActive{"webtrunk_calls_active", "calls in progress (ringing or connected)"};
inline const core::Counter kCallsBadOffer{"webtrunk_calls_refused_bad_sdp_total",
                                          "browser offers refused 488 (no SDP, malformed, nothing a trunk can use)"};
inline const core::Counter kCallsNoMedia{"webtrunk_calls_refused_no_media_total",
                                         "calls refused 503: no media session (--rtp-ports used up)"};
inline const core::Counter kCallsBadTrunkSdp{"webtrunk_calls_bad_trunk_sdp_total",
                                             "trunk SDP refused (unreadable, or no codec in common with the browser)"};
inline const core::Counter kCallsCodecFailover{"webtrunk_calls_codec_failover_total",
                                               "trunk INVITEs sent again with the next --codecs codec (the trunk refused one)"};
inline const core::Counter kTrunkPortRefused{"webtrunk_sip_not_a_trunk_total",
                                             "requests on the trunk-side port from an address that is no configured trunk (dropped)"};
inline const core::Counter kCallsTrunkConnectionLost{
    "webtrunk_calls_trunk_connection_lost_total", "calls ended because their TCP connection to the trunk was lost"};
inline const core::Counter kTrunkUdpOversize{"webtrunk_trunk_udp_oversize_total",
                                             "INVITEs over 1,300 bytes sent over UDP to a trunk (the route has no tcp-fallback=yes)"};
inline const core::Counter kTrunkTcpFallbacks{"webtrunk_trunk_tcp_fallback_total",
                                              "calls whose INVITE went over TCP to a UDP trunk: over 1,300 bytes, tcp-fallback=yes"};
inline const core::Counter kTrunkUnreachable{"webtrunk_trunk_unreachable_total",
                                             "ICMP unreachable from a trunk address, or a TCP trunk not reachable (calls toward it failed 503)"};
inline const core::Counter kTrunkAuthAnswered{"webtrunk_trunk_auth_answered_total",
                                              "trunk 401/407 challenges answered with the route's credentials"};
inline const core::Counter kTrunkAuthFailed{"webtrunk_trunk_auth_failed_total",
                                            "trunk challenges not answered: no credentials, refused, or unanswerable"};
inline const core::Counter kTrunkPrackSent{"webtrunk_trunk_prack_sent_total",
                                           "PRACKs sent for trunk reliable provisionals (RFC 3262), credential retries included"};
inline const core::Counter kTrunkReliableDiscarded{
    "webtrunk_trunk_reliable_provisionals_discarded_total",
    "trunk reliable 18x discarded: RSeq retransmitted or out of order, no RSeq or To tag, too many early dialogs"};
inline const core::Counter kCallsNoCommonCodec{"webtrunk_calls_failed_no_common_codec_total",
                                               "calls refused 488: no --codecs codec in the offer, or the trunk took none"};
inline const core::Counter kCallsBrowserReoffers{"webtrunk_calls_browser_reoffers_total",
                                                 "re-INVITEs to a browser because the trunk changed the codec or direction"};
inline const core::Counter kCallsMediaEnded{"webtrunk_calls_media_ended_total",
                                            "calls hung up because their media ended (consent lost, DTLS failed)"};
inline const core::Counter kMediaSessionsOpened{"webtrunk_call_media_sessions_opened_total",
                                                "media sessions created for calls"};
inline const core::Counter kMediaSessionsReleased{"webtrunk_call_media_sessions_released_total",
                                                  "media sessions released at the end of a call"};
inline const core::Counter kDtmfInfoConverted{"webtrunk_dtmf_info_converted_total",
                                              "DTMF SIP INFO from browsers sent to the trunk as RFC 4733 events"};
inline const core::Counter kDtmfInfoRelayed{"webtrunk_dtmf_info_relayed_total",
                                            "DTMF SIP INFO relayed as INFO (the trunk took no telephone-event)"};
inline const core::Gauge kDraining{"webtrunk_draining", "1 while the shard drains (SIGTERM): no new calls or registrations"};
inline const core::Counter kCallsEndedByShutdown{"webtrunk_calls_ended_by_shutdown_total",
                                                 "calls hung up because the edge shut down (drain timeout or second signal)"};
inline const core::Counter kSipRefusedDraining{"webtrunk_sip_refused_draining_total",
                                               "INVITEs and REGISTERs answered 503 because the edge is draining"};
inline const core::Counter kCallsTrunkFailover{"webtrunk_calls_trunk_failover_total",
                                              "trunk INVITEs sent to the next target of a trunk name (503, timeout or unreachable: RFC 3263 §4.3)"};
inline const core::Counter kCallsTrunkUnresolved{"webtrunk_calls_refused_trunk_unresolved_total",
                                                "calls refused 503 at once: their trunk's name resolves to no address (now)"};
inline const core::Counter kCallsTrunkDown{"webtrunk_calls_refused_trunk_down_total",
                                          "calls refused 503 at once: their trunk is marked down by --trunk-ping"};
inline const core::Counter kCallPingsSent{"webtrunk_call_pings_sent_total",
                                          "in-dialog OPTIONS sent to trunks to check answered calls (--call-ping)"};
inline const core::Counter kCallsTrunkLost{"webtrunk_calls_trunk_lost_total",
                                           "calls hung up because the trunk stopped answering in-dialog OPTIONS (408, 481, unreachable)"};
inline const core::Counter kDtmfInfoBad{"webtrunk_dtmf_info_bad_total", "DTMF SIP INFO with an unreadable body (400)"};

struct CallControllerConfig {
  unsigned shard = 0;
  unsigned shards = 1;  // how many shards run: a call from a trunk asks the others for bindings
  std::string sip_host = "127.0.0.1";  // the shard's trunk-side address, in Via and Contact
  std::uint16_t sip_port = 5060;       // --sip-port + shard
  std::shared_ptr<const RouteTable> routes;
  sip::TimerConfig timers;
  RegistrarLimits registrar;
  // RFC 4028 on each leg. The browser's Session-Expires below min_se is raised to it instead of
  // answered 422 (JsSIP never retries a 422); the trunk leg offers trunk_session_expires.
  std::uint32_t min_se = 90;
  std::uint32_t trunk_session_expires = 1800;
  core::Duration max_ringing = std::chrono::minutes(3);  // RFC 3261 §16.6 Timer C, then CANCEL + 408
  // The audio codecs a call may use, in order of preference (--codecs; edge/media_sdp.hpp): the
  // first the browser offers goes to the trunk alone, the next ones after a refusal.
  std::vector<std::string> codecs = default_codec_preference();
  std::string user_agent = "webtrunk";
  // Unix seconds at `now` (token expiry, CDR times); tests inject a fake one.
  std::function<std::int64_t(core::Instant)> unix_time;
  std::uint64_t id_seed = 0;  // 0: random Call-IDs, tags and branches; else reproducible
  // This shard's media sessions (media::MediaBridge, or a simulation's fake); must outlive the
  // CallController. Null: no media here, so every INVITE is refused 503 (signalling-only harnesses).
  media::MediaSessions* media = nullptr;
  // Concurrent calls per account (calls= claim) and per token id (edge/call_limits.hpp).
  CallLimitConfig call_limits;
  // Dead trunks (README "Dead trunks"). With ping_trunks, this CallController sends the OPTIONS
  // keep-alives of trunk_ping to every route's trunk (shard 0 only: one ping per trunk per interval)
  // and reports changes through on_trunk_state; every shard refuses calls toward a trunk marked down.
  TrunkPingConfig trunk_ping;
  bool ping_trunks = false;
  // With register_trunks, this CallController REGISTERs the edge with every route's trunk that
  // says register=yes (edge/trunk_registrations.hpp; shard 0 only: one registration per trunk and
  // user). Contact: sip_host:sip_port.
  bool register_trunks = false;
  // An in-dialog OPTIONS to the trunk this often on each answered call; 408, 481 or unreachable
  // hangs the call up (BYE to the browser with a Reason). Zero: off.
  core::Duration call_ping = core::Duration::zero();
  // RFC 3262 §3: `Supported: 100rel` on trunk INVITEs (--trunk-100rel). Off, a trunk should send
  // its 18x unreliably; one that sends a reliable 18x anyway is still PRACKed.
  bool trunk_100rel = true;
};

struct SipTransmit {
  enum class To : std::uint8_t { flow, udp };
  To to = To::flow;
  core::ConnId flow;     // To::flow
  core::SockAddr addr;   // To::udp
  std::string bytes;
  // To::udp: udp sends as the routes say for `addr` (a tcp:/tls: trunk's over its link); tcp or tls
  // over a link to `addr` whatever the routes say (a tcp-fallback call to a UDP target).
  sip::Transport transport = sip::Transport::udp;
};

// One line per call, logged as event "cdr" (JSON in msg) and handed to CallController::on_cdr.
struct CallRecord {
  std::string call_id;      // the browser leg's Call-ID
  std::string trunk_call_id;
  std::string caller;       // token id
  std::string called;       // Request-URI user
  std::string trunk;        // "udp:HOST:PORT", "" if no route
  std::int64_t start = 0;   // unix seconds
  std::int64_t answer = 0;  // 0: never answered
  std::int64_t end = 0;
  std::int64_t duration_s = 0;  // end - answer, 0 if not answered
  std::string end_reason;   // "browser hung up", "trunk hung up", "busy", "cancelled", ...
  int code = 0;             // the final status the browser saw

  std::string to_json() const;
};

struct Call;

class CallController {
 public:
  CallController(CallControllerConfig config, std::unique_ptr<AuthGate> gate);
  ~CallController();
  CallController(const CallController&) = delete;
  CallController& operator=(const CallController&) = delete;

  void handle_ws_message(core::Instant now, core::ConnId flow, std::string_view bytes);
  void handle_trunk_datagram(core::Instant now, const core::SockAddr& from, std::string_view bytes);
  void handle_flow_closed(core::Instant now, core::ConnId flow);
  // The trunk at `addr` could not be reached (ICMP unreachable on send): its transactions fail.
  // ICMP port/host unreachable for a datagram we sent to `addr` (`error`: its errno, for the log):
  // every trunk transaction of the calls toward it fails as a transport error (RFC 3261 §8.1.3.1),
  // so a call still ringing gets 503 "trunk unreachable" at once.
  // `detail` (e.g. "connection refused" for a TCP trunk) is added to the browser's 503 reason phrase.
  // `fallback_link`: the failed connection was one made for tcp-fallback calls to a UDP trunk; only
  // the calls on it fail (the UDP calls, keep-alives and registrations at that address go on).
  void handle_trunk_unreachable(core::Instant now, const core::SockAddr& addr, int error = ECONNREFUSED,
                                std::string_view detail = {}, bool fallback_link = false);
  // The TCP connection to the trunk at `addr` ended (`error`: 0 for the trunk's close, else -errno):
  // the calls it carried end (browser: BYE, or the 503 of a call still ringing), since the edge does
  // not listen on TCP and the trunk has no other way to reach those dialogs.
  void handle_trunk_connection_lost(core::Instant now, const core::SockAddr& addr, int error);
  void handle_timeout(core::Instant now);
  // A media session ended by itself (MediaSessions::on_ended, wired by the owner): its call hangs
  // up both legs (BYE with a Reason header), or fails if it was still ringing.
  void handle_media_ended(core::Instant now, media::SessionId id, media::MediaEnd why);

  [[nodiscard]] std::optional<SipTransmit> poll_transmit();
  // Calls from a trunk to browsers registered on other shards (edge/shard_note.hpp): the owner
  // posts what poll_shard_note() hands out to shard `to` and feeds that shard's CallController
  // handle_shard_note() there. A note that cannot be posted is dropped (kShardNotesDropped).
  [[nodiscard]] std::optional<ShardNote> poll_shard_note();
  void handle_shard_note(core::Instant now, ShardNote note);
  // Calls of other shards whose browser's WebSocket is on this one (bounded by kMaxRemoteCalls).
  std::size_t remote_calls() const noexcept { return remote_calls_.size(); }
  static constexpr std::size_t kMaxRemoteCalls = 4096;
  [[nodiscard]] std::optional<core::Instant> poll_timeout() const;

  std::function<void(const CallRecord&)> on_cdr;  // optional, after the log line

  // A trunk address went down or up (this CallController's keep-alives, see ping_trunks), already
  // applied here; the owner passes it to the other shards' set_trunk_state. Return false when it
  // could not (the change is reported again after the next keep-alive). Optional.
  std::function<bool(const core::SockAddr& trunk, bool up)> on_trunk_state;
  // What another shard's keep-alives found: new calls toward a down trunk get 503 at once.
  void set_trunk_state(const core::SockAddr& trunk, bool up);
  [[nodiscard]] bool trunk_down(const core::SockAddr& trunk) const noexcept;

  // Graceful drain (call_controller_drain.cpp, README "Shutdown and restarts"). From begin_drain()
  // on, new INVITEs and REGISTERs are answered 503 with Retry-After; calls in progress go on.
  void begin_drain(std::uint32_t retry_after_s) noexcept;
  bool draining() const noexcept { return draining_; }
  // Calls not yet over (ringing or up); calls that ended may still be finishing transactions.
  [[nodiscard]] std::size_t live_calls() const noexcept;
  // Ends every live call because the edge shuts down: BYE on both legs with a Reason (RFC 3326)
  // once answered, else 503 to the browser and CANCEL to the trunk; CDR "edge shutdown". Returns
  // how many calls it ended.
  std::size_t hang_up_all(core::Instant now);
  // Requests the edge sent (BYE, CANCEL, ...) still waiting for a final response. Transactions
  // that only linger to absorb retransmissions (RFC 3261 Timer K, D) do not count.
  // Un-REGISTERs toward trunks count too (unregister_trunks()).
  [[nodiscard]] std::size_t unanswered_requests() const noexcept;
  // Drain: the edge's registrations with trunks are removed (REGISTER with Expires: 0), so the
  // trunks send new calls elsewhere; nothing registers again.
  void unregister_trunks(core::Instant now);
  // register_trunks: each registration's state, for /status (empty otherwise).
  [[nodiscard]] std::vector<TrunkRegistrations::Status> trunk_registrations(core::Instant now) const;

  // A new route table (--routes reloaded, app/routes_reloader.hpp), on the shard's thread. New
  // calls route by it and only its trunks may start calls toward browsers; calls in progress keep
  // the trunk (and credentials) they were routed to, and their trunk's in-dialog requests still
  // pass the trunk-port check while they last. `routes` must not be null.
  void set_routes(std::shared_ptr<const RouteTable> routes);
  const RouteTable& routes() const noexcept { return *cfg_.routes; }

  const Registrar& registrar() const noexcept { return registrar_; }
  std::size_t active_calls() const noexcept { return calls_.size(); }
  const CallControllerConfig& config() const noexcept { return cfg_; }

 private:
  friend struct Call;
  using CallPtr = std::unique_ptr<Call>;

  // call_controller.cpp: entry points, out-of-dialog requests, registrar, auth.
  void on_browser_request(core::Instant now, core::ConnId flow, const sip::MessageView& req);
  void on_browser_response(core::Instant now, core::ConnId flow, const sip::MessageView& resp);
  void on_trunk_request(core::Instant now, const core::SockAddr& from, const sip::MessageView& req);
  void on_trunk_response(core::Instant now, const core::SockAddr& from, const sip::MessageView& resp);
  void on_register(core::Instant now, core::ConnId flow, const sip::MessageView& req);
  void answer_options(core::ConnId flow, const sip::MessageView& req);
  void send_ws(core::ConnId flow, std::string bytes);
  void send_udp(const core::SockAddr& to, std::string bytes);
  void send_trunk(const core::SockAddr& to, sip::Transport transport, std::string bytes);
  void reply_ws(core::ConnId flow, const sip::MessageView& req, int code, std::string_view reason,
                HeaderList extra = {});
  void reply_udp(const core::SockAddr& to, const sip::MessageView& req, int code, std::string_view reason);
  std::string binding_of(core::ConnId flow) const;
  std::int64_t unix_at(core::Instant now) const;
  void update_registration_gauge();
  // While draining: answers `req` 503 with Retry-After and returns true.
  bool refuse_if_draining(core::Instant now, core::ConnId flow, const sip::MessageView& req);
  // Sends the keep-alives' output and applies their state changes.
  void flush_pinger();
  void flush_registrations();

  // call_controller_calls.cpp: the B2BUA.
  void start_call(core::Instant now, core::ConnId flow, const sip::MessageView& invite, AuthDecision&& who);
  void on_browser_cancel(core::Instant now, core::ConnId flow, const sip::MessageView& cancel);
  void on_browser_in_dialog(core::Instant now, core::ConnId flow, const sip::MessageView& req);
  void on_trunk_in_dialog(core::Instant now, const core::SockAddr& from, const sip::MessageView& req);
  Call* find_browser_call(std::string_view call_id, std::string_view browser_tag);
  Call* find_trunk_call(std::string_view call_id);
  // Runs a call's transactions and timers until nothing changes, then reschedules or reaps it.
  void pump(core::Instant now, Call& call);
  void schedule(Call& call);
  void finish_call(core::Instant now, Call& call, int code, std::string_view end_reason);
  void release_media(Call& call);
  void reap(Call& call);

  // call_controller_inbound.cpp: calls from a trunk to registered browsers (edge/inbound_call.hpp).
  void start_inbound(core::Instant now, const core::SockAddr& from, const sip::MessageView& invite);
  bool is_configured_trunk(const core::SockAddr& from) const noexcept;
  // The trunk-port check: `from`'s IP is a trunk of the current table, or of a replaced table that
  // a call in progress still holds.
  bool may_send_requests(const core::SockAddr& from);
  InboundCall* find_inbound_trunk(std::string_view call_id);
  InboundCall* find_inbound_browser(std::string_view call_id);
  void pump_inbound(core::Instant now, InboundCall& call);
  void inbound_flow_closed(core::Instant now, BrowserFlow flow);
  void inbound_timeout(core::Instant now);
  // call_controller_shards.cpp: the cross-shard half of calls from a trunk.
  // A message from a browser in a call another shard coordinates goes there; true if it did.
  bool forward_to_coordinator(core::ConnId flow, const sip::MessageView& msg, std::string_view bytes);
  void remote_flow_closed(core::ConnId flow);
  void post_note(ShardNote note);

  CallControllerConfig cfg_;
  std::unique_ptr<AuthGate> gate_;
  Registrar registrar_;
  sip::IdGenerator ids_;
  std::deque<SipTransmit> out_;
  std::int64_t registrations_reported_ = 0;
  // Messages refused before any authentication: one line per kind (WebSocket) or trunk-side source
  // per interval, so a flood of bad messages cannot flood the log.
  core::LogSampler log_sampler_;

  std::uint64_t next_call_id_ = 1;
  std::unordered_map<std::uint64_t, CallPtr> calls_;
  std::unordered_map<std::string, std::uint64_t> by_browser_;  // Call-ID '\n' browser tag
  std::unordered_map<std::string, std::uint64_t> by_trunk_;    // trunk Call-ID (ours)
  std::unordered_map<media::SessionId, std::uint64_t> by_media_;  // media session -> call
  // flow_key -> its calls; a set per flow so that reaping one of many calls on a busy WebSocket is O(1).
  std::unordered_map<std::uint64_t, std::unordered_set<std::uint64_t>> by_flow_;
  std::set<std::pair<core::Instant, std::uint64_t>> deadlines_;
  std::vector<std::uint64_t> reap_list_;
  bool draining_ = false;
  std::uint32_t retry_after_s_ = 0;

  // Tables replaced by set_routes while calls held them; dropped once no call does.
  std::vector<std::weak_ptr<const RouteTable>> replaced_routes_;

  struct InboundEntry {
    std::unique_ptr<InboundCall> call;
    std::shared_ptr<const RouteTable> routes;  // the table whose trunk started it
    std::optional<core::Instant> scheduled;
  };
  std::unordered_map<std::string, InboundEntry> inbound_;               // the trunk's Call-ID
  std::unordered_map<std::string, std::string> inbound_by_browser_;     // our browser Call-ID -> trunk's
  std::set<std::pair<core::Instant, std::string>> inbound_deadlines_;  // -> the trunk's Call-ID
  std::deque<ShardNote> notes_out_;
  struct RemoteCall {
    unsigned coordinator = 0;
    core::ConnId flow;
  };
  std::unordered_map<std::string, RemoteCall> remote_calls_;  // browser Call-ID -> its coordinator
  CallLimiter limiter_;
  std::optional<TrunkPinger> pinger_;       // ping_trunks
  std::optional<TrunkRegistrations> trunk_regs_;  // register_trunks
  std::vector<core::SockAddr> down_trunks_;  // as the keep-alives found them (a handful of trunks)
};

}  // namespace webtrunk::edge
