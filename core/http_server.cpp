#include "core/http_server.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <ctime>
#include <exception>

#include "core/bytes.hpp"
#include "core/log.hpp"

namespace webtrunk::core {
namespace {

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded value: '+' is a space, %XX a byte. nullopt on a bad escape.
std::optional<std::string> form_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = hex_value(s[i + 1]);
      const int lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// Content-Length = 1*DIGIT (RFC 9110 §8.6). nullopt for anything else, including overflow.
std::optional<std::size_t> parse_length(std::string_view v) noexcept {
  if (v.empty() || v.size() > 18) return std::nullopt;
  std::size_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size()) return std::nullopt;
  return n;
}

bool bodiless_status(int status) noexcept { return (status >= 100 && status < 200) || status == 204 || status == 304; }

}  // namespace

// ---- request and response ----

std::optional<std::string_view> HttpRequest::header(std::string_view name) const noexcept {
  for (const HttpHeader& h : headers) {
    if (iequals(h.name, name)) return h.value;
  }
  return std::nullopt;
}

std::optional<std::string> HttpRequest::query_param(std::string_view name) const {
  std::string_view q = query;
  while (!q.empty()) {
    const std::size_t amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
    const std::size_t eq = pair.find('=');
    auto key = form_decode(pair.substr(0, eq));
    if (!key || *key != name) continue;
    return form_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
  }
  return std::nullopt;
}

const std::string* HttpResponse::find(std::string_view name) const noexcept {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) return &v;
  }
  return nullptr;
}

HttpResponse HttpResponse::with_body(int status, std::string content_type, std::string body) {
  HttpResponse r;
  r.status = status;
  r.set("Content-Type", std::move(content_type));
  r.body = std::move(body);
  return r;
}

HttpResponse HttpResponse::json(int status, std::string body) {
  return with_body(status, "application/json", std::move(body));
}

HttpResponse HttpResponse::text(int status, std::string body) {
  return with_body(status, "text/plain; charset=utf-8", std::move(body));
}

HttpResponse HttpResponse::json_error(int status, std::string_view code, std::string_view reason) {
  return json(status, fmt::format("{{\"error\":{},\"reason\":{}}}", json_quote(code), json_quote(reason)));
}

std::string json_quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (u < 0x20 || u == 0x7f || c == '<' || c == '>') {
      // '<' and '>' too, so the text is also safe inside a <script> element (JSONP-style output).
      out += fmt::format("\\u{:04x}", u);
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

// ---- CORS ----

void add_cors_headers(HttpResponse& resp, std::optional<std::string_view> origin, bool allowed) {
  resp.set("Vary", "Origin");
  if (origin && allowed) resp.set("Access-Control-Allow-Origin", std::string(*origin));
}

HttpResponse cors_preflight(std::optional<std::string_view> origin, bool allowed, std::string_view methods,
                            std::string_view request_headers, int max_age_s) {
  if (!origin || !allowed) {
    HttpResponse r = HttpResponse::json_error(403, "origin_not_allowed", "this page's origin may not call this service");
    r.set("Vary", "Origin");
    return r;
  }
  HttpResponse r;
  r.status = 204;
  add_cors_headers(r, origin, true);
  r.set("Access-Control-Allow-Methods", std::string(methods));
  r.set("Access-Control-Allow-Headers", std::string(request_headers));
  r.set("Access-Control-Max-Age", std::to_string(max_age_s));
  return r;
}

bool is_cors_preflight(const HttpRequest& req) noexcept {
  return req.method == "OPTIONS" && req.header("Origin") && req.header("Access-Control-Request-Method");
}

// ---- sans-IO connection ----

void HttpServerConnection::handle_bytes(std::span<const std::byte> data) {
  if (closing_) return;
  in_.append(as_text(data));
}

std::optional<HttpRequest> HttpServerConnection::next_request() {
  if (closing_ || awaiting_response_) return std::nullopt;
  // The previous request's views are dead now: drop its bytes, and compact once the consumed
  // prefix is at least half the buffer (amortised O(1) per byte under pipelining).
  if (pending_consume_ > 0) chunk_ = {};  // the next request starts with a fresh chunk decoder
  in_off_ += std::exchange(pending_consume_, 0);
  if (in_off_ == in_.size()) {
    in_.clear();
    in_off_ = 0;
  } else if (in_off_ > 0 && in_off_ * 2 >= in_.size()) {
    in_.erase(0, in_off_);
    in_off_ = 0;
  }
  const std::string_view avail(in_.data() + in_off_, in_.size() - in_off_);
  if (avail.empty()) return std::nullopt;

  const HttpParseResult r = parse_request_head(avail, head_, limits_.max_head_bytes);
  if (r.status == ParseStatus::incomplete) return std::nullopt;
  if (r.status == ParseStatus::invalid) {
    const int status = http_status_for(r.error);
    fail(status, status == 431 ? "request head too large" : status == 505 ? "HTTP version not supported"
                                                                        : "malformed request head");
    return std::nullopt;
  }

  // Body framing, RFC 9112 §6.3.
  std::optional<std::size_t> length;
  std::optional<std::string_view> te;
  for (const HttpHeader& h : head_.headers()) {
    if (iequals(h.name, "Transfer-Encoding")) {
      if (te) {
        fail(501, "only \"Transfer-Encoding: chunked\" is supported");
        return std::nullopt;
      }
      te = h.value;
    } else if (iequals(h.name, "Content-Length")) {
      auto n = parse_length(h.value);
      if (!n || (length && *length != *n)) {
        fail(400, "bad Content-Length");
        return std::nullopt;
      }
      length = n;
    }
  }
  if (te && length) {
    fail(400, "both Transfer-Encoding and Content-Length");
    return std::nullopt;
  }
  if (te && !iequals(*te, "chunked")) {
    // gzip and friends would need a decoder and a decompression-bomb guard; nobody sends them.
    fail(501, "only \"Transfer-Encoding: chunked\" is supported");
    return std::nullopt;
  }
  const std::size_t body_len = length.value_or(0);
  if (body_len > limits_.max_body_bytes) {
    fail(413, fmt::format("request body larger than {} bytes", limits_.max_body_bytes));
    return std::nullopt;
  }
  const std::string_view rest = avail.substr(r.consumed);
  bool complete = rest.size() >= body_len;
  if (te) {
    const ChunkStep step = decode_chunked(rest);
    if (step.status != 0) {
      fail(step.status, step.why);
      return std::nullopt;
    }
    complete = step.done;
  }
  if (!complete) {
    // RFC 9110 §10.1.1: a client that waits for 100 before sending the body gets it now.
    if (!sent_continue_ && head_.minor_version == 1) {
      if (auto e = head_.find("Expect"); e && iequals(*e, "100-continue")) {
        out_.append(kContinue);
        sent_continue_ = true;
      }
    }
    return std::nullopt;
  }

  HttpRequest req;
  req.method = head_.method;
  req.target = head_.target;
  const std::size_t q = req.target.find('?');
  req.path = req.target.substr(0, q);
  req.query = q == std::string_view::npos ? std::string_view{} : req.target.substr(q + 1);
  req.minor_version = head_.minor_version;
  req.headers = head_.headers();
  req.body = te ? std::string_view(chunk_.body) : rest.substr(0, body_len);
  req.keep_alive = head_.minor_version == 1 ? !head_.has_token("Connection", "close")
                                            : head_.has_token("Connection", "keep-alive");
  keep_alive_ = req.keep_alive;
  head_only_ = req.method == "HEAD";
  sent_continue_ = false;
  awaiting_response_ = true;
  pending_consume_ = r.consumed + (te ? chunk_.pos : body_len);
  return req;
}

// RFC 9112 §7.1: chunk-size [chunk-ext] CRLF chunk-data CRLF ... "0" [chunk-ext] CRLF
// *(trailer field CRLF) CRLF. Incremental: `rest` (the bytes after the head) only grows between
// calls for one request, so the scan resumes at chunk_.pos and each byte is looked at once.
HttpServerConnection::ChunkStep HttpServerConnection::decode_chunked(std::string_view rest) {
  constexpr std::size_t kMaxLine = 1024;  // a size line with extensions, or one trailer field
  while (true) {
    switch (chunk_.state) {
      case ChunkState::size: {
        const std::size_t eol = rest.find("\r\n", chunk_.pos);
        if (eol == std::string_view::npos) {
          if (rest.size() - chunk_.pos > kMaxLine) return {false, 400, "chunk size line too long"};
          return {};
        }
        std::string_view line = rest.substr(chunk_.pos, eol - chunk_.pos);
        line = line.substr(0, line.find(';'));  // chunk extensions are ignored (§7.1.1)
        while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
        if (line.empty() || line.size() > 8) return {false, 400, "bad chunk size"};
        std::size_t n = 0;
        for (char c : line) {
          const int v = hex_value(c);
          if (v < 0) return {false, 400, "bad chunk size"};
          n = n * 16 + static_cast<std::size_t>(v);
        }
        if (n > limits_.max_body_bytes - chunk_.body.size()) return {false, 413, "request body too large"};
        chunk_.pos = eol + 2;
        chunk_.left = n;
        chunk_.state = n == 0 ? ChunkState::trailer : ChunkState::data;
        break;
      }
      case ChunkState::data: {
        const std::size_t take = std::min(chunk_.left, rest.size() - chunk_.pos);
        chunk_.body.append(rest.substr(chunk_.pos, take));
        chunk_.pos += take;
        chunk_.left -= take;
        if (chunk_.left > 0) return {};
        chunk_.state = ChunkState::data_end;
        break;
      }
      case ChunkState::data_end:
        if (rest.size() - chunk_.pos < 2) return {};
        if (rest.substr(chunk_.pos, 2) != "\r\n") return {false, 400, "chunk data not followed by CRLF"};
        chunk_.pos += 2;
        chunk_.state = ChunkState::size;
        break;
      case ChunkState::trailer: {
        const std::size_t eol = rest.find("\r\n", chunk_.pos);
        if (eol == std::string_view::npos) {
          if (rest.size() - chunk_.pos > kMaxLine) return {false, 431, "trailer field too long"};
          return {};
        }
        const bool last = eol == chunk_.pos;
        chunk_.trailer_bytes += eol - chunk_.pos + 2;
        if (chunk_.trailer_bytes > limits_.max_head_bytes) return {false, 431, "trailer section too large"};
        chunk_.pos = eol + 2;
        if (last) {
          chunk_.state = ChunkState::done;
          return {true, 0, {}};
        }
        break;  // trailer fields are read past, not used (§7.1.2)
      }
      case ChunkState::done:
        return {true, 0, {}};
    }
  }
}

void HttpServerConnection::respond(const HttpResponse& resp) {
  if (!awaiting_response_ || closing_) return;
  awaiting_response_ = false;
  write(resp, head_only_, keep_alive_ && !resp.close);
}

void HttpServerConnection::fail(int status, std::string_view why) {
  kHttpServerBadRequests.inc();
  // The bytes that follow a framing error cannot be trusted to start a request: answer and close.
  HttpResponse r = HttpResponse::json_error(status, "bad_request", why);
  write(r, false, false);
}

void HttpServerConnection::write(const HttpResponse& resp, bool head_only, bool keep_alive) {
  std::vector<HttpHeader> hs;
  hs.reserve(resp.headers.size() + 2);
  for (const auto& [k, v] : resp.headers) hs.push_back({k, v});
  const bool bodiless = bodiless_status(resp.status);
  const std::string len = std::to_string(resp.body.size());
  if (!bodiless) hs.push_back({"Content-Length", len});
  if (!keep_alive) hs.push_back({"Connection", "close"});
  if (!append_response_head(out_, resp.status, http_reason_phrase(resp.status), hs)) {
    // A handler put CR/LF in a header (or an impossible status): never send that; say 500.
    log(LogLevel::error, "http.bad_response", "status={} headers={}: refused to write it", resp.status,
        resp.headers.size());
    const std::string body = R"({"error":"internal","reason":"the server built an invalid response"})";
    const std::string blen = std::to_string(body.size());
    const HttpHeader fallback[] = {{"Content-Type", "application/json"}, {"Content-Length", blen}, {"Connection", "close"}};
    (void)append_response_head(out_, 500, http_reason_phrase(500), fallback);
    if (!head_only) out_ += body;
    closing_ = true;
    return;
  }
  if (!bodiless && !head_only) out_ += resp.body;
  if (!keep_alive) closing_ = true;
}

std::span<const std::byte> HttpServerConnection::pending_output() const noexcept {
  return as_bytes(std::string_view(out_).substr(out_off_));
}

void HttpServerConnection::consume_output(std::size_t n) noexcept {
  out_off_ += n;
  if (out_off_ >= out_.size()) {
    out_.clear();
    out_off_ = 0;
  }
}

// ---- the glue on a Shard ----

HttpServer::HttpServer(HttpServerOptions opts, Handler handler) : opts_(std::move(opts)), handler_(std::move(handler)) {}

Result<ListenerId> HttpServer::listen(Shard& shard, const SockAddr& addr, const TcpListenOptions& lo,
                                      std::shared_ptr<const TlsContext> tls) {
  return shard.listen_tcp(addr, *this, lo, std::move(tls));
}

HttpServer::Entry* HttpServer::find(ConnId id) noexcept {
  if (id.index >= conns_.size() || !conns_[id.index] || !(conns_[id.index]->id == id)) return nullptr;
  return &*conns_[id.index];
}

bool HttpServer::on_accept(Shard& shard, ConnId id, const SockAddr& peer) {
  if (const Admit a = admission_.admit(shard.now(), address_key(peer)); a != Admit::ok) {
    kHttpServerConnRefused.inc();
    log_sampled(log_sampler_, shard.now(), address_key(peer), LogLevel::warn, "http.refused", "peer={} why={}",
                peer.to_string(), to_string(a));
    return false;
  }
  if (id.index >= conns_.size()) conns_.resize(std::max<std::size_t>(id.index + 1, conns_.size() * 2));
  conns_[id.index].emplace(Entry{id, peer, HttpServerConnection(opts_.limits), {}, shard.now(), shard.now()});
  ++open_;
  kHttpServerConnections.inc();
  arm_timer(shard, *conns_[id.index], opts_.idle_timeout);
  return true;
}

void HttpServer::arm_timer(Shard& shard, Entry& e, Duration after) {
  shard.cancel_timer(e.timer);
  const ConnId id = e.id;
  e.timer = shard.add_timer(after, [this, &shard, id] { on_timer(shard, id); });
}

void HttpServer::on_timer(Shard& shard, ConnId id) {
  Entry* e = find(id);
  if (e == nullptr) return;
  e->timer = {};
  // Idle time counts from the last byte; a request in progress must complete within
  // request_timeout of its first byte, however slowly it trickles (slow-loris).
  const Instant deadline = e->http.mid_request() ? e->request_started + opts_.request_timeout
                                                 : e->last_activity + opts_.idle_timeout;
  if (shard.now() < deadline) {
    arm_timer(shard, *e, deadline - shard.now());
    return;
  }
  kHttpServerTimeouts.inc();
  log(LogLevel::debug, "http.timeout", "conn={} peer={} {}", id.index, e->peer.to_string(),
      e->http.mid_request() ? "request incomplete in time" : "idle");
  shard.abort(id);
}

const std::string& HttpServer::date_header(std::int64_t unix_time) {
  if (unix_time != date_for_) {
    date_for_ = unix_time;
    const std::time_t t = static_cast<std::time_t>(unix_time);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    const std::size_t n = std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);  // RFC 9110 §5.6.7
    date_.assign(buf, n);
  }
  return date_;
}

void HttpServer::on_data(Shard& shard, ConnId id, std::span<const std::byte> data) {
  Entry* e = find(id);
  if (e == nullptr) return;
  const bool was_mid = e->http.mid_request();
  e->last_activity = shard.now();
  e->http.handle_bytes(data);
  while (auto req = e->http.next_request()) {
    req->peer = e->peer;
    req->conn = id;
    req->unix_time = unix_now();
    kHttpServerRequests.inc();
    HttpResponse resp;
    try {
      resp = handler_(*req);
    } catch (const std::exception& ex) {
      // Handlers should not throw on the data path; if one does, the client still gets an answer.
      log(LogLevel::error, "http.handler_threw", "conn={} path={} what={}", id.index, req->path, ex.what());
      resp = HttpResponse::json_error(500, "internal", "the server failed to handle this request");
    }
    resp.set("Date", date_header(req->unix_time));
    if (!opts_.server_name.empty()) resp.set("Server", opts_.server_name);
    e->http.respond(resp);
  }
  if (e->http.mid_request() && !was_mid) {
    e->request_started = shard.now();
    arm_timer(shard, *e, opts_.request_timeout);
  }
  flush(shard, *e);
}

void HttpServer::flush(Shard& shard, Entry& e) {
  auto out = e.http.pending_output();
  if (!out.empty()) {
    shard.send(e.id, out);
    e.http.consume_output(out.size());
  }
  if (shard.output_queued(e.id) > opts_.max_output_bytes) {
    // A client that pipelines requests and never reads the answers would grow our memory forever.
    kHttpServerOverflows.inc();
    log(LogLevel::info, "http.overflow", "conn={} peer={}: responses unread, aborted", e.id.index, e.peer.to_string());
    shard.abort(e.id);
    return;
  }
  if (e.http.wants_close()) shard.close(e.id);
}

void HttpServer::on_closed(Shard& shard, ConnId id, int reason) {
  Entry* e = find(id);
  if (e == nullptr) return;
  shard.cancel_timer(e->timer);
  admission_.release(address_key(e->peer));
  conns_[id.index].reset();
  --open_;
  kHttpServerConnections.dec();
  log(LogLevel::debug, "http.closed", "conn={} reason={}", id.index, reason);
}

}  // namespace webtrunk::core
