#include "core/http_head.hpp"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>

namespace webtrunk::core {
namespace {

// The handshake JsSIP 3.13.8 in Chromium sent (shared research/features.md §2.1).
constexpr std::string_view kBrowserHandshake =
    "GET / HTTP/1.1\r\n"
    "Host: 127.0.0.1:8080\r\n"
    "Connection: Upgrade\r\n"
    "Upgrade: websocket\r\n"
    "Origin: http://127.0.0.1:35297\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Key: MlBFBUw6NgEeBfWgb1KjVA==\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    "Sec-WebSocket-Protocol: sip\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/156.0.0.0 Safari/537.36\r\n"
    "\r\n";

// Places bytes right before an unreadable page, so any read past the end crashes the test
// (the picohttpparser trick).
class GuardedBytes {
 public:
  explicit GuardedBytes(std::string_view data) {
    page_ = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    len_ = (data.size() + page_ - 1) / page_ * page_ + page_;
    void* m = mmap(nullptr, len_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT_NE(m, MAP_FAILED);
    base_ = static_cast<std::byte*>(m);
    EXPECT_EQ(mprotect(base_ + len_ - page_, page_, PROT_NONE), 0);
    data_ = base_ + len_ - page_ - data.size();
    if (!data.empty()) std::memcpy(data_, data.data(), data.size());
    size_ = data.size();
  }
  ~GuardedBytes() { munmap(base_, len_); }
  GuardedBytes(const GuardedBytes&) = delete;
  GuardedBytes& operator=(const GuardedBytes&) = delete;
  std::span<const std::byte> span() const { return {data_, size_}; }

 private:
  std::byte* base_ = nullptr;
  std::byte* data_ = nullptr;
  std::size_t len_ = 0, page_ = 0, size_ = 0;
};

// Keeps the guarded copy alive as long as the views in the head that point into it.
struct Parsed {
  std::unique_ptr<GuardedBytes> bytes;
  HttpParseResult r;
};

Parsed parse(std::string_view s, HttpRequestHead& h, std::size_t max = kDefaultMaxHeadBytes) {
  Parsed p{std::make_unique<GuardedBytes>(s), {}};
  p.r = parse_request_head(p.bytes->span(), h, max);
  return p;
}

TEST(HttpHead, ParsesTheBrowserHandshake) {
  HttpRequestHead h;
  std::string with_trailer = std::string(kBrowserHandshake) + "\x81\x85";  // a frame right behind it
  auto r = parse_request_head(with_trailer, h);
  ASSERT_EQ(r.status, ParseStatus::ok);
  EXPECT_EQ(r.consumed, kBrowserHandshake.size());
  EXPECT_EQ(h.method, "GET");
  EXPECT_EQ(h.target, "/");
  EXPECT_EQ(h.minor_version, 1);
  EXPECT_EQ(h.header_count, 9u);
  EXPECT_EQ(h.headers()[0].name, "Host");
  EXPECT_EQ(h.find("host"), "127.0.0.1:8080");
  EXPECT_EQ(h.find("SEC-WEBSOCKET-KEY"), "MlBFBUw6NgEeBfWgb1KjVA==");
  EXPECT_EQ(h.find("Sec-WebSocket-Extensions"), "permessage-deflate; client_max_window_bits");
  EXPECT_FALSE(h.find("Cookie").has_value());
  EXPECT_TRUE(h.has_token("connection", "UPGRADE"));
  EXPECT_TRUE(h.has_token("Upgrade", "websocket"));
  // Views point into the caller's buffer: nothing was copied.
  EXPECT_EQ(h.method.data(), with_trailer.data());
}

TEST(HttpHead, EveryTruncationIsIncompleteAndNeverReadsPastTheEnd) {
  for (std::size_t n = 0; n < kBrowserHandshake.size(); ++n) {
    HttpRequestHead h;
    auto r = parse(kBrowserHandshake.substr(0, n), h).r;
    ASSERT_EQ(r.status, ParseStatus::incomplete) << "prefix " << n;
  }
  HttpRequestHead h;
  EXPECT_EQ(parse(kBrowserHandshake, h).r.status, ParseStatus::ok);
}

TEST(HttpHead, SkipsEmptyLinesBeforeTheRequestLine) {
  HttpRequestHead h;
  auto p = parse("\r\n\r\nGET /healthz HTTP/1.0\r\n\r\n", h);
  const auto& r = p.r;
  ASSERT_EQ(r.status, ParseStatus::ok);
  EXPECT_EQ(r.consumed, 29u);
  EXPECT_EQ(h.target, "/healthz");
  EXPECT_EQ(h.minor_version, 0);
  EXPECT_EQ(h.header_count, 0u);
}

TEST(HttpHead, TrimsWhitespaceAroundValues) {
  HttpRequestHead h;
  auto p = parse("GET /?token=a:b HTTP/1.1\r\nX-A:  a b \t\r\nX-Empty:\r\n\r\n", h);
  ASSERT_EQ(p.r.status, ParseStatus::ok);
  EXPECT_EQ(h.target, "/?token=a:b");
  EXPECT_EQ(h.find("x-a"), "a b");
  EXPECT_EQ(h.find("x-empty"), "");
}

TEST(HttpHead, RejectsMalformedHeadsAsSoonAsTheyAreVisible) {
  const std::string_view bad[] = {
      "GET  / HTTP/1.1\r\n\r\n",                       // empty target
      "G(T / HTTP/1.1\r\n\r\n",                        // method is not a token
      "GET /a b HTTP/1.1\r\n\r\n",                     // space in target
      "GET /\x01 HTTP/1.1\r\n\r\n",                    // control character in target
      "GET / HTTP/1.1\n\r\n",                          // bare LF
      "GET / HTTP/1.1\r\rHost: x\r\n\r\n",             // CR not followed by LF
      "GET / HTTX/1.1\r\n\r\n",                        // not HTTP
      "GET / HTTP/1.x\r\n\r\n",                        // bad digit
      "GET / HTTP/1.1\r\nHost : x\r\n\r\n",            // space before colon (RFC 9112 §5.1)
      "GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n",          // obs-fold (RFC 9112 §5.2)
      "GET / HTTP/1.1\r\n: empty-name\r\n\r\n",        // empty field name
      "GET / HTTP/1.1\r\nHost\r\n\r\n",                // no colon
      "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  // a TLS ClientHello on the plain port
  };
  for (std::string_view s : bad) {
    HttpRequestHead h;
    auto r = parse(s, h).r;
    EXPECT_EQ(r.status, ParseStatus::invalid) << s;
    EXPECT_EQ(r.error, HttpError::bad_request) << s;
  }
  // NUL and DEL inside a value.
  for (char c : {'\0', '\x7f'}) {
    std::string s = "GET / HTTP/1.1\r\nX: a";
    s += c;
    s += "b\r\n\r\n";
    HttpRequestHead h;
    EXPECT_EQ(parse(s, h).r.status, ParseStatus::invalid);
  }
  // Early: the TLS record type byte alone is enough to know.
  HttpRequestHead h;
  EXPECT_EQ(parse("\x16", h).r.status, ParseStatus::invalid);
  EXPECT_EQ(parse("GET / HTTX", h).r.status, ParseStatus::invalid);
}

TEST(HttpHead, OtherHttpVersionsAreRefusedWith505) {
  HttpRequestHead h;
  auto r = parse("GET / HTTP/2.0\r\n\r\n", h).r;
  EXPECT_EQ(r.status, ParseStatus::invalid);
  EXPECT_EQ(r.error, HttpError::bad_version);
  EXPECT_EQ(http_status_for(r.error), 505);
  EXPECT_EQ(parse("GET / HTTP/1.2\r\n\r\n", h).r.error, HttpError::bad_version);
}

TEST(HttpHead, HeaderCountIsBounded) {
  std::string s = "GET / HTTP/1.1\r\n";
  for (std::size_t i = 0; i < kMaxHttpHeaders; ++i) s += "X-" + std::to_string(i) + ": v\r\n";
  HttpRequestHead h;
  ASSERT_EQ(parse(s + "\r\n", h).r.status, ParseStatus::ok);
  EXPECT_EQ(h.header_count, kMaxHttpHeaders);
  auto r = parse(s + "X-last: v\r\n\r\n", h).r;
  EXPECT_EQ(r.status, ParseStatus::invalid);
  EXPECT_EQ(r.error, HttpError::too_many_headers);
  EXPECT_EQ(http_status_for(r.error), 431);
}

TEST(HttpHead, HeadSizeIsBoundedSoASlowSenderCannotGrowOurBuffer) {
  const std::string head = "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(100, 'v') + "\r\n\r\n";
  HttpRequestHead h;
  EXPECT_EQ(parse(head, h, head.size()).r.status, ParseStatus::ok);  // exactly at the limit
  auto r = parse(head, h, head.size() - 1).r;
  EXPECT_EQ(r.status, ParseStatus::invalid);
  EXPECT_EQ(r.error, HttpError::too_large);
  EXPECT_EQ(http_status_for(r.error), 431);
  // Without its end: incomplete below the limit, too large at it.
  const std::string_view open = std::string_view(head).substr(0, 60);
  EXPECT_EQ(parse(open, h, 64).r.status, ParseStatus::incomplete);
  EXPECT_EQ(parse(open, h, 60).r.error, HttpError::too_large);
}

TEST(HttpHead, TokenListsAreCaseInsensitiveAndExact) {
  EXPECT_TRUE(list_has_token("keep-alive, Upgrade", "upgrade"));  // Firefox's Connection header
  EXPECT_TRUE(list_has_token(" upgrade ,x", "UPGRADE"));
  EXPECT_FALSE(list_has_token("upgrade-insecure", "upgrade"));
  EXPECT_FALSE(list_has_token("", "upgrade"));
  EXPECT_TRUE(list_has_token_exact("foo, sip", "sip"));
  EXPECT_FALSE(list_has_token_exact("SIP", "sip"));
  EXPECT_TRUE(iequals("Sec-WebSocket-Key", "sec-websocket-key"));
  EXPECT_FALSE(iequals("a", "ab"));

  HttpRequestHead h;
  auto p = parse("GET / HTTP/1.1\r\nConnection: keep-alive\r\nconnection: Upgrade\r\n\r\n", h);
  ASSERT_EQ(p.r.status, ParseStatus::ok);
  EXPECT_TRUE(h.has_token("Connection", "upgrade"));  // split over two lines (RFC 9110 §5.3)
  EXPECT_EQ(h.find("Connection"), "keep-alive");      // find() gives the first
}

TEST(HttpHead, WritesResponseHeads) {
  std::string out;
  const HttpHeader hs[] = {{"Content-Type", "text/plain"}, {"Content-Length", "3"}};
  ASSERT_TRUE(append_response_head(out, 200, http_reason_phrase(200), hs));
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\n");

  std::vector<std::byte> bytes;
  ASSERT_TRUE(append_response_head(bytes, 404, "Not Found", {}));
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()), "HTTP/1.1 404 Not Found\r\n\r\n");
}

TEST(HttpHead, ResponseWriterRefusesHeaderInjection) {
  std::string out;
  const HttpHeader injected[] = {{"X", "a\r\nSet-Cookie: b"}};
  EXPECT_FALSE(append_response_head(out, 200, "OK", injected));
  const HttpHeader bad_name[] = {{"X Y", "a"}};
  EXPECT_FALSE(append_response_head(out, 200, "OK", bad_name));
  EXPECT_FALSE(append_response_head(out, 200, "OK\r\n", {}));
  EXPECT_FALSE(append_response_head(out, 99, "x", {}));
  EXPECT_FALSE(append_response_head(out, 1000, "x", {}));
  EXPECT_TRUE(out.empty());
}

TEST(HttpHead, ReasonPhrasesAndStatusMapping) {
  EXPECT_EQ(http_reason_phrase(101), "Switching Protocols");
  EXPECT_EQ(http_reason_phrase(426), "Upgrade Required");
  EXPECT_EQ(http_reason_phrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(http_reason_phrase(401), "Unauthorized");  // the auth service's refusals
  EXPECT_EQ(http_reason_phrase(413), "Content Too Large");
  EXPECT_EQ(http_reason_phrase(429), "Too Many Requests");
  EXPECT_EQ(http_reason_phrase(299), "");
  EXPECT_EQ(http_status_for(HttpError::bad_request), 400);
}

}  // namespace
}  // namespace webtrunk::core
