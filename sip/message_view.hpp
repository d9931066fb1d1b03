// MessageView: one parsed SIP message as views into the receive buffer (RFC 3261 §7).
//
// Lifetime: every std::string_view handed out here (start line parts, header names and values,
// the body) points into the bytes given to parse_message(). They are valid exactly as long as
// that receive buffer is alive and unmodified; copy what must outlive it.
//
// Only the start line and the header index (name, value, id) are built by the parser's single
// scan. Header values are parsed lazily, when used, by sip/header_parsers.hpp (Kamailio style).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace webtrunk::sip {

// Methods the edge knows by name. Method names are case-sensitive (RFC 3261 §7.1), so
// "invite" is an unknown method, as is "IN%56ITE" (RFC 4475 §3.1.1.2).
enum class Method : std::uint8_t {
  unknown,
  invite,
  ack,
  bye,
  cancel,
  register_,
  options,
  info,
  update,
  prack,
  subscribe,
  notify,
  refer,
  message,
  publish,
};

[[nodiscard]] Method method_from_text(std::string_view text) noexcept;
[[nodiscard]] std::string_view method_text(Method m) noexcept;  // "" for unknown

// Header fields the edge looks up by id. Names are case-insensitive and may arrive in compact
// form (RFC 3261 §7.3.3, §20; RFC 3515, 3841, 3892, 4028, 6665, 8224).
enum class HeaderId : std::uint8_t {
  unknown = 0,
  via,
  from,
  to,
  call_id,
  cseq,
  max_forwards,
  contact,
  route,
  record_route,
  content_length,
  content_type,
  content_encoding,
  content_disposition,
  expires,
  min_expires,
  session_expires,
  min_se,
  supported,
  require,
  proxy_require,
  unsupported,
  authorization,
  proxy_authorization,
  www_authenticate,
  proxy_authenticate,
  authentication_info,
  allow,
  allow_events,
  event,
  subscription_state,
  reason,
  subject,
  refer_to,
  referred_by,
  replaces,
  accept,
  accept_encoding,
  accept_language,
  accept_contact,
  reject_contact,
  request_disposition,
  user_agent,
  server,
  date,
  timestamp,
  retry_after,
  warning,
  identity,
  path,
  service_route,
  rseq,
  rack,
  p_asserted_identity,
  p_preferred_identity,
  privacy,
  organization,
  priority,
  in_reply_to,
  call_info,
  alert_info,
  error_info,
  reply_to,
  mime_version,
  content_language,
  count_,  // number of ids, not a header
};

inline constexpr std::size_t kHeaderIdCount = static_cast<std::size_t>(HeaderId::count_);

// Classifies a header name (long or compact form, any case). Unknown names give HeaderId::unknown.
[[nodiscard]] HeaderId header_id_from_name(std::string_view name) noexcept;
// The canonical long name, e.g. "Call-ID" for HeaderId::call_id; "" for unknown.
[[nodiscard]] std::string_view header_canonical_name(HeaderId id) noexcept;

// One header line of the index. `value` has its leading and trailing LWS removed; when the line
// was folded (RFC 3261 §7.3.1: CRLF followed by SP/HT), `folded` is set and the value still holds
// the raw CRLF+WS sequences: the lazy parsers treat them as LWS, sip::unfold() normalises them.
struct HeaderField {
  std::string_view name;
  std::string_view value;
  HeaderId id = HeaderId::unknown;
  bool folded = false;
};

class MessageView {
 public:
  // RFC 3261 gives no limit; 128 lines is far above anything JsSIP, SIP.js or a trunk sends
  // (a JsSIP INVITE has 14) and bounds the work an attacker can make us do per message.
  static constexpr std::size_t kMaxHeaders = 128;

  MessageView() noexcept { clear(); }

  void clear() noexcept;

  [[nodiscard]] bool is_request() const noexcept { return is_request_; }
  [[nodiscard]] bool is_response() const noexcept { return !is_request_ && !start_line_.empty(); }

  // Request line: Method SP Request-URI SP SIP-Version (RFC 3261 §7.1).
  [[nodiscard]] Method method() const noexcept { return method_; }
  [[nodiscard]] std::string_view method_text() const noexcept { return method_text_; }
  [[nodiscard]] std::string_view request_uri() const noexcept { return request_uri_; }
  // Status line: SIP-Version SP Status-Code SP Reason-Phrase (RFC 3261 §7.2).
  [[nodiscard]] int status_code() const noexcept { return status_code_; }
  [[nodiscard]] std::string_view reason_phrase() const noexcept { return reason_; }
  [[nodiscard]] std::string_view version() const noexcept { return version_; }
  [[nodiscard]] std::string_view start_line() const noexcept { return start_line_; }

  [[nodiscard]] std::span<const HeaderField> headers() const noexcept { return {headers_.data(), header_count_}; }
  // First header with this id, or nullptr. O(1).
  [[nodiscard]] const HeaderField* find(HeaderId id) const noexcept;
  // Next header with the same id after `after` (a pointer from headers()/find()), or nullptr.
  [[nodiscard]] const HeaderField* find_next(const HeaderField* after) const noexcept;
  // First header whose name matches case-insensitively (for extension headers).
  [[nodiscard]] const HeaderField* find(std::string_view name) const noexcept;
  [[nodiscard]] std::size_t count(HeaderId id) const noexcept;
  // The trimmed value of the first header with this id, "" when absent.
  [[nodiscard]] std::string_view value(HeaderId id) const noexcept;

  // The Content-Length value if the header was present (the parser checked it is one number).
  [[nodiscard]] std::optional<std::uint32_t> content_length() const noexcept;
  [[nodiscard]] std::string_view body() const noexcept { return body_; }
  // Exactly the bytes of this message (leading keep-alive CRLFs excluded), and of its header block
  // (start line through the empty line).
  [[nodiscard]] std::string_view raw() const noexcept { return raw_; }
  [[nodiscard]] std::string_view head() const noexcept { return head_; }

 private:
  friend class ParserAccess;

  std::string_view raw_;
  std::string_view head_;
  std::string_view start_line_;
  std::string_view method_text_;
  std::string_view request_uri_;
  std::string_view version_;
  std::string_view reason_;
  std::string_view body_;
  int status_code_ = 0;
  Method method_ = Method::unknown;
  bool is_request_ = false;
  bool has_content_length_ = false;
  std::uint32_t content_length_ = 0;
  std::size_t header_count_ = 0;
  std::array<std::uint8_t, kHeaderIdCount> first_{};  // index+1 of the first header per id, 0 = none
  std::array<HeaderField, kMaxHeaders> headers_;
};

}  // namespace webtrunk::sip
