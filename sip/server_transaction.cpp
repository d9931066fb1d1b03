#include "sip/server_transaction.hpp"

#include <algorithm>
#include <utility>

#include "core/metrics.hpp"
#include "sip/writer.hpp"

namespace webtrunk::sip {

namespace {

const core::Counter kServerTxnIgnoredResponses{"webtrunk_sip_server_txn_ignored_responses_total",
                                               "Responses from the TU a server transaction refused (bad state)"};
const core::Counter kServerTxnTimeouts{"webtrunk_sip_server_txn_timeouts_total",
                                       "INVITE server transactions whose final response was never ACKed (Timer H)"};
const core::Counter kTwoXxTimeouts{"webtrunk_sip_2xx_ack_timeouts_total",
                                   "2xx responses to INVITE never ACKed within 64*T1 (RFC 3261 §13.3.1.4)"};

}  // namespace

ServerTransaction::ServerTransaction(core::Instant now, const MessageView& request, Transport transport,
                                     const TimerConfig& timers)
    : timers_(timers),
      interval_(timers.t1),
      method_(request.method()),
      transport_(transport),
      state_(request.method() == Method::invite ? State::proceeding : State::trying) {
  if (method_ == Method::ack) {
    // An ACK never creates a server transaction (§17.2.3): nothing to do.
    terminate();
    return;
  }
  if (is_invite()) {
    // §17.2.1: prepared now because the request's views do not outlive this call.
    last_response_ = make_response(request, 100, "Trying", {});
    trying_at_ = now + timers_.trying_delay;
  }
}

void ServerTransaction::respond(core::Instant now, std::string response_bytes, int status) {
  if (status < 100 || status > 699 || response_bytes.empty()) {
    kServerTxnIgnoredResponses.inc();
    return;
  }
  if (is_invite()) {
    if (state_ == State::accepted && status >= 200 && status < 300) {
      last_response_ = std::move(response_bytes);  // the TU retransmitting its 2xx
      send_last();
      return;
    }
    if (state_ != State::proceeding) {
      kServerTxnIgnoredResponses.inc();
      return;
    }
    last_response_ = std::move(response_bytes);
    last_status_ = status;
    trying_at_ = detail::kNever;
    send_last();
    if (status < 200) return;
    if (status < 300) {
      // RFC 6026 §8.5: Accepted, absorbing INVITE retransmissions for Timer L.
      state_ = State::accepted;
      linger_at_ = now + timers_.timeout();
      return;
    }
    // §17.2.1: Completed; Timer G (unreliable only) and Timer H.
    state_ = State::completed;
    if (!is_reliable(transport_)) retransmit_at_ = now + interval_;
    timeout_at_ = now + timers_.timeout();
    return;
  }

  if (state_ != State::trying && state_ != State::proceeding) {
    kServerTxnIgnoredResponses.inc();
    return;
  }
  last_response_ = std::move(response_bytes);
  last_status_ = status;
  send_last();
  if (status < 200) {
    state_ = State::proceeding;
    return;
  }
  // §17.2.2: Completed for Timer J (64*T1 unreliable, 0 reliable).
  state_ = State::completed;
  if (is_reliable(transport_)) {
    terminate();
  } else {
    linger_at_ = now + timers_.timeout();
  }
}

void ServerTransaction::handle_retransmission(core::Instant) {
  switch (state_) {
    case State::proceeding:
      if (is_invite() && last_status_ == 0) {
        last_status_ = 100;  // our prepared 100 Trying goes out now
        trying_at_ = detail::kNever;
      }
      send_last();
      return;
    case State::completed:
      send_last();
      return;
    default:
      return;  // Trying (no response yet), Accepted, Confirmed: absorbed
  }
}

void ServerTransaction::handle_ack(core::Instant now) {
  if (!is_invite() || state_ != State::completed) return;
  // §17.2.1: Confirmed; absorb ACK retransmissions for Timer I.
  state_ = State::confirmed;
  retransmit_at_ = timeout_at_ = detail::kNever;
  if (is_reliable(transport_)) {
    terminate();
  } else {
    linger_at_ = now + timers_.t4;
  }
}

void ServerTransaction::handle_timeout(core::Instant now) {
  if (state_ == State::terminated) return;
  if (timeout_at_ <= now) {
    kServerTxnTimeouts.inc();  // Timer H
    TxnEvent ev;
    ev.kind = TxnEvent::Kind::timeout;
    events_.push(std::move(ev));
    terminate();
    return;
  }
  if (linger_at_ <= now) {
    terminate();  // Timer I, J or L
    return;
  }
  if (trying_at_ <= now) {
    trying_at_ = detail::kNever;
    if (state_ == State::proceeding && last_status_ == 0) {
      last_status_ = 100;
      send_last();
    }
  }
  if (retransmit_at_ <= now) {
    // Timer G: T1, 2*T1, ... capped at T2.
    send_last();
    interval_ = std::min(2 * interval_, timers_.t2);
    retransmit_at_ = now + interval_;
  }
}

void ServerTransaction::handle_transport_error(core::Instant) {
  if (state_ == State::terminated) return;
  TxnEvent ev;
  ev.kind = TxnEvent::Kind::transport_error;
  events_.push(std::move(ev));
  pending_ = false;
  terminate();
}

std::optional<std::string> ServerTransaction::poll_transmit() {
  const std::optional<std::string_view> v = poll_transmit_view();
  if (!v) return std::nullopt;
  return std::string(*v);
}

std::optional<std::string_view> ServerTransaction::poll_transmit_view() {
  if (!std::exchange(pending_, false)) return std::nullopt;
  return std::string_view(last_response_);
}

std::optional<core::Instant> ServerTransaction::poll_timeout() const {
  const core::Instant t = std::min({trying_at_, retransmit_at_, timeout_at_, linger_at_});
  if (t == detail::kNever) return std::nullopt;
  return t;
}

void ServerTransaction::terminate() {
  state_ = State::terminated;
  trying_at_ = retransmit_at_ = timeout_at_ = linger_at_ = detail::kNever;
  TxnEvent ev;
  ev.kind = TxnEvent::Kind::terminated;
  events_.push(std::move(ev));
}

// ---------------------------------------------------------------------------------------------

TwoXxRetransmitter::TwoXxRetransmitter(core::Instant now, std::string response_2xx, Transport transport,
                                       const TimerConfig& timers)
    : response_(std::move(response_2xx)), interval_(timers.t1), t2_(timers.t2) {
  if (!is_reliable(transport)) retransmit_at_ = now + interval_;
  timeout_at_ = now + timers.timeout();
}

void TwoXxRetransmitter::handle_ack(core::Instant) {
  if (done_) return;
  acked_ = true;
  finish();
}

void TwoXxRetransmitter::handle_timeout(core::Instant now) {
  if (done_) return;
  if (timeout_at_ <= now) {
    kTwoXxTimeouts.inc();
    TxnEvent ev;
    ev.kind = TxnEvent::Kind::timeout;
    events_.push(std::move(ev));
    finish();
    return;
  }
  if (retransmit_at_ <= now) {
    pending_ = true;
    interval_ = std::min(2 * interval_, t2_);
    retransmit_at_ = now + interval_;
  }
}

void TwoXxRetransmitter::handle_retransmission(core::Instant) {
  if (!done_) pending_ = true;
}

std::optional<std::string> TwoXxRetransmitter::poll_transmit() {
  const std::optional<std::string_view> v = poll_transmit_view();
  if (!v) return std::nullopt;
  return std::string(*v);
}

std::optional<std::string_view> TwoXxRetransmitter::poll_transmit_view() {
  if (!std::exchange(pending_, false)) return std::nullopt;
  return std::string_view(response_);
}

std::optional<core::Instant> TwoXxRetransmitter::poll_timeout() const {
  const core::Instant t = std::min(retransmit_at_, timeout_at_);
  if (t == detail::kNever) return std::nullopt;
  return t;
}

void TwoXxRetransmitter::finish() {
  done_ = true;
  pending_ = false;
  retransmit_at_ = timeout_at_ = detail::kNever;
  TxnEvent ev;
  ev.kind = TxnEvent::Kind::terminated;
  events_.push(std::move(ev));
}

}  // namespace webtrunk::sip
