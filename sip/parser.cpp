#include "sip/parser.hpp"

#include <cstring>

#include "core/metrics.hpp"
#include "sip/text.hpp"

namespace webtrunk::sip {

namespace {

const core::Counter kParseInvalid{"webtrunk_sip_parse_invalid_total",
                                  "SIP messages rejected by the parser (malformed framing, start line or header line)"};

// A NUL not escaped by a backslash (an odd run of backslashes right before it).
bool has_bare_nul(std::string_view v) noexcept {
  for (std::size_t i = v.find('\0'); i != std::string_view::npos; i = v.find('\0', i + 1)) {
    std::size_t slashes = 0;
    while (slashes < i && v[i - 1 - slashes] == '\\') ++slashes;
    if (slashes % 2 == 0) return true;
  }
  return false;
}

// `m` keeps what was indexed so far (see parser.hpp): enough, for a request, to answer 400.
ParseResult fail(MessageView& m, std::string_view reason) noexcept {
  (void)m;
  kParseInvalid.inc();
  return {ParseStatus::invalid, reason, 0};
}

ParseResult need_more(MessageView& m) noexcept {
  m.clear();
  return {ParseStatus::incomplete, {}, 0};
}

// SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT (RFC 3261 §7.1; ABNF literals are case-insensitive).
// Whether it is 2.0 is checked by validate_request(), which answers 505.
bool is_version(std::string_view v) noexcept {
  if (v.size() < 7 || !text::iequals(v.substr(0, 4), "SIP/")) return false;
  v.remove_prefix(4);
  const std::size_t dot = v.find('.');
  if (dot == 0 || dot == std::string_view::npos || dot + 1 == v.size()) return false;
  for (std::size_t i = 0; i < v.size(); ++i)
    if (i != dot && !text::is_digit(v[i])) return false;
  return true;
}

// Request-URI = SIP-URI / SIPS-URI / absoluteURI: a scheme, ":", then no SP, CTL, "<", ">" or DQUOTE
// (RFC 3261 §25.1, RFC 3986 §2). This rejects "<sip:...>" (RFC 4475 §3.1.2.7) at parse time; which
// schemes we serve is validate_request()'s business (416).
bool is_request_uri(std::string_view uri) noexcept {
  if (uri.empty() || !text::is_alpha(uri[0])) return false;
  std::size_t i = 1;
  while (i < uri.size() && (text::is_alnum(uri[i]) || uri[i] == '+' || uri[i] == '-' || uri[i] == '.')) ++i;
  if (i >= uri.size() || uri[i] != ':' || i + 1 == uri.size()) return false;
  for (char c : uri)
    if (!text::is_uri_char(c)) return false;
  return true;
}

}  // namespace

class ParserAccess {
 public:
  static ParseResult parse(const char* begin, std::size_t size, MessageView& m, ParseOptions opt) noexcept;

 private:
  static bool start_line(std::string_view line, MessageView& m, std::string_view& why) noexcept;
};

bool ParserAccess::start_line(std::string_view line, MessageView& m, std::string_view& why) noexcept {
  m.start_line_ = line;
  if (line.size() >= 4 && text::iequals(line.substr(0, 4), "SIP/")) {
    // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase CRLF (RFC 3261 §7.2)
    const std::size_t sp = line.find(' ');
    if (sp == std::string_view::npos || !is_version(line.substr(0, sp))) {
      why = "Malformed status line";
      return false;
    }
    m.version_ = line.substr(0, sp);
    std::string_view rest = line.substr(sp + 1);
    // Status-Code = 3DIGIT: "4294967301" is not a status code (RFC 4475 §3.1.2.19).
    if (rest.size() < 3 || !text::is_digit(rest[0]) || !text::is_digit(rest[1]) || !text::is_digit(rest[2]) ||
        (rest.size() > 3 && rest[3] != ' ')) {
      why = "Bad status code";
      return false;
    }
    const int code = (rest[0] - '0') * 100 + (rest[1] - '0') * 10 + (rest[2] - '0');
    if (code < 100 || code > 699) {
      why = "Bad status code";
      return false;
    }
    m.status_code_ = code;
    // An empty Reason-Phrase is fine ("SIP/2.0 100 ", RFC 4475 §3.1.1.13), so is UTF-8 (§3.1.1.12).
    m.reason_ = rest.size() > 4 ? rest.substr(4) : std::string_view{};
    m.is_request_ = false;
    return true;
  }
  // Request-Line = Method SP Request-URI SP SIP-Version CRLF, exactly one SP each (RFC 3261 §7.1):
  // extra or trailing SP is malformed (RFC 4475 §3.1.2.8-10).
  const std::size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) {
    why = "Malformed request line";
    return false;
  }
  const std::string_view method = line.substr(0, sp1);
  if (!text::is_token(method)) {
    why = "Bad method";
    return false;
  }
  const std::string_view rest = line.substr(sp1 + 1);
  const std::size_t sp2 = rest.find(' ');
  if (sp2 == std::string_view::npos || sp2 == 0 || !is_version(rest.substr(sp2 + 1))) {
    why = "Malformed request line";
    return false;
  }
  const std::string_view uri = rest.substr(0, sp2);
  if (!is_request_uri(uri)) {
    why = "Bad Request-URI";
    return false;
  }
  m.method_text_ = method;
  m.method_ = method_from_text(method);
  m.request_uri_ = uri;
  m.version_ = rest.substr(sp2 + 1);
  m.is_request_ = true;
  return true;
}

ParseResult ParserAccess::parse(const char* begin, std::size_t size, MessageView& m, ParseOptions opt) noexcept {
  m.clear();
  const bool stream = opt.framing == Framing::stream;
  const std::size_t max_size = opt.max_message_size < kMaxMessageSize ? opt.max_message_size : kMaxMessageSize;
  if (!stream && size > max_size) return fail(m, "Message too large");
  const char* const end = begin + size;
  const char* p = begin;
  while (p < end && (*p == '\r' || *p == '\n')) ++p;  // RFC 3261 §7.5, RFC 5626 keep-alives
  if (p == end) {
    if (stream) return need_more(m);
    m.clear();
    return {ParseStatus::invalid, "Empty message", 0};  // a datagram keep-alive, not counted
  }
  const char* const msg_begin = p;
  // On a stream the buffer may hold later messages too; this one's head must fit the limit.
  const char* const scan_end =
      static_cast<std::size_t>(end - msg_begin) > max_size ? msg_begin + max_size : end;

  // Finds the '\n' ending the physical line that starts at `from`. nullptr with `why` set when
  // there is none: the line is too long, the message too large, or the bytes end first (`why`
  // stays empty then: incomplete on a stream, truncated on a datagram).
  auto find_eol = [&](const char* from, std::string_view& why) noexcept -> const char* {
    const std::size_t avail = static_cast<std::size_t>(scan_end - from);
    const std::size_t span = avail < kMaxLineLength + 1 ? avail : kMaxLineLength + 1;
    const void* nl = std::memchr(from, '\n', span);
    if (nl != nullptr) return static_cast<const char*>(nl);
    if (span == kMaxLineLength + 1) why = "Line too long";
    else if (scan_end != end) why = "Message too large";
    return nullptr;
  };
  auto end_of_bytes = [&](std::string_view why) noexcept -> ParseResult {
    if (!why.empty()) return fail(m, why);
    return stream ? need_more(m) : fail(m, "Truncated message");
  };

  std::string_view why;
  const char* nl = find_eol(p, why);
  if (nl == nullptr) return end_of_bytes(why);
  {
    const char* line_end = (nl > p && nl[-1] == '\r') ? nl - 1 : nl;
    if (!start_line({p, static_cast<std::size_t>(line_end - p)}, m, why)) {
      m.clear();  // neither a request nor a response: nothing to answer
      return fail(m, why);
    }
  }
  p = nl + 1;

  // Content-Length and NUL-byte errors are reported once the whole head is indexed, so the 400 can
  // copy it all.
  std::string_view head_error;
  const char* head_end = nullptr;
  while (head_end == nullptr) {
    if (p >= scan_end) {
      if (scan_end != end) return fail(m, "Message too large");
      if (stream) return need_more(m);
      head_end = p;  // a datagram may end right after its last header line
      break;
    }
    if (*p == '\n') {
      head_end = p + 1;
      break;
    }
    if (*p == '\r') {
      if (p + 1 == end) {
        if (stream) return need_more(m);
        head_end = end;
        break;
      }
      if (p[1] != '\n') return fail(m, "Malformed header line");
      head_end = p + 2;
      break;
    }
    if (text::is_ws(*p)) return fail(m, "Malformed header line");  // a fold with no header before it

    const char* const line_start = p;
    nl = find_eol(p, why);
    if (nl == nullptr) return end_of_bytes(why);
    bool folded = false;
    // RFC 3261 §7.3.1: a line starting with SP/HT continues the previous header line.
    for (;;) {
      if (nl + 1 == end && stream) return need_more(m);  // cannot tell yet whether a fold follows
      if (nl + 1 >= scan_end || !text::is_ws(nl[1])) break;
      folded = true;
      nl = find_eol(nl + 1, why);
      if (nl == nullptr) return end_of_bytes(why);
    }

    // header-name HCOLON: HCOLON = *( SP / HTAB ) ":" SWS (RFC 3261 §25.1)
    const char* q = line_start;
    while (q < nl && text::is_token_char(*q)) ++q;
    const std::string_view name{line_start, static_cast<std::size_t>(q - line_start)};
    while (q < nl && text::is_ws(*q)) ++q;
    if (name.empty() || q >= nl || *q != ':') return fail(m, "Malformed header line");
    ++q;
    const std::string_view value = text::trim_lws({q, static_cast<std::size_t>(nl - q)});
    // RFC 3261 §25.1: a NUL is allowed in a header value only as a quoted-pair ("\" %x00 inside a
    // quoted string, RFC 4475 §3.1.1.3 has one); a bare NUL matches no production, and C code
    // downstream (logs, trunks) would cut the value there.
    if (head_error.empty() && has_bare_nul(value)) head_error = "NUL byte in header value";

    if (m.header_count_ == MessageView::kMaxHeaders) return fail(m, "Too many headers");
    const HeaderId id = header_id_from_name(name);
    HeaderField& h = m.headers_[m.header_count_++];
    h.name = name;
    h.value = value;
    h.id = id;
    h.folded = folded;
    const auto idx = static_cast<std::size_t>(id);
    if (id != HeaderId::unknown && m.first_[idx] == 0) m.first_[idx] = static_cast<std::uint8_t>(m.header_count_);

    if (id == HeaderId::content_length) {
      // Framing depends on it, so it is checked here: one value, digits only (RFC 4475 §3.1.2.3, §3.3.9).
      std::uint64_t cl = 0;
      if (m.has_content_length_) {
        if (head_error.empty()) head_error = "Multiple Content-Length";
      } else if (!text::parse_uint(value, 0xFFFFFFFFu, cl)) {
        if (head_error.empty()) head_error = "Bad Content-Length";
      } else {
        m.has_content_length_ = true;
        m.content_length_ = static_cast<std::uint32_t>(cl);
      }
    }
    p = nl + 1;
  }

  if (!head_error.empty()) return fail(m, head_error);
  const std::size_t head_len = static_cast<std::size_t>(head_end - msg_begin);
  const std::size_t avail = static_cast<std::size_t>(end - head_end);
  std::size_t body_len = avail;
  if (stream) {
    // RFC 3261 §18.3: on a stream, Content-Length MUST be present and delimits the message.
    if (!m.has_content_length_) return fail(m, "Missing Content-Length");
    if (head_len + m.content_length_ > max_size) return fail(m, "Message too large");
    if (avail < m.content_length_) return need_more(m);
    body_len = m.content_length_;
  } else if (m.has_content_length_) {
    // RFC 3261 §18.3: a datagram shorter than Content-Length is discarded (400); longer ones lose the
    // extra octets.
    if (m.content_length_ > avail) return fail(m, "Content-Length larger than message");
    body_len = m.content_length_;
  }
  m.head_ = {msg_begin, head_len};
  m.body_ = {head_end, body_len};
  m.raw_ = {msg_begin, head_len + body_len};
  return {ParseStatus::ok, {}, static_cast<std::size_t>(head_end - begin) + body_len};
}

ParseResult parse_message(std::span<const std::byte> bytes, MessageView& out, ParseOptions options) noexcept {
  return ParserAccess::parse(reinterpret_cast<const char*>(bytes.data()), bytes.size(), out, options);
}

std::size_t leading_crlf(std::span<const std::byte> bytes) noexcept {
  std::size_t n = 0;
  while (n < bytes.size() && (bytes[n] == std::byte{'\r'} || bytes[n] == std::byte{'\n'})) ++n;
  return n;
}

}  // namespace webtrunk::sip
