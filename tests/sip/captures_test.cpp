// Real JsSIP 3.13.8 / SIP.js 0.21.2 / Kamailio / sipp messages captured on the WebSocket
// (tests/data/sip/captures/, extracted by extract_captures.py from tests/data/transcripts/).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "sip/auth_params.hpp"
#include "sip/header_parsers.hpp"
#include "sip/parser.hpp"
#include "sip/uri.hpp"
#include "sip/validate.hpp"
#include "sip_test_util.hpp"

namespace webtrunk::sip {
namespace {

std::string capture(const std::string& name) { return test::read_file(test::data_path("captures/" + name)); }

// Parses as a WebSocket message (datagram framing, RFC 7118) and as a stream, and validates.
void parse_capture(const std::string& text, MessageView& m) {
  ParseResult r = parse_message(text, m, {Framing::stream});
  ASSERT_EQ(r.status, ParseStatus::ok) << r.reason;
  ASSERT_EQ(r.consumed, text.size());
  r = parse_message(text, m, {Framing::datagram});
  ASSERT_EQ(r.status, ParseStatus::ok) << r.reason;
  const Verdict v = m.is_request() ? validate_request(m) : validate_response(m);
  ASSERT_TRUE(v.ok()) << v.code << " " << v.reason;
}

TEST(Captures, EveryCapturedMessageParsesAndValidates) {
  std::size_t n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(test::data_path("captures"))) {
    if (entry.path().extension() != ".sip") continue;
    SCOPED_TRACE(entry.path().filename().string());
    const std::string text = test::read_file(entry.path().string());
    MessageView m;
    parse_capture(text, m);
    ++n;
  }
  EXPECT_EQ(n, 15u);
}

TEST(Captures, JsSipInviteWithSdp) {
  const std::string text = capture("jssip_invite_sdp.sip");
  MessageView m;
  parse_capture(text, m);
  EXPECT_EQ(m.method(), Method::invite);
  EXPECT_EQ(m.request_uri(), "sip:trunk@edge.test");
  const auto via = top_via(m);
  ASSERT_TRUE(via);
  EXPECT_EQ(via->transport, "WS");
  EXPECT_EQ(via->host, "2ptt6va5fmo9.invalid");
  EXPECT_EQ(via->branch, "z9hG4bK4609336");
  EXPECT_FALSE(via->has_rport);
  EXPECT_EQ(call_id(m), "97qcmidekhpsoulq4v3j");
  EXPECT_EQ(cseq(m)->number, 1864u);
  EXPECT_EQ(from_tag(m), "jj68q4f2rq");
  EXPECT_EQ(to_tag(m), "");
  EXPECT_EQ(parse_max_forwards(m.value(HeaderId::max_forwards)), 69u);
  MediaType mt;
  ASSERT_TRUE(parse_media_type(m.value(HeaderId::content_type), mt));
  EXPECT_TRUE(mt.is("application", "sdp"));
  EXPECT_EQ(m.body().size(), 1552u);
  EXPECT_TRUE(m.body().starts_with("v=0\r\n"));
  EXPECT_TRUE(has_token(m, HeaderId::supported, "gruu"));
  EXPECT_TRUE(has_token(m, HeaderId::allow, "UPDATE"));
  NameAddr contact;
  ASSERT_TRUE(parse_name_addr(m.value(HeaderId::contact), contact));
  Uri cu;
  ASSERT_TRUE(parse_uri(contact.uri, cu));
  EXPECT_EQ(find_param(cu.params, "gr"), "urn:uuid:fbdc327a-460a-4d74-8047-b41673616bc6");
}

TEST(Captures, JsSipRegisterWithAuthorization) {
  const std::string text = capture("jssip_register_auth.sip");
  MessageView m;
  parse_capture(text, m);
  EXPECT_EQ(m.method(), Method::register_);
  AuthParams a;
  ASSERT_TRUE(parse_auth(m.value(HeaderId::authorization), a));
  EXPECT_TRUE(a.is_digest());
  EXPECT_EQ(a.get("username"), "1795811319:alice");
  EXPECT_EQ(a.get("realm"), "edge.test");
  EXPECT_EQ(a.get("response"), "a10cd7e7a0c2de71a9c9b4a7eddb2a13");
  EXPECT_EQ(parse_delta_seconds(m.value(HeaderId::expires)), 600u);
  NameAddr c;
  ASSERT_TRUE(parse_name_addr(m.value(HeaderId::contact), c));
  EXPECT_EQ(contact_instance(c), "urn:uuid:fbdc327a-460a-4d74-8047-b41673616bc6");
  EXPECT_EQ(contact_reg_id(c), 1u);
  EXPECT_EQ(contact_expires(c), 600u);
  EXPECT_TRUE(has_token(m, HeaderId::supported, "outbound"));

  const std::string sipjs = capture("sipjs_register_auth.sip");
  parse_capture(sipjs, m);
  ASSERT_TRUE(parse_auth(m.value(HeaderId::authorization), a));
  EXPECT_TRUE(a.get("username").has_value());
  EXPECT_TRUE(has_token(m, HeaderId::supported, "outbound"));  // "outbound, path, gruu" with spaces
}

TEST(Captures, ChallengeAndResponses) {
  MessageView m;
  const std::string chal = capture("kamailio_401_register.sip");
  parse_capture(chal, m);
  EXPECT_EQ(m.status_code(), 401);
  AuthParams a;
  ASSERT_TRUE(parse_auth(m.value(HeaderId::www_authenticate), a));
  EXPECT_EQ(a.get("nonce"), "awnbE2sJ2ef0kVbov0T4i7f2zTFeyEli");
  const auto via = top_via(m);
  EXPECT_EQ(via->rport, "40390");
  EXPECT_EQ(via->received, "127.0.0.1");

  const std::string ok = capture("trunk_200_invite_sdp.sip");
  parse_capture(ok, m);
  EXPECT_EQ(m.status_code(), 200);
  EXPECT_EQ(to_tag(m), "24681SIPpTag011");
  EXPECT_EQ(cseq(m)->method, Method::invite);
  EXPECT_EQ(m.content_length(), 535u);  // "Content-Length:   535" from sipp
  ListCursor rr(m, HeaderId::record_route);
  std::string_view e;
  int n = 0;
  while (rr.next(e)) {
    NameAddr na;
    ASSERT_TRUE(parse_name_addr(e, na));
    ++n;
  }
  EXPECT_EQ(n, 2);  // comma-joined Record-Route
}

TEST(Captures, InDialogRequests) {
  MessageView m;
  const std::string ack = capture("jssip_ack.sip");
  parse_capture(ack, m);
  EXPECT_EQ(m.method(), Method::ack);
  EXPECT_EQ(m.headers()[0].id, HeaderId::route);  // Route before Via
  EXPECT_EQ(m.count(HeaderId::route), 2u);
  EXPECT_EQ(to_tag(m), "24681SIPpTag011");

  const std::string bye = capture("jssip_bye.sip");
  parse_capture(bye, m);
  EXPECT_EQ(m.method(), Method::bye);
  EXPECT_EQ(cseq(m)->number, 1865u);

  const std::string info = capture("jssip_info_dtmf.sip");
  parse_capture(info, m);
  EXPECT_EQ(m.method(), Method::info);
  MediaType mt;
  ASSERT_TRUE(parse_media_type(m.value(HeaderId::content_type), mt));
  EXPECT_TRUE(mt.is("application", "dtmf-relay"));
  EXPECT_EQ(m.body(), "Signal=1\r\nDuration=100");  // 22 bytes, no trailing CRLF

  const std::string update = capture("jssip_update_session_expires.sip");
  parse_capture(update, m);
  EXPECT_EQ(m.method(), Method::update);
  SessionExpires se;
  ASSERT_TRUE(parse_session_expires(m.value(HeaderId::session_expires), se));
  EXPECT_EQ(se.delta, 90u);
  EXPECT_EQ(se.refresher, Refresher::uac);

  const std::string invite = capture("jssip_invite_session_expires.sip");
  parse_capture(invite, m);
  ASSERT_TRUE(parse_session_expires(m.value(HeaderId::session_expires), se));
  EXPECT_EQ(se.refresher, Refresher::none);
  EXPECT_TRUE(has_token(m, HeaderId::supported, "timer"));
}

TEST(Captures, SipJsInviteHeaderOrder) {
  MessageView m;
  const std::string text = capture("sipjs_invite_sdp.sip");
  parse_capture(text, m);
  EXPECT_EQ(m.method(), Method::invite);
  EXPECT_EQ(parse_max_forwards(m.value(HeaderId::max_forwards)), 70u);
  EXPECT_EQ(cseq(m)->number, 1u);
  NameAddr c;
  ASSERT_TRUE(parse_name_addr(m.value(HeaderId::contact), c));
  Uri u;
  ASSERT_TRUE(parse_uri(c.uri, u));
  EXPECT_TRUE(has_param(u.params, "ob"));
  EXPECT_EQ(find_param(u.params, "transport"), "ws");
  EXPECT_FALSE(m.find(HeaderId::session_expires));
}

}  // namespace
}  // namespace webtrunk::sip
