#include "core/http_head.hpp"

#include <algorithm>

namespace webtrunk::core {
namespace {

// RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" /
// "`" / "|" / "~" / DIGIT / ALPHA
constexpr std::array<bool, 256> make_tchar_table() {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}
constexpr std::array<bool, 256> kTchar = make_tchar_table();

bool is_tchar(char c) noexcept { return kTchar[static_cast<unsigned char>(c)]; }
// Request-target (RFC 9112 §3.2): visible ASCII only. Browsers percent-encode everything else,
// so raw high bytes or controls here are an attack or a broken client.
bool is_target_char(char c) noexcept { return c > 0x20 && c < 0x7f; }
// field-value characters (RFC 9110 §5.5): VCHAR / obs-text / SP / HTAB. DEL and other controls,
// including a bare CR or LF, are invalid.
bool is_value_char(char c) noexcept {
  auto u = static_cast<unsigned char>(c);
  return (u >= 0x20 && u != 0x7f) || u == '\t';
}
bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }
char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c; }

std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

template <class Eq>
bool list_has(std::string_view list, std::string_view token, Eq eq) noexcept {
  while (!list.empty()) {
    auto comma = list.find(',');
    std::string_view item = trim_ows(list.substr(0, comma));
    if (eq(item, token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

// A cursor over the bytes parsed so far; running out of them is "need more", not an error.
struct Cursor {
  const char* p;
  const char* end;
};

enum class Step { ok, more, bad };

// Skips exactly one CRLF. A bare LF is refused: browsers send CRLF, and accepting both opens
// request-smuggling ambiguities with proxies in front of us.
Step eat_crlf(Cursor& c) noexcept {
  if (c.p == c.end) return Step::more;
  if (*c.p != '\r') return Step::bad;
  if (c.p + 1 == c.end) return Step::more;
  if (c.p[1] != '\n') return Step::bad;
  c.p += 2;
  return Step::ok;
}

// Matches `lit` against the available bytes; a mismatch is detected before the literal is whole.
Step eat_literal(Cursor& c, std::string_view lit) noexcept {
  for (char ch : lit) {
    if (c.p == c.end) return Step::more;
    if (*c.p != ch) return Step::bad;
    ++c.p;
  }
  return Step::ok;
}

struct Outcome {
  Step step;
  HttpError error;
};

Outcome parse_request_line(Cursor& c, HttpRequestHead& out) noexcept {
  // RFC 9112 §2.2: ignore empty lines before the request-line (some clients send a CRLF after a body).
  while (c.p != c.end && *c.p == '\r') {
    Step s = eat_crlf(c);
    if (s != Step::ok) return {s, HttpError::bad_request};
  }
  // RFC 9112 §3: request-line = method SP request-target SP HTTP-version CRLF
  const char* start = c.p;
  while (c.p != c.end && is_tchar(*c.p)) ++c.p;
  if (c.p == c.end) return {Step::more, HttpError::none};
  if (*c.p != ' ' || c.p == start) return {Step::bad, HttpError::bad_request};
  out.method = {start, static_cast<std::size_t>(c.p - start)};
  ++c.p;

  start = c.p;
  while (c.p != c.end && is_target_char(*c.p)) ++c.p;
  if (c.p == c.end) return {Step::more, HttpError::none};
  if (*c.p != ' ' || c.p == start) return {Step::bad, HttpError::bad_request};
  out.target = {start, static_cast<std::size_t>(c.p - start)};
  ++c.p;

  // HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 9112 §2.3).
  if (Step s = eat_literal(c, "HTTP/"); s != Step::ok) return {s, HttpError::bad_request};
  if (c.end - c.p < 3) {
    // Check what is there so that garbage is refused early.
    for (const char* q = c.p; q != c.end; ++q) {
      bool digit = *q >= '0' && *q <= '9';
      if ((q - c.p == 1) ? *q != '.' : !digit) return {Step::bad, HttpError::bad_request};
    }
    return {Step::more, HttpError::none};
  }
  const char major = c.p[0], dot = c.p[1], minor = c.p[2];
  if (major < '0' || major > '9' || dot != '.' || minor < '0' || minor > '9') {
    return {Step::bad, HttpError::bad_request};
  }
  if (major != '1' || minor > '1') return {Step::bad, HttpError::bad_version};
  out.minor_version = minor - '0';
  c.p += 3;
  Step s = eat_crlf(c);
  return {s, s == Step::bad ? HttpError::bad_request : HttpError::none};
}

Outcome parse_header_fields(Cursor& c, HttpRequestHead& out) noexcept {
  out.header_count = 0;
  for (;;) {
    if (c.p == c.end) return {Step::more, HttpError::none};
    if (*c.p == '\r') {
      Step s = eat_crlf(c);  // the empty line that ends the head
      return {s, s == Step::bad ? HttpError::bad_request : HttpError::none};
    }
    // RFC 9112 §5.2: obs-fold (a line starting with whitespace) may be rejected with 400; we do.
    // RFC 9112 §5.1: no whitespace is allowed between the field name and the colon.
    const char* start = c.p;
    while (c.p != c.end && is_tchar(*c.p)) ++c.p;
    if (c.p == c.end) return {Step::more, HttpError::none};
    if (*c.p != ':' || c.p == start) return {Step::bad, HttpError::bad_request};
    std::string_view name{start, static_cast<std::size_t>(c.p - start)};
    ++c.p;

    start = c.p;
    while (c.p != c.end && *c.p != '\r') {
      if (!is_value_char(*c.p)) return {Step::bad, HttpError::bad_request};
      ++c.p;
    }
    std::string_view value{start, static_cast<std::size_t>(c.p - start)};
    if (Step s = eat_crlf(c); s != Step::ok) return {s, s == Step::bad ? HttpError::bad_request : HttpError::none};
    if (out.header_count == kMaxHttpHeaders) return {Step::bad, HttpError::too_many_headers};
    out.header_storage[out.header_count++] = HttpHeader{name, trim_ows(value)};
  }
}

template <class Buffer>
bool append_head(Buffer& out, int status, std::string_view reason, std::span<const HttpHeader> headers) {
  auto clean = [](std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return is_value_char(c); });
  };
  if (status < 100 || status > 999 || !clean(reason)) return false;
  for (const HttpHeader& h : headers) {
    if (h.name.empty() || !std::all_of(h.name.begin(), h.name.end(), is_tchar) || !clean(h.value)) return false;
  }
  auto put = [&out](std::string_view s) {
    const auto* b = reinterpret_cast<const typename Buffer::value_type*>(s.data());
    out.insert(out.end(), b, b + s.size());
  };
  const char code[4] = {static_cast<char>('0' + status / 100), static_cast<char>('0' + status / 10 % 10),
                        static_cast<char>('0' + status % 10), ' '};
  put("HTTP/1.1 ");
  put({code, 4});
  put(reason);
  put("\r\n");
  for (const HttpHeader& h : headers) {
    put(h.name);
    put(": ");
    put(h.value);
    put("\r\n");
  }
  put("\r\n");
  return true;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

bool list_has_token(std::string_view list, std::string_view token) noexcept { return list_has(list, token, iequals); }

bool list_has_token_exact(std::string_view list, std::string_view token) noexcept {
  return list_has(list, token, [](std::string_view a, std::string_view b) { return a == b; });
}

std::optional<std::string_view> HttpRequestHead::find(std::string_view name) const noexcept {
  for (const HttpHeader& h : headers()) {
    if (iequals(h.name, name)) return h.value;
  }
  return std::nullopt;
}

bool HttpRequestHead::has_token(std::string_view name, std::string_view token) const noexcept {
  // A list-valued field may be split over several lines (RFC 9110 §5.3), so look at all of them.
  for (const HttpHeader& h : headers()) {
    if (iequals(h.name, name) && list_has_token(h.value, token)) return true;
  }
  return false;
}

HttpParseResult parse_request_head(std::span<const std::byte> bytes, HttpRequestHead& out,
                                   std::size_t max_head_bytes) noexcept {
  const char* begin = reinterpret_cast<const char*>(bytes.data());
  const bool capped = bytes.size() >= max_head_bytes;
  Cursor c{begin, begin + (capped ? max_head_bytes : bytes.size())};

  Outcome o = parse_request_line(c, out);
  if (o.step == Step::ok) o = parse_header_fields(c, out);
  switch (o.step) {
    case Step::ok:
      return {ParseStatus::ok, HttpError::none, static_cast<std::size_t>(c.p - begin)};
    case Step::bad:
      return {ParseStatus::invalid, o.error, 0};
    case Step::more:
      break;
  }
  // Out of bytes. If that is because of the cap, more bytes cannot help: the head is too large.
  if (capped) return {ParseStatus::invalid, HttpError::too_large, 0};
  return {ParseStatus::incomplete, HttpError::none, 0};
}

HttpParseResult parse_request_head(std::string_view text, HttpRequestHead& out, std::size_t max_head_bytes) noexcept {
  return parse_request_head(std::span<const std::byte>(reinterpret_cast<const std::byte*>(text.data()), text.size()),
                            out, max_head_bytes);
}

int http_status_for(HttpError error) noexcept {
  switch (error) {
    case HttpError::too_large:
    case HttpError::too_many_headers:
      return 431;  // RFC 6585 §5
    case HttpError::bad_version:
      return 505;
    case HttpError::none:
    case HttpError::bad_request:
      break;
  }
  return 400;
}

std::string_view http_reason_phrase(int status) noexcept {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";  // RFC 9110 §15.5.14
    case 415:
      return "Unsupported Media Type";
    case 426:
      return "Upgrade Required";
    case 429:
      return "Too Many Requests";  // RFC 6585 §4
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "";
  }
}

bool append_response_head(std::string& out, int status, std::string_view reason, std::span<const HttpHeader> headers) {
  return append_head(out, status, reason, headers);
}

bool append_response_head(std::vector<std::byte>& out, int status, std::string_view reason,
                          std::span<const HttpHeader> headers) {
  return append_head(out, status, reason, headers);
}

}  // namespace webtrunk::core
