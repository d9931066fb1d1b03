// One call from a trunk to browsers (contact-centre agents): the trunk leg (we are UAS, over UDP)
// and one branch per browser binding of the called user (we are UAC, over each WebSocket flow),
// rung in parallel (RFC 3261 §16.7's forking, as a B2BUA):
//
//   trunk INVITE -> its offer read (488 if unusable), the codec chosen from it by --codecs (488 if
//     none), a media session (503 if none), then to every binding an INVITE with our offer:
//     ICE-lite, DTLS a=setup:actpass, rtcp-mux, BUNDLE, that one codec + telephone-event.
//     Bindings on other shards come in later (add_bindings, edge/shard_note.hpp) and ring as they
//     come; 480 once every shard has answered (or lookup_timeout passed) and nobody is registered
//   browser 180 -> 180 to the trunk (once)
//   browser 18x with a usable SDP answer (early media) -> the media session gets that browser's
//     ICE/DTLS and the trunk's address now, and the trunk a 183 with our answer, the same SDP the
//     200 repeats (RFC 3261 §13.2.1); a later early answer from another branch only re-points the
//     browser side
//   first browser 2xx -> ACK, its answer pins the browser's ICE/DTLS and the codec map, our answer
//     goes to the trunk in the 200; every other branch is CANCELled
//   a later 2xx -> ACK + BYE on that branch (RFC 3261 §13.2.2.4)
//   every branch failed -> the best final response to the trunk (RFC 3261 §16.7 step 6)
//   CANCEL from the trunk -> 200, 487 to its INVITE, CANCEL on every branch
//   nobody answers within max_ringing (RFC 3261 §16.6 Timer C) -> 408 to the trunk, CANCEL on every branch
//   BYE from either side -> 200, BYE on the other leg
//   in the answered call, from the browser: INFO DTMF -> RFC 4733 toward the trunk (200; 400 if
//     unreadable), other INFO 501; re-INVITE/UPDATE that refreshes the session (no SDP, or the
//     same o= as before) -> 200 with our SDP; a new offer (hold, resume, ICE restart) -> the media
//     session takes its ICE/DTLS and direction, the browser gets our answer (a=setup:passive)
//   from the trunk: re-INVITE/UPDATE refresh -> 200 with our SDP; a new offer (hold, resume, a new
//     RTP address) -> the media session takes it and the trunk gets our answer. Each leg's
//     offer/answer is answered on that leg from the media state: the direction a side asks for is
//     enforced by the relay (media::MediaSessions::set_direction), so a hold is heard as silence
//     both ways without a re-INVITE on the other leg
//
// Sans-IO like Call: it owns no socket and reads no clock; what it sends goes to the `out` queue
// it is given. Lifetime: owned by CallController (inbound_), which drops it once done() is true;
// everything in it is owned (copies of the messages it needs). The media session is released
// when the call ends.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/metrics.hpp"
#include "core/reactor.hpp"
#include "core/socket.hpp"
#include "edge/media_sdp.hpp"
#include "edge/registrar.hpp"
#include "edge/shard_note.hpp"
#include "edge/sip_messages.hpp"
#include "media/types.hpp"
#include "sip/branch.hpp"
#include "sip/client_transaction.hpp"
#include "sip/dialog.hpp"
#include "sip/message_view.hpp"
#include "sip/server_transaction.hpp"
#include "sip/transaction.hpp"

namespace webtrunk::edge {

struct SipTransmit;

inline const core::Counter kInboundCallsStarted{"webtrunk_inbound_calls_started_total",
                                                "calls from a trunk rung on registered browsers"};
inline const core::Counter kInboundCallsAnswered{"webtrunk_inbound_calls_answered_total",
                                                 "calls from a trunk answered by a browser"};
inline const core::Counter kInboundNotTrunk{"webtrunk_inbound_refused_not_trunk_total",
                                            "INVITEs refused 403: the source is no configured trunk"};
inline const core::Counter kInboundNotRegistered{"webtrunk_inbound_refused_not_registered_total",
                                                 "calls from a trunk refused 480: nobody registered as the called user"};
inline const core::Counter kInboundBadOffer{"webtrunk_inbound_refused_bad_sdp_total",
                                            "calls from a trunk refused 488 (no SDP, unreadable, no --codecs codec)"};
inline const core::Counter kInboundBadAnswer{"webtrunk_inbound_bad_browser_answer_total",
                                             "browser 2xx with an unusable answer (ACKed and hung up)"};
inline const core::Counter kInboundLateAnswers{"webtrunk_inbound_late_answers_total",
                                               "browser 2xx after another branch won (ACK + BYE, RFC 3261 §13.2.2.4)"};
inline const core::Counter kInboundRingTimeouts{"webtrunk_inbound_ring_timeouts_total",
                                                "calls from a trunk no browser answered within the ringing limit (3 min, 408)"};
inline const core::Counter kInboundEarlyMedia{"webtrunk_inbound_early_media_total",
                                              "calls from a trunk given a 183 with SDP (a browser's early answer)"};
inline const core::Counter kInboundRemoteBranches{"webtrunk_inbound_remote_branches_total",
                                                  "branches rung on a browser registered on another shard"};
inline const core::Counter kInboundCancelled{"webtrunk_inbound_cancelled_total",
                                             "calls from a trunk cancelled by the trunk while ringing (487)"};

// What an InboundCall needs from its shard; references outlive the call.
struct InboundContext {
  std::deque<SipTransmit>& out;
  sip::IdGenerator& ids;
  media::MediaSessions* media;
  const sip::TimerConfig& timers;
  std::string sip_host;
  std::uint16_t sip_port = 5060;
  std::string user_agent;
  core::Duration max_ringing = std::chrono::minutes(3);  // RFC 3261 §16.6 Timer C
  // Cross-shard: this shard's index and where notes to other shards go (null: one shard only).
  unsigned shard = 0;
  std::deque<ShardNote>* notes = nullptr;
  // How long other shards' bindings are waited for; a shard that has not answered by then (its
  // mailbox lane was full) counts as having none.
  core::Duration lookup_timeout = std::chrono::seconds(1);
};

class InboundCall {
 public:
  enum class State : std::uint8_t { ringing, answered, established, ended };

  // The trunk's INVITE (validated, from a configured trunk at `peer`) to the bindings of its user
  // on this shard, while `lookups` other shards are asked for theirs. Answers the trunk at once
  // when it cannot ring anyone (480/488/503): then done() soon.
  InboundCall(InboundContext ctx, core::Instant now, const core::SockAddr& peer, const sip::MessageView& invite,
              const std::vector<BindingTarget>& bindings, std::span<const unsigned> lookups,
              std::span<const std::string> codecs);

  // Shard `from` answered the lookup: its bindings ring now (none is an answer too).
  void add_bindings(core::Instant now, unsigned from, const std::vector<BindingTarget>& bindings);
  // The other shards that carry a branch of this call (told to forget it when it is done).
  [[nodiscard]] std::vector<unsigned> remote_shards() const;

  // From the trunk: the INVITE again, its ACK, CANCEL, BYE and other in-dialog requests.
  void on_trunk_request(core::Instant now, const core::SockAddr& from, const sip::MessageView& req);
  // From a browser: a response on a branch, or a request in the answered dialog (BYE).
  void on_browser_response(core::Instant now, BrowserFlow flow, const sip::MessageView& resp);
  void on_browser_request(core::Instant now, BrowserFlow flow, const sip::MessageView& req);
  void on_flow_closed(core::Instant now, BrowserFlow flow);
  void handle_timeout(core::Instant now);
  // Runs every transaction once; true if anything happened (pump again).
  bool step(core::Instant now);

  [[nodiscard]] std::optional<core::Instant> next_deadline() const;
  [[nodiscard]] bool done() const noexcept;
  [[nodiscard]] State state() const noexcept { return state_; }
  [[nodiscard]] const std::string& trunk_call_id() const noexcept { return t_call_id_; }
  [[nodiscard]] const std::string& browser_call_id() const noexcept { return b_call_id_; }
  [[nodiscard]] media::SessionId media_id() const noexcept { return media_id_; }
  // The status the trunk got (0 while ringing).
  [[nodiscard]] int final_status() const noexcept { return final_status_; }
  [[nodiscard]] const std::string& end_reason() const noexcept { return end_reason_; }

 private:
  struct Branch {
    BrowserFlow flow;
    std::string request_bytes;
    std::unique_ptr<sip::ClientTransaction> invite;
    int final_status = 0;  // 0 while pending
    std::string final_reason;
    bool gone = false;     // its flow closed
  };
  struct Client {  // BYE and CANCEL toward a browser or the trunk
    std::unique_ptr<sip::ClientTransaction> txn;
    bool to_trunk = false;
    BrowserFlow flow;
  };

  // The answered call ends: a BYE to the browser (the trunk hung up) or to the trunk.
  void hang_up(core::Instant now, bool bye_browser, std::string_view reason);
  void answer_trunk(core::Instant now, int code, std::string_view reason, std::string_view end_reason);
  void on_branch_final(core::Instant now, Branch& b, const sip::MessageView& resp);
  void on_branch_2xx(core::Instant now, Branch& b, const sip::MessageView& resp);
  void cancel_branches(core::Instant now, const Branch* except);
  void ack_and_bye(core::Instant now, Branch& b, const sip::MessageView& resp);
  void all_branches_failed(core::Instant now);
  // Every branch has a final response and no shard's bindings are awaited: the trunk gets the best.
  void maybe_all_failed(core::Instant now);
  void add_branch(core::Instant now, const BindingTarget& target);
  // A browser's 18x with SDP: media set up early, a 183 with our answer to the trunk.
  void on_branch_early(core::Instant now, Branch& b, const sip::MessageView& resp);
  // Reads a browser's answer and maps its codecs to the trunk's offer; false if unusable.
  bool read_answer(const sip::MessageView& resp, BrowserOffer& answer, media::CodecMap& map) const;
  // In the answered call: the browser's re-INVITE/UPDATE/INFO and the trunk's re-INVITE/UPDATE.
  void on_browser_in_dialog(core::Instant now, BrowserFlow flow, const sip::MessageView& req);
  void on_trunk_in_dialog(core::Instant now, const core::SockAddr& from, const sip::MessageView& req);
  // The relay's direction from what each leg last asked for.
  void apply_direction();
  void end(std::string_view reason);
  void send_ws(BrowserFlow flow, std::string bytes);
  void send_udp(const core::SockAddr& to, std::string bytes);
  std::string browser_via() const;
  std::string trunk_via() const;

  InboundContext ctx_;
  State state_ = State::ringing;
  int final_status_ = 0;
  std::string end_reason_;

  // Trunk leg.
  core::SockAddr peer_;
  std::unique_ptr<sip::OwnedMessage> t_invite_;
  std::unique_ptr<sip::ServerTransaction> t_txn_;
  std::string t_call_id_;
  std::string t_local_tag_;
  std::optional<sip::Dialog> t_dialog_;
  std::optional<sip::TwoXxRetransmitter> t_ack_wait_;
  bool t_ringing_sent_ = false;
  core::Instant ring_deadline_ = core::Instant::max();
  TrunkSdp t_offer_;
  std::string t_answer_;

  // Browser side: one Call-ID and From tag for every branch; branches differ by Via branch.
  std::string b_call_id_;
  std::string b_local_tag_;
  std::string b_from_;
  std::deque<Branch> branches_;  // a deque: branches added later leave winner_ and early_ valid
  Branch* winner_ = nullptr;
  std::optional<sip::Dialog> b_dialog_;
  std::vector<Client> clients_;

  // Media.
  media::SessionId media_id_ = 0;
  SdpCodec codec_{};
  std::string b_offer_;

  // Forking state: what every branch's INVITE repeats, and the shards not heard from yet.
  std::string called_;
  std::uint32_t b_cseq_ = 0;
  std::uint32_t max_forwards_ = 70;
  std::vector<unsigned> awaiting_;
  core::Instant lookup_deadline_ = core::Instant::max();
  const Branch* early_ = nullptr;  // the branch whose early answer the media session follows

  // Offer/answer in the answered call: the codec map, each leg's last SDP origin and direction,
  // our own origin on each leg (its version goes up with every new answer).
  media::CodecMap map_;
  bool trunk_dtmf_ = false;
  std::string b_remote_origin_;
  std::string t_remote_origin_;
  media::Direction b_dir_ = media::Direction::sendrecv;
  media::Direction t_dir_ = media::Direction::sendrecv;
  SdpOrigin b_origin_;
  SdpOrigin t_origin_;
  std::string b_local_sdp_;  // our last SDP to the browser (the offer, then answers to re-offers)
};

}  // namespace webtrunk::edge
