// HTTP/1.1 server: request framing on the sans-IO connection (bodies, keep-alive, pipelining,
// limits), then the TcpHandler glue on a real Shard over loopback.
#include "core/http_server.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "core/bytes.hpp"

namespace webtrunk::core {
namespace {

using namespace std::chrono_literals;

std::string drain(HttpServerConnection& c) {
  auto out = c.pending_output();
  std::string s(as_text(out));
  c.consume_output(out.size());
  return s;
}

void feed(HttpServerConnection& c, std::string_view s) { c.handle_bytes(as_bytes(s)); }

// Answers every request with "<method> <path> <body>" and returns the wire output.
std::string serve_all(HttpServerConnection& c, std::vector<std::string>* seen = nullptr) {
  while (auto req = c.next_request()) {
    std::string line = std::string(req->method) + " " + std::string(req->path) + " " + std::string(req->body);
    if (seen != nullptr) seen->push_back(line);
    c.respond(HttpResponse::text(200, line));
  }
  return drain(c);
}

TEST(HttpServerConnection, PostWithContentLengthBodyKeepsTheConnection) {
  HttpServerConnection c;
  feed(c, "POST /v1/token?x=1 HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n"
          "{\"account\":1}");
  auto req = c.next_request();
  ASSERT_TRUE(req);
  EXPECT_EQ(req->method, "POST");
  EXPECT_EQ(req->path, "/v1/token");
  EXPECT_EQ(req->query, "x=1");
  EXPECT_EQ(req->body, "{\"account\":1}");
  EXPECT_EQ(req->header("content-type").value_or(""), "application/json");
  EXPECT_TRUE(req->keep_alive);
  c.respond(HttpResponse::json(200, "{\"ok\":true}"));
  const std::string out = drain(c);
  EXPECT_EQ(out,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}");
  EXPECT_FALSE(c.wants_close());
}

TEST(HttpServerConnection, BodyArrivingByteByByteIsFramedOnce) {
  HttpServerConnection c;
  const std::string msg = "POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
  std::vector<std::string> seen;
  for (char ch : msg) {
    c.handle_bytes(as_bytes(std::string_view(&ch, 1)));
    serve_all(c, &seen);
  }
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], "POST /a hello");
  EXPECT_FALSE(c.mid_request());
}

TEST(HttpServerConnection, PipelinedRequestsAreAnsweredInOrder) {
  HttpServerConnection c;
  feed(c,
       "POST /1 HTTP/1.1\r\nContent-Length: 3\r\n\r\none"
       "GET /2 HTTP/1.1\r\n\r\n"
       "POST /3 HTTP/1.1\r\nContent-Length: 5\r\n\r\nthr");  // third one incomplete
  std::vector<std::string> seen;
  std::string out = serve_all(c, &seen);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], "POST /1 one");
  EXPECT_EQ(seen[1], "GET /2 ");
  EXPECT_LT(out.find("POST /1 one"), out.find("GET /2 "));
  EXPECT_TRUE(c.mid_request());
  feed(c, "ee");
  serve_all(c, &seen);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[2], "POST /3 three");
}

TEST(HttpServerConnection, NextRequestWaitsForTheAnswerToThePreviousOne) {
  HttpServerConnection c;
  feed(c, "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n");
  auto a = c.next_request();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->path, "/1");
  EXPECT_FALSE(c.next_request()) << "a second request before the first is answered would reorder responses";
  c.respond(HttpResponse::text(200, "1"));
  auto b = c.next_request();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->path, "/2");
}

TEST(HttpServerConnection, ConnectionCloseAndHttp10) {
  {
    HttpServerConnection c;
    feed(c, "GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET /ignored HTTP/1.1\r\n\r\n");
    std::vector<std::string> seen;
    const std::string out = serve_all(c, &seen);
    EXPECT_EQ(seen.size(), 1u);
    EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos);
    EXPECT_TRUE(c.wants_close());
  }
  {
    HttpServerConnection c;
    feed(c, "GET / HTTP/1.0\r\n\r\n");
    const std::string out = serve_all(c);
    EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos);
    EXPECT_TRUE(c.wants_close());
  }
  {
    HttpServerConnection c;
    feed(c, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    serve_all(c);
    EXPECT_FALSE(c.wants_close());
  }
  {
    HttpServerConnection c;
    feed(c, "GET / HTTP/1.1\r\n\r\n");
    while (auto r = c.next_request()) {
      HttpResponse resp = HttpResponse::text(503, "bye");
      resp.close = true;
      c.respond(resp);
    }
    EXPECT_NE(drain(c).find("Connection: close\r\n"), std::string::npos);
    EXPECT_TRUE(c.wants_close());
  }
}

struct Refusal {
  std::string input;
  int status;
  const char* why;
};

TEST(HttpServerConnection, FramingErrorsAreAnsweredAndClose) {
  HttpLimits lim;
  lim.max_body_bytes = 100;
  lim.max_head_bytes = 256;
  const Refusal cases[] = {
      {"POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n", 413, "larger than 100 bytes"},
      {"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400, "bad Content-Length"},
      {"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "bad Content-Length"},
      {"POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc", 400, "bad Content-Length"},
      {"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400, "bad Content-Length"},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc", 400,
       "both Transfer-Encoding and Content-Length"},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, "only \\\"Transfer-Encoding: chunked\\\""},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, "bad chunk size"},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n", 400, "not followed by CRLF"},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n", 413, "too large"},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n50\r\n" + std::string(80, 'a') + "\r\n20\r\n", 413,
       "too large"},
      {"GET / HTTP/1.1\r\nBad Header\r\n\r\n", 400, "malformed request head"},
      {"GET / HTTP/2.0\r\n\r\n", 505, "HTTP version not supported"},
  };
  for (const auto& tc : cases) {
    HttpServerConnection c(lim);
    feed(c, tc.input);
    std::vector<std::string> seen;
    const std::string out = serve_all(c, &seen);
    EXPECT_TRUE(seen.empty()) << tc.input;
    EXPECT_TRUE(out.starts_with("HTTP/1.1 " + std::to_string(tc.status) + " ")) << tc.input << "\n" << out;
    EXPECT_NE(out.find(tc.why), std::string::npos) << out;
    EXPECT_NE(out.find("\"error\":\"bad_request\""), std::string::npos) << out;
    EXPECT_TRUE(c.wants_close()) << tc.input;
    // Nothing after an error is read as a request.
    feed(c, "GET / HTTP/1.1\r\n\r\n");
    EXPECT_FALSE(c.next_request());
  }
  // A head that never ends within the limit: 431 as soon as the limit is reached.
  HttpServerConnection c(lim);
  feed(c, "GET / HTTP/1.1\r\nX-Long: " + std::string(300, 'a'));
  const std::string out = serve_all(c);
  EXPECT_TRUE(out.starts_with("HTTP/1.1 431 ")) << out;
  EXPECT_TRUE(c.wants_close());
}

TEST(HttpServerConnection, ChunkedBodiesAreDecodedWhateverTheChunkingOfTheInput) {
  const std::string msg =
      "POST /v1/token HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=1\r\nhello\r\n1\r\n \r\nA\r\nworld, 10!\r\n0\r\nX-Trailer: t\r\n\r\n"
      "GET /after HTTP/1.1\r\n\r\n";
  for (std::size_t step : {msg.size(), std::size_t{1}, std::size_t{7}}) {
    HttpServerConnection c;
    std::vector<std::string> seen;
    for (std::size_t off = 0; off < msg.size(); off += step) {
      feed(c, std::string_view(msg).substr(off, step));
      serve_all(c, &seen);
    }
    ASSERT_EQ(seen.size(), 2u) << "step " << step;
    EXPECT_EQ(seen[0], "POST /v1/token hello world, 10!") << "step " << step;
    EXPECT_EQ(seen[1], "GET /after ") << "step " << step;
  }
}

TEST(HttpServerConnection, SameContentLengthTwiceIsOne) {
  HttpServerConnection c;
  feed(c, "POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok");
  std::vector<std::string> seen;
  serve_all(c, &seen);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], "POST / ok");
}

TEST(HttpServerConnection, ExpectContinueGetsAnInterimResponseOnce) {
  HttpServerConnection c;
  feed(c, "POST /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
  std::vector<std::string> seen;
  EXPECT_EQ(serve_all(c, &seen), "HTTP/1.1 100 Continue\r\n\r\n");
  feed(c, "ab");
  EXPECT_EQ(serve_all(c, &seen), "");
  feed(c, "cd");
  const std::string out = serve_all(c, &seen);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_TRUE(out.starts_with("HTTP/1.1 200 OK\r\n")) << out;
  // Too large with Expect: refused before the client sends the body.
  HttpLimits lim;
  lim.max_body_bytes = 10;
  HttpServerConnection d(lim);
  feed(d, "POST /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n");
  EXPECT_TRUE(serve_all(d).starts_with("HTTP/1.1 413 Content Too Large\r\n"));
}

TEST(HttpServerConnection, HeadGetsHeadersWithoutBodyAnd204HasNoLength) {
  HttpServerConnection c;
  feed(c, "HEAD /healthz HTTP/1.1\r\n\r\n");
  auto r = c.next_request();
  ASSERT_TRUE(r);
  c.respond(HttpResponse::text(200, "ok\n"));
  EXPECT_EQ(drain(c), "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\n\r\n");
  feed(c, "OPTIONS / HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(c.next_request());
  HttpResponse nc;
  nc.status = 204;
  c.respond(nc);
  EXPECT_EQ(drain(c), "HTTP/1.1 204 No Content\r\n\r\n");
}

TEST(HttpServerConnection, HeaderInjectionBecomesA500) {
  HttpServerConnection c;
  feed(c, "GET / HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(c.next_request());
  HttpResponse bad = HttpResponse::text(200, "x");
  bad.set("X-Evil", "a\r\nSet-Cookie: b=c");
  c.respond(bad);
  const std::string out = drain(c);
  EXPECT_TRUE(out.starts_with("HTTP/1.1 500 ")) << out;
  EXPECT_EQ(out.find("Set-Cookie"), std::string::npos);
  EXPECT_TRUE(c.wants_close());
}

TEST(HttpRequest, QueryParamsAreFormDecoded) {
  HttpRequest r;
  r.query = "a=1&key=%2Fse%2BdfqxK%2BHsCpgEGNtlnOerokw%3D&sp=a+b&bad=%zz&empty";
  EXPECT_EQ(r.query_param("a").value_or("?"), "1");
  EXPECT_EQ(r.query_param("key").value_or("?"), "/se+dfqxK+HsCpgEGNtlnOerokw=");
  EXPECT_EQ(r.query_param("sp").value_or("?"), "a b");
  EXPECT_FALSE(r.query_param("bad"));
  EXPECT_EQ(r.query_param("empty").value_or("?"), "");
  EXPECT_FALSE(r.query_param("missing"));
}

TEST(HttpCors, AllowedOriginIsEchoedAndVaryAlwaysSet) {
  HttpResponse ok;
  add_cors_headers(ok, std::string_view("https://shop.example"), true);
  ASSERT_NE(ok.find("Access-Control-Allow-Origin"), nullptr);
  EXPECT_EQ(*ok.find("Access-Control-Allow-Origin"), "https://shop.example");
  EXPECT_EQ(*ok.find("Vary"), "Origin");
  HttpResponse no;
  add_cors_headers(no, std::string_view("https://evil.example"), false);
  EXPECT_EQ(no.find("Access-Control-Allow-Origin"), nullptr);
  EXPECT_EQ(*no.find("Vary"), "Origin");

  HttpResponse pre = cors_preflight(std::string_view("https://shop.example"), true, "POST, OPTIONS", "Content-Type");
  EXPECT_EQ(pre.status, 204);
  EXPECT_EQ(*pre.find("Access-Control-Allow-Methods"), "POST, OPTIONS");
  EXPECT_EQ(*pre.find("Access-Control-Allow-Headers"), "Content-Type");
  HttpResponse refused = cors_preflight(std::string_view("https://evil.example"), false, "POST", "Content-Type");
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(refused.find("Access-Control-Allow-Origin"), nullptr);
}

TEST(Json, QuoteEscapesWhatJsonNeeds) {
  EXPECT_EQ(json_quote("a\"b\\c\n\x01</script>"), R"("a\"b\\c\n\u0001\u003c/script\u003e")");
}

// ---- on a real shard ----

int connect_to(const SockAddr& to) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{3, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (::connect(fd, to.data(), to.size()) != 0) ADD_FAILURE() << "connect: " << std::strerror(errno);
  return fd;
}

// Reads until `n` complete responses (by Content-Length) arrived or the peer closed.
std::vector<std::string> read_responses(int fd, std::size_t n) {
  std::string buf;
  std::vector<std::string> out;
  char tmp[4096];
  while (out.size() < n) {
    const std::size_t end = buf.find("\r\n\r\n");
    if (end != std::string::npos) {
      std::size_t len = 0;
      const std::size_t cl = buf.find("Content-Length: ");
      if (cl != std::string::npos && cl < end) len = std::stoul(buf.substr(cl + 16));
      if (buf.size() >= end + 4 + len) {
        out.push_back(buf.substr(0, end + 4 + len));
        buf.erase(0, end + 4 + len);
        continue;
      }
    }
    const ssize_t r = ::recv(fd, tmp, sizeof tmp, 0);
    if (r <= 0) break;
    buf.append(tmp, static_cast<std::size_t>(r));
  }
  return out;
}

ShardConfig small_shard() {
  ShardConfig cfg;
  cfg.tcp_buffers = 64;
  cfg.udp_buffers = 64;
  return cfg;
}

// Runs the shard until the client thread is done and every connection is closed (at most 5 s).
Result<void> run_until_done(Shard& shard, const HttpServer& server, const std::atomic<bool>& client_done) {
  const Instant deadline = monotonic_now() + 5s;
  std::function<void()> check = [&] {
    if ((client_done && server.open_connections() == 0) || monotonic_now() > deadline) {
      shard.request_stop();
    } else {
      shard.add_timer(1ms, check);
    }
  };
  shard.add_timer(1ms, check);
  return shard.run();
}

TEST(HttpServer, KeepAlivePipeliningAndTimeoutOnLoopback) {
  auto shard = Shard::create(small_shard());
  ASSERT_TRUE(shard) << shard.error().message;
  HttpServerOptions opts;
  opts.request_timeout = 200ms;
  std::atomic<int> handled{0};
  HttpServer server(opts, [&](const HttpRequest& req) {
    ++handled;
    EXPECT_EQ(req.peer.to_string().substr(0, 10), "127.0.0.1:");
    EXPECT_GT(req.unix_time, 1'700'000'000);
    return HttpResponse::json(200, "{\"path\":" + json_quote(req.path) + ",\"body\":" + json_quote(req.body) + "}");
  });
  auto l = server.listen(**shard, SockAddr::ipv4_loopback(0));
  ASSERT_TRUE(l) << l.error().message;
  const SockAddr addr = (*shard)->listener_address(*l);

  std::atomic<bool> client_done{false};
  std::vector<std::string> first, second;
  bool stalled_closed = false;
  std::thread client([&] {
    const int fd = connect_to(addr);
    // Two pipelined in one write, then one more on the same connection.
    const std::string two = "POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiGET /b HTTP/1.1\r\n\r\n";
    (void)::send(fd, two.data(), two.size(), MSG_NOSIGNAL);
    first = read_responses(fd, 2);
    const std::string third = "POST /c HTTP/1.1\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbye";
    (void)::send(fd, third.data(), third.size(), MSG_NOSIGNAL);
    second = read_responses(fd, 1);
    ::close(fd);
    // A client that starts a request and stalls is cut off after request_timeout.
    const int slow = connect_to(addr);
    const std::string partial = "POST /d HTTP/1.1\r\nContent-Length: 10\r\n\r\nab";
    (void)::send(slow, partial.data(), partial.size(), MSG_NOSIGNAL);
    char b;
    stalled_closed = ::recv(slow, &b, 1, 0) <= 0;
    ::close(slow);
    client_done = true;
  });
  auto r = run_until_done(**shard, server, client_done);
  client.join();
  ASSERT_TRUE(r);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_TRUE(first[0].starts_with("HTTP/1.1 200 OK\r\n"));
  EXPECT_NE(first[0].find(R"({"path":"/a","body":"hi"})"), std::string::npos) << first[0];
  EXPECT_NE(first[0].find("\r\nDate: "), std::string::npos);
  EXPECT_NE(first[1].find(R"({"path":"/b","body":""})"), std::string::npos) << first[1];
  ASSERT_EQ(second.size(), 1u);
  EXPECT_NE(second[0].find("Connection: close\r\n"), std::string::npos);
  EXPECT_NE(second[0].find(R"("body":"bye")"), std::string::npos);
  EXPECT_TRUE(stalled_closed);
  EXPECT_EQ(handled.load(), 3);
  EXPECT_EQ(server.open_connections(), 0u);
}

TEST(HttpServer, ConnectionsOverThePerAddressCapAreClosedAtAccept) {
  auto shard = Shard::create(small_shard());
  ASSERT_TRUE(shard) << shard.error().message;
  HttpServerOptions opts;
  opts.admission.max_per_address = 2;
  HttpServer server(opts, [](const HttpRequest&) { return HttpResponse::json(200, "{}"); });
  auto l = server.listen(**shard, SockAddr::ipv4_loopback(0));
  ASSERT_TRUE(l) << l.error().message;
  const SockAddr addr = (*shard)->listener_address(*l);
  const auto refused_before = kHttpServerConnRefused.total();

  std::atomic<bool> client_done{false};
  bool third_closed = false;
  std::size_t answered = 0;
  std::thread client([&] {
    const int a = connect_to(addr);
    const int b = connect_to(addr);
    const std::string get = "GET / HTTP/1.1\r\n\r\n";
    for (int fd : {a, b}) (void)::send(fd, get.data(), get.size(), MSG_NOSIGNAL);
    answered += read_responses(a, 1).size() + read_responses(b, 1).size();  // both admitted
    const int c = connect_to(addr);
    (void)::send(c, get.data(), get.size(), MSG_NOSIGNAL);
    char ch;
    third_closed = ::recv(c, &ch, 1, 0) <= 0;  // closed without an answer
    ::close(c);
    ::close(a);
    ::close(b);
    client_done = true;
  });
  auto r = run_until_done(**shard, server, client_done);
  client.join();
  ASSERT_TRUE(r);
  EXPECT_EQ(answered, 2u);
  EXPECT_TRUE(third_closed);
  EXPECT_EQ(kHttpServerConnRefused.total(), refused_before + 1);
  EXPECT_EQ(server.open_connections(), 0u);
}

}  // namespace
}  // namespace webtrunk::core
