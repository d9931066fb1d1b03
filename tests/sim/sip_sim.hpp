// browser-sim <-> CallController <-> trunk-sim in one process, on a fake clock, no sockets
// (DESIGN.md "Sans-IO"; STYLE.md "Tests"). The browser speaks like JsSIP 3.13 (features.md §2)
// with Chromium's offer, the trunk like the sipp UAS of tests/integration/sipp/answer.xml. UDP
// toward the trunk can lose datagrams on demand. The shard's media sessions are a recording fake
// (fake_media.hpp).
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <deque>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <unistd.h>

#include <fmt/format.h>

#include "auth/digest.hpp"
#include "auth/edge_authenticator.hpp"
#include "auth/edge_token.hpp"
#include "core/clock.hpp"
#include "edge/auth_gate.hpp"
#include "edge/call_controller.hpp"
#include "edge/sip_messages.hpp"
#include "fake_media.hpp"
#include "sip/header_parsers.hpp"
#include "sip/parser.hpp"
#include "sip/transaction.hpp"
#include "sip/writer.hpp"

namespace webtrunk::sim {

using sip::OwnedMessage;
using Msg = std::unique_ptr<OwnedMessage>;

inline constexpr std::int64_t kUnix0 = 1767220000;
inline constexpr std::string_view kSecret = "edge-test-secret";  // as in tests/integration/kamailio
inline constexpr std::string_view kRealm = "edge.test";
inline const auth::Secret kK1{"k1", "edge-secret-k1-0123456789"};  // for tokens with claims

// Chromium's offer as JsSIP sends it (tests/data/sdp/chromium/offer-example.sdp).
inline const std::string kOffer =
    "v=0\r\no=- 4781285960896215454 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
    "a=extmap-allow-mixed\r\na=msid-semantic: WMS 9edcf8ca-6517-4f0e-92cd-c0e99f04531c\r\n"
    "m=audio 58206 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\nc=IN IP4 127.0.0.1\r\n"
    "a=rtcp:9 IN IP4 0.0.0.0\r\n"
    "a=candidate:609460023 1 udp 2122260223 127.0.0.1 58206 typ host generation 0 network-id 1 network-cost 50\r\n"
    "a=ice-ufrag:aj7f\r\na=ice-pwd:+BmAjVNCJqk/MfBiI+1h9OHK\r\na=ice-options:trickle\r\n"
    "a=fingerprint:sha-256 "
    "02:FA:96:EF:A1:32:50:67:82:18:D9:88:A0:22:E1:55:07:7B:18:ED:7D:31:3D:89:C8:E8:48:B7:31:9F:8A:38\r\n"
    "a=setup:actpass\r\na=mid:0\r\na=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=sendrecv\r\n"
    "a=msid:9edcf8ca-6517-4f0e-92cd-c0e99f04531c f5cde156-9915-414c-b4b8-b53b20a37bb1\r\n"
    "a=rtcp-mux\r\na=rtcp-rsize\r\na=rtpmap:111 opus/48000/2\r\na=rtcp-fb:111 transport-cc\r\n"
    "a=fmtp:111 minptime=10;useinbandfec=1\r\na=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111\r\n"
    "a=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:13 CN/8000\r\n"
    "a=rtpmap:110 telephone-event/48000\r\na=rtpmap:126 telephone-event/8000\r\n"
    "a=ssrc:3856974948 cname:/E5NsazP3bDkVT9Z\r\n";
inline constexpr std::string_view kBrowserUfrag = "aj7f";
inline constexpr std::string_view kBrowserFingerprint =
    "02:FA:96:EF:A1:32:50:67:82:18:D9:88:A0:22:E1:55:07:7B:18:ED:7D:31:3D:89:C8:E8:48:B7:31:9F:8A:38";
// The sipp trunk's answer: PCMU first, and telephone-event on its own number (101, the browser's is 126).
inline const std::string kAnswer =
    "v=0\r\no=trunk 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 6000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n";

// `sdp` with the first `from` replaced by `to` (SDP edits in the tests).
inline std::string sdp_with(std::string sdp, std::string_view from, std::string_view to) {
  const auto at = sdp.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) sdp.replace(at, from.size(), to);
  return sdp;
}

inline std::string header_value(const sip::MessageView& m, std::string_view name) {
  const auto* h = m.find(name);
  return h ? std::string(h->value) : std::string();
}

// A token as a page configured for Kamailio mints it: "<expiry>:<user>", HMAC-SHA1 (auth_ephemeral).
struct Token {
  std::string username;
  std::string password;
  static Token legacy(std::string_view user, std::int64_t expiry, std::string_view secret = kSecret) {
    Token t;
    t.username = fmt::format("{}:{}", expiry, user);
    t.password = auth::ephemeral_password(secret, t.username, auth::HmacAlgo::sha1);
    return t;
  }
};

struct Sim;

// A JsSIP-like browser on one WebSocket flow.
struct Browser {
  Sim* sim = nullptr;
  core::ConnId flow;
  std::string user = "alice";
  Token token;
  std::deque<Msg> inbox;
  std::string host = "9v41u07uh5vh.invalid";
  // RFC 5626 +sip.instance: two tabs of one agent register two instances.
  std::string instance = "fbdc327a-460a-4d74-8047-b41673616bc6";
  std::uint32_t cseq = 4689;
  int counter = 0;

  std::string rnd(std::string_view prefix) { return fmt::format("{}{}x{}", prefix, flow.index, ++counter); }

  // Headers: one per element, "Name: value".
  std::string request(std::string_view method, std::string_view ruri, std::string_view call_id,
                      std::string_view from_tag, std::string_view to, std::uint32_t cs,
                      const std::vector<std::string>& extra, std::string_view ctype = {}, std::string_view body = {},
                      std::string branch = {}) {
    std::string out;
    sip::MessageWriter w(out);
    w.request_line(method, ruri);
    w.header("Via", fmt::format("SIP/2.0/WS {};branch={}", host, branch.empty() ? rnd("z9hG4bK") : branch));
    w.header("Max-Forwards", "69");
    w.header("To", to);
    w.header("From", fmt::format("<sip:{}@{}>;tag={}", user, kRealm, from_tag));
    w.header("Call-ID", call_id);
    w.header("CSeq", fmt::format("{} {}", cs, method));
    for (const auto& e : extra) {
      const auto c = e.find(':');
      w.header(std::string_view(e).substr(0, c), std::string_view(e).substr(c + 2));
    }
    if (!body.empty()) w.header("Content-Type", ctype);
    w.finish(body);
    return out;
  }

  std::string digest(std::string_view method, std::string_view uri, const std::string& challenge,
                     const Token& tok) {
    const auto at = challenge.find("nonce=\"") + 7;
    const std::string nonce = challenge.substr(at, challenge.find('"', at) - at);
    auth::DigestCredentials c;
    c.username = tok.username;
    c.realm = kRealm;
    c.nonce = nonce;
    c.uri = uri;
    c.algorithm = "MD5";
    c.qop = "auth";
    c.nc = "00000001";
    c.cnonce = "jssipcnonce";
    auth::DigestHex h;
    EXPECT_EQ(auth::compute_digest_response(c, method, tok.password, h), auth::DigestStatus::ok);
    return fmt::format(
        "Digest algorithm=MD5, username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{}\", qop=auth, "
        "cnonce=\"jssipcnonce\", nc=00000001",
        tok.username, kRealm, nonce, uri, h.view());
  }

  void send(std::string bytes);
  Msg next();                  // the next message from the edge (fails the test if none)
  Msg next_response(int code);  // skips other responses until `code` (fails if none)
};

// One call as the browser sees it.
struct BrowserCall {
  std::string call_id;
  std::string from_tag;
  std::string to = "<sip:15551234567@edge.test>";
  std::string ruri = "sip:15551234567@edge.test";
  std::string to_tag;  // the edge's, from its responses
  std::uint32_t cseq = 0;
  std::string invite_branch;
  std::string invite_bytes;
  std::string session_expires = "90";
};

// The trunk: what reached UDP 127.0.0.1:5080 (or its `addr`).
struct Trunk {
  core::SockAddr addr = core::SockAddr::ipv4_loopback(5080);
  std::deque<Msg> inbox;
  std::size_t over_tcp = 0;  // messages the edge sent here over a TCP link (SipTransmit::transport), all time
  std::size_t over_udp = 0;
  std::string tag = "25307SIPpTag011";

  Msg next();
  Msg next_request(std::string_view method);  // skips others
  // A response to `req` as sipp builds it (Via/From/To/Call-ID/CSeq copied, our tag, Contact).
  std::string respond(const sip::MessageView& req, int code, std::string_view reason, std::string_view body = {},
                      const std::vector<std::pair<std::string_view, std::string_view>>& extra = {}) {
    std::vector<std::pair<std::string_view, std::string_view>> h = extra;
    const std::string contact = fmt::format("<sip:{};transport=UDP>", addr.to_string());
    h.emplace_back("Contact", contact);
    return edge::build_response(req, code, reason, code > 100 ? tag : "", h, body.empty() ? "" : "application/sdp",
                                body);
  }
  // An in-dialog request from the trunk in the dialog `invite` (the edge's INVITE) made.
  std::string request(std::string_view method, const sip::MessageView& invite, std::uint32_t cs,
                      std::string_view body = {}, const std::vector<std::pair<std::string, std::string>>& extra = {}) {
    std::string out;
    sip::MessageWriter w(out);
    sip::NameAddr contact;
    (void)sip::parse_name_addr(invite.value(sip::HeaderId::contact), contact);
    w.request_line(method, contact.uri);
    w.header("Via", fmt::format("SIP/2.0/UDP {};branch=z9hG4bK-trunk-{}-{}", addr.to_string(), method, cs));
    w.header("Max-Forwards", "70");
    w.header("From", fmt::format("{};tag={}", invite.value(sip::HeaderId::to), tag));
    w.header("To", invite.value(sip::HeaderId::from));
    w.header("Call-ID", invite.value(sip::HeaderId::call_id));
    w.header("CSeq", fmt::format("{} {}", cs, method));
    w.header("Contact", fmt::format("<sip:{};transport=UDP>", addr.to_string()));
    for (const auto& [n, v] : extra) w.header(n, v);
    if (!body.empty()) w.header("Content-Type", "application/sdp");
    w.finish(body);
    return out;
  }
};

struct SimOptions {
  bool auth = true;
  bool bind_from_user = false;
  std::string routes = "udp:127.0.0.1:5080";
  bool routes_file = false;  // `routes` is file content
  std::string trunk_user;           // --trunk-user (with `routes` a single trunk)
  std::string trunk_password_file;  // --trunk-password-file
  std::vector<std::string> codecs = edge::default_codec_preference();  // --codecs
  edge::CallLimitConfig call_limits;  // --max-calls-per-token, --shards
  edge::TrunkPingConfig trunk_ping;   // --trunk-ping (with ping_trunks: this CallController pings)
  bool ping_trunks = false;
  bool register_trunks = false;  // this CallController registers with register=yes trunks
  core::Duration call_ping = core::Duration::zero();  // --call-ping
  bool trunk_100rel = true;                           // --trunk-100rel
  unsigned shard = 0;   // this controller's shard index, of `shards` (peers wired by Sim::link)
  unsigned shards = 1;
};

// A --trunk-password-file holding `password` for the test's lifetime, and the options of a trunk
// whose credentials are user "acme" with it. The path carries the process id: ctest runs each test in
// a process of its own, several at once, and one test's file must not be another's.
struct TrunkPasswordFile {
  std::string path;
  TrunkPasswordFile(std::string_view name, std::string_view password)
      : path(::testing::TempDir() + std::string(name) + "." + std::to_string(::getpid())) {
    std::ofstream(path) << password << "\n";
  }
  ~TrunkPasswordFile() { std::remove(path.c_str()); }
  TrunkPasswordFile(const TrunkPasswordFile&) = delete;
  TrunkPasswordFile& operator=(const TrunkPasswordFile&) = delete;
};

inline SimOptions with_credentials(const TrunkPasswordFile& pw) {
  SimOptions o;
  o.trunk_user = "acme";
  o.trunk_password_file = pw.path;
  return o;
}

struct Sim {
  core::Instant t0 = core::Instant{} + std::chrono::hours(1);
  core::Instant now = t0;
  FakeMedia media;  // declared before `core`: it outlives it
  std::unique_ptr<edge::CallController> core;
  std::vector<std::unique_ptr<Browser>> browsers;
  Trunk trunk;
  Trunk trunk_b;  // a second trunk at 127.0.0.2:5080, for tables that name it
  std::vector<edge::CallRecord> cdrs;
  // Return true to drop a datagram edge -> trunk (UDP loss).
  std::function<bool(std::string_view)> drop_to_trunk;
  std::uint32_t next_flow = 1;
  // Other shards' simulations by shard index (Sim::link): cross-shard notes go there at once.
  std::vector<Sim*> peers;

  using Options = SimOptions;

  explicit Sim(Options o = Options{}) {
    trunk_b.addr = core::SockAddr::parse("127.0.0.2:5080").value();
    edge::CallControllerConfig c;
    c.shard = o.shard;
    c.shards = o.shards;
    c.sip_host = "127.0.0.1";
    c.sip_port = 5070;
    auto table = o.routes_file ? edge::RouteTable::parse(o.routes, "routes") : edge::RouteTable::single(o.routes, o.trunk_user, o.trunk_password_file);
    EXPECT_TRUE(table.ok());
    c.routes = std::make_shared<const edge::RouteTable>(std::move(*table));
    const core::Instant base = t0;
    c.unix_time = [base](core::Instant t) {
      return kUnix0 + std::chrono::duration_cast<std::chrono::seconds>(t - base).count();
    };
    c.id_seed = 42 + o.shard;
    c.media = &media;
    c.codecs = o.codecs;
    c.call_limits = o.call_limits;
    c.trunk_ping = o.trunk_ping;
    c.ping_trunks = o.ping_trunks;
    c.register_trunks = o.register_trunks;
    c.call_ping = o.call_ping;
    c.trunk_100rel = o.trunk_100rel;
    std::unique_ptr<auth::EdgeAuthenticator> a;
    if (o.auth) {
      auth::VerifierOptions vo;
      vo.accept_legacy = true;
      auth::EdgeTokenVerifier v(vo);
      EXPECT_TRUE(v.set_secrets({auth::Secret{"", std::string(kSecret)}, kK1}).ok());
      const std::array<std::uint8_t, 32> key{9};
      a = std::make_unique<auth::EdgeAuthenticator>(std::make_shared<auth::NonceKey>(key), std::move(v),
                                                    auth::EdgeAuthOptions{std::string(kRealm), false, ""});
    }
    auto gate = std::make_unique<edge::AuthGate>(edge::AuthGateOptions{o.auth, o.bind_from_user, std::string(kRealm)},
                                                 std::move(a));
    core = std::make_unique<edge::CallController>(std::move(c), std::move(gate));
    core->on_cdr = [this](const edge::CallRecord& r) { cdrs.push_back(r); };
    // As EdgeShard wires the MediaBridge: a session ending by itself reaches CallController at once.
    media.on_ended = [this](media::SessionId id, media::MediaEnd why) {
      core->handle_media_ended(now, id, why);
      deliver();
    };
  }

  std::int64_t unix_now() const {
    return kUnix0 + std::chrono::duration_cast<std::chrono::seconds>(now - t0).count();
  }

  Browser& browser(std::string_view user = "alice") {
    auto b = std::make_unique<Browser>();
    b->sim = this;
    b->flow = core::ConnId{next_flow++, 1};
    b->user = std::string(user);
    b->token = Token::legacy(user, unix_now() + 3600);
    browsers.push_back(std::move(b));
    return *browsers.back();
  }

  // Moves everything the edge sent to the browsers' and the trunk's inboxes.
  void deliver() {
    while (auto t = core->poll_transmit()) {
      if (t->to == edge::SipTransmit::To::udp) {
        Trunk& to = t->addr == trunk_b.addr ? trunk_b : trunk;
        EXPECT_EQ(t->addr, to.addr) << t->bytes;
        if (drop_to_trunk && drop_to_trunk(t->bytes)) continue;
        ++(t->transport == sip::Transport::udp ? to.over_udp : to.over_tcp);
        to.inbox.push_back(std::make_unique<OwnedMessage>(t->bytes));
        EXPECT_TRUE(to.inbox.back()->parsed) << t->bytes;
      } else {
        for (auto& b : browsers) {
          if (b->flow == t->flow) {
            b->inbox.push_back(std::make_unique<OwnedMessage>(t->bytes));
            EXPECT_TRUE(b->inbox.back()->parsed) << t->bytes;
          }
        }
      }
    }
    while (auto n = core->poll_shard_note()) {
      ASSERT_LT(n->to, peers.size());
      Sim& to = *peers[n->to];
      to.now = now;
      to.core->handle_shard_note(now, std::move(*n));
      to.deliver();
    }
  }

  // Shards in one process: each Sim's notes reach the others (index = shard).
  static void link(std::vector<Sim*> sims) {
    for (Sim* s : sims) s->peers = sims;
  }

  void from_trunk(const std::string& bytes) { from_trunk(trunk, bytes); }
  void from_trunk(const Trunk& t, const std::string& bytes) {
    core->handle_trunk_datagram(now, t.addr, bytes);
    deliver();
  }

  // Advances the fake clock by `d`, firing every deadline on the way (the relay's too, with
  // media.use_relay()).
  void advance(core::Duration d) {
    const core::Instant until = now + d;
    for (;;) {
      const auto edge_at = core->poll_timeout();
      const auto media_at = media.poll_timeout();
      auto next = edge_at;
      if (media_at && (!next || *media_at < *next)) next = media_at;
      if (!next || *next > until) break;
      now = std::max(now, *next);
      if (edge_at && *edge_at <= now) core->handle_timeout(now);
      if (media_at && *media_at <= now) media.handle_timeout(now);
      deliver();
    }
    now = until;
  }

  void close_flow(Browser& b) {
    core->handle_flow_closed(now, b.flow);
    deliver();
  }

  // REGISTER with the digest dance; returns the final response.
  Msg register_(Browser& b, std::uint32_t expires = 600, bool with_auth = true) {
    const std::string call_id = b.rnd("reg");
    const std::string ftag = b.rnd("ft");
    const std::string to = fmt::format("<sip:{}@{}>", b.user, kRealm);
    const std::string contact = fmt::format(
        "Contact: <sip:uoggfa7q@{};transport=ws>;+sip.ice;reg-id=1;+sip.instance=\"<urn:uuid:{}>\";expires={}",
        b.host, b.instance, expires);
    const std::vector<std::string> base{contact, fmt::format("Expires: {}", expires),
                                        "Supported: path,gruu,outbound"};
    b.send(b.request("REGISTER", "sip:edge.test", call_id, ftag, to, ++b.cseq, base));
    Msg r = b.next();
    if (!with_auth || r->view.status_code() != 401) return r;
    auto extra = base;
    extra.push_back("Authorization: " +
                    b.digest("REGISTER", "sip:edge.test", header_value(r->view, "WWW-Authenticate"), b.token));
    b.send(b.request("REGISTER", "sip:edge.test", call_id, ftag, to, ++b.cseq, extra));
    return b.next();
  }

  // INVITE with the 407 dance; stops after the edge's 100 Trying (or its refusal).
  Msg invite(Browser& b, BrowserCall& c, std::string_view sdp = kOffer, bool with_auth = true) {
    c.call_id = b.rnd("call");
    c.from_tag = b.rnd("ft");
    c.cseq = ++b.cseq;
    const std::vector<std::string> base{fmt::format("Contact: <sip:02afp07h@{};transport=ws;ob>", b.host),
                                        "Session-Expires: " + c.session_expires, "Supported: timer,gruu,ice,replaces,outbound",
                                        "Allow: INVITE,ACK,CANCEL,BYE,UPDATE,MESSAGE,OPTIONS,REFER,INFO,NOTIFY,SUBSCRIBE"};
    c.invite_branch = b.rnd("z9hG4bK");
    c.invite_bytes = b.request("INVITE", c.ruri, c.call_id, c.from_tag, c.to, c.cseq, base, "application/sdp", sdp,
                               c.invite_branch);
    b.send(c.invite_bytes);
    Msg r = b.next();
    if (!with_auth || r->view.status_code() != 407) return r;
    // JsSIP ACKs the 407, then retries with credentials and a higher CSeq.
    b.send(b.request("ACK", c.ruri, c.call_id, c.from_tag,
                     c.to + ";tag=" + std::string(sip::to_tag(r->view)), c.cseq, {}, {}, {}, c.invite_branch));
    auto extra = base;
    extra.push_back("Proxy-Authorization: " +
                    b.digest("INVITE", c.ruri, header_value(r->view, "Proxy-Authenticate"), b.token));
    c.cseq = ++b.cseq;
    c.invite_branch = b.rnd("z9hG4bK");
    c.invite_bytes = b.request("INVITE", c.ruri, c.call_id, c.from_tag, c.to, c.cseq, extra, "application/sdp", sdp,
                               c.invite_branch);
    b.send(c.invite_bytes);
    return b.next();
  }

  // A browser request inside the call's dialog.
  void in_dialog(Browser& b, BrowserCall& c, std::string_view method, std::uint32_t cs, std::string_view ctype = {},
                 std::string_view body = {}, const std::vector<std::string>& extra = {}) {
    b.send(b.request(method, "sip:edge@127.0.0.1;transport=ws", c.call_id, c.from_tag, c.to + ";tag=" + c.to_tag, cs,
                     extra, ctype, body));
  }
};

inline void Browser::send(std::string bytes) {
  sim->core->handle_ws_message(sim->now, flow, bytes);
  sim->deliver();
}

inline Msg Browser::next() {
  if (inbox.empty()) {
    ADD_FAILURE() << "browser " << user << ": nothing from the edge";
    return std::make_unique<OwnedMessage>("SIP/2.0 999 Nothing\r\n\r\n");
  }
  Msg m = std::move(inbox.front());
  inbox.pop_front();
  return m;
}

inline Msg Browser::next_response(int code) {
  while (!inbox.empty()) {
    Msg m = next();
    if (m->view.is_response() && m->view.status_code() == code) return m;
  }
  ADD_FAILURE() << "browser " << user << ": no " << code << " from the edge";
  return std::make_unique<OwnedMessage>("SIP/2.0 999 Nothing\r\n\r\n");
}

inline Msg Trunk::next() {
  if (inbox.empty()) {
    ADD_FAILURE() << "trunk: nothing from the edge";
    return std::make_unique<OwnedMessage>("SIP/2.0 999 Nothing\r\n\r\n");
  }
  Msg m = std::move(inbox.front());
  inbox.pop_front();
  return m;
}

inline Msg Trunk::next_request(std::string_view method) {
  while (!inbox.empty()) {
    Msg m = next();
    if (m->view.is_request() && m->view.method_text() == method) return m;
  }
  ADD_FAILURE() << "trunk: no " << method << " from the edge";
  return std::make_unique<OwnedMessage>("SIP/2.0 999 Nothing\r\n\r\n");
}

// ---- whole-call helpers ----

// kOffer as JsSIP re-offers it (hold, resume): o= version `version`, direction `dir`.
inline std::string reoffer(int version, std::string_view dir) {
  return sdp_with(sdp_with(kOffer, " 2 IN IP4", fmt::format(" {} IN IP4", version)), "a=sendrecv", fmt::format("a={}", dir));
}

// The SDP the trunk gets from the edge: plain RTP/AVP on the session's trunk port, the codecs a
// trunk understands, nothing browser-only.
inline void expect_trunk_offer(std::string_view sdp, std::string_view direction, std::uint16_t port = 40002) {
  EXPECT_TRUE(sdp.starts_with("v=0\r\n")) << sdp;
  EXPECT_NE(sdp.find(fmt::format("m=audio {} RTP/AVP ", port)), std::string_view::npos) << sdp;
  EXPECT_NE(sdp.find("c=IN IP4 127.0.0.1"), std::string_view::npos) << sdp;
  EXPECT_NE(sdp.find("PCMU/8000"), std::string_view::npos) << sdp;
  EXPECT_NE(sdp.find("telephone-event/8000"), std::string_view::npos) << sdp;
  EXPECT_NE(sdp.find(fmt::format("a={}", direction)), std::string_view::npos) << sdp;
  for (std::string_view browser_only : {"a=ice-", "a=fingerprint", "a=setup", "a=extmap", "a=msid", "a=ssrc", "a=rtcp-fb",
                                        "a=candidate", "a=group", "a=mid", "SAVPF", "opus"}) {
    EXPECT_EQ(sdp.find(browser_only), std::string_view::npos) << browser_only << " in\n" << sdp;
  }
}

// The SDP the browser gets from the edge: ICE-lite, DTLS passive, the session's candidate.
inline void expect_browser_answer(std::string_view sdp, std::string_view direction, media::SessionId id = 1,
                                  const std::string& fingerprint = kEdgeFingerprint) {
  for (const std::string& line :
       {std::string("a=ice-lite"), std::string("a=group:BUNDLE 0"), std::string("UDP/TLS/RTP/SAVPF"),
        std::string("a=mid:0"), fmt::format("a=ice-ufrag:edge{:04}", id), fmt::format("a=ice-pwd:edgepassword{:012}", id),
        "a=fingerprint:sha-256 " + fingerprint, std::string("a=setup:passive"), std::string("a=rtcp-mux"),
        fmt::format("a={}", direction), fmt::format("127.0.0.1 {} typ host", kEdgeBrowserPort)}) {
    EXPECT_NE(sdp.find(line), std::string_view::npos) << line << " not in\n" << sdp;
  }
}

// The o= line's version (its third field).
inline std::string sdp_version(std::string_view sdp) {
  std::string_view o = edge::sdp_origin(sdp);
  for (int i = 0; i < 2 && !o.empty(); ++i) o.remove_prefix(std::min(o.size(), o.find(' ') + 1));
  return std::string(o.substr(0, o.find(' ')));
}

// The browser calls; the trunk answers 180 then 200 with kAnswer; the browser ACKs.
struct Connected {
  Msg trunk_invite;
  BrowserCall call;
  std::string answer;  // the edge's SDP in the browser's 200
};

// `offer`: the browser's SDP; `trunk`: the one the call is routed to (default sim.trunk).
inline Connected connect_call(Sim& sim, Browser& b, std::string_view offer = kOffer, Trunk* trunk = nullptr) {
  Trunk& t = trunk != nullptr ? *trunk : sim.trunk;
  Connected out;
  Msg trying = sim.invite(b, out.call, offer);
  EXPECT_EQ(trying->view.status_code(), 100);
  out.trunk_invite = t.next_request("INVITE");
  const sip::MessageView& inv = out.trunk_invite->view;
  sim.from_trunk(t, t.respond(inv, 100, "Trying"));
  sim.from_trunk(t, t.respond(inv, 180, "Ringing"));
  Msg ringing = b.next();
  EXPECT_EQ(ringing->view.status_code(), 180);
  sim.from_trunk(t, t.respond(inv, 200, "OK", kAnswer));
  Msg ack = t.next_request("ACK");
  EXPECT_EQ(ack->view.value(sip::HeaderId::call_id), inv.value(sip::HeaderId::call_id));
  Msg ok = b.next();
  EXPECT_EQ(ok->view.status_code(), 200);
  out.answer = std::string(ok->view.body());
  expect_browser_answer(out.answer, "sendrecv", sim.media.next_id - 1, sim.media.fingerprint);
  out.call.to_tag = std::string(sip::to_tag(ok->view));
  EXPECT_FALSE(out.call.to_tag.empty());
  // The browser ACKs the 2xx (a new branch, same CSeq number).
  sim.in_dialog(b, out.call, "ACK", out.call.cseq);
  EXPECT_TRUE(t.inbox.empty());
  return out;
}

}  // namespace webtrunk::sim
