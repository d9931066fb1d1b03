// The zero-copy SIP message parser (RFC 3261 §7, §18.3, §25).
//
// One scan finds the start line, the header lines (name, value, id) and the body. Nothing is
// copied and no header value is parsed beyond what framing needs (Content-Length); values are
// parsed lazily by sip/header_parsers.hpp. The parser never reads outside `bytes`.
//
// Lifetime: the views written into `out` point into `bytes` and live as long as the receive
// buffer does. `ParseResult::reason` is a static string.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

#include "sip/message_view.hpp"

namespace webtrunk::sip {

enum class ParseStatus { ok, incomplete, invalid };

// How message boundaries are found (RFC 3261 §18.3).
enum class Framing {
  // UDP datagram or WebSocket message (RFC 7118 §5): the buffer is the whole message. The body is
  // the rest of the buffer; a Content-Length larger than that is invalid, a smaller one wins and the
  // extra octets are discarded (RFC 4475 §3.1.1.8).
  datagram,
  // TCP/TLS byte stream: Content-Length is mandatory and delimits the body; `incomplete` means
  // "read more and call again with the longer buffer".
  stream,
};

// Limits that bound the work a peer can cause. A JsSIP INVITE is ~2 kB; Chrome offers with video
// reach 8 kB; 64 KiB leaves room for SDP with many candidates while staying one UDP datagram.
inline constexpr std::size_t kMaxMessageSize = 64 * 1024;
inline constexpr std::size_t kMaxLineLength = 8 * 1024;  // start line or one physical header line

struct ParseOptions {
  Framing framing = Framing::datagram;
  // Whole message (head and body). Configurable (research/features.md §2.7); anything above
  // kMaxMessageSize is treated as kMaxMessageSize.
  std::size_t max_message_size = kMaxMessageSize;
};

struct ParseResult {
  ParseStatus status = ParseStatus::invalid;
  // For `invalid`: why, fit for a "400 <reason>" reason phrase. Static storage.
  std::string_view reason;
  // For `ok`: how many bytes of `bytes` this message used, keep-alive CRLFs before it included.
  // On a stream the next message starts there; on a datagram the rest is discarded.
  std::size_t consumed = 0;
};

// On `ok`, `out` describes the message. On `incomplete`, `out` is cleared. On `invalid`, `out`
// keeps the start line and the header lines indexed before the error (all of them when the
// error is about Content-Length or the body), with body() and raw() empty: when out.is_request()
// and it has a Via, the edge can still answer "400 <reason>" with make_response(). Nothing else
// about an invalid message is reliable.
[[nodiscard]] ParseResult parse_message(std::span<const std::byte> bytes, MessageView& out,
                                        ParseOptions options = {}) noexcept;

[[nodiscard]] inline ParseResult parse_message(std::string_view text, MessageView& out,
                                               ParseOptions options = {}) noexcept {
  return parse_message(std::span<const std::byte>(reinterpret_cast<const std::byte*>(text.data()), text.size()),
                       out, options);
}

// The number of CR/LF octets at the start of `bytes`: RFC 5626 §4.4.1 keep-alives on a stream
// ("\r\n\r\n" ping, "\r\n" pong) and the CRLFs RFC 3261 §7.5 says to ignore before a start line.
[[nodiscard]] std::size_t leading_crlf(std::span<const std::byte> bytes) noexcept;

}  // namespace webtrunk::sip
