// A SIP client transaction (RFC 3261 §17.1), sans-IO: it owns no socket and reads no clock.
//
//   ClientTransaction txn(now, Method::invite, std::move(invite_bytes), branch, Transport::udp);
//   while (auto bytes = txn.poll_transmit()) send(dest, *bytes);     // the request, ACK, retransmissions
//   ... txn.handle_response(now, view);  txn.handle_timeout(now);     // when poll_timeout() is due
//   while (auto ev = txn.poll_event()) ...                            // responses, timeout, terminated
//
// INVITE (§17.1.1): Timer A retransmits on UDP (T1, 2*T1, 4*T1, ... until Timer B = 64*T1); a 1xx
// stops retransmission (Proceeding, no timeout there: the TU cancels); a 2xx terminates the
// transaction and goes up (the TU ACKs it, out of the transaction, with Dialog::make_request(ACK);
// later 2xx retransmissions find no transaction and must be re-ACKed by the dialog); a 3xx-6xx is
// ACKed here (same branch, §17.1.1.3), goes up once, and its retransmissions are re-ACKed silently
// for Timer D (32 s on UDP, 0 on reliable transports).
// Non-INVITE (§17.1.2): Timer E retransmits on UDP (T1 doubling up to T2; T2 once a 1xx came),
// Timer F = 64*T1 times out; a final goes up, retransmissions are absorbed for Timer K (T4 on UDP,
// 0 on reliable transports).
// Reliable transports (TCP, TLS, WS, WSS): no Timer A or E, Timers B and F still apply.
//
// CANCEL (§9.1): cancel() never sends anything itself. Once a provisional response has arrived
// (at once if one already has), a `cancel_ready` event carries the CANCEL bytes; the TU runs them
// in a new non-INVITE ClientTransaction (Method::cancel, the same branch, the same transport and
// destination). The INVITE transaction then waits for its final response (487) as usual, and
// gives up with `timeout` if none arrives within 64*T1 of the CANCEL.
//
// Lifetime: the transaction owns copies of everything. poll_transmit() returns an owned string;
// poll_transmit_view() a view valid until the next call on the transaction. Responses come up in
// an OwnedMessage. Cost: the request and ACK strings, the branch, and under 512 bytes; no heap
// allocation per timer or per retransmission beyond the returned strings.
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

class ClientTransaction {
 public:
  enum class State : std::uint8_t { calling, trying, proceeding, completed, terminated };

  // `request_bytes` is the complete request as it goes on the wire; its top Via carries `branch`.
  // It is queued for sending at once (poll_transmit()).
  ClientTransaction(core::Instant now, Method method, std::string request_bytes, std::string branch,
                    Transport transport, const TimerConfig& timers = {});

  // A response whose TransactionKey::of_response() equals this transaction's key.
  void handle_response(core::Instant now, const MessageView& response);
  void handle_timeout(core::Instant now);
  // The transport failed to send the request or the ACK (§17.1.4): `transport_error`, terminated.
  void handle_transport_error(core::Instant now);
  // INVITE only: ask for a CANCEL, delivered as a `cancel_ready` event (see above). No effect
  // once a final response arrived, on a second call, or on a non-INVITE transaction.
  void cancel(core::Instant now);

  // The CANCEL for this INVITE (§9.1): same Request-URI, Call-ID, From, To, CSeq number and top
  // Via, the Route headers, method CANCEL. "" when this is not an INVITE.
  [[nodiscard]] std::string make_cancel() const;

  // Bytes to send on the transaction's transport, to the request's destination.
  [[nodiscard]] std::optional<std::string> poll_transmit();
  [[nodiscard]] std::optional<std::string_view> poll_transmit_view();
  [[nodiscard]] std::optional<TxnEvent> poll_event() { return events_.pop(); }
  [[nodiscard]] std::optional<core::Instant> poll_timeout() const;

  [[nodiscard]] bool terminated() const noexcept { return state_ == State::terminated; }
  [[nodiscard]] State state() const noexcept { return state_; }
  [[nodiscard]] Method method() const noexcept { return method_; }
  [[nodiscard]] Transport transport() const noexcept { return transport_; }
  [[nodiscard]] std::string_view branch() const noexcept { return branch_; }
  [[nodiscard]] std::string_view request() const noexcept { return request_; }
  // The ACK built for a 3xx-6xx final response ("" before one arrived).
  [[nodiscard]] std::string_view ack() const noexcept { return ack_; }
  // The status of the last response handed up (0 before any).
  [[nodiscard]] int last_status() const noexcept { return last_status_; }

 private:
  enum class Pending : std::uint8_t { none, request, ack };

  bool is_invite() const noexcept { return method_ == Method::invite; }
  void handle_invite_response(core::Instant now, const MessageView& response, int status);
  void handle_non_invite_response(core::Instant now, const MessageView& response, int status);
  void emit_response(const MessageView& response, int status);
  void emit_cancel(core::Instant now);
  void build_ack(const MessageView& response);
  void terminate();

  std::string request_;
  std::string ack_;
  std::string branch_;
  TimerConfig timers_;
  core::Instant retransmit_at_ = detail::kNever;  // Timer A / E
  core::Instant timeout_at_ = detail::kNever;     // Timer B / F, or the CANCEL give-up (§9.1)
  core::Instant linger_at_ = detail::kNever;      // Timer D / K
  core::Duration interval_{};
  detail::EventQueue events_;
  int last_status_ = 0;
  Method method_;
  Transport transport_;
  State state_;
  Pending pending_ = Pending::request;
  bool cancel_wanted_ = false;
  bool cancel_emitted_ = false;
};

}  // namespace webtrunk::sip
