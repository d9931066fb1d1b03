// Lazy header parsers, URIs and auth params, one grammar corner each.
#include "sip/header_parsers.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sip/auth_params.hpp"
#include "sip/parser.hpp"
#include "sip/text.hpp"
#include "sip/uri.hpp"
#include "sip_test_util.hpp"

namespace webtrunk::sip {
namespace {

using test::crlf;

TEST(Via, PartsAndParams) {
  Via v;
  ASSERT_TRUE(parse_via("SIP/2.0/WS 2ptt6va5fmo9.invalid;branch=z9hG4bK1864401", v));
  EXPECT_EQ(v.protocol_name, "SIP");
  EXPECT_EQ(v.protocol_version, "2.0");
  EXPECT_EQ(v.transport, "WS");
  EXPECT_EQ(v.host, "2ptt6va5fmo9.invalid");
  EXPECT_FALSE(v.has_port);
  EXPECT_EQ(v.branch, "z9hG4bK1864401");
  EXPECT_TRUE(has_magic_cookie(v.branch));
  EXPECT_FALSE(v.has_rport);

  ASSERT_TRUE(parse_via("SIP/2.0/UDP 192.0.2.1:5062;rport=40390;received=127.0.0.1;branch=z9hG4bKx;maddr=10.0.0.1", v));
  EXPECT_EQ(v.port, 5062);
  EXPECT_EQ(v.sent_by, "192.0.2.1:5062");
  EXPECT_TRUE(v.has_rport);
  EXPECT_EQ(v.rport, "40390");
  EXPECT_EQ(v.received, "127.0.0.1");
  EXPECT_EQ(v.maddr, "10.0.0.1");

  ASSERT_TRUE(parse_via("SIP/2.0/TCP [2001:db8::1]:5060;branch=z9hG4bK6;rport;received=[2001:db8::9]", v));
  EXPECT_TRUE(v.ipv6);
  EXPECT_EQ(v.host, "2001:db8::1");
  EXPECT_EQ(v.port, 5060);
  EXPECT_EQ(v.sent_by, "[2001:db8::1]:5060");
  EXPECT_TRUE(v.has_rport);
  EXPECT_TRUE(v.rport.empty());
  EXPECT_EQ(v.received, "[2001:db8::9]");

  for (const char* bad : {"SIP/2.0 host", "SIP/2.0/UDP", "SIP/2.0/UDPhost", "SIP/2.0/UDP host:99999",
                          "SIP/2.0/UDP host;;", "SIP/2.0/UDP host;branch=", "SIP/2.0/UDP [::1",
                          "SIP/2.0/UDP host;rport=abc", "SIP/2.0/UDP ho$t", "SIP/2.0/UDP host junk"}) {
    EXPECT_FALSE(parse_via(bad, v)) << bad;
  }
}

TEST(Via, MultipleInOneLineAndAcrossLines) {
  const std::string text = crlf(
      "SIP/2.0 200 OK\nVia: SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2\n"
      "Via: SIP/2.0/UDP c;branch=z9hG4bK3\nContent-Length: 0\n\n");
  MessageView m;
  ASSERT_EQ(parse_message(text, m).status, ParseStatus::ok);
  ListCursor c(m, HeaderId::via);
  std::string_view e;
  std::vector<std::string> hosts;
  while (c.next(e)) {
    Via v;
    ASSERT_TRUE(parse_via(e, v));
    hosts.emplace_back(v.host);
  }
  EXPECT_EQ(hosts, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(top_via(m)->branch, "z9hG4bK1");
}

TEST(ListCursor, QuotesAndBracketsDoNotSplit) {
  ListCursor c("<sip:a,b@h>;x=\"1,2\" , \"Q, R\" <sip:c@h>,");
  std::string_view e;
  ASSERT_TRUE(c.next(e));
  EXPECT_EQ(e, "<sip:a,b@h>;x=\"1,2\"");
  ASSERT_TRUE(c.next(e));
  EXPECT_EQ(e, "\"Q, R\" <sip:c@h>");
  ASSERT_TRUE(c.next(e));
  EXPECT_EQ(e, "");  // trailing comma: an empty element a strict caller rejects
  EXPECT_FALSE(c.next(e));
  ListCursor open("\"unterminated, x");
  EXPECT_FALSE(open.next(e));
  EXPECT_FALSE(open.ok());
}

TEST(NameAddr, Forms) {
  NameAddr na;
  ASSERT_TRUE(parse_name_addr("<sip:alice@edge.test>;tag=fojdutdt6u", na));
  EXPECT_EQ(na.uri, "sip:alice@edge.test");
  EXPECT_TRUE(na.display_name.empty());
  EXPECT_EQ(na.tag(), "fojdutdt6u");
  ASSERT_TRUE(parse_name_addr("\"Alice \\\"A\\\"\" <sips:alice@[2001:db8::1]:5061;transport=tls>", na));
  std::string scratch;
  EXPECT_EQ(unquote(na.display_name, scratch), "Alice \"A\"");
  EXPECT_EQ(na.tag(), "");
  ASSERT_TRUE(parse_name_addr("Alice Smith <tel:+15551234567;phone-context=example.com>", na));
  EXPECT_EQ(na.display_name, "Alice Smith");
  ASSERT_TRUE(parse_name_addr("J\xC3\xB6rg M\xC3\xBCller <sip:joerg@pbx.example.com>;tag=9", na));
  EXPECT_EQ(na.display_name, "J\xC3\xB6rg M\xC3\xBCller");
  EXPECT_EQ(na.tag(), "9");
  ASSERT_TRUE(parse_name_addr("sip:bob@h;tag=7;expires=60", na));
  EXPECT_FALSE(na.angle_brackets);
  EXPECT_EQ(na.uri, "sip:bob@h");
  EXPECT_EQ(na.tag(), "7");
  for (const char* bad : {"", "<sip:a@b", "< sip:a@b>", "<sip:a@b >", "\"open <sip:a@b>", "Bell, A <sip:a@b>",
                          "sip:a@b?x=y", "<sip:a@b>;;", "<>", "name only", "<sip:a@b> trailing"}) {
    EXPECT_FALSE(parse_name_addr(bad, na)) << bad;
  }
}

TEST(Contact, OutboundAndGruuParams) {
  NameAddr c;
  ASSERT_TRUE(parse_name_addr(
      "<sip:uoggfa7q@2ptt6va5fmo9.invalid;transport=ws>;+sip.ice;reg-id=1;"
      "+sip.instance=\"<urn:uuid:fbdc327a-460a-4d74-8047-b41673616bc6>\";expires=600",
      c));
  EXPECT_EQ(contact_expires(c), 600u);
  EXPECT_EQ(contact_reg_id(c), 1u);
  EXPECT_EQ(contact_instance(c), "urn:uuid:fbdc327a-460a-4d74-8047-b41673616bc6");
  EXPECT_TRUE(has_param(c.params, "+sip.ice"));
  Uri u;
  ASSERT_TRUE(parse_uri(c.uri, u));
  EXPECT_EQ(find_param(u.params, "transport"), "ws");
  ASSERT_TRUE(parse_name_addr("<sip:02afp07h@u2b2phfm7ila.invalid;transport=ws;ob>", c));
  ASSERT_TRUE(parse_uri(c.uri, u));
  EXPECT_TRUE(has_param(u.params, "ob"));
  ASSERT_TRUE(parse_name_addr("<sip:alice@edge.test;gr=urn:uuid:ab053d5c-7719-4d5f-963e-4ff1ed1a4edd>", c));
  ASSERT_TRUE(parse_uri(c.uri, u));
  EXPECT_EQ(find_param(u.params, "gr"), "urn:uuid:ab053d5c-7719-4d5f-963e-4ff1ed1a4edd");
  EXPECT_TRUE(is_star_contact("*"));
}

TEST(Uri, SipSipsTelAndOthers) {
  Uri u;
  ASSERT_TRUE(parse_uri("sip:alice:secret@example.com:5070;transport=tcp;lr?Subject=hi&Priority=urgent", u));
  EXPECT_EQ(u.scheme, UriScheme::sip);
  EXPECT_EQ(u.user, "alice");
  EXPECT_EQ(u.password, "secret");
  EXPECT_EQ(u.host, "example.com");
  EXPECT_EQ(u.port, 5070);
  EXPECT_EQ(u.params, ";transport=tcp;lr");
  EXPECT_EQ(u.headers, "Subject=hi&Priority=urgent");
  EXPECT_EQ(find_param(u.params, "TRANSPORT"), "tcp");
  ASSERT_TRUE(parse_uri("SIPS:[2001:db8::1]", u));
  EXPECT_EQ(u.scheme, UriScheme::sips);
  EXPECT_TRUE(u.ipv6);
  EXPECT_EQ(u.host, "2001:db8::1");
  EXPECT_FALSE(u.has_port);
  ASSERT_TRUE(parse_uri("sip:[2001:db8::10]:5070", u));
  EXPECT_EQ(u.port, 5070);
  EXPECT_EQ(u.hostport, "[2001:db8::10]:5070");
  ASSERT_TRUE(parse_uri("tel:+1-201-555-0123;phone-context=example.com", u));
  EXPECT_EQ(u.scheme, UriScheme::tel);
  EXPECT_EQ(u.user, "+1-201-555-0123");
  ASSERT_TRUE(parse_uri("urn:service:sos", u));
  EXPECT_EQ(u.scheme, UriScheme::other);
  EXPECT_EQ(u.opaque, "service:sos");
  for (const char* bad : {"", "sip:", "sip:@host", "sip:host:", "sip:host:70000", "sip:[::1", "sip:a b@h",
                          "sip:h;;", "1sip:h", "sip:h?", "tel:", "sip:ho<st"}) {
    EXPECT_FALSE(parse_uri(bad, u)) << bad;
  }
  EXPECT_TRUE(uri_part_equals("%61lice", "alice"));
  EXPECT_FALSE(uri_part_equals("Alice", "alice"));
}

TEST(Scalars, CSeqMaxForwardsDeltas) {
  CSeq c;
  ASSERT_TRUE(parse_cseq("4689 INVITE", c));
  EXPECT_EQ(c.number, 4689u);
  EXPECT_EQ(c.method, Method::invite);
  ASSERT_TRUE(parse_cseq("2147483647 BYE", c));
  EXPECT_FALSE(parse_cseq("2147483648 BYE", c));
  EXPECT_FALSE(parse_cseq("1INVITE", c));
  EXPECT_FALSE(parse_cseq("1 INVITE x", c));
  EXPECT_FALSE(parse_cseq("INVITE", c));
  EXPECT_EQ(parse_max_forwards("70"), 70u);
  EXPECT_FALSE(parse_max_forwards("256"));
  EXPECT_FALSE(parse_max_forwards("-1"));
  EXPECT_EQ(parse_delta_seconds("600"), 600u);
  EXPECT_EQ(parse_delta_seconds("99999999999999999999"), 0xFFFFFFFFu);
  EXPECT_FALSE(parse_delta_seconds("6O"));
  EXPECT_TRUE(is_valid_call_id("sc69r8he51g35hb71ed5km"));
  EXPECT_TRUE(is_valid_call_id("a@b"));
  EXPECT_FALSE(is_valid_call_id("a@"));
  EXPECT_FALSE(is_valid_call_id("a b"));
}

TEST(Scalars, SessionTimersEventReasonMediaType) {
  SessionExpires se;
  ASSERT_TRUE(parse_session_expires("90", se));
  EXPECT_EQ(se.delta, 90u);
  EXPECT_EQ(se.refresher, Refresher::none);
  ASSERT_TRUE(parse_session_expires("90;refresher=uac", se));
  EXPECT_EQ(se.refresher, Refresher::uac);
  ASSERT_TRUE(parse_session_expires("1800 ; refresher = uas ; x=1", se));
  EXPECT_EQ(se.refresher, Refresher::uas);
  EXPECT_FALSE(parse_session_expires("90;refresher=me", se));
  EXPECT_EQ(parse_min_se("90;x"), 90u);

  Event ev;
  ASSERT_TRUE(parse_event("refer;id=93809824", ev));
  EXPECT_EQ(ev.package, "refer");
  EXPECT_EQ(ev.id, "93809824");

  Reason r;
  ASSERT_TRUE(parse_reason("SIP;cause=488;text=\"Not Acceptable Here\"", r));
  EXPECT_EQ(r.protocol, "SIP");
  EXPECT_EQ(r.cause, 488);
  EXPECT_EQ(r.text, "\"Not Acceptable Here\"");

  MediaType mt;
  ASSERT_TRUE(parse_media_type("application/dtmf-relay", mt));
  EXPECT_TRUE(mt.is("Application", "DTMF-Relay"));
  ASSERT_TRUE(parse_media_type("text/plain ; charset=utf-8", mt));
  EXPECT_EQ(find_param(mt.params, "charset"), "utf-8");
  EXPECT_FALSE(parse_media_type("application", mt));
}

TEST(TokenLists, SupportedAllowRequire) {
  const std::string text = crlf(
      "INVITE sip:a@b SIP/2.0\nSupported: timer,gruu,ice\nk: outbound\nAllow: INVITE, ACK ,BYE\nRequire:\n\n");
  MessageView m;
  ASSERT_EQ(parse_message(text, m).status, ParseStatus::ok);
  EXPECT_TRUE(has_token(m, HeaderId::supported, "timer"));
  EXPECT_TRUE(has_token(m, HeaderId::supported, "OUTBOUND"));
  EXPECT_FALSE(has_token(m, HeaderId::supported, "100rel"));
  EXPECT_TRUE(has_token(m, HeaderId::allow, "ACK"));
  EXPECT_TRUE(is_token_list(m, HeaderId::allow));
  ListCursor req(m, HeaderId::require);
  std::string_view e;
  EXPECT_FALSE(req.next(e));  // an empty header holds no element
}

TEST(Auth, DigestCredentialsFromJsSip) {
  AuthParams a;
  ASSERT_TRUE(parse_auth(
      "Digest algorithm=MD5, username=\"1795811319:alice\", realm=\"edge.test\", "
      "nonce=\"awnbE2sJ2ef0kVbov0T4i7f2zTFeyEli\", uri=\"sip:edge.test\", "
      "response=\"a10cd7e7a0c2de71a9c9b4a7eddb2a13\"",
      a));
  EXPECT_TRUE(a.is_digest());
  EXPECT_EQ(a.count, 6u);
  EXPECT_EQ(a.get("algorithm"), "MD5");
  EXPECT_EQ(a.get("USERNAME"), "1795811319:alice");
  EXPECT_EQ(a.get("uri"), "sip:edge.test");
  EXPECT_EQ(a.find("nonce")->value, "\"awnbE2sJ2ef0kVbov0T4i7f2zTFeyEli\"");
  EXPECT_FALSE(a.get("qop"));
}

TEST(Auth, ChallengesBearerAndErrors) {
  AuthParams a;
  ASSERT_TRUE(parse_auth(
      "Digest realm=\"edge.test\", nonce=\"n\",\r\n qop=\"auth,auth-int\", algorithm=SHA-256, stale=FALSE", a));
  EXPECT_EQ(a.get("qop"), "auth,auth-int");
  EXPECT_EQ(a.get("algorithm"), "SHA-256");
  ASSERT_TRUE(parse_auth("Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln", a));
  EXPECT_EQ(a.scheme, "Bearer");
  EXPECT_EQ(a.token68, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln");
  ASSERT_TRUE(parse_auth("Bearer abc==", a));
  EXPECT_EQ(a.token68, "abc==");
  for (const char* bad : {"", "Digest realm=, x=1", "Digest realm=\"x", "Digest a=1,,b=2", "Digest a=1, a=2",
                          "Digest =x", "Digest a=1 b=2"}) {
    EXPECT_FALSE(parse_auth(bad, a)) << bad;
  }
  std::string many = "Digest ";
  for (int i = 0; i < 17; ++i) many += "p" + std::to_string(i) + "=1,";
  many.pop_back();
  EXPECT_FALSE(parse_auth(many, a));
}

TEST(Text, UnfoldAndUnquote) {
  std::string scratch;
  EXPECT_EQ(unfold("a \r\n  b\r\n\tc", scratch), "a b c");
  EXPECT_EQ(unfold("plain", scratch), "plain");
  EXPECT_EQ(unquote("\"a\\\\b\\\"c\"", scratch), "a\\b\"c");
  EXPECT_EQ(unquote("\"plain\"", scratch), "plain");
  EXPECT_EQ(unquote("token", scratch), "token");
}

}  // namespace
}  // namespace webtrunk::sip
