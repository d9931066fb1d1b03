// The echo trunk: a small SIP UAS on UDP that answers every call and sends every RTP and RTCP packet
// back where it came from, so a person calling through `webtrunk demo` hears themself. It is also a
// trunk for tests that need a real peer speaking our own SIP stack.
//
// Two parts, as everywhere in webtrunk:
// - EchoTrunkCore, sans-IO: datagrams in (handle_datagram), datagrams out (poll_transmit), one
//   deadline (poll_timeout / handle_timeout). It runs sip:: ServerTransactions (retransmitted
//   requests answered again, non-2xx finals resent until ACKed) and a TwoXxRetransmitter per 200 (resent
//   until the ACK, RFC 3261 §13.3.1.4). Media ports come from an allocator the caller provides.
// - EchoTrunk, the glue on a core::Shard: the SIP socket, and an RTP/RTCP socket pair per call that
//   echoes with Shard::forward (the received buffer is sent back as it is: no copy).
//
// Behaviour: INVITE -> 100, 180, then 200 after `ring_time` with an SDP answer keeping only what the
// offer had among PCMU, PCMA and telephone-event/8000 (with the offer's payload numbers; none of
// them -> 488); a CANCEL while ringing -> 200 + 487; re-INVITE -> 200 with a new SDP version and the
// answering direction; BYE -> 200 and the ports are closed; OPTIONS, INFO, UPDATE -> 200; other
// methods -> 405; an in-dialog request for no call -> 481. An INVITE without SDP gets our own offer
// in the 200 (and the ACK's answer is not needed: echo goes to the packets' source).
// Shutdown (hang_up_all, on SIGTERM/SIGINT): every answered call gets a BYE with a Reason header,
// a call still ringing gets 503, new INVITEs get 503; the command waits for the BYEs' answers (at
// most 3 s) and exits 0, so a restart never leaves the edge holding a silent call.
//
// Lifetimes: EchoTrunkCore owns every string it keeps; poll_transmit hands out owned bytes. EchoTrunk
// must outlive its sockets (it lives as long as the shard loop).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "app/deadline_timer.hpp"
#include "core/clock.hpp"
#include "core/metrics.hpp"
#include "core/reactor.hpp"
#include "core/result.hpp"
#include "core/socket.hpp"
#include "sip/client_transaction.hpp"
#include "sip/dialog.hpp"
#include "sip/transaction.hpp"

namespace webtrunk::app {

inline const core::Counter kEchoCallsTotal{"webtrunk_echo_calls_total", "calls the echo trunk answered"};
inline const core::Counter kEchoRejectedTotal{"webtrunk_echo_rejected_total",
                                              "datagrams or requests the echo trunk refused (unparsable, 4xx/5xx)"};
inline const core::Counter kEchoPacketsTotal{"webtrunk_echo_packets_total", "RTP and RTCP packets echoed"};
inline const core::Gauge kEchoCallsActive{"webtrunk_echo_calls_active", "echo trunk calls with media ports open"};

struct EchoTrunkConfig {
  std::string contact_host = "127.0.0.1";  // our Contact: sip:echo@<host>:<port>
  std::uint16_t contact_port = 5070;
  std::string media_ip = "127.0.0.1";      // c= of our SDP (IPv4)
  core::Duration ring_time = core::milliseconds(500);
  std::size_t max_calls = 200;
  sip::TimerConfig timers;
};

struct EchoTransmit {
  core::SockAddr to;
  std::string bytes;
};

// The codecs of an SDP offer the echo trunk can take, in the offer's order, and its direction.
struct EchoOffer {
  struct Codec {
    std::uint8_t pt = 0;
    std::string name;  // "PCMU", "PCMA", "telephone-event"
  };
  std::vector<Codec> codecs;
  std::string direction = "sendrecv";
  bool has_audio = false;
};
// Reads the first audio m-line of an SDP (sip::sdp::parse): PCMU and PCMA (static 0/8 or by rtpmap)
// and telephone-event/8000. Other codecs are skipped; unparsable SDP has no audio.
EchoOffer read_echo_offer(std::string_view sdp);

class EchoTrunkCore {
 public:
  // Opens the media ports of a call (RTP on the returned port, RTCP on port + 1) / closes them.
  struct MediaPorts {
    std::function<core::Result<std::uint16_t>(std::uint64_t call)> open;
    std::function<void(std::uint64_t call)> close;
  };

  EchoTrunkCore(EchoTrunkConfig cfg, MediaPorts media);

  void handle_datagram(core::Instant now, const core::SockAddr& from, std::string_view bytes);
  void handle_timeout(core::Instant now);
  [[nodiscard]] std::optional<EchoTransmit> poll_transmit();
  [[nodiscard]] std::optional<core::Instant> poll_timeout() const;

  // Calls with media open (ringing, answered or confirmed).
  [[nodiscard]] std::size_t active_calls() const noexcept { return calls_.size(); }
  // Shutting down: BYE to every answered call, 503 to those ringing, 503 to new INVITEs from now
  // on. Returns how many calls it ended.
  std::size_t hang_up_all(core::Instant now);
  // BYEs sent by hang_up_all() with no final response yet (a timeout ends the wait too).
  [[nodiscard]] std::size_t unanswered_byes() const noexcept;

 private:
  struct Txn {
    std::unique_ptr<sip::ServerTransaction> txn;
    core::SockAddr peer;
  };
  struct Call {
    std::uint64_t id = 0;
    std::string call_id;
    std::string to_tag;
    core::SockAddr peer;
    std::uint16_t rtp_port = 0;
    std::uint32_t invite_cseq = 0;
    std::optional<sip::TransactionKey> ringing;  // the initial INVITE's transaction until it is answered
    core::Instant answer_at = sip::detail::kNever;
    std::string answer_200;     // the 200 to send at answer_at
    std::string cancelled_487;  // the INVITE's 487 if a CANCEL comes first
    std::string shutdown_503;   // the INVITE's 503 if the trunk shuts down first
    std::optional<sip::TwoXxRetransmitter> rtx;
    std::vector<EchoOffer::Codec> codecs;
    std::uint64_t sdp_version = 1;
    bool confirmed = false;
    std::optional<sip::Dialog> dialog;  // ours as UAS: for the BYE at shutdown
  };

  void handle_request(core::Instant now, const core::SockAddr& from, const sip::MessageView& msg);
  void handle_ack(core::Instant now, const sip::MessageView& msg);
  void handle_invite(core::Instant now, const core::SockAddr& from, const sip::MessageView& msg,
                     const sip::TransactionKey& key);
  void handle_reinvite(core::Instant now, Call& call, const sip::MessageView& msg, sip::ServerTransaction& txn);
  void handle_cancel(core::Instant now, const sip::MessageView& msg, sip::ServerTransaction& txn,
                     const sip::TransactionKey& key);
  // Answers `msg` on `txn` (a response without a body unless `sdp` is given).
  void respond(core::Instant now, sip::ServerTransaction& txn, const sip::MessageView& msg, int code,
               std::string_view reason, std::string_view to_tag, std::string_view sdp = {});
  std::string make_2xx(const sip::MessageView& msg, const Call& call, std::string_view sdp) const;
  std::string make_sdp(const Call& call, std::string_view direction) const;
  void answer(core::Instant now, Call& call);
  void end_call(std::string_view call_id);
  Call* find_call(const sip::MessageView& msg);
  void drain(Txn& t);
  void reject_stateless(const core::SockAddr& from, const sip::MessageView& msg, int code, std::string_view reason);

  EchoTrunkConfig cfg_;
  MediaPorts media_;
  std::unordered_map<sip::TransactionKey, Txn> txns_;
  std::unordered_map<std::string, Call> calls_;  // by Call-ID
  struct Bye {
    std::unique_ptr<sip::ClientTransaction> txn;
    core::SockAddr peer;
  };
  std::vector<Bye> byes_;  // the BYEs sent at shutdown
  bool shutting_down_ = false;
  std::deque<EchoTransmit> out_;
  std::uint64_t next_call_ = 1;
  std::uint64_t session_id_;
};

// The echo trunk on a shard: SIP on `sip_addr` (UDP), media sockets on `media_ip` with ports the
// kernel picks (an even RTP port and the odd one above it for RTCP).
class EchoTrunk final : public core::UdpHandler {
 public:
  EchoTrunk() = default;
  // Opens the SIP socket; returns its bound address (port 0: the kernel picks one).
  core::Result<core::SockAddr> open(core::Shard& shard, const core::SockAddr& sip_addr, EchoTrunkConfig cfg);

  void on_datagram(core::Shard& shard, core::UdpId id, const core::SockAddr& peer,
                   std::span<std::byte> payload) override;

  [[nodiscard]] std::size_t active_calls() const noexcept { return core_ ? core_->active_calls() : 0; }
  // EchoTrunkCore::hang_up_all, then sends what it wrote.
  std::size_t hang_up_all(core::Shard& shard);
  [[nodiscard]] std::size_t unanswered_byes() const noexcept { return core_ ? core_->unanswered_byes() : 0; }

 private:
  // Sends every RTP and RTCP datagram back to its source from the socket it came in on.
  class Echo final : public core::UdpHandler {
   public:
    void on_datagram(core::Shard& shard, core::UdpId id, const core::SockAddr& peer,
                     std::span<std::byte> payload) override;
  };
  struct Ports {
    core::UdpId rtp;
    core::UdpId rtcp;
  };

  core::Result<std::uint16_t> open_media(core::Shard& shard, std::uint64_t call);
  void close_media(core::Shard& shard, std::uint64_t call);
  void flush(core::Shard& shard);

  std::unique_ptr<EchoTrunkCore> core_;
  Echo echo_;
  core::SockAddr media_ip_;
  core::UdpId sip_;
  std::unordered_map<std::uint64_t, Ports> ports_;
  DeadlineTimer timer_;
};

}  // namespace webtrunk::app
