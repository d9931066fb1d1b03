// WsConnection: the server side of one WebSocket connection, sans-IO (DESIGN.md "Sans-IO").
// It owns no socket and reads no clock. The shard feeds it received bytes, drains its events and
// sends its output:
//
//   conn.handle_bytes(now, received);                  // bytes straight from the receive buffer
//   while (auto ev = conn.poll_event()) handle(*ev);     // views in *ev die at the next call
//   send(conn.pending_output()); conn.consume_output(n); // as many bytes as the socket took
//   if (conn.wants_close() && conn.pending_output().empty()) close the socket;
//
// It does: the HTTP/1.1 upgrade (RFC 6455 §4.2, sub-protocol "sip" per RFC 7118 §4.1), plain HTTP
// requests on the same port (/healthz, /metrics), framing (§5), fragmentation, ping/pong, the
// close handshake (§7) and RFC 5626 §3.5.1 CRLF keep-alives sent inside text frames.
//
// Memory: nothing is buffered while a whole frame (or head) sits in the span given to
// handle_bytes; its payload is unmasked in place there and handed out as a view. Only the bytes
// of a partial frame, a fragmented message being reassembled and unsent output are copied, into
// vectors that are freed once drained. An idle connection holds no heap (see heap_bytes()).
//
// Errors never throw: bad input is answered (HTTP status or close code), counted in a metric and
// reported as an event. Running out of memory terminates, as everywhere on the data path.
//
// Lifetimes:
// - The span given to handle_bytes is read lazily by poll_event() and is modified in place
//   (unmasking, §5.3). It must stay valid until poll_event() returns nullopt or handle_bytes is
//   called again; bytes not consumed by then are copied.
// - Every string_view/span inside an event points into that span or into the connection's own
//   buffers, and is valid until the next call to poll_event() or handle_bytes().
// - pending_output() is valid until the next non-const call.
// - The WsConfig passed to the constructor must outlive the connection (one per listener/shard).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/clock.hpp"
#include "core/http_head.hpp"
#include "core/metrics.hpp"
#include "core/websocket_frame.hpp"

namespace webtrunk::core {

inline const Counter kWsUpgradesTotal{"webtrunk_ws_upgrades_total", "WebSocket upgrades accepted (101)"};
inline const Counter kWsUpgradeRejectsTotal{"webtrunk_ws_upgrade_rejects_total",
                                            "WebSocket upgrade requests refused (400, 403, 426, 503 while draining)"};
inline const Counter kWsOriginRejectsTotal{"webtrunk_ws_origin_rejects_total",
                                           "WebSocket upgrades refused by the origin policy (403)"};
inline const Counter kHttpBadRequestsTotal{"webtrunk_http_bad_requests_total",
                                           "HTTP request heads that failed to parse (400, 431, 505)"};
inline const Counter kHttpHeadTooLargeTotal{"webtrunk_http_head_too_large_total",
                                            "HTTP request heads over the size or header-count limit (431)"};
inline const Counter kWsProtocolErrorsTotal{"webtrunk_ws_protocol_errors_total",
                                            "WebSocket connections failed with 1002, 1007 or 1009"};
inline const Counter kWsMessagesTotal{"webtrunk_ws_messages_total", "WebSocket data messages received"};
inline const Counter kWsCrlfKeepalivesTotal{"webtrunk_ws_crlf_keepalives_total",
                                            "RFC 5626 CRLF keep-alives answered inside WebSocket frames"};

inline const Counter kWsClosedTooBigTotal{"webtrunk_ws_closed_too_big_total",
                                          "WebSocket connections closed 1009: a frame or message over the limit"};
inline const Counter kWsClosedSendQueueTotal{
    "webtrunk_ws_closed_send_queue_total",
    "WebSocket connections closed 1008: the peer did not read and its send queue reached the limit"};
inline const Counter kWsClosedPartialTimeoutTotal{
    "webtrunk_ws_closed_partial_timeout_total",
    "WebSocket connections closed 1008: a partial frame or fragmented message not finished in time"};
inline const Counter kWsClosedIdleTotal{"webtrunk_ws_closed_idle_total",
                                        "WebSocket connections closed 1008: no frame (not even a pong) in time"};
inline const Counter kWsPingsSentTotal{"webtrunk_ws_pings_sent_total", "WebSocket pings sent to idle peers"};
inline const Counter kWsControlRepliesSkippedTotal{
    "webtrunk_ws_control_replies_skipped_total",
    "pongs and CRLF keep-alive answers not sent because the peer does not read its output"};

// What a remote peer can make a connection hold, and for how long. Zero durations turn a timer off.
struct WsLimits {
  std::size_t max_head_bytes = 8192;      // larger request heads get 431
  std::size_t max_frame_bytes = 65536;    // larger frames get 1009
  std::size_t max_message_bytes = 65536;  // larger (reassembled) messages get 1009
  // Unsent output (ours plus the transport's backlog, see set_transport_backlog) beyond which the
  // connection is failed with 1008: a peer that sends requests and never reads the answers.
  std::size_t max_output_bytes = 1 << 20;
  // A partial frame or a fragmented message must be finished this long after its first byte
  // arrived, else 1008: each holds up to max_frame_bytes / max_message_bytes of heap.
  Duration partial_timeout = std::chrono::seconds(10);
  // After the upgrade: with nothing received for ping_interval a ping is sent (and again every
  // ping_interval); with nothing received for idle_timeout (a pong counts) the connection is
  // closed with 1008. Browsers answer pings by themselves (RFC 6455 §5.5.2), so only dead or
  // stalled peers time out.
  Duration ping_interval = std::chrono::seconds(30);
  Duration idle_timeout = std::chrono::seconds(120);
};

// What the origin policy sees. Views valid only during the call.
struct WsUpgradeRequest {
  std::string_view path;    // request-target, with the query (which may carry a token)
  std::string_view host;    // Host header ("" if absent)
  std::string_view origin;  // Origin header ("" if absent: not a browser)
};

struct WsConfig {
  WsLimits limits;
  // Called once per otherwise valid upgrade, on the data path: must not throw. False answers 403.
  // Empty: every origin is allowed.
  std::function<bool(const WsUpgradeRequest&)> origin_policy;
  // Called once per upgrade request: true answers 503 with Retry-After (the server is draining;
  // plain HTTP requests such as /healthz are still handed out). Empty: never.
  std::function<bool()> unavailable;
};

// The 101 was sent; frames flow from now on.
struct WsUpgraded {
  std::string_view path;
  std::string_view host;
  std::string_view origin;
  std::string_view subprotocol;  // always "sip" (RFC 7118)
};

// A whole data message (text is valid UTF-8). Fragments are reassembled first.
struct WsMessage {
  WsOpcode opcode = WsOpcode::text;  // text or binary
  std::span<const std::byte> payload;
  std::string_view text() const noexcept { return {reinterpret_cast<const char*>(payload.data()), payload.size()}; }
};

// The connection is finished: wants_close() is now true.
struct WsClosed {
  std::uint16_t code = kWsCloseNoStatus;
  std::string_view reason;
  bool remote = false;  // true: code/reason came from the peer's close frame; false: we failed it
};

// A request that is not a WebSocket upgrade. Answer it with send_http_response().
struct WsHttpRequest {
  std::string_view method;
  std::string_view target;
  std::string_view raw_head;  // the whole head: parse_request_head(raw_head, ...) for other headers
};

// The connection answered the request itself with an error status and will close.
struct WsRejected {
  int status = 400;
  std::string_view why;
};

using WsEvent = std::variant<WsUpgraded, WsMessage, WsClosed, WsHttpRequest, WsRejected>;

// Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 §4.2.2 step 5.4): base64(SHA-1(key + GUID)).
std::string ws_accept_key(std::string_view client_key);

class WsConnection {
 public:
  explicit WsConnection(const WsConfig& config) noexcept : config_(&config) {}
  WsConnection(const WsConnection&) = delete;
  WsConnection& operator=(const WsConnection&) = delete;
  WsConnection(WsConnection&&) noexcept = default;
  WsConnection& operator=(WsConnection&&) noexcept = default;

  // Takes received bytes (see the lifetimes above: read lazily, unmasked in place).
  void handle_bytes(Instant now, std::span<std::byte> bytes) noexcept;
  // Next event, or nullopt once the bytes given so far are used up.
  [[nodiscard]] std::optional<WsEvent> poll_event() noexcept;

  // Deadlines (partial message, ping, idle) once upgraded. Call at poll_timeout() (a later call is
  // fine): it may queue a ping, or fail the connection (then wants_close(), and a WsClosed event).
  void handle_timeout(Instant now) noexcept;
  [[nodiscard]] std::optional<Instant> poll_timeout() const noexcept;

  // Bytes the transport still holds from earlier pending_output() (sent to the socket layer but not
  // to the peer yet). The output limit counts them too; tell before handle_bytes and send_*.
  void set_transport_backlog(std::size_t bytes) noexcept { backlog_ = bytes; }

  // Bytes to send, in order. consume_output(n) after n of them went out.
  std::span<const std::byte> pending_output() const noexcept {
    return std::span<const std::byte>(out_).subspan(out_off_);
  }
  void consume_output(std::size_t n) noexcept;
  // True after the close handshake, a protocol error, or an HTTP response: close the socket once
  // pending_output() is empty. The shard applies its own timeout to a close() we started.
  bool wants_close() const noexcept { return state_ == State::closed; }
  bool is_open() const noexcept { return state_ == State::open; }
  Instant last_activity() const noexcept { return last_rx_; }

  // Data frames (unfragmented). False when the connection is not open (or is closing), or when the
  // frame would take the output past max_output_bytes: then the connection is failed with 1008
  // (wants_close(); a WsClosed event follows). The caller guarantees text is UTF-8.
  [[nodiscard]] bool send_text(std::span<const std::byte> text) noexcept;
  [[nodiscard]] bool send_text(std::string_view text) noexcept;
  [[nodiscard]] bool send_binary(std::span<const std::byte> data) noexcept;
  // Ping with up to 125 bytes of payload (§5.5.2); longer payloads are refused, and so is any ping
  // while the output is at max_output_bytes.
  [[nodiscard]] bool send_ping(std::span<const std::byte> payload = {}) noexcept;
  // Starts the close handshake (§7.1.2): sends close and waits for the peer's close. A code that
  // may not be sent (is_valid_close_code) is sent as 1000, a reason that is not UTF-8 is left out
  // and a long one is cut to 123 bytes. Before the upgrade it just closes.
  void close(std::uint16_t code, std::string_view reason = {}) noexcept;
  // Answers a WsHttpRequest; adds Content-Length and "Connection: close", then closes. False if no
  // request is waiting for an answer or a header is malformed.
  [[nodiscard]] bool send_http_response(int status, std::span<const HttpHeader> headers,
                                        std::string_view body) noexcept;

  // Heap held right now (all buffers' capacity), for benchmarks and memory accounting.
  std::size_t heap_bytes() const noexcept { return in_.capacity() + msg_.capacity() + out_.capacity(); }

 private:
  enum class State : std::uint8_t { http_head, http_request, open, closing, closed };
  enum class Got : std::uint8_t { frame, incomplete, error };

  std::optional<WsEvent> step_http();
  std::optional<WsEvent> on_head(const HttpRequestHead& head, std::string_view raw);
  std::optional<WsEvent> reject(int status, std::string_view why, std::string_view extra_header = {});
  Got next_frame(WsFrameHeader& h, std::span<std::byte>& payload, WsParseResult& err);
  bool top_up(std::size_t carried_target);
  std::optional<WsEvent> on_frame(const WsFrameHeader& h, std::span<std::byte> payload);
  std::optional<WsEvent> on_data(const WsFrameHeader& h, std::span<std::byte> payload);
  std::optional<WsEvent> on_close_frame(std::span<const std::byte> payload);
  WsEvent fail(std::uint16_t code, std::string_view why);
  WsClosed shut(std::uint16_t code, std::string_view why);
  bool output_room(std::size_t frame_bytes) const noexcept {
    return pending_output().size() + backlog_ + frame_bytes <= config_->limits.max_output_bytes;
  }
  bool append_data_frame(WsOpcode op, std::span<const std::byte> payload) noexcept;
  void note_partial() noexcept;
  void stash_input();
  void release_delivered() noexcept;
  void drop_input() noexcept;
  std::size_t carried() const noexcept { return in_.size() - in_off_; }

  const WsConfig* config_;
  std::byte* cur_ = nullptr;  // unread part of the span given to handle_bytes
  std::size_t cur_len_ = 0;
  std::vector<std::byte> in_;  // carried input (a partial head or frame); consumed up to in_off_
  std::size_t in_off_ = 0;
  std::vector<std::byte> msg_;  // fragmented message being reassembled (§5.4)
  std::vector<std::byte> out_;  // unsent output; sent up to out_off_
  std::size_t out_off_ = 0;
  Instant last_rx_{};
  std::optional<Instant> partial_since_;  // a partial frame or fragmented message began then
  Instant last_ping_{};                   // when we last sent a ping
  std::size_t backlog_ = 0;               // see set_transport_backlog
  std::optional<WsClosed> timed_out_;     // failed by handle_timeout; reported by poll_event
  State state_ = State::http_head;
  WsOpcode frag_opcode_ = WsOpcode::continuation;  // opcode of the message in msg_, continuation if none
  bool msg_delivered_ = false;                     // msg_ was handed out in the last event
  bool in_unparsed_ = false;                       // in_ holds head bytes step_http() has not looked at yet
  Utf8Validator utf8_;                             // across the fragments of a text message
};

}  // namespace webtrunk::core
