// One B2BUA call inside a CallController (edge/call_controller.hpp): the browser leg (we are UAS, over the
// WebSocket flow) and the trunk leg (we are UAC, over UDP), each with its own sip::Dialog,
// transactions and session timer, and one media session (media::MediaSessions) between them:
//
//   browser INVITE -> its offer read (488 if unusable), the call's codec chosen from it by the
//     --codecs preference (488 if none), a media session (503 if none), 100, trunk INVITE (fresh
//     Call-ID, tags, CSeq, Via, Contact; our RTP/AVP offer of that one codec + telephone-event)
//   trunk 180/183 -> the browser gets the edge's own answer (ICE-lite, DTLS passive, the chosen
//     codec) in the first provisional, so ICE and DTLS finish while it rings; trunk SDP in a 18x
//     -> early media flows and the browser's provisional is a 183 answering with the trunk's codec
//   trunk 2xx -> its SDP pins the trunk's RTP address and the codec; the 200 to the browser
//     repeats the early answer byte for byte (RFC 3261 §13.2.1: one answer per offer, and SIP.js
//     keeps the first); if what flows changed (the trunk answered another codec, or a direction),
//     the browser gets a re-INVITE with our new offer once it ACKs
//   trunk 488/606 -> the next codec of the preference in a new trunk INVITE (same Call-ID, higher
//     CSeq); none left -> 488 to the browser with the reason. A 2xx answering no codec the browser
//     has -> ACK, BYE, and the same failover in a new dialog
//   trunk 401/407 to any request -> the same request again with our credentials (edge/trunk_auth.hpp);
//     refused again -> 403 "Forbidden: trunk refused our credentials" to the browser's INVITE (or
//     its relayed request); no credentials configured -> 503 "trunk asks for authentication"
//   trunk reliable 18x (Require: 100rel, RSeq; RFC 3262, edge/call_prack.cpp) -> PRACK in its early
//     dialog, then handled as any 18x; a retransmitted or out-of-order RSeq is discarded, unPRACKed
//   trunk 3xx-6xx -> the same code and reason to the browser
//   CANCEL from the browser -> 200, 487 to the browser, CANCEL to the trunk once it sent a 1xx
//   BYE from either side -> 200, BYE on the other leg
//   re-INVITE / UPDATE from the browser with a new offer (hold) -> re-offer to the trunk, its
//     answer sets the direction, our answer back; from the trunk -> answered here from the media
//     state, the browser re-INVITEd only when the direction changed; unchanged offers and
//     refreshes are answered locally
//   INFO with DTMF from the browser -> 200 and RFC 4733 events toward the trunk; other INFO relayed
//   media ended (consent lost, DTLS failed) -> BYE on both legs with a Reason header
//   every call_ping once established: in-dialog OPTIONS to the trunk; 408, 481 or unreachable ->
//     BYE to the browser with a Reason header (and to the trunk after a 408), CDR "trunk not answering"
//
// Lifetime: owned by CallController (calls_), which deletes it once it is over and every transaction on
// it has ended; its media session is released when the call ends (CallController::finish_call).
// Everything in it is owned (copies of the messages it needs).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/reactor.hpp"
#include "core/socket.hpp"
#include "edge/media_sdp.hpp"
#include "edge/route_metrics.hpp"
#include "edge/routes.hpp"
#include "edge/trunk_auth.hpp"
#include "edge/call_controller.hpp"
#include "sip/client_transaction.hpp"
#include "sip/dialog.hpp"
#include "sip/server_transaction.hpp"
#include "sip/session_timer.hpp"
#include "sip/transaction.hpp"

namespace webtrunk::edge {

enum class Leg : std::uint8_t { browser, trunk };

enum class CallState : std::uint8_t {
  calling,      // INVITE sent to the trunk, no 2xx yet
  answered,     // 2xx sent to the browser, waiting for its ACK
  established,  // both legs confirmed
  ended,        // CDR written; waiting for the last transactions to finish
};

// A client transaction of the call and what its final response means.
struct CallClientTxn {
  enum class Purpose : std::uint8_t {
    invite,   // the trunk INVITE
    cancel,   // CANCEL of the trunk INVITE
    bye,      // BYE on a leg (no answer owed to anyone)
    relay,    // a request relayed from the other leg: answer `origin` with the final response
    refresh,  // our own session refresh (UPDATE / re-INVITE)
    probe,    // in-dialog OPTIONS: is the trunk still there (CallControllerConfig::call_ping)
    prack,    // PRACK of a trunk's reliable provisional (RFC 3262 §7.2)
  };
  std::unique_ptr<sip::ClientTransaction> txn;
  Leg leg = Leg::trunk;
  Purpose purpose = Purpose::bye;
  sip::Method method = sip::Method::unknown;
  std::unique_ptr<sip::OwnedMessage> origin;  // relay: the request on the other leg
  std::uint64_t origin_server = 0;            // relay from the trunk: the ServerTransaction id
  // Toward a trunk with credentials: what is needed to send the request again after a 401/407.
  bool with_credentials = false;  // this request carried our Authorization / Proxy-Authorization
  std::vector<std::pair<std::string, std::string>> extra;
  std::string content_type;
  std::string body;
  std::string early_tag;  // prack: the To tag of the early dialog it belongs to
};

// RFC 3262 §4 toward the trunk: the early dialog a reliable 18x made (one per To tag) and the RSeq
// last acknowledged in it.
struct EarlyDialog {
  sip::Dialog dialog;
  std::uint32_t rseq = 0;
};
// Early dialogs one trunk INVITE may make (forking proxies); a reliable 18x in one more is discarded.
inline constexpr std::size_t kMaxEarlyDialogs = 4;

// A server transaction for a request from the trunk (UDP: retransmissions are absorbed there).
struct CallServerTxn {
  std::uint64_t id = 0;
  sip::TransactionKey key;
  std::unique_ptr<sip::ServerTransaction> txn;
  core::SockAddr peer;
};

struct Call {
  Call(CallController& owner, std::uint64_t call_id, const sip::SessionTimerConfig& browser_st,
       const sip::SessionTimerConfig& trunk_st)
      : core(owner), id(call_id), b_timer(browser_st), t_timer(trunk_st) {}

  // ---- events (call_controller_calls.cpp) ----
  void on_browser_response(core::Instant now, const sip::MessageView& resp);
  void on_trunk_response(core::Instant now, const sip::MessageView& resp);
  void on_flow_closed(core::Instant now);
  // `detail` ("connection refused", ...) goes into the browser's 503 reason phrase when not empty.
  // `why`: how the route's failure counter (edge/route_metrics.hpp) classes it if the call fails.
  void on_trunk_unreachable(core::Instant now, std::string_view detail = {},
                            RouteFailure why = RouteFailure::unreachable_other);
  // Its TCP connection to the trunk is gone: a ringing call fails 503, an answered one ends (BYE to the browser).
  void on_trunk_connection_lost(core::Instant now);
  // The transport and address of the trunk target the INVITE went to last (the only one for an IP literal);
  // TCP for a call whose INVITE was too big for UDP on a tcp-fallback route (RFC 3261 §18.1.1).
  sip::Transport trunk_transport() const noexcept {
    if (t_tcp_fallback) return sip::Transport::tcp;
    return t_targets && t_target < t_targets->list.size() ? t_targets->list[t_target].transport
           : trunk != nullptr                             ? trunk->transport
                                                          : sip::Transport::udp;
  }
  core::SockAddr target_addr() const noexcept {
    return t_targets && t_target < t_targets->list.size() ? t_targets->list[t_target].addr : core::SockAddr{};
  }
  void handle_timeout(core::Instant now);
  // Runs every transaction and timer once; true if anything happened (pump again).
  bool step(core::Instant now);
  std::optional<core::Instant> next_deadline() const;
  bool reapable() const noexcept;

  // ---- helpers ----
  void answer_browser(core::Instant now, const sip::MessageView& invite_resp, std::string_view sdp);  // 2xx
  void fail_browser(core::Instant now, int code, std::string_view reason, std::string_view end_reason);
  void hang_up(core::Instant now, std::string_view end_reason, bool bye_browser, bool bye_trunk,
               std::string_view reason_header = {});
  void send_trunk_request(core::Instant now, sip::Method m, CallClientTxn::Purpose purpose,
                          std::span<const sip::HeaderPair> extra, std::string_view content_type,
                          std::string_view body, std::unique_ptr<sip::OwnedMessage> origin = {},
                          std::uint64_t origin_server = 0, const TrunkAuthAnswer* auth = nullptr);
  // A trunk 401/407 to `t`: true if the request went out again with our credentials; false when
  // the challenge stays unanswered (`why` then says what the browser is told).
  bool retry_with_credentials(core::Instant now, CallClientTxn& t, const sip::MessageView& challenge,
                              TrunkAuthOutcome& why);
  void send_browser_request(core::Instant now, sip::Method m, CallClientTxn::Purpose purpose,
                            std::span<const sip::HeaderPair> extra, std::string_view content_type,
                            std::string_view body, std::unique_ptr<sip::OwnedMessage> origin = {},
                            std::uint64_t origin_server = 0);
  void on_client_final(core::Instant now, CallClientTxn& t, const sip::TxnEvent& ev);
  void on_invite_response(core::Instant now, CallClientTxn& t, const sip::TxnEvent& ev);

  // ---- reliable provisionals (call_prack.cpp) ----
  // A trunk 18x with Require: 100rel: true if it is the next in its early dialog (a PRACK went
  // out), false if it must be discarded (RFC 3262 §4: retransmitted or out-of-order RSeq, no RSeq,
  // no To tag, too many early dialogs).
  bool acknowledge_reliable(core::Instant now, const sip::MessageView& resp);
  // A PRACK with `rack` in the early dialog of To tag `tag` (or the confirmed dialog once the 2xx made it).
  void send_prack(core::Instant now, std::string_view tag, std::string_view rack, const TrunkAuthAnswer* auth);
  // The trunk's 2xx made t_dialog: its CSeq continues after the PRACKs of the early dialog it confirms.
  void confirm_early_dialog();
  // The trunk INVITE (the first, or a codec failover's) offering t_candidates[t_candidate].
  void send_trunk_invite(core::Instant now, const TrunkAuthAnswer* auth = nullptr);
  // The trunk refused our codec (488/606, or a 2xx answer with nothing in common): true if the
  // next codec went out in a new INVITE, false if none is left.
  bool fail_over_codec(core::Instant now, std::string_view why);
  // RFC 3263 §4.3: the INVITE got 503, timed out or could not be delivered: true if it went to the
  // next target of the trunk's list (a new transaction, same Call-ID and From tag), false if none is left.
  bool fail_over_target(core::Instant now, std::string_view why);
  // The browser ACKed our 2xx: the re-offer owed since the trunk's answer changed what flows.
  void on_browser_confirmed(core::Instant now);
  CallServerTxn* trunk_server(std::uint64_t id);
  std::string browser_contact() const;
  std::string trunk_contact() const;
  std::string trunk_via() const;
  std::string_view via_alias() const;

  // ---- media (call_media.cpp) ----
  const media::LocalMedia* local_media() const;  // null once the session is released
  // The trunk's SDP (answer or offer): pins its RTP address, maps the codecs, sets the direction;
  // returns it read. Error: why it cannot be used (nothing changes then).
  core::Result<TrunkSdp> take_trunk_sdp(std::string_view sdp);
  // Our answer to the browser's current offer from the media state; the o= version moves only
  // when the text would change (RFC 3264 §8), so a 1xx and the 200 carry the same SDP.
  const std::string& browser_answer();
  // Our offer toward the trunk from the browser's current offer and the call's codec (same rule for
  // the version).
  const std::string& trunk_offer();
  // The browser's codec we offer the trunk: the one that flows once the trunk answered, else the
  // candidate being tried.
  const SdpCodec* trunk_codec() const;
  // The 2xx's answer to the browser: the early answer again if one went out (and, if what flows
  // changed since, a re-offer is owed after the ACK), else our answer now.
  const std::string& final_browser_answer();
  // A re-INVITE to the browser with our current SDP as the offer (the trunk changed the codec or
  // the direction).
  void reoffer_browser(core::Instant now);
  // Our answer to an offer from the trunk (codecs it offered that flow, its direction answered).
  const std::string& trunk_answer(const TrunkSdp& offer);
  // What the browser may send and receive now: its offer and the trunk's side combined.
  media::Direction browser_direction() const noexcept;
  // A provisional from the trunk: our answer goes to the browser once (JsSIP applies any 1xx SDP
  // as the answer, and a second one would fail in Chromium's stable state; SIP.js keeps the first).
  void early_answer(const sip::MessageView& resp);
  // The trunk's 2xx to our INVITE; false when its SDP is unusable (the call is then torn down).
  bool take_trunk_answer(core::Instant now, std::string_view sdp);
  // A trunk offer in a re-INVITE/UPDATE; the answer to send, or the 488 reason.
  core::Result<std::string> answer_trunk_offer(core::Instant now, std::string_view sdp);
  // SIP INFO from the browser carrying DTMF: true if handled here (answered), false to relay it.
  bool handle_dtmf_info(const sip::MessageView& req);
  void on_media_ended(core::Instant now, media::MediaEnd why);

  CallController& core;
  std::uint64_t id;
  CallState state = CallState::calling;

  // Browser leg.
  core::ConnId flow;
  bool flow_gone = false;
  std::string b_call_id;
  std::string b_tag;        // the browser's From tag
  std::string b_local_tag;  // our To tag toward the browser
  std::unique_ptr<sip::OwnedMessage> b_invite;  // its INVITE, to answer it later
  std::optional<sip::Dialog> b_dialog;
  std::string b_sdp;        // the last SDP the browser gave (its o= line tells a re-offer from a refresh)
  bool b_answered = false;  // a final response went to the browser's INVITE
  std::optional<sip::TwoXxRetransmitter> b_ack_wait;  // our 2xx waits for the browser's ACK

  // Trunk leg.
  // The route it took; shares ownership of its RouteTable, so a reload leaves it in place.
  std::shared_ptr<const TrunkTarget> trunk;
  std::string t_ruri;             // the trunk INVITE's Request-URI, From and To
  std::string t_from_user;
  std::string t_to;
  std::uint32_t t_max_forwards = 70;
  std::uint32_t t_cseq = 0;       // the last trunk INVITE's CSeq (a failover's is higher)
  std::vector<SdpCodec> t_candidates;  // the browser's codecs in --codecs order
  std::size_t t_candidate = 0;         // the one offered now
  std::shared_ptr<const TrunkTargets> t_targets;  // the trunk's targets when the call started
  std::size_t t_target = 0;                       // the one the INVITE went to last
  core::SockAddr trunk_dest;  // where trunk requests go
  bool t_tcp_fallback = false;  // the trunk leg runs over TCP to a UDP target (tcp-fallback=yes)
  std::string t_unreachable_detail;  // why the trunk could not be reached (TCP connect errors)
  RouteFailure t_failure = RouteFailure::other;  // counted on the route if the call ends unanswered
  std::string t_call_id;
  std::string t_local_tag;
  std::string t_invite_bytes;   // our INVITE as sent (dialog from_uac)
  std::optional<sip::Dialog> t_dialog;
  std::string t_ack;            // the ACK for the trunk's 2xx, resent on 2xx retransmissions
  std::string t_sdp;            // the last SDP the trunk gave (same use)
  bool t_provisional = false;
  std::vector<EarlyDialog> t_early;  // at most kMaxEarlyDialogs; cleared by the 2xx or a new INVITE
  TrunkAuth t_auth;  // nonce and nc of our answers to the trunk's digest challenges
  bool t_cancelled = false;
  // RFC 3261 §13.3.1.4 toward the trunk: our 2xx to its re-INVITE, until its ACK.
  std::optional<sip::TwoXxRetransmitter> t_ack_wait;
  core::SockAddr t_ack_wait_peer;

  std::vector<std::unique_ptr<CallClientTxn>> clients;  // unique_ptr: stable while handlers add more
  std::vector<std::unique_ptr<CallServerTxn>> servers;
  CallClientTxn* invite_txn = nullptr;  // the trunk INVITE while it runs
  std::uint64_t next_server_id = 1;
  bool reinvite_pending = false;  // a relayed offer is in flight (RFC 3261 §14.2: 491 for another)

  // Media: the session, what each side said, and the SDP we last sent each side.
  media::SessionId media_id = 0;
  BrowserOffer b_offer;                       // the browser's current offer
  std::optional<BrowserOffer> b_offer_before;  // the one before a re-offer the trunk has not answered
  media::CodecMap codecs;                       // what flows (or would, before the trunk's SDP)
  bool trunk_media_known = false;               // set_trunk_remote was called
  media::Direction t_direction = media::Direction::sendrecv;  // the trunk's SDP, from its side
  SdpOrigin b_origin;  // o= of our SDP toward the browser
  SdpOrigin t_origin;  // o= of our SDP toward the trunk
  std::string b_local_sdp;  // last SDP sent to the browser
  std::string t_local_sdp;  // last SDP sent to the trunk
  bool early_sdp_sent = false;
  std::optional<std::uint8_t> b_early_pt;  // the audio payload type of the early answer
  media::Direction b_early_direction = media::Direction::sendrecv;  // and its direction
  bool b_reoffer_owed = false;  // the 2xx repeated the early answer but what flows changed
  bool t_answer_in_ack = false;  // our 2xx to the trunk's offerless re-INVITE offered: its ACK answers

  // Session timers (RFC 4028), one per leg.
  sip::SessionTimer b_timer;
  sip::SessionTimer t_timer;
  bool t_refresh_by_invite = false;  // the trunk refused UPDATE (405/501): refresh by re-INVITE
  core::Instant ring_deadline = core::Instant::max();
  // In-dialog OPTIONS to the trunk (call_ping) once established: the next one, and one in flight.
  core::Instant probe_at = core::Instant::max();
  bool probe_in_flight = false;
  std::optional<std::uint32_t> max_duration_s;  // the token's dur= claim
  CallSlot limit_slot;                          // its place in the account and token call limits
  core::Instant hard_stop = core::Instant::max();  // answer + max_duration_s

  // CDR.
  CallRecord cdr;
  bool cdr_written = false;
  std::optional<std::pair<core::Instant, std::uint64_t>> scheduled;
};

}  // namespace webtrunk::edge
