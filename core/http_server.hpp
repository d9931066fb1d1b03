// A small HTTP/1.1 server for JSON APIs (the auth service, the customer servlet): request framing
// on top of core/http_head.hpp, and a TcpHandler glue that runs it on a Shard.
//
// Two layers, so the protocol is testable without sockets:
// - HttpServerConnection (sans-IO): bytes in (handle_bytes), complete requests out (next_request),
//   responses in (respond), bytes out (pending_output / consume_output), wants_close(). It frames
//   bodies by Content-Length or "Transfer-Encoding: chunked" (RFC 9112 §6.3, §7.1; node's http
//   client sends chunked by default); other transfer codings are answered 501. Both Transfer-Encoding and
//   Content-Length, or two different Content-Lengths, are 400 and close (request smuggling, RFC 9112
//   §6.3 items 3 and 5). A head over max_head_bytes is 431, a body over max_body_bytes is 413 (sent
//   as soon as the head announces it: the body is never read), a bad head 400 (505 for a version
//   other than 1.0/1.1). After an error response the connection closes and reads nothing more.
// - HttpServer (TcpHandler): feeds each connection's bytes to its HttpServerConnection, calls the
//   handler once per request in arrival order and sends the response (pipelining-safe: responses
//   leave in request order because the handler answers synchronously), closes idle connections
//   and ones that stall mid-request (slow-loris guard), and aborts a client that pipelines
//   requests without reading the responses (output queue over a cap).
//
// Keep-alive: HTTP/1.1 keeps the connection unless "Connection: close"; HTTP/1.0 closes unless
// "Connection: keep-alive" (RFC 9112 §9.3). "Expect: 100-continue" gets an interim 100 when the
// body has not arrived yet (curl sends it for bodies over 1 KiB).
//
// Lifetimes: an HttpRequest from next_request() holds views into the connection's input buffer;
// they stay valid until the next handle_bytes() or next_request() call. The handler passed to
// HttpServer gets a request valid for the duration of the call and returns an owned response.
// An HttpServer must outlive its listeners and every connection accepted through them (the Shard
// rule for TcpHandler).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/admission_control.hpp"
#include "core/clock.hpp"
#include "core/http_head.hpp"
#include "core/log_sampler.hpp"
#include "core/metrics.hpp"
#include "core/reactor.hpp"
#include "core/socket.hpp"

namespace webtrunk::core {

inline const Counter kHttpServerRequests{"webtrunk_http_server_requests_total", "HTTP requests handled (any status)"};
inline const Counter kHttpServerBadRequests{"webtrunk_http_server_refused_total",
                                            "HTTP requests refused while framing: 400/413/431/501/505"};
inline const Counter kHttpServerTimeouts{"webtrunk_http_server_timeouts_total",
                                         "HTTP connections closed idle or stalled mid-request"};
inline const Counter kHttpServerOverflows{"webtrunk_http_server_output_overflows_total",
                                          "HTTP connections aborted: responses piled up unread"};
inline const Gauge kHttpServerConnections{"webtrunk_http_server_connections", "open HTTP connections"};
inline const Counter kHttpServerConnRefused{
    "webtrunk_http_server_connections_refused_total",
    "HTTP connections refused at accept: too many from the source or the shard, or the source banned"};

struct HttpLimits {
  std::size_t max_head_bytes = kDefaultMaxHeadBytes;  // 431 beyond
  std::size_t max_body_bytes = 64 * 1024;             // 413 beyond
};

// One parsed request. Views (see the header comment for their lifetime).
struct HttpRequest {
  std::string_view method;
  std::string_view target;  // as sent
  std::string_view path;    // target up to '?', not decoded
  std::string_view query;   // after '?', not decoded ("" if none)
  int minor_version = 1;
  std::span<const HttpHeader> headers;
  std::string_view body;
  SockAddr peer;                // filled by HttpServer
  ConnId conn{};                // the connection it came on (HttpServer), e.g. to abort it later
  std::int64_t unix_time = 0;   // wall clock seconds when the request was handled (HttpServer)
  bool keep_alive = true;       // what the client asked for

  // First header named `name` (ASCII case-insensitive); nullopt if absent.
  std::optional<std::string_view> header(std::string_view name) const noexcept;
  // Value of `name` in the query string (application/x-www-form-urlencoded: '+' and %XX decoded);
  // nullopt if absent or badly encoded.
  std::optional<std::string> query_param(std::string_view name) const;
};

// An owned response. Content-Length (and Connection: close when closing) are added when written.
struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool close = false;  // close the connection after this response

  HttpResponse& set(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
  // The first header named `name` (ASCII case-insensitive), or nullptr.
  const std::string* find(std::string_view name) const noexcept;

  static HttpResponse with_body(int status, std::string content_type, std::string body);
  static HttpResponse json(int status, std::string body);
  static HttpResponse text(int status, std::string body);
  // {"error":"<code>","reason":"<reason>"} with Content-Type: application/json.
  static HttpResponse json_error(int status, std::string_view code, std::string_view reason);
};

// A JSON string literal (quotes included) for `s`: escapes '"', '\\', control characters, and '<'
// '>' (so it is also safe inside a <script> element).
std::string json_quote(std::string_view s);

// ---- CORS (Fetch standard, "CORS protocol") ----
// Adds "Vary: Origin" (the answer depends on it, so caches must key on it) and, when `allowed`,
// "Access-Control-Allow-Origin: <origin>" echoing the request's Origin (never '*', so a page that
// is not allowed cannot read the response).
void add_cors_headers(HttpResponse& resp, std::optional<std::string_view> origin, bool allowed);
// The answer to a preflight (OPTIONS with Access-Control-Request-Method): 204 with the allowed
// methods and request headers and a max age when `allowed`; 403 without any CORS header when not.
HttpResponse cors_preflight(std::optional<std::string_view> origin, bool allowed, std::string_view methods,
                            std::string_view request_headers, int max_age_s = 600);
bool is_cors_preflight(const HttpRequest& req) noexcept;

// ---- sans-IO connection ----
class HttpServerConnection {
 public:
  explicit HttpServerConnection(HttpLimits limits = {}) : limits_(limits) {}

  // Bytes from the peer, in order. Ignored once the connection is closing.
  void handle_bytes(std::span<const std::byte> data);
  // The next complete request, or nullopt (need more bytes, or an error was answered, or a
  // previous request has not been answered yet). Answer each with respond() before asking again.
  std::optional<HttpRequest> next_request();
  // Writes the response to the request last returned by next_request(). HEAD gets no body.
  void respond(const HttpResponse& resp);

  std::span<const std::byte> pending_output() const noexcept;
  void consume_output(std::size_t n) noexcept;
  // True once a response with close was written (or an error answered): close after the output.
  bool wants_close() const noexcept { return closing_; }
  // True while a request has started arriving but is not complete (stall timer).
  bool mid_request() const noexcept { return in_.size() > in_off_; }

 private:
  enum class ChunkState : std::uint8_t { size, data, data_end, trailer, done };
  struct ChunkStep {
    bool done = false;
    int status = 0;  // non-zero: refuse with this status
    std::string_view why;
  };
  ChunkStep decode_chunked(std::string_view rest);
  void fail(int status, std::string_view why);
  void write(const HttpResponse& resp, bool head_only, bool keep_alive);

  HttpLimits limits_;
  std::string in_;
  std::size_t in_off_ = 0;          // start of unconsumed input
  std::size_t pending_consume_ = 0; // bytes of the request handed out, dropped at the next call
  bool awaiting_response_ = false;
  bool head_only_ = false;
  bool keep_alive_ = true;
  bool sent_continue_ = false;
  bool closing_ = false;
  std::string out_;
  std::size_t out_off_ = 0;
  HttpRequestHead head_;
  struct {
    ChunkState state = ChunkState::size;
    std::size_t pos = 0;   // scan position in the bytes after the head
    std::size_t left = 0;  // bytes of the current chunk still to come
    std::size_t trailer_bytes = 0;
    std::string body;      // the decoded body (a chunked request's HttpRequest::body points here)
  } chunk_;
};

// ---- the glue on a Shard ----
struct HttpServerOptions {
  HttpLimits limits;
  Duration idle_timeout = std::chrono::seconds(60);     // keep-alive connection with nothing pending
  Duration request_timeout = std::chrono::seconds(10);  // a request started but not complete
  std::size_t max_output_bytes = 4 << 20;               // unread responses before the client is aborted
  // Who may connect (per source address and per shard, see core/admission_control.hpp); a refused
  // connection is closed right after accept. Only the connection counts are used here.
  AdmissionLimits admission;
  std::string server_name = "webtrunk";                 // "Server" header; empty: none
};

class HttpServer final : public TcpHandler {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  HttpServer(HttpServerOptions opts, Handler handler);
  ~HttpServer() override = default;

  // `tls` set: an https:// listener (see Shard::listen_tcp).
  Result<ListenerId> listen(Shard& shard, const SockAddr& addr, const TcpListenOptions& lo = {},
                            std::shared_ptr<const TlsContext> tls = nullptr);
  std::size_t open_connections() const noexcept { return open_; }

  bool on_accept(Shard& shard, ConnId id, const SockAddr& peer) override;
  void on_data(Shard& shard, ConnId id, std::span<const std::byte> data) override;
  void on_closed(Shard& shard, ConnId id, int reason) override;

 private:
  struct Entry {
    ConnId id;
    SockAddr peer;
    HttpServerConnection http;
    TimerHandle timer{};
    Instant last_activity{};
    Instant request_started{};
  };
  Entry* find(ConnId id) noexcept;
  void arm_timer(Shard& shard, Entry& e, Duration after);
  void on_timer(Shard& shard, ConnId id);
  void flush(Shard& shard, Entry& e);
  const std::string& date_header(std::int64_t unix_time);

  HttpServerOptions opts_;
  Handler handler_;
  AdmissionControl admission_{opts_.admission};
  LogSampler log_sampler_;  // refusals: one line per source per interval
  std::vector<std::optional<Entry>> conns_;  // by ConnId::index
  std::size_t open_ = 0;
  std::int64_t date_for_ = -1;
  std::string date_;
};

}  // namespace webtrunk::core
