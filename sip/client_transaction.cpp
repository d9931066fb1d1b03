#include "sip/client_transaction.hpp"

#include <algorithm>
#include <utility>

#include "core/metrics.hpp"
#include "sip/header_parsers.hpp"
#include "sip/parser.hpp"
#include "sip/writer.hpp"

namespace webtrunk::sip {

namespace {

const core::Counter kClientTxnBadResponses{"webtrunk_sip_client_txn_bad_responses_total",
                                           "Responses a client transaction ignored (bad status or state)"};
const core::Counter kClientTxnTimeouts{"webtrunk_sip_client_txn_timeouts_total",
                                       "Client transactions that timed out (Timer B or F)"};

void write_unfolded(MessageWriter& w, HeaderId id, std::string_view value) {
  w.header_begin(header_canonical_name(id));
  w.append_unfolded(value);
  w.header_end();
}

// The headers an ACK for a non-2xx (§17.1.1.3) and a CANCEL (§9.1) copy from the request:
// Request-URI, the top Via only, Route, From, Call-ID; then To and CSeq "<n> <method>".
std::string write_ack_or_cancel(const MessageView& req, std::string_view method, std::string_view to_value) {
  std::string out;
  out.reserve(req.head().size() / 2 + 64);
  MessageWriter w(out);
  w.request_line(method, req.request_uri());
  w.header(HeaderId::via, detail::first_via_element(req));
  for (const HeaderField* h = req.find(HeaderId::route); h != nullptr; h = req.find_next(h))
    write_unfolded(w, HeaderId::route, h->value);
  w.header(HeaderId::max_forwards, "70");
  write_unfolded(w, HeaderId::from, req.value(HeaderId::from));
  write_unfolded(w, HeaderId::to, to_value);
  w.header(HeaderId::call_id, req.value(HeaderId::call_id));
  const std::optional<CSeq> cs = cseq(req);
  w.header_begin(header_canonical_name(HeaderId::cseq));
  w.header_append(std::to_string(cs ? cs->number : 0));
  w.header_append(" ");
  w.header_append(method);
  w.header_end();
  w.finish();
  return out;
}

}  // namespace

ClientTransaction::ClientTransaction(core::Instant now, Method method, std::string request_bytes, std::string branch,
                                     Transport transport, const TimerConfig& timers)
    : request_(std::move(request_bytes)),
      branch_(std::move(branch)),
      timers_(timers),
      interval_(timers.t1),
      method_(method),
      transport_(transport),
      state_(method == Method::invite ? State::calling : State::trying) {
  // §17.1.1.2 / §17.1.2.2: Timer A / E only on unreliable transports; Timer B / F always.
  if (!is_reliable(transport_)) retransmit_at_ = now + interval_;
  timeout_at_ = now + timers_.timeout();
}

void ClientTransaction::handle_response(core::Instant now, const MessageView& response) {
  const int status = response.status_code();
  if (!response.is_response() || status < 100 || status > 699 || state_ == State::terminated) {
    kClientTxnBadResponses.inc();
    return;
  }
  if (is_invite()) {
    handle_invite_response(now, response, status);
  } else {
    handle_non_invite_response(now, response, status);
  }
}

void ClientTransaction::handle_invite_response(core::Instant now, const MessageView& response, int status) {
  switch (state_) {
    case State::calling:
    case State::proceeding:
      if (status < 200) {
        // §17.1.1.2: a provisional response stops retransmissions; there is no Timer B in
        // Proceeding (the TU decides how long to ring), except the CANCEL give-up below.
        state_ = State::proceeding;
        retransmit_at_ = detail::kNever;
        if (!cancel_emitted_) timeout_at_ = detail::kNever;
        emit_response(response, status);
        if (cancel_wanted_ && !cancel_emitted_) emit_cancel(now);
      } else if (status < 300) {
        // §17.1.1.2: a 2xx goes up and the transaction is done; the TU sends the ACK.
        emit_response(response, status);
        terminate();
      } else {
        // §17.1.1.2: ACK it here, hand it up, wait Timer D for retransmissions.
        state_ = State::completed;
        retransmit_at_ = detail::kNever;
        timeout_at_ = detail::kNever;
        build_ack(response);
        pending_ = Pending::ack;
        emit_response(response, status);
        if (is_reliable(transport_)) {
          terminate();
        } else {
          linger_at_ = now + timers_.timer_d;
        }
      }
      return;
    case State::completed:
      // A retransmission of the final response: ACK again, the TU has it already.
      if (status >= 300) {
        pending_ = Pending::ack;
      } else {
        kClientTxnBadResponses.inc();
      }
      return;
    default:
      kClientTxnBadResponses.inc();
      return;
  }
}

void ClientTransaction::handle_non_invite_response(core::Instant now, const MessageView& response, int status) {
  switch (state_) {
    case State::trying:
    case State::proceeding:
      if (status < 200) {
        state_ = State::proceeding;
        emit_response(response, status);
      } else {
        // §17.1.2.2: Completed, absorb retransmissions for Timer K.
        state_ = State::completed;
        retransmit_at_ = detail::kNever;
        timeout_at_ = detail::kNever;
        emit_response(response, status);
        if (is_reliable(transport_)) {
          terminate();
        } else {
          linger_at_ = now + timers_.t4;
        }
      }
      return;
    case State::completed:
      return;  // retransmitted final: absorbed
    default:
      kClientTxnBadResponses.inc();
      return;
  }
}

void ClientTransaction::handle_timeout(core::Instant now) {
  if (state_ == State::terminated) return;
  if (timeout_at_ <= now) {
    // Timer B / F (or no final response 64*T1 after the CANCEL, §9.1).
    kClientTxnTimeouts.inc();
    TxnEvent ev;
    ev.kind = TxnEvent::Kind::timeout;
    events_.push(std::move(ev));
    terminate();
    return;
  }
  if (linger_at_ <= now) {
    terminate();  // Timer D / K
    return;
  }
  if (retransmit_at_ <= now) {
    pending_ = Pending::request;
    if (is_invite()) {
      interval_ *= 2;  // §17.1.1.2: Timer A doubles, no cap (Timer B ends it)
    } else if (state_ == State::proceeding) {
      interval_ = timers_.t2;  // §17.1.2.2: T2 once a provisional came
    } else {
      interval_ = std::min(2 * interval_, timers_.t2);  // Timer E doubles up to T2
    }
    retransmit_at_ = now + interval_;
  }
}

void ClientTransaction::handle_transport_error(core::Instant) {
  if (state_ == State::terminated) return;
  TxnEvent ev;
  ev.kind = TxnEvent::Kind::transport_error;
  events_.push(std::move(ev));
  pending_ = Pending::none;
  terminate();
}

void ClientTransaction::cancel(core::Instant now) {
  if (!is_invite() || cancel_wanted_) return;
  if (state_ != State::calling && state_ != State::proceeding) return;
  cancel_wanted_ = true;
  // §9.1: the CANCEL must wait for a provisional response.
  if (state_ == State::proceeding) emit_cancel(now);
}

std::string ClientTransaction::make_cancel() const {
  if (!is_invite()) return {};
  MessageView req;
  if (parse_message(std::string_view(request_), req).status != ParseStatus::ok) return {};
  return write_ack_or_cancel(req, "CANCEL", req.value(HeaderId::to));
}

std::optional<std::string> ClientTransaction::poll_transmit() {
  const std::optional<std::string_view> v = poll_transmit_view();
  if (!v) return std::nullopt;
  return std::string(*v);
}

std::optional<std::string_view> ClientTransaction::poll_transmit_view() {
  const Pending p = std::exchange(pending_, Pending::none);
  switch (p) {
    case Pending::request: return std::string_view(request_);
    case Pending::ack:
      if (!ack_.empty()) return std::string_view(ack_);
      break;
    case Pending::none: break;
  }
  return std::nullopt;
}

std::optional<core::Instant> ClientTransaction::poll_timeout() const {
  const core::Instant t = std::min({retransmit_at_, timeout_at_, linger_at_});
  if (t == detail::kNever) return std::nullopt;
  return t;
}

void ClientTransaction::emit_response(const MessageView& response, int status) {
  last_status_ = status;
  TxnEvent ev;
  ev.kind = TxnEvent::Kind::response;
  ev.status = status;
  ev.message = std::make_unique<OwnedMessage>(response.raw());
  events_.push(std::move(ev));
}

void ClientTransaction::emit_cancel(core::Instant now) {
  cancel_emitted_ = true;
  TxnEvent ev;
  ev.kind = TxnEvent::Kind::cancel_ready;
  ev.request = make_cancel();
  events_.push(std::move(ev));
  timeout_at_ = now + timers_.timeout();  // §9.1: give up on a final response after 64*T1
}

void ClientTransaction::build_ack(const MessageView& response) {
  MessageView req;
  if (parse_message(std::string_view(request_), req).status != ParseStatus::ok) return;
  // §17.1.1.3: To from the response (it carries the tag), everything else from the request.
  ack_ = write_ack_or_cancel(req, "ACK", response.value(HeaderId::to));
}

void ClientTransaction::terminate() {
  state_ = State::terminated;
  retransmit_at_ = timeout_at_ = linger_at_ = detail::kNever;
  TxnEvent ev;
  ev.kind = TxnEvent::Kind::terminated;
  events_.push(std::move(ev));
}

}  // namespace webtrunk::sip
