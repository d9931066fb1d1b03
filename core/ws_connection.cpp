#include "core/ws_connection.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>

#include "core/base64.hpp"

namespace webtrunk::core {
namespace {

// RFC 6455 §1.3: the GUID appended to the key before hashing.
constexpr std::string_view kWsGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
constexpr std::string_view kSubprotocol = "sip";  // RFC 7118 §4.1
// Drained buffers are freed, not kept: an idle connection then holds no heap at all, and glibc's
// per-thread cache makes the next small allocation cheap.
void release(std::vector<std::byte>& v) noexcept { std::vector<std::byte>().swap(v); }

std::span<const std::byte> bytes_of(std::string_view s) noexcept {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

// RFC 5626 §3.5.1 keep-alive: a client "ping" is CRLFCRLF, answered with a CRLF "pong". Some SIP
// stacks send them inside WebSocket text frames; they are not SIP messages.
bool is_crlf_keepalive(std::span<const std::byte> payload) noexcept {
  std::string_view s{reinterpret_cast<const char*>(payload.data()), payload.size()};
  return s == "\r\n\r\n" || s == "\r\n";
}

bool offers_sip(const HttpRequestHead& head) noexcept {
  // The header may be repeated (RFC 6455 §11.3.4); names are compared exactly, since the browser
  // checks that the echoed value is one it offered, byte for byte.
  for (const HttpHeader& h : head.headers()) {
    if (iequals(h.name, "Sec-WebSocket-Protocol") && list_has_token_exact(h.value, kSubprotocol)) return true;
  }
  return false;
}

bool valid_key(std::string_view key) noexcept {
  // §4.2.1 item 5: "a base64-encoded value that, when decoded, is 16 bytes in length".
  std::array<std::byte, 18> raw;
  auto n = base64_decode_to(key, raw);
  return n && *n == 16;
}

}  // namespace

std::string ws_accept_key(std::string_view client_key) {
  std::string input;
  input.reserve(client_key.size() + kWsGuid.size());
  input.append(client_key).append(kWsGuid);
  std::array<std::byte, 20> digest{};
  unsigned int len = 0;
  if (EVP_Digest(input.data(), input.size(), reinterpret_cast<unsigned char*>(digest.data()), &len, EVP_sha1(),
                 nullptr) != 1 ||
      len != digest.size()) {
    return {};
  }
  return base64_encode(digest);
}

void WsConnection::handle_bytes(Instant now, std::span<std::byte> bytes) noexcept {
  last_rx_ = now;
  release_delivered();
  if (state_ == State::closed || state_ == State::http_request) return;  // nothing more is read
  stash_input();  // the caller did not drain the previous span: keep its unread bytes
  cur_ = bytes.data();
  cur_len_ = bytes.size();
}

std::optional<WsEvent> WsConnection::poll_event() noexcept {
  release_delivered();
  if (timed_out_) {
    const WsClosed c = *timed_out_;
    timed_out_.reset();
    return c;
  }
  for (;;) {
    switch (state_) {
      case State::closed:
      case State::http_request:
        drop_input();
        return std::nullopt;
      case State::http_head:
        return step_http();  // an event, or nullopt when more bytes are needed
      case State::open:
      case State::closing: {
        WsFrameHeader h;
        std::span<std::byte> payload;
        WsParseResult err;
        switch (next_frame(h, payload, err)) {
          case Got::incomplete:
            note_partial();
            return std::nullopt;
          case Got::error:
            return fail(err.close_code, err.why);
          case Got::frame: {
            auto ev = on_frame(h, payload);
            if (frag_opcode_ == WsOpcode::continuation) partial_since_.reset();  // no message left open
            if (ev) return ev;
            break;  // a control frame handled internally; look at the next one
          }
        }
        break;
      }
    }
  }
}

std::optional<WsEvent> WsConnection::step_http() {
  const std::size_t max = config_->limits.max_head_bytes;
  HttpRequestHead head;
  HttpParseResult r;
  std::string_view raw;
  if (carried() == 0) {
    // Zero-copy: the whole head is usually in one segment.
    if (cur_len_ == 0) return std::nullopt;
    r = parse_request_head(std::span<const std::byte>(cur_, cur_len_), head, max);
    if (r.status == ParseStatus::incomplete) {
      stash_input();
      in_unparsed_ = false;
      return std::nullopt;
    }
    if (r.status == ParseStatus::ok) {
      raw = {reinterpret_cast<const char*>(cur_), r.consumed};
      cur_ += r.consumed;
      cur_len_ -= r.consumed;
    }
  } else {
    // Carried: append what may belong to the head, but never more than the limit.
    const std::size_t have = carried();
    const std::size_t added = std::min(cur_len_, have < max ? max - have : 0);
    const bool has_lf = added > 0 && std::memchr(cur_, '\n', added) != nullptr;
    // Grow by doubling but never past the limit, so a head costs at most max_head_bytes of heap.
    if (in_.size() + added > in_.capacity()) {
      in_.reserve(std::min(std::max(in_.capacity() * 2, in_.size() + added), std::max(max, in_.size() + added)));
    }
    in_.insert(in_.end(), cur_, cur_ + added);
    cur_ += added;
    cur_len_ -= added;
    // A head can only end, or be found bad, where a line ends; re-parse only then, so a sender
    // dribbling one byte at a time costs O(lines), not O(bytes), full parses.
    if (!has_lf && !in_unparsed_ && carried() < max) return std::nullopt;
    in_unparsed_ = false;
    r = parse_request_head(std::span<const std::byte>(in_.data() + in_off_, carried()), head, max);
    if (r.status == ParseStatus::incomplete) return std::nullopt;
    if (r.status == ParseStatus::ok) {
      // Bytes after the head came from the span just appended: give them back to it, so frames
      // that follow are still parsed in place.
      const std::size_t excess = std::min(carried() - r.consumed, added);
      cur_ -= excess;
      cur_len_ += excess;
      in_.resize(in_.size() - excess);  // shrinking keeps the storage, so the views stay valid
      raw = {reinterpret_cast<const char*>(in_.data() + in_off_), r.consumed};
      in_off_ += r.consumed;
    }
  }
  if (r.status == ParseStatus::invalid) {
    kHttpBadRequestsTotal.inc();
    const int status = http_status_for(r.error);
    if (status == 431) kHttpHeadTooLargeTotal.inc();
    return reject(status, status == 431 ? "request head too large" : "malformed request head");
  }
  return on_head(head, raw);
}

std::optional<WsEvent> WsConnection::on_head(const HttpRequestHead& head, std::string_view raw) {
  if (!head.has_token("Upgrade", "websocket")) {
    state_ = State::http_request;
    drop_input();  // a body or a pipelined request is not read: we answer once and close
    return WsHttpRequest{head.method, head.target, raw};
  }
  // RFC 6455 §4.2.1: what an opening handshake must hold; anything else gets an error status.
  auto refuse = [this](int status, std::string_view why, std::string_view extra = {}) {
    kWsUpgradeRejectsTotal.inc();
    return reject(status, why, extra);
  };
  if (config_->unavailable && config_->unavailable()) {
    return refuse(503, "shutting down: connect to another server", "Retry-After: 5");
  }
  if (head.method != "GET") return refuse(400, "WebSocket upgrade must be a GET");
  if (head.minor_version < 1) return refuse(400, "WebSocket upgrade needs HTTP/1.1");
  if (!head.has_token("Connection", "upgrade")) return refuse(400, "Connection header lacks the upgrade token");
  const auto version = head.find("Sec-WebSocket-Version");
  if (!version || *version != "13") {
    // §4.4: answer 426 listing the versions we speak.
    return refuse(426, "unsupported Sec-WebSocket-Version (need 13)", "Sec-WebSocket-Version: 13");
  }
  const auto key = head.find("Sec-WebSocket-Key");
  if (!key || !valid_key(*key)) return refuse(400, "Sec-WebSocket-Key is not 16 bytes of base64");
  const auto host = head.find("Host");
  if (!host) return refuse(400, "missing Host header");
  const std::string_view origin = head.find("Origin").value_or(std::string_view{});
  if (config_->origin_policy && !config_->origin_policy(WsUpgradeRequest{head.target, *host, origin})) {
    kWsOriginRejectsTotal.inc();
    return refuse(403, "origin not allowed");
  }
  // RFC 7118 §4.1: the client MUST offer "sip"; without it this is not a SIP client.
  if (!offers_sip(head)) return refuse(400, "Sec-WebSocket-Protocol must offer sip (RFC 7118)");

  // §4.2.2: 101 with the accept hash and the chosen sub-protocol. No Sec-WebSocket-Extensions:
  // permessage-deflate is declined, which is why RSV1 must stay 0 (§5.2).
  const std::string accept = ws_accept_key(*key);
  const std::array<HttpHeader, 4> headers{{{"Upgrade", "websocket"},
                                           {"Connection", "Upgrade"},
                                           {"Sec-WebSocket-Accept", accept},
                                           {"Sec-WebSocket-Protocol", kSubprotocol}}};
  static_cast<void>(append_response_head(out_, 101, http_reason_phrase(101), headers));
  state_ = State::open;
  kWsUpgradesTotal.inc();
  return WsUpgraded{head.target, *host, origin, kSubprotocol};
}

std::optional<WsEvent> WsConnection::reject(int status, std::string_view why, std::string_view extra_header) {
  std::array<char, 24> len{};
  const auto [end, ec] = std::to_chars(len.data(), len.data() + len.size(), why.size() + 1);
  static_cast<void>(ec);
  std::array<HttpHeader, 4> headers{{{"Content-Type", "text/plain; charset=utf-8"},
                                     {"Content-Length", std::string_view(len.data(), end)},
                                     {"Connection", "close"}}};
  std::size_t n = 3;
  if (!extra_header.empty()) {
    const auto colon = extra_header.find(':');
    headers[n++] = HttpHeader{extra_header.substr(0, colon), extra_header.substr(colon + 2)};
  }
  static_cast<void>(
      append_response_head(out_, status, http_reason_phrase(status), std::span<const HttpHeader>(headers.data(), n)));
  const auto body = bytes_of(why);
  out_.insert(out_.end(), body.begin(), body.end());
  out_.push_back(std::byte{'\n'});
  state_ = State::closed;
  drop_input();
  return WsRejected{status, why};
}

// Finds the next whole frame: in place in the caller's span when it is all there, else by
// collecting its bytes in in_. Header errors are found before any payload byte is buffered.
WsConnection::Got WsConnection::next_frame(WsFrameHeader& h, std::span<std::byte>& payload, WsParseResult& err) {
  WsFrameRules rules;
  rules.max_payload = config_->limits.max_frame_bytes;
  if (carried() == 0) {
    if (cur_len_ == 0) return Got::incomplete;
    err = parse_frame_header(std::span<const std::byte>(cur_, cur_len_), rules, h);
    if (err.status == ParseStatus::invalid) return Got::error;
    if (err.status == ParseStatus::ok && h.frame_size() <= cur_len_) {
      payload = {cur_ + h.header_size, static_cast<std::size_t>(h.payload_size)};
      cur_ += h.frame_size();
      cur_len_ -= static_cast<std::size_t>(h.frame_size());
      return Got::frame;
    }
    // Reserve the exact frame size once (bounded by max_frame_bytes), then keep the partial bytes.
    if (err.status == ParseStatus::ok) in_.reserve(in_.size() + static_cast<std::size_t>(h.frame_size()));
    stash_input();
    return Got::incomplete;
  }
  for (;;) {
    err = parse_frame_header(std::span<const std::byte>(in_.data() + in_off_, carried()), rules, h);
    if (err.status == ParseStatus::invalid) return Got::error;
    if (err.status == ParseStatus::ok) break;
    if (cur_len_ == 0) return Got::incomplete;
    top_up(err.needed);
  }
  const auto total = static_cast<std::size_t>(h.frame_size());
  if (in_.capacity() < in_off_ + total) in_.reserve(in_off_ + total);
  if (!top_up(total)) return Got::incomplete;
  payload = {in_.data() + in_off_ + h.header_size, static_cast<std::size_t>(h.payload_size)};
  in_off_ += total;
  return Got::frame;
}

bool WsConnection::top_up(std::size_t target) {
  const std::size_t have = carried();
  if (have >= target) return true;
  const std::size_t take = std::min(target - have, cur_len_);
  in_.insert(in_.end(), cur_, cur_ + take);
  cur_ += take;
  cur_len_ -= take;
  return carried() >= target;
}

std::optional<WsEvent> WsConnection::on_frame(const WsFrameHeader& h, std::span<std::byte> payload) {
  if (h.masked) ws_unmask(payload, h.mask);
  switch (h.opcode) {
    case WsOpcode::ping:
      // §5.5.2: answer with a pong carrying the same data. Not after our close (§5.5.1), and not
      // while unsent output piles up: §5.5.3 lets us answer only the latest of several pings.
      if (state_ == State::open) {
        if (output_room(payload.size() + kWsMaxServerHeader)) {
          append_server_frame(out_, WsOpcode::pong, payload);
        } else {
          kWsControlRepliesSkippedTotal.inc();
        }
      }
      return std::nullopt;
    case WsOpcode::pong:
      return std::nullopt;  // §5.5.3: unsolicited pongs need no answer
    case WsOpcode::close:
      return on_close_frame(payload);
    case WsOpcode::continuation:
    case WsOpcode::text:
    case WsOpcode::binary:
      break;
  }
  return on_data(h, payload);
}

std::optional<WsEvent> WsConnection::on_data(const WsFrameHeader& h, std::span<std::byte> payload) {
  if (state_ == State::closing) return std::nullopt;  // §7.1.2: we said goodbye; data is discarded
  const WsLimits& lim = config_->limits;
  WsOpcode op = h.opcode;
  std::span<const std::byte> message = payload;
  if (op == WsOpcode::continuation) {
    // §5.4: continuation frames only continue a message that a text/binary frame with FIN=0 began.
    if (frag_opcode_ == WsOpcode::continuation) return fail(kWsCloseProtocolError, "continuation without a message");
    if (msg_.size() + payload.size() > lim.max_message_bytes) return fail(kWsCloseTooBig, "message too large");
    msg_.insert(msg_.end(), payload.begin(), payload.end());
    // §8.1: fail a text message at the first fragment that cannot be UTF-8.
    if (frag_opcode_ == WsOpcode::text && !utf8_.feed(payload)) {
      return fail(kWsCloseInvalidPayload, "text message is not UTF-8");
    }
    if (!h.fin) return std::nullopt;
    op = frag_opcode_;
    frag_opcode_ = WsOpcode::continuation;
    msg_delivered_ = true;  // msg_ is freed at the next call, after the caller used the view
    message = msg_;
  } else {
    // §5.4: the fragments of one message are not interleaved with another message's.
    if (frag_opcode_ != WsOpcode::continuation) {
      return fail(kWsCloseProtocolError, "new message inside a fragmented message");
    }
    if (payload.size() > lim.max_message_bytes) return fail(kWsCloseTooBig, "message too large");
    if (op == WsOpcode::text) {
      utf8_.reset();
      if (!utf8_.feed(payload)) return fail(kWsCloseInvalidPayload, "text message is not UTF-8");
    }
    if (!h.fin) {
      frag_opcode_ = op;
      msg_.assign(payload.begin(), payload.end());
      return std::nullopt;
    }
  }
  if (op == WsOpcode::text) {
    if (!utf8_.complete()) return fail(kWsCloseInvalidPayload, "text message is not UTF-8");
    if (is_crlf_keepalive(message)) {
      kWsCrlfKeepalivesTotal.inc();
      if (output_room(2 + kWsMaxServerHeader)) {
        append_server_frame(out_, WsOpcode::text, bytes_of("\r\n"));
      } else {
        kWsControlRepliesSkippedTotal.inc();
      }
      return std::nullopt;
    }
  }
  kWsMessagesTotal.inc();
  return WsMessage{op, message};
}

std::optional<WsEvent> WsConnection::on_close_frame(std::span<const std::byte> payload) {
  std::uint16_t code = kWsCloseNoStatus;
  std::string_view reason;
  if (const std::uint16_t err = parse_close_payload(payload, code, reason); err != 0) {
    return fail(err, err == kWsCloseInvalidPayload ? "close reason is not UTF-8" : "malformed close frame");
  }
  // §5.5.1: answer a close we did not start with a close, echoing the code (1000 if there was none).
  if (state_ == State::open) append_close_frame(out_, code == kWsCloseNoStatus ? kWsCloseNormal : code, {});
  state_ = State::closed;
  cur_len_ = 0;  // §5.5.1: nothing after a close is application data. in_ is freed at the next call.
  return WsClosed{code, reason, true};
}

WsEvent WsConnection::fail(std::uint16_t code, std::string_view why) {
  kWsProtocolErrorsTotal.inc();
  if (code == kWsCloseTooBig) kWsClosedTooBigTotal.inc();
  return shut(code, why);
}

WsClosed WsConnection::shut(std::uint16_t code, std::string_view why) {
  // §7.1.7 "Fail the WebSocket Connection": send a close with the code, then close the socket. The
  // close frame is queued even past max_output_bytes: it is small, and a peer that reads gets it.
  if (state_ == State::open) append_close_frame(out_, code, why);
  state_ = State::closed;
  cur_len_ = 0;
  frag_opcode_ = WsOpcode::continuation;
  partial_since_.reset();
  return WsClosed{code, why, false};
}

void WsConnection::note_partial() noexcept {
  if (carried() == 0 && frag_opcode_ == WsOpcode::continuation) {
    partial_since_.reset();
  } else if (!partial_since_) {
    partial_since_ = last_rx_;  // the bytes that began it arrived with the latest handle_bytes
  }
}

void WsConnection::handle_timeout(Instant now) noexcept {
  if (state_ != State::open || timed_out_) return;  // closing: the shard times the handshake out
  const WsLimits& lim = config_->limits;
  if (partial_since_ && lim.partial_timeout > Duration::zero() && now - *partial_since_ >= lim.partial_timeout) {
    kWsClosedPartialTimeoutTotal.inc();
    timed_out_ = shut(kWsClosePolicy, "message not finished in time");
    return;
  }
  if (lim.idle_timeout > Duration::zero() && now - last_rx_ >= lim.idle_timeout) {
    kWsClosedIdleTotal.inc();
    timed_out_ = shut(kWsClosePolicy, "idle timeout");
    return;
  }
  // §5.5.2: a ping the peer must answer; its pong (or anything else) moves last_rx_.
  if (lim.ping_interval > Duration::zero() && now - last_rx_ >= lim.ping_interval &&
      now - last_ping_ >= lim.ping_interval) {
    last_ping_ = now;
    if (output_room(kWsMaxServerHeader)) {
      append_server_frame(out_, WsOpcode::ping, {});
      kWsPingsSentTotal.inc();
    }
  }
}

std::optional<Instant> WsConnection::poll_timeout() const noexcept {
  if (state_ != State::open || timed_out_) return std::nullopt;
  const WsLimits& lim = config_->limits;
  std::optional<Instant> at;
  auto earliest = [&at](Instant t) {
    if (!at || t < *at) at = t;
  };
  if (partial_since_ && lim.partial_timeout > Duration::zero()) earliest(*partial_since_ + lim.partial_timeout);
  if (lim.idle_timeout > Duration::zero()) earliest(last_rx_ + lim.idle_timeout);
  if (lim.ping_interval > Duration::zero()) earliest(std::max(last_rx_, last_ping_) + lim.ping_interval);
  return at;
}

void WsConnection::stash_input() {
  if (cur_len_ == 0) return;
  in_.insert(in_.end(), cur_, cur_ + cur_len_);
  cur_len_ = 0;
  in_unparsed_ = true;
}

void WsConnection::release_delivered() noexcept {
  // Views handed out by the previous event die here (see the header), so their storage may go.
  if (state_ == State::closed || state_ == State::http_request) {
    release(in_);  // nothing more is read
    in_off_ = 0;
  } else if (in_off_ > 0) {
    if (in_off_ == in_.size()) {
      release(in_);
    } else {
      in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(in_off_));
    }
    in_off_ = 0;
  }
  // A delivered message, or one that will never be finished because we are closing.
  if (msg_delivered_ || (state_ != State::open && msg_.capacity() != 0)) {
    release(msg_);
    msg_delivered_ = false;
  }
}

void WsConnection::drop_input() noexcept { cur_len_ = 0; }

void WsConnection::consume_output(std::size_t n) noexcept {
  out_off_ += std::min(n, out_.size() - out_off_);
  if (out_off_ == out_.size()) {
    release(out_);
    out_off_ = 0;
  } else if (out_off_ > 4096 && out_off_ > out_.size() / 2) {
    // A slow reader: drop the sent prefix so the buffer does not grow without end.
    out_.erase(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(out_off_));
    out_off_ = 0;
  }
}

bool WsConnection::append_data_frame(WsOpcode op, std::span<const std::byte> payload) noexcept {
  if (state_ != State::open) return false;
  if (!output_room(payload.size() + kWsMaxServerHeader)) {
    kWsClosedSendQueueTotal.inc();
    timed_out_ = shut(kWsClosePolicy, "send queue full: the peer does not read");
    return false;
  }
  append_server_frame(out_, op, payload);
  return true;
}

bool WsConnection::send_text(std::span<const std::byte> text) noexcept {
  return append_data_frame(WsOpcode::text, text);
}

bool WsConnection::send_text(std::string_view text) noexcept { return send_text(bytes_of(text)); }

bool WsConnection::send_binary(std::span<const std::byte> data) noexcept {
  return append_data_frame(WsOpcode::binary, data);
}

bool WsConnection::send_ping(std::span<const std::byte> payload) noexcept {
  if (state_ != State::open || payload.size() > kWsMaxControlPayload) return false;
  if (!output_room(payload.size() + kWsMaxServerHeader)) return false;  // the peer is not reading anyway
  append_server_frame(out_, WsOpcode::ping, payload);
  return true;
}

void WsConnection::close(std::uint16_t code, std::string_view reason) noexcept {
  switch (state_) {
    case State::open:
      // The peer fails the connection on a reason that is not UTF-8 (§5.5.1), so drop such a reason.
      append_close_frame(out_, is_valid_close_code(code) ? code : kWsCloseNormal,
                         is_valid_utf8(reason) ? reason : std::string_view{});
      state_ = State::closing;                // wait for the peer's close (§7.1.2); the shard times out
      frag_opcode_ = WsOpcode::continuation;  // msg_ goes at the next call: a view may still use it
      break;
    case State::http_head:
    case State::http_request:
      state_ = State::closed;
      drop_input();
      break;
    case State::closing:
    case State::closed:
      break;
  }
}

bool WsConnection::send_http_response(int status, std::span<const HttpHeader> headers, std::string_view body) noexcept {
  if (state_ != State::http_request) return false;
  std::array<char, 24> len{};
  const auto [end, ec] = std::to_chars(len.data(), len.data() + len.size(), body.size());
  static_cast<void>(ec);
  std::vector<HttpHeader> all(headers.begin(), headers.end());
  all.push_back({"Content-Length", std::string_view(len.data(), end)});
  all.push_back({"Connection", "close"});
  std::string_view reason = http_reason_phrase(status);
  if (!append_response_head(out_, status, reason.empty() ? "Unknown" : reason, all)) return false;
  const auto bytes = bytes_of(body);
  out_.insert(out_.end(), bytes.begin(), bytes.end());
  state_ = State::closed;
  return true;
}

}  // namespace webtrunk::core
