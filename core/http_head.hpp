// HTTP/1.1 request-head parser (RFC 9112 §2-§5), picohttpparser style, and a response-head writer.
// The parser copies nothing: every string_view in HttpRequestHead points into the caller's buffer
// and lives exactly as long as that buffer does. It reads no byte past bytes.size(), and it tells
// "incomplete" (wait for more bytes) apart from "invalid" (answer 400, or 431 when too large).
// It exists for the WebSocket upgrade (RFC 6455 §4.2.1) and the /healthz, /metrics endpoints on
// the same listener, so it parses the head only: bodies are not read.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace webtrunk::core {

enum class ParseStatus { ok, incomplete, invalid };

// Why a head is invalid; the server maps it to a status code with http_status_for().
enum class HttpError : std::uint8_t {
  none,
  bad_request,       // 400: syntax (request line, header field, obs-fold, control characters)
  bad_version,       // 505: a well-formed version other than HTTP/1.0 or HTTP/1.1
  too_large,         // 431: no end of head within max_head_bytes
  too_many_headers,  // 431: more than kMaxHttpHeaders fields
};

inline constexpr std::size_t kMaxHttpHeaders = 32;
inline constexpr std::size_t kDefaultMaxHeadBytes = 8192;

struct HttpHeader {
  std::string_view name;
  std::string_view value;  // without leading or trailing whitespace (RFC 9112 §5.1 OWS)
};

struct HttpRequestHead {
  std::string_view method;
  std::string_view target;  // request-target as sent: path and query, not decoded
  int minor_version = 1;    // HTTP/1.<minor_version>: 0 or 1
  std::array<HttpHeader, kMaxHttpHeaders> header_storage{};
  std::size_t header_count = 0;

  std::span<const HttpHeader> headers() const noexcept { return {header_storage.data(), header_count}; }
  // First field named `name` (ASCII case-insensitive, RFC 9110 §5.1); nullopt when absent.
  std::optional<std::string_view> find(std::string_view name) const noexcept;
  // Whether any field named `name` lists `token` in its comma-separated value, e.g.
  // has_token("Connection", "upgrade") for "Connection: keep-alive, Upgrade" (RFC 9110 §5.6.1).
  bool has_token(std::string_view name, std::string_view token) const noexcept;
};

struct HttpParseResult {
  ParseStatus status = ParseStatus::incomplete;
  HttpError error = HttpError::none;  // set when status == invalid
  std::size_t consumed = 0;           // head length including the final CRLF, when status == ok
};

// Parses one request head from the start of `bytes`. Leading empty lines are skipped
// (RFC 9112 §2.2). A head longer than max_head_bytes is invalid with HttpError::too_large as soon
// as that many bytes have arrived without its end, so a slow sender cannot make us buffer more.
// On `ok`, `out` holds views into `bytes`; on other results its contents are unspecified.
[[nodiscard]] HttpParseResult parse_request_head(std::span<const std::byte> bytes, HttpRequestHead& out,
                                                 std::size_t max_head_bytes = kDefaultMaxHeadBytes) noexcept;
[[nodiscard]] HttpParseResult parse_request_head(std::string_view text, HttpRequestHead& out,
                                                 std::size_t max_head_bytes = kDefaultMaxHeadBytes) noexcept;

// ASCII case-insensitive equality (header names, tokens).
bool iequals(std::string_view a, std::string_view b) noexcept;
// Whether the comma-separated `list` holds `token` (ASCII case-insensitive, OWS around elements).
bool list_has_token(std::string_view list, std::string_view token) noexcept;
// Same, comparing case-sensitively (e.g. WebSocket subprotocol names, RFC 6455 §4.1).
bool list_has_token_exact(std::string_view list, std::string_view token) noexcept;

// The status an HTTP server answers for a parse error: 400, 431 or 505.
int http_status_for(HttpError error) noexcept;
// Standard reason phrase for the statuses this edge sends ("" for others).
std::string_view http_reason_phrase(int status) noexcept;

// Appends "HTTP/1.1 <status> <reason>\r\n", each "name: value\r\n", then the empty line.
// The caller adds Content-Length itself when it sends a body. Returns false (and appends
// nothing) when status is outside 100..999 or a name, value or reason holds CR, LF or another
// control character: that would let a value inject headers (response splitting).
[[nodiscard]] bool append_response_head(std::string& out, int status, std::string_view reason,
                                        std::span<const HttpHeader> headers);
[[nodiscard]] bool append_response_head(std::vector<std::byte>& out, int status, std::string_view reason,
                                        std::span<const HttpHeader> headers);

}  // namespace webtrunk::core
