// A SIP server transaction (RFC 3261 §17.2, with the Accepted state of RFC 6026), sans-IO, and
// the TU's 2xx retransmitter (§13.3.1.4).
//
//   ServerTransaction txn(now, request_view, Transport::udp);        // on a request with no transaction
//   txn.respond(now, make_response(req, 180, "Ringing", tag), 180);   // the TU answers
//   txn.handle_retransmission(now);  txn.handle_ack(now);  txn.handle_timeout(now);
//   while (auto bytes = txn.poll_transmit()) send(source_of_request, *bytes);
//   while (auto ev = txn.poll_event()) ...                           // timeout, transport_error, terminated
//
// INVITE (§17.2.1): Proceeding sends 100 (Trying) by itself if the TU sent no provisional within
// TimerConfig::trying_delay (200 ms), or at once on a retransmitted INVITE. A 2xx moves to Accepted
// (RFC 6026 §8.5): INVITE retransmissions are absorbed for Timer L = 64*T1, 2xx retransmissions by
// the TU (TwoXxRetransmitter, or respond() again) still go out, and the ACK for the 2xx (a new
// branch) belongs to the dialog, not to this transaction. A 3xx-6xx moves to Completed: resent on
// Timer G (T1 doubling up to T2, UDP only) and on each retransmitted INVITE, until the ACK
// (Confirmed, Timer I = T4 on UDP, 0 on reliable) or Timer H = 64*T1 (`timeout`).
// Non-INVITE (§17.2.2): retransmitted requests get the last response again; a final response
// moves to Completed for Timer J (64*T1 on UDP, 0 on reliable).
//
// CANCEL (§9.2): the CANCEL has its own ServerTransaction; TransactionKey::of_request(cancel)
// .cancelled_invite() finds the INVITE's. Answer the CANCEL 200 and, if the INVITE transaction
// is still in Proceeding, the INVITE 487 (Request Terminated); if none is found, answer 481.
//
// Lifetime: owned strings only; poll_transmit_view()'s view is valid until the next call on the
// transaction. The request given to the constructor is not kept (only a prepared 100 Trying, for
// INVITE).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.hpp"
#include "sip/message_view.hpp"
#include "sip/transaction.hpp"
#include "sip/transport.hpp"

namespace webtrunk::sip {

class ServerTransaction {
 public:
  enum class State : std::uint8_t { trying, proceeding, completed, confirmed, accepted, terminated };

  ServerTransaction(core::Instant now, const MessageView& request, Transport transport,
                    const TimerConfig& timers = {});

  // The request came again (same key): resend the last response, or absorb (§17.2.1, §17.2.2).
  void handle_retransmission(core::Instant now);
  // INVITE: the ACK for our 3xx-6xx (same key as the INVITE): Confirmed, stop Timers G and H.
  void handle_ack(core::Instant now);
  // The TU's response (complete bytes, To tag included). 1xx while proceeding; a final once.
  // INVITE 2xx again while Accepted: sent (the TU's retransmissions, §13.3.1.4). Else ignored.
  void respond(core::Instant now, std::string response_bytes, int status);
  void handle_timeout(core::Instant now);
  // The transport could not send a response (§17.2.4): `transport_error`, terminated.
  void handle_transport_error(core::Instant now);

  // Bytes to send back where the request came from (§18.2.2).
  [[nodiscard]] std::optional<std::string> poll_transmit();
  [[nodiscard]] std::optional<std::string_view> poll_transmit_view();
  [[nodiscard]] std::optional<TxnEvent> poll_event() { return events_.pop(); }
  [[nodiscard]] std::optional<core::Instant> poll_timeout() const;

  [[nodiscard]] bool terminated() const noexcept { return state_ == State::terminated; }
  [[nodiscard]] State state() const noexcept { return state_; }
  [[nodiscard]] Method method() const noexcept { return method_; }
  [[nodiscard]] Transport transport() const noexcept { return transport_; }
  // Status of the last response sent or queued (0: none yet; 100 after an automatic Trying).
  [[nodiscard]] int last_status() const noexcept { return last_status_; }
  // True once a final response (>= 200) was given.
  [[nodiscard]] bool answered() const noexcept { return last_status_ >= 200; }

 private:
  bool is_invite() const noexcept { return method_ == Method::invite; }
  void send_last() noexcept { pending_ = !last_response_.empty(); }
  void terminate();

  std::string last_response_;  // for INVITE, a prepared 100 Trying until the TU responds
  TimerConfig timers_;
  core::Instant trying_at_ = detail::kNever;      // automatic 100 Trying
  core::Instant retransmit_at_ = detail::kNever;  // Timer G
  core::Instant timeout_at_ = detail::kNever;     // Timer H
  core::Instant linger_at_ = detail::kNever;      // Timers I, J, L
  core::Duration interval_{};
  detail::EventQueue events_;
  int last_status_ = 0;
  Method method_;
  Transport transport_;
  State state_;
  bool pending_ = false;
};

// RFC 3261 §13.3.1.4: the UAS core retransmits its 2xx to an INVITE (T1 doubling up to T2) until
// the ACK arrives; after 64*T1 without one it gives up with `timeout` (the TU should then send BYE).
// On reliable transports nothing is retransmitted but the 64*T1 wait for the ACK still runs.
// The first copy of the 2xx is sent by the ServerTransaction (respond()); this only resends it.
//
//   TwoXxRetransmitter rtx(now, ok_bytes, Transport::udp);
//   ... rtx.handle_timeout(now); while (auto b = rtx.poll_transmit()) send(...);
//   on the ACK (dialog matched, CSeq = the INVITE's): rtx.handle_ack(now);
class TwoXxRetransmitter {
 public:
  TwoXxRetransmitter(core::Instant now, std::string response_2xx, Transport transport,
                     const TimerConfig& timers = {});

  void handle_ack(core::Instant now);
  void handle_timeout(core::Instant now);
  // A retransmitted INVITE reached the TU (e.g. no transaction kept it): resend the 2xx now.
  void handle_retransmission(core::Instant now);

  [[nodiscard]] std::optional<std::string> poll_transmit();
  [[nodiscard]] std::optional<std::string_view> poll_transmit_view();
  // `timeout` (no ACK within 64*T1) then `terminated`; `terminated` alone after the ACK.
  [[nodiscard]] std::optional<TxnEvent> poll_event() { return events_.pop(); }
  [[nodiscard]] std::optional<core::Instant> poll_timeout() const;

  [[nodiscard]] bool done() const noexcept { return done_; }
  [[nodiscard]] bool acked() const noexcept { return acked_; }

 private:
  void finish();

  std::string response_;
  core::Instant retransmit_at_ = detail::kNever;
  core::Instant timeout_at_ = detail::kNever;
  core::Duration interval_{};
  core::Duration t2_{};
  detail::EventQueue events_;
  bool pending_ = false;
  bool acked_ = false;
  bool done_ = false;
};

}  // namespace webtrunk::sip
