#include "core/ws_connection.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ws_connection_test_support.hpp"

namespace webtrunk::core {
namespace {

using namespace test;  // NOLINT: the shared helpers

static_assert(sizeof(WsConnection) < 256, "a connection object must stay small: there are 100k of them");

// --- upgrade ---------------------------------------------------------------------------------

TEST(WsConnection, AcceptKeyMatchesRfc6455) { EXPECT_EQ(ws_accept_key(kRfcKey), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="); }

TEST(WsConnection, UpgradesWithSipSubprotocolAndExactAccept) {
  Harness t;
  const auto before = kWsUpgradesTotal.total();
  auto evs = t.feed(upgrade_request());
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0], (Ev{Ev::upgraded, "/ws?token=abc", "edge.test", "https://app.example", "sip", 0, false}));
  EXPECT_EQ(t.take_output(),
            "HTTP/1.1 101 Switching Protocols\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            "Sec-WebSocket-Protocol: sip\r\n"
            "\r\n");
  EXPECT_TRUE(t.conn.is_open());
  EXPECT_FALSE(t.conn.wants_close());
  EXPECT_EQ(kWsUpgradesTotal.total(), before + 1);
  EXPECT_EQ(t.conn.heap_bytes(), 0u);  // idle after the upgrade: nothing held
}

// `s` with the first `from` replaced by `to`.
std::string edited(std::string s, std::string_view from, std::string_view to = {}) {
  auto at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return s.replace(at, from.size(), to);
}

TEST(WsConnection, AcceptsBrowserVariantsOfTheHandshake) {
  // Firefox: "Connection: keep-alive, Upgrade"; case-insensitive Upgrade token; several protocols.
  const std::string req = edited(edited(upgrade_request("Sec-WebSocket-Protocol: foo, sip\r\n"), "Connection: Upgrade",
                                        "Connection: keep-alive, Upgrade"),
                                 "Upgrade: websocket", "Upgrade: WebSocket");
  Harness t;
  auto evs = t.feed(req);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].kind, Ev::upgraded);
}

struct Refusal {
  const char* what;
  std::string request;
  int status;
  const char* must_contain;
};

TEST(WsConnection, RefusesBadUpgradesWithTheRightStatus) {
  const std::string ok = upgrade_request();
  std::string many = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 40; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
  const std::vector<Refusal> cases = {
      {"no sip subprotocol", upgrade_request(""), 400, "RFC 7118"},
      {"only other subprotocols", upgrade_request("Sec-WebSocket-Protocol: chat, SIP\r\n"), 400, "sip"},
      {"version 8", edited(ok, "Version: 13", "Version: 8"), 426, "Sec-WebSocket-Version: 13\r\n"},
      {"no version", edited(ok, "Sec-WebSocket-Version: 13\r\n"), 426, "Sec-WebSocket-Version: 13"},
      {"short key", upgrade_request("Sec-WebSocket-Protocol: sip\r\n", "abc"), 400, "Key"},
      {"key of 15 bytes", upgrade_request("Sec-WebSocket-Protocol: sip\r\n", "AAAAAAAAAAAAAAAAAAAA"), 400, "Key"},
      {"key not base64", upgrade_request("Sec-WebSocket-Protocol: sip\r\n", "dGhlIHNhbXBsZSBub25jZQ!="), 400, "Key"},
      {"no key", edited(ok, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"), 400, "Key"},
      {"no Connection upgrade", edited(ok, "Connection: Upgrade\r\n"), 400, "Connection"},
      {"no Host", edited(ok, "Host: edge.test\r\n"), 400, "Host"},
      {"POST", edited(ok, "GET", "POST"), 400, "GET"},
      {"HTTP/1.0", edited(ok, "HTTP/1.1", "HTTP/1.0"), 400, "HTTP/1.1"},
      {"malformed head", "GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", 400, "malformed"},
      {"HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", 505, ""},
      {"too many headers", many + "\r\n", 431, "too large"},
  };
  for (const Refusal& c : cases) {
    Harness t;
    auto evs = t.feed(c.request);
    ASSERT_EQ(evs.size(), 1u) << c.what;
    EXPECT_EQ(evs[0].kind, Ev::rejected) << c.what;
    EXPECT_EQ(evs[0].code, c.status) << c.what;
    const std::string out = t.take_output();
    EXPECT_EQ(out.rfind("HTTP/1.1 " + std::to_string(c.status) + " ", 0), 0u) << c.what << ": " << out;
    EXPECT_NE(out.find(c.must_contain), std::string::npos) << c.what << ": " << out;
    EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos) << c.what;
    EXPECT_TRUE(t.conn.wants_close()) << c.what;
    EXPECT_TRUE(t.feed(frame(WsOpcode::text, "x")).empty()) << c.what;  // nothing is read any more
  }
}

TEST(WsConnection, OriginPolicyRefusalIs403) {
  Harness t;
  std::string seen_origin, seen_host, seen_path;  // the views live only during the call: copy
  t.config.origin_policy = [&](const WsUpgradeRequest& r) {
    seen_origin = r.origin;
    seen_host = r.host;
    seen_path = r.path;
    return r.origin == "https://good.example";
  };
  const auto before = kWsOriginRejectsTotal.total();
  auto evs = t.feed(upgrade_request());
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].kind, Ev::rejected);
  EXPECT_EQ(evs[0].code, 403);
  EXPECT_EQ(seen_origin, "https://app.example");
  EXPECT_EQ(seen_host, "edge.test");
  EXPECT_EQ(seen_path, "/ws?token=abc");
  EXPECT_EQ(t.take_output().rfind("HTTP/1.1 403 Forbidden\r\n", 0), 0u);
  EXPECT_EQ(kWsOriginRejectsTotal.total(), before + 1);

  Harness ok;
  ok.config.origin_policy = [](const WsUpgradeRequest& r) { return r.origin == "https://app.example"; };
  EXPECT_EQ(ok.feed(upgrade_request())[0].kind, Ev::upgraded);
}

TEST(WsConnection, WhileUnavailableUpgradesAre503WithRetryAfterButHttpRequestsPass) {
  bool draining = true;
  Harness t;
  t.config.unavailable = [&] { return draining; };
  const auto before = kWsUpgradeRejectsTotal.total();
  auto evs = t.feed(upgrade_request());
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].kind, Ev::rejected);
  EXPECT_EQ(evs[0].code, 503);
  const std::string out = t.take_output();
  EXPECT_EQ(out.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("\r\nRetry-After: 5\r\n"), std::string::npos) << out;
  EXPECT_EQ(kWsUpgradeRejectsTotal.total(), before + 1);

  // /healthz (a plain GET) is still handed to the owner, which answers it "draining".
  Harness h;
  h.config.unavailable = [&] { return draining; };
  auto hev = h.feed("GET /healthz HTTP/1.1\r\nHost: edge.test\r\n\r\n");
  ASSERT_EQ(hev.size(), 1u);
  EXPECT_NE(hev[0].kind, Ev::rejected);

  draining = false;
  Harness ok;
  ok.config.unavailable = [&] { return draining; };
  EXPECT_EQ(ok.feed(upgrade_request())[0].kind, Ev::upgraded);
}

TEST(WsConnection, OversizedHeadIs431AndIsNotBuffered) {
  Harness t;
  const auto before = kHttpHeadTooLargeTotal.total();
  std::string req = upgrade_request("Cookie: " + std::string(9000, 'c') + "\r\nSec-WebSocket-Protocol: sip\r\n");
  // Dribbled in 100-byte pieces: refused once 8192 bytes are in, whatever follows.
  std::vector<Ev> evs;
  for (std::size_t i = 0; i < req.size() && evs.empty(); i += 100) {
    evs = t.feed(std::string_view(req).substr(i, 100));
    EXPECT_LE(t.conn.heap_bytes(), 8192u);
  }
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].code, 431);
  EXPECT_EQ(t.take_output().rfind("HTTP/1.1 431 Request Header Fields Too Large\r\n", 0), 0u);
  EXPECT_EQ(kHttpHeadTooLargeTotal.total(), before + 1);
  EXPECT_EQ(t.conn.heap_bytes(), 0u);
}

TEST(WsConnection, PlainGetIsAnHttpRequestAnsweredOnce) {
  Harness t;
  auto evs = t.feed("GET /healthz HTTP/1.1\r\nHost: edge.test\r\n\r\n");
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].kind, Ev::http_request);
  EXPECT_EQ(evs[0].a, "GET");
  EXPECT_EQ(evs[0].b, "/healthz");
  EXPECT_EQ(evs[0].c, "GET /healthz HTTP/1.1\r\nHost: edge.test\r\n\r\n");
  EXPECT_FALSE(t.conn.wants_close());
  const HttpHeader hs[] = {{"Content-Type", "text/plain"}};
  ASSERT_TRUE(t.conn.send_http_response(200, hs, "ok\n"));
  EXPECT_EQ(t.take_output(),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n");
  EXPECT_TRUE(t.conn.wants_close());
  EXPECT_FALSE(t.conn.send_http_response(200, {}, "again"));
  EXPECT_FALSE(t.conn.send_text("x"));
}

TEST(WsConnection, HttpResponseOnlyAfterARequest) {
  Harness t;
  EXPECT_FALSE(t.conn.send_http_response(200, {}, ""));
  t.open();
  EXPECT_FALSE(t.conn.send_http_response(200, {}, ""));
}

// --- frames ----------------------------------------------------------------------------------

TEST(WsConnection, Rfc6455MaskedHelloIsAZeroCopyMessage) {
  Harness t;
  t.open();
  auto f = raw({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58});  // §5.7
  t.conn.handle_bytes(Instant{}, f);
  auto e = t.conn.poll_event();
  ASSERT_TRUE(e.has_value());
  auto* m = std::get_if<WsMessage>(&*e);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->text(), "Hello");
  EXPECT_EQ(m->payload.data(), f.data() + 6);  // unmasked in place, in the caller's buffer
  EXPECT_EQ(t.conn.heap_bytes(), 0u);
  EXPECT_FALSE(t.conn.poll_event().has_value());
}

TEST(WsConnection, FragmentsWithAnInterleavedPingAreReassembled) {
  Harness t;
  t.open();
  // §5.4: control frames may be injected in the middle of a fragmented message.
  auto evs = t.feed(
      cat({frame(WsOpcode::text, "Hel", false), frame(WsOpcode::ping, "p1"), frame(WsOpcode::continuation, "l", false),
           frame(WsOpcode::pong, "x"), frame(WsOpcode::continuation, "o")}));
  EXPECT_EQ(evs, std::vector<Ev>{msg("Hello")});
  EXPECT_EQ(decode(t.take_output()), (std::vector<OutFrame>{{WsOpcode::pong, true, "p1"}}));
  EXPECT_EQ(t.conn.heap_bytes(), 0u);  // the reassembly buffer went with the next poll

  evs = t.feed(cat({frame(WsOpcode::binary, "\x01\x02", false), frame(WsOpcode::continuation, "\x03")}));
  EXPECT_EQ(evs, std::vector<Ev>{msg("\x01\x02\x03", WsOpcode::binary)});
}

TEST(WsConnection, LongFramesAndMessagesUpToTheLimits) {
  Harness t;
  t.open();
  const std::string k256(256, 'a'), k64(65536, 'b');
  auto evs = t.feed(cat({frame(WsOpcode::binary, k256), frame(WsOpcode::text, k64)}));
  EXPECT_EQ(evs, (std::vector<Ev>{msg(k256, WsOpcode::binary), msg(k64)}));
}

// The stream every split test replays: handshake, then frames of all kinds.
std::vector<std::byte> reference_stream() {
  return cat({vec(upgrade_request()), frame(WsOpcode::text, "Hello"), frame(WsOpcode::text, "Hel", false),
              frame(WsOpcode::ping, "ping!"), frame(WsOpcode::continuation, "lo"),
              frame(WsOpcode::binary, std::string(300, 'z')), frame(WsOpcode::text, "\r\n\r\n"),
              frame(WsOpcode::text, "INVITE \xce\xba\xce", false), frame(WsOpcode::continuation, "\xba"),
              frame(WsOpcode::close, close_body(1000, "bye"))});
}

const std::vector<Ev> kReferenceEvents = {
    {Ev::upgraded, "/ws?token=abc", "edge.test", "https://app.example", "sip", 0, false},
    msg("Hello"),
    msg("Hello"),
    msg(std::string(300, 'z'), WsOpcode::binary),
    msg("INVITE \xce\xba\xce\xba"),
    closed(1000, "bye", true),
};

TEST(WsConnection, BytesSplitAtEveryPointGiveTheSameEventsAndOutput) {
  const auto stream = reference_stream();
  Harness whole;
  ASSERT_EQ(whole.feed(stream), kReferenceEvents);
  const std::string want_out = whole.take_output();
  EXPECT_TRUE(whole.conn.wants_close());

  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    Harness t;
    auto evs = t.feed(std::span(stream).first(cut));
    auto rest = t.feed(std::span(stream).subspan(cut));
    evs.insert(evs.end(), rest.begin(), rest.end());
    ASSERT_EQ(evs, kReferenceEvents) << "cut at " << cut;
    ASSERT_EQ(t.take_output(), want_out) << "cut at " << cut;
  }
}

TEST(WsConnection, BytesOneAtATime) {
  const auto stream = reference_stream();
  Harness t;
  std::vector<Ev> evs;
  std::size_t max_heap = 0;
  for (std::byte b : stream) {
    auto e = t.feed(std::span(&b, 1));
    evs.insert(evs.end(), e.begin(), e.end());
    max_heap = std::max(max_heap, t.conn.heap_bytes());
  }
  EXPECT_EQ(evs, kReferenceEvents);
  Harness whole;
  whole.feed(stream);
  EXPECT_EQ(t.take_output(), whole.take_output());
  EXPECT_LT(max_heap, 2048u);  // a partial head or frame, never a fixed big buffer
}

TEST(WsConnection, UndrainedInputIsKeptWhenMoreArrives) {
  const auto stream = reference_stream();
  Harness t;
  auto a = std::vector<std::byte>(stream.begin(), stream.begin() + 300);
  auto b = std::vector<std::byte>(stream.begin() + 300, stream.end());
  t.conn.handle_bytes(Instant{}, a);  // not drained before the next segment
  t.conn.handle_bytes(Instant{}, b);
  EXPECT_EQ(t.drain(), kReferenceEvents);
}

TEST(WsConnection, PartialFrameIsCopiedThenFreed) {
  Harness t;
  t.open();
  const auto f = frame(WsOpcode::binary, std::string(1000, 'q'));
  EXPECT_TRUE(t.feed(std::span(f).first(400)).empty());
  EXPECT_GE(t.conn.heap_bytes(), f.size());  // reserved once for the whole frame
  EXPECT_LT(t.conn.heap_bytes(), 2 * f.size());
  auto evs = t.feed(std::span(f).subspan(400));
  EXPECT_EQ(evs, std::vector<Ev>{msg(std::string(1000, 'q'), WsOpcode::binary)});
  EXPECT_EQ(t.conn.heap_bytes(), 0u);
}

// --- rejections ------------------------------------------------------------------------------

struct Violation {
  const char* what;
  std::vector<std::byte> bytes;
  std::uint16_t code;
};

TEST(WsConnection, ProtocolViolationsCloseWithTheRightCode) {
  const std::vector<Violation> cases = {
      {"RSV1 without extension", raw({0xC1, 0x80, 1, 2, 3, 4}), 1002},
      {"reserved opcode", raw({0x83, 0x80, 1, 2, 3, 4}), 1002},
      {"reserved control opcode", raw({0x8C, 0x80, 1, 2, 3, 4}), 1002},
      {"unmasked frame", raw({0x81, 0x02, 'h', 'i'}), 1002},
      {"ping over 125 bytes", frame(WsOpcode::ping, std::string(126, 'p')), 1002},
      {"fragmented ping", raw({0x09, 0x80, 1, 2, 3, 4}), 1002},
      {"64-bit length with MSB", raw({0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1}), 1002},
      {"continuation without start", frame(WsOpcode::continuation, "x"), 1002},
      {"new message inside a fragmented one", cat({frame(WsOpcode::text, "a", false), frame(WsOpcode::text, "b")}),
       1002},
      {"frame over max_frame_bytes", frame(WsOpcode::binary, std::string(2000, 'x')), 1009},
      {"message over max_message_bytes",
       cat({frame(WsOpcode::binary, std::string(1000, 'x'), false),
            frame(WsOpcode::continuation, std::string(1000, 'x'), false),
            frame(WsOpcode::continuation, std::string(1000, 'x'))}),
       1009},
      {"invalid UTF-8", frame(WsOpcode::text, "\xc0\xaf"), 1007},
      {"UTF-8 cut at the end of the message", frame(WsOpcode::text, "ab\xce"), 1007},
      {"invalid UTF-8 in the first fragment", cat({frame(WsOpcode::text, "\xed\xa0\x80", false)}), 1007},
      {"invalid UTF-8 across fragments",
       cat({frame(WsOpcode::text, "ok\xce", false), frame(WsOpcode::continuation, "\x41")}), 1007},
      {"close payload of 1 byte", frame(WsOpcode::close, "\x03"), 1002},
      {"close code 1005", frame(WsOpcode::close, close_body(1005)), 1002},
      {"close code 999", frame(WsOpcode::close, close_body(999)), 1002},
      {"close code 5000", frame(WsOpcode::close, close_body(5000)), 1002},
      {"close reason not UTF-8", frame(WsOpcode::close, close_body(1000, "\xff")), 1007},
  };
  WsLimits limits;
  limits.max_frame_bytes = 1500;
  limits.max_message_bytes = 2500;
  for (const Violation& v : cases) {
    Harness t(limits);
    t.open();
    const auto before = kWsProtocolErrorsTotal.total();
    auto evs = t.feed(v.bytes);
    ASSERT_FALSE(evs.empty()) << v.what;
    EXPECT_EQ(evs.back().kind, Ev::closed) << v.what;
    EXPECT_EQ(evs.back().code, v.code) << v.what;
    EXPECT_FALSE(evs.back().remote) << v.what;
    EXPECT_TRUE(t.conn.wants_close()) << v.what;
    auto out = decode(t.take_output());
    ASSERT_FALSE(out.empty()) << v.what;
    EXPECT_EQ(out.back().op, WsOpcode::close) << v.what;
    EXPECT_EQ(out.back().payload.substr(0, 2), close_body(v.code)) << v.what;
    EXPECT_TRUE(is_valid_utf8(std::string_view(out.back().payload).substr(2))) << v.what;
    EXPECT_EQ(kWsProtocolErrorsTotal.total(), before + 1) << v.what;
    EXPECT_TRUE(t.feed(frame(WsOpcode::text, "after")).empty()) << v.what;  // nothing more is read
    EXPECT_TRUE(t.conn.pending_output().empty()) << v.what;
    EXPECT_EQ(t.conn.heap_bytes(), 0u) << v.what;
  }
}

TEST(WsConnection, OversizedFrameIsRefusedBeforeItsPayloadIsBuffered) {
  WsLimits limits;
  limits.max_frame_bytes = 1000;
  Harness t(limits);
  t.open();
  const auto f = frame(WsOpcode::binary, std::string(5000, 'x'));
  auto evs = t.feed(std::span(f).first(4));  // just the header
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].code, kWsCloseTooBig);
  EXPECT_EQ(t.conn.heap_bytes() - t.conn.pending_output().size() <= 64, true);
}

TEST(WsConnection, CloseKeepsTheMessageViewBeingHandledValid) {
  Harness t;
  t.open();
  auto buf = cat({frame(WsOpcode::text, "BYE sip:a", false), frame(WsOpcode::continuation, "@b SIP/2.0")});
  t.conn.handle_bytes(Instant{}, buf);
  auto e = t.conn.poll_event();
  ASSERT_TRUE(e.has_value());
  auto* m = std::get_if<WsMessage>(&*e);
  ASSERT_NE(m, nullptr);
  t.conn.close(kWsCloseNormal, "done");         // the application closes while handling the message
  EXPECT_EQ(m->text(), "BYE sip:a@b SIP/2.0");  // reassembled in the connection, still readable
  EXPECT_FALSE(t.conn.poll_event().has_value());
  EXPECT_EQ(t.conn.heap_bytes(), t.conn.pending_output().size() > 0 ? t.conn.heap_bytes() : 0u);
  t.take_output();
  EXPECT_EQ(t.conn.heap_bytes(), 0u);
}

// --- close handshake -------------------------------------------------------------------------

TEST(WsConnection, PeerCloseIsEchoed) {
  Harness t;
  t.open();
  auto evs = t.feed(frame(WsOpcode::close, close_body(1000, "Normal closure")));
  EXPECT_EQ(evs, std::vector<Ev>{closed(1000, "Normal closure", true)});
  EXPECT_EQ(decode(t.take_output()), (std::vector<OutFrame>{{WsOpcode::close, true, close_body(1000)}}));
  EXPECT_TRUE(t.conn.wants_close());
  EXPECT_FALSE(t.conn.send_text("late"));

  Harness app;
  app.open();
  EXPECT_EQ(app.feed(frame(WsOpcode::close, close_body(4001))), std::vector<Ev>{closed(4001, "", true)});
  EXPECT_EQ(decode(app.take_output()), (std::vector<OutFrame>{{WsOpcode::close, true, close_body(4001)}}));
}

TEST(WsConnection, EmptyPeerCloseIsAnsweredWith1000) {
  Harness t;
  t.open();
  EXPECT_EQ(t.feed(frame(WsOpcode::close, "")), std::vector<Ev>{closed(kWsCloseNoStatus, "", true)});
  EXPECT_EQ(decode(t.take_output()), (std::vector<OutFrame>{{WsOpcode::close, true, close_body(1000)}}));
}

TEST(WsConnection, EdgeInitiatedCloseWaitsForThePeer) {
  Harness t;
  t.open();
  t.conn.close(kWsCloseGoingAway, "shutting down");
  EXPECT_EQ(decode(t.take_output()),
            (std::vector<OutFrame>{{WsOpcode::close, true, close_body(1001, "shutting down")}}));
  EXPECT_FALSE(t.conn.wants_close());
  EXPECT_FALSE(t.conn.is_open());
  EXPECT_FALSE(t.conn.send_text("x"));
  // §7.1.2: data and pings after our close are discarded, not answered.
  EXPECT_TRUE(t.feed(cat({frame(WsOpcode::text, "late"), frame(WsOpcode::ping, "p")})).empty());
  EXPECT_TRUE(t.conn.pending_output().empty());
  EXPECT_EQ(t.feed(frame(WsOpcode::close, close_body(1001))), std::vector<Ev>{closed(1001, "", true)});
  EXPECT_TRUE(t.conn.pending_output().empty());  // no second close
  EXPECT_TRUE(t.conn.wants_close());
}

TEST(WsConnection, CloseSendsOnlySendableCodes) {
  Harness t;
  t.open();
  t.conn.close(kWsCloseNoStatus);  // 1005 may not be sent (§7.4.1)
  EXPECT_EQ(decode(t.take_output()), (std::vector<OutFrame>{{WsOpcode::close, true, close_body(1000)}}));
  Harness before_upgrade;
  before_upgrade.conn.close(1000);
  EXPECT_TRUE(before_upgrade.conn.wants_close());
  EXPECT_TRUE(before_upgrade.conn.pending_output().empty());
}

// --- keep-alives, ping, sending ---------------------------------------------------------------

TEST(WsConnection, CrlfKeepalivesAreAnsweredNotDelivered) {
  Harness t;
  t.open();
  const auto before = kWsCrlfKeepalivesTotal.total();
  EXPECT_TRUE(t.feed(frame(WsOpcode::text, "\r\n\r\n")).empty());
  EXPECT_TRUE(t.feed(frame(WsOpcode::text, "\r\n")).empty());
  EXPECT_EQ(decode(t.take_output()),
            (std::vector<OutFrame>{{WsOpcode::text, true, "\r\n"}, {WsOpcode::text, true, "\r\n"}}));
  EXPECT_EQ(kWsCrlfKeepalivesTotal.total(), before + 2);
  // Only the exact keep-alive: a message with CRLFs in it is a message.
  EXPECT_EQ(t.feed(frame(WsOpcode::text, "\r\n\r\n\r\n")), std::vector<Ev>{msg("\r\n\r\n\r\n")});
}

TEST(WsConnection, PingIsAnsweredWithTheSamePayloadAndPongIgnored) {
  Harness t;
  t.open();
  EXPECT_TRUE(
      t.feed(cat({frame(WsOpcode::ping, "Hello"), frame(WsOpcode::pong, "unsolicited"), frame(WsOpcode::ping, "")}))
          .empty());
  EXPECT_EQ(decode(t.take_output()),
            (std::vector<OutFrame>{{WsOpcode::pong, true, "Hello"}, {WsOpcode::pong, true, ""}}));
}

TEST(WsConnection, SendsServerFrames) {
  Harness t;
  t.open();
  ASSERT_TRUE(t.conn.send_text("SIP/2.0 200 OK\r\n\r\n"));
  ASSERT_TRUE(t.conn.send_binary(vec(std::string(300, 'b'))));
  ASSERT_TRUE(t.conn.send_ping(vec("k")));
  EXPECT_FALSE(t.conn.send_ping(vec(std::string(126, 'k'))));
  const std::string out = str(t.conn.pending_output());
  EXPECT_EQ(out.substr(0, 2), "\x81\x12");                           // FIN + text, 18 bytes, unmasked
  EXPECT_EQ(out.substr(20, 4), std::string("\x82\x7E\x01\x2C", 4));  // 300 as a 16-bit length
  EXPECT_EQ(decode(out), (std::vector<OutFrame>{{WsOpcode::text, true, "SIP/2.0 200 OK\r\n\r\n"},
                                                {WsOpcode::binary, true, std::string(300, 'b')},
                                                {WsOpcode::ping, true, "k"}}));
  // Partial sends: the rest stays pending, in order.
  t.conn.consume_output(5);
  EXPECT_EQ(str(t.conn.pending_output()), out.substr(5));
  t.conn.consume_output(1 << 20);
  EXPECT_TRUE(t.conn.pending_output().empty());
  EXPECT_EQ(t.conn.heap_bytes(), 0u);
}

TEST(WsConnection, NothingIsSentBeforeTheUpgrade) {
  Harness t;
  EXPECT_FALSE(t.conn.send_text("x"));
  EXPECT_FALSE(t.conn.send_binary({}));
  EXPECT_FALSE(t.conn.send_ping());
  EXPECT_TRUE(t.conn.pending_output().empty());
}

TEST(WsConnection, RemembersLastActivity) {
  Harness t;
  const Instant at = Instant{} + seconds(42);
  auto b = vec("GET");
  t.conn.handle_bytes(at, b);
  EXPECT_EQ(t.conn.last_activity(), at);
}

TEST(WsConnection, MetricsCountBadRequests) {
  const auto before = kHttpBadRequestsTotal.total();
  Harness t;
  t.feed("\x16\x03\x01\x00\x05hello");  // TLS on the plain port
  EXPECT_EQ(kHttpBadRequestsTotal.total(), before + 1);
}

}  // namespace
}  // namespace webtrunk::core
