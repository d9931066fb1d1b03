// browser-sim <-> SipCore <-> trunk-sim in one process, on a fake clock, no sockets
// (DESIGN.md "Sans-IO"; STYLE.md "Tests"). The browser speaks like JsSIP 3.13 (features.md §2),
// the trunk like the sipp UAS of ../shared/peers/sipp/uas-trunk.xml. UDP toward the trunk can
// lose datagrams on demand.
#pragma once

#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "auth/digest.hpp"
#include "auth/edge_authenticator.hpp"
#include "auth/edge_token.hpp"
#include "core/clock.hpp"
#include "edge/auth_gate.hpp"
#include "edge/sip_core.hpp"
#include "edge/sip_messages.hpp"
#include "sip/header_parsers.hpp"
#include "sip/parser.hpp"
#include "sip/transaction.hpp"
#include "sip/writer.hpp"

namespace webtrunk::sim {

using sip::OwnedMessage;
using Msg = std::unique_ptr<OwnedMessage>;

inline constexpr std::int64_t kUnix0 = 1767220000;
inline constexpr std::string_view kSecret = "edge-test-secret";  // as in ../shared/peers/kamailio
inline constexpr std::string_view kRealm = "edge.test";
inline const auth::Secret kK1{"k1", "edge-secret-k1-0123456789"};  // for tokens with claims

inline const std::string kOffer =
    "v=0\r\no=- 3256026138279552553 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
    "m=audio 42985 UDP/TLS/RTP/SAVPF 111 0 8 126\r\nc=IN IP4 127.0.0.1\r\na=rtpmap:111 opus/48000/2\r\n"
    "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:126 telephone-event/8000\r\na=setup:actpass\r\n"
    "a=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\n";
inline const std::string kAnswer =
    "v=0\r\no=trunk 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 6000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=ptime:20\r\na=sendrecv\r\n";

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

// The trunk: what reached UDP 127.0.0.1:5080.
struct Trunk {
  core::SockAddr addr = core::SockAddr::ipv4_loopback(5080);
  std::deque<Msg> inbox;
  std::string tag = "25307SIPpTag011";

  Msg next();
  Msg next_request(std::string_view method);  // skips others
  // A response to `req` as sipp builds it (Via/From/To/Call-ID/CSeq copied, our tag, Contact).
  std::string respond(const sip::MessageView& req, int code, std::string_view reason, std::string_view body = {},
                      const std::vector<std::pair<std::string_view, std::string_view>>& extra = {}) {
    std::vector<std::pair<std::string_view, std::string_view>> h = extra;
    h.emplace_back("Contact", "<sip:127.0.0.1:5080;transport=UDP>");
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
    w.header("Via", fmt::format("SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-trunk-{}-{}", method, cs));
    w.header("Max-Forwards", "70");
    w.header("From", fmt::format("{};tag={}", invite.value(sip::HeaderId::to), tag));
    w.header("To", invite.value(sip::HeaderId::from));
    w.header("Call-ID", invite.value(sip::HeaderId::call_id));
    w.header("CSeq", fmt::format("{} {}", cs, method));
    w.header("Contact", "<sip:127.0.0.1:5080;transport=UDP>");
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
};

struct Sim {
  core::Instant t0 = core::Instant{} + std::chrono::hours(1);
  core::Instant now = t0;
  std::unique_ptr<edge::SipCore> core;
  std::vector<std::unique_ptr<Browser>> browsers;
  Trunk trunk;
  std::vector<edge::CallRecord> cdrs;
  // Return true to drop a datagram edge -> trunk (UDP loss).
  std::function<bool(std::string_view)> drop_to_trunk;
  std::uint32_t next_flow = 1;

  using Options = SimOptions;

  explicit Sim(Options o = Options{}) {
    edge::SipCoreConfig c;
    c.shard = 0;
    c.sip_host = "127.0.0.1";
    c.sip_port = 5070;
    auto table = o.routes_file ? edge::RouteTable::parse(o.routes, "routes") : edge::RouteTable::single(o.routes);
    EXPECT_TRUE(table.ok());
    c.routes = std::make_shared<const edge::RouteTable>(std::move(*table));
    const core::Instant base = t0;
    c.unix_time = [base](core::Instant t) {
      return kUnix0 + std::chrono::duration_cast<std::chrono::seconds>(t - base).count();
    };
    c.id_seed = 42;
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
    core = std::make_unique<edge::SipCore>(std::move(c), std::move(gate));
    core->on_cdr = [this](const edge::CallRecord& r) { cdrs.push_back(r); };
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
        EXPECT_EQ(t->addr, trunk.addr) << t->bytes;
        if (drop_to_trunk && drop_to_trunk(t->bytes)) continue;
        trunk.inbox.push_back(std::make_unique<OwnedMessage>(t->bytes));
        EXPECT_TRUE(trunk.inbox.back()->parsed) << t->bytes;
      } else {
        for (auto& b : browsers) {
          if (b->flow == t->flow) {
            b->inbox.push_back(std::make_unique<OwnedMessage>(t->bytes));
            EXPECT_TRUE(b->inbox.back()->parsed) << t->bytes;
          }
        }
      }
    }
  }

  void from_trunk(const std::string& bytes) {
    core->handle_trunk_datagram(now, trunk.addr, bytes);
    deliver();
  }

  // Advances the fake clock by `d`, firing every deadline on the way.
  void advance(core::Duration d) {
    const core::Instant until = now + d;
    for (;;) {
      auto next = core->poll_timeout();
      if (!next || *next > until) break;
      now = std::max(now, *next);
      core->handle_timeout(now);
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
        "Contact: <sip:uoggfa7q@{};transport=ws>;+sip.ice;reg-id=1;+sip.instance=\"<urn:uuid:fbdc327a-460a-4d74-8047-"
        "b41673616bc6>\";expires={}",
        b.host, expires);
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

}  // namespace webtrunk::sim
