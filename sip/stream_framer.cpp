#include "sip/stream_framer.hpp"

namespace webtrunk::sip {

void StreamFramer::feed(std::span<const std::byte> data) {
  if (failed_ || data.empty()) return;
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > 0 && pos_ >= buf_.size() / 2) {
    buf_.erase(0, pos_);  // keep the partial message at the front; amortised by the half rule
    pos_ = 0;
  }
  buf_.append(reinterpret_cast<const char*>(data.data()), data.size());
}

StreamFramer::Next StreamFramer::next() {
  if (failed_) return {Kind::invalid, {}, reason_};
  // Keep-alives between messages: CRLFCRLF is a ping, a lone CRLF is the pong to our ping when one
  // is expected, else padding (dropped).
  for (;;) {
    const std::string_view rest(buf_.data() + pos_, buf_.size() - pos_);
    if (rest.starts_with("\r\n\r\n")) {
      pos_ += 4;
      return {Kind::ping, {}, {}};
    }
    const bool pong = pong_expected_ && rest.starts_with("\r\n");
    if (!pong && rest.size() < 4 && std::string_view("\r\n\r\n").starts_with(rest)) return {};  // maybe a ping's start
    if (!rest.starts_with("\r\n")) break;
    pos_ += 2;  // a lone CRLF
    if (pong) {
      pong_expected_ = false;
      return {Kind::pong, {}, {}};
    }
  }
  const std::string_view rest(buf_.data() + pos_, buf_.size() - pos_);
  MessageView view;
  ParseOptions opts;
  opts.framing = Framing::stream;
  opts.max_message_size = max_message_;
  const ParseResult r = parse_message(std::as_bytes(std::span<const char>(rest.data(), rest.size())), view, opts);
  if (r.status == ParseStatus::ok) {
    pos_ += r.consumed;
    return {Kind::message, rest.substr(0, r.consumed), {}};
  }
  if (r.status == ParseStatus::incomplete && rest.size() <= max_message_) return {};
  failed_ = true;
  reason_ = r.status == ParseStatus::incomplete ? std::string_view("Message too large") : r.reason;
  buf_ = {};
  pos_ = 0;
  return {Kind::invalid, {}, reason_};
}

}  // namespace webtrunk::sip
