// Message boundaries on a SIP byte stream (TCP or TLS, RFC 3261 §18.3): bytes go in as they arrive,
// whole messages come out. Content-Length is mandatory (the parser's stream framing), a message
// may not exceed `max_message` bytes (head and body), and CRLFs between messages are keep-alives
// (RFC 5626 §4.4.1): a double CRLF is a ping the caller answers with one CRLF (a pong), a single one
// is ignored, unless the caller sent a ping of its own and said so (expect_pong()): then the next
// single CRLF is that ping's pong (Kind::pong). Once a message is invalid the stream cannot be resynchronised: the framer stays in
// error and the caller closes the connection.
//
// Bounds: it holds at most `max_message` bytes plus what the last feed() brought (the caller feeds
// at most a receive buffer at a time and takes every message before the next feed).
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "sip/parser.hpp"

namespace webtrunk::sip {

class StreamFramer {
 public:
  enum class Kind { none, message, ping, pong, invalid };
  struct Next {
    Kind kind = Kind::none;
    std::string_view message;  // Kind::message: valid until the next call on the framer
    std::string_view reason;   // Kind::invalid: a static string ("Message too large", the parser's reason)
  };

  explicit StreamFramer(std::size_t max_message = kMaxMessageSize) noexcept
      : max_message_(max_message < kMaxMessageSize ? max_message : kMaxMessageSize) {}

  void feed(std::span<const std::byte> data);
  // The next event in the bytes fed so far; Kind::none: feed more. Call until none (or invalid).
  [[nodiscard]] Next next();
  // The caller sent a ping: the next lone CRLF is its pong, even at the end of what was fed (where
  // it could otherwise be the start of the peer's own ping).
  void expect_pong() noexcept { pong_expected_ = true; }
  // Bytes held: a partial message (and a message handed out by the last next()).
  std::size_t buffered() const noexcept { return buf_.size() - pos_; }
  bool failed() const noexcept { return failed_; }

 private:
  std::string buf_;
  std::size_t pos_ = 0;  // where the unread bytes start
  std::size_t max_message_;
  bool failed_ = false;
  bool pong_expected_ = false;
  std::string_view reason_;
};

}  // namespace webtrunk::sip
