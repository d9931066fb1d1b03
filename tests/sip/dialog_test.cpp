// Dialogs (RFC 3261 §12) from both sides: route sets with Record-Route, in-dialog requests
// checked against real JsSIP traffic, CSeq rules, target refresh, strict routing, dialog ids.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <unordered_map>

#include "sip/dialog.hpp"
#include "sip/header_parsers.hpp"
#include "sip/parser.hpp"
#include "sip/text.hpp"
#include "sip/transaction.hpp"
#include "sip/validate.hpp"
#include "sip/writer.hpp"
#include "sip_test_util.hpp"

namespace webtrunk::sip {
namespace {

std::unique_ptr<OwnedMessage> parsed(std::string_view text) {
  auto m = std::make_unique<OwnedMessage>(text);
  EXPECT_TRUE(m->parsed) << text;
  return m;
}

std::unique_ptr<OwnedMessage> capture(const std::string& name) {
  return parsed(test::read_file(test::data_path("captures/" + name)));
}

std::vector<std::string_view> all_values(const MessageView& m, HeaderId id) {
  std::vector<std::string_view> out;
  for (const HeaderField* h = m.find(id); h != nullptr; h = m.find_next(h)) out.push_back(h->value);
  return out;
}

// The edge's INVITE toward a trunk, and the trunk's answers, with two proxies recording the route.
const std::string kInvite = test::crlf(
    "INVITE sip:+15551234567@trunk.example.com SIP/2.0\n"
    "Via: SIP/2.0/UDP 198.51.100.20:5062;branch=z9hG4bKinv1\n"
    "Max-Forwards: 70\n"
    "From: \"Alice\" <sip:alice@edge.test>;tag=ftag1\n"
    "To: <sip:+15551234567@trunk.example.com>\n"
    "Call-ID: cid-1@edge\n"
    "CSeq: 4711 INVITE\n"
    "Contact: <sip:edge@198.51.100.20:5062;transport=udp>\n"
    "Content-Length: 0\n\n");

std::string trunk_response(int code, std::string_view reason, std::string_view record_route,
                           std::string_view contact = "<sip:pbx@203.0.113.5:5060>") {
  std::string s = "SIP/2.0 " + std::to_string(code) + " " + std::string(reason) + "\n"
                  "Via: SIP/2.0/UDP 198.51.100.20:5062;branch=z9hG4bKinv1\n" + std::string(record_route) +
                  "From: \"Alice\" <sip:alice@edge.test>;tag=ftag1\n"
                  "To: <sip:+15551234567@trunk.example.com>;tag=ttag1\n"
                  "Call-ID: cid-1@edge\n"
                  "CSeq: 4711 INVITE\n"
                  "Contact: " + std::string(contact) + "\n"
                  "Content-Length: 0\n\n";
  return test::crlf(s);
}

const std::string kTwoProxies =
    "Record-Route: <sip:p2.example.com;lr>\n"
    "Record-Route: <sip:p1a.example.com;lr>, <sip:p1b.example.com;lr>\n";

// ---------------------------------------------------------------------------------------------
// UAC

TEST(DialogUac, FromTwoHundredReversesTheRecordRoute) {
  const auto inv = parsed(kInvite);
  const auto ok = parsed(trunk_response(200, "OK", kTwoProxies));
  const auto d = Dialog::from_uac(inv->view, ok->view);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->role(), Dialog::Role::uac);
  EXPECT_EQ(d->state(), Dialog::State::confirmed);
  EXPECT_EQ(d->call_id(), "cid-1@edge");
  EXPECT_EQ(d->local_tag(), "ftag1");
  EXPECT_EQ(d->remote_tag(), "ttag1");
  EXPECT_EQ(d->local_cseq(), 4711u);
  EXPECT_EQ(d->invite_cseq(), 4711u);
  EXPECT_FALSE(d->remote_cseq());
  EXPECT_EQ(d->remote_target(), "sip:pbx@203.0.113.5:5060");
  ASSERT_EQ(d->route_set().size(), 3u);
  EXPECT_EQ(d->route_set()[0], "<sip:p1b.example.com;lr>");
  EXPECT_EQ(d->route_set()[1], "<sip:p1a.example.com;lr>");
  EXPECT_EQ(d->route_set()[2], "<sip:p2.example.com;lr>");
  EXPECT_EQ(d->transport(), Transport::udp);
  EXPECT_EQ(d->local_contact(), "<sip:edge@198.51.100.20:5062;transport=udp>");
  EXPECT_EQ(d->id(), (DialogId{"cid-1@edge", "ftag1", "ttag1"}));
  EXPECT_EQ(DialogId::of_incoming_response(ok->view), d->id());
}

TEST(DialogUac, ByeAndAckAreBuiltLikeRfc3261Says) {
  const auto inv = parsed(kInvite);
  auto d = Dialog::from_uac(inv->view, parsed(trunk_response(200, "OK", kTwoProxies))->view);
  ASSERT_TRUE(d);

  const auto ack = parsed(d->make_request(Method::ack, "198.51.100.20:5062", "z9hG4bKack1"));
  EXPECT_TRUE(validate_request(ack->view).ok()) << validate_request(ack->view).reason;
  EXPECT_EQ(ack->view.request_uri(), "sip:pbx@203.0.113.5:5060");
  EXPECT_EQ(ack->view.value(HeaderId::cseq), "4711 ACK");  // the INVITE's number
  EXPECT_EQ(ack->view.value(HeaderId::via), "SIP/2.0/UDP 198.51.100.20:5062;branch=z9hG4bKack1");
  EXPECT_EQ(all_values(ack->view, HeaderId::route),
            (std::vector<std::string_view>{"<sip:p1b.example.com;lr>", "<sip:p1a.example.com;lr>",
                                           "<sip:p2.example.com;lr>"}));
  EXPECT_EQ(ack->view.value(HeaderId::from), "\"Alice\" <sip:alice@edge.test>;tag=ftag1");
  EXPECT_EQ(ack->view.value(HeaderId::to), "<sip:+15551234567@trunk.example.com>;tag=ttag1");
  EXPECT_EQ(ack->view.value(HeaderId::call_id), "cid-1@edge");
  EXPECT_EQ(ack->view.value(HeaderId::max_forwards), "70");
  EXPECT_EQ(ack->view.find(HeaderId::contact), nullptr);
  EXPECT_EQ(d->local_cseq(), 4711u);  // an ACK does not use a new number

  const auto bye = parsed(d->make_request(Method::bye, "198.51.100.20:5062;rport", "z9hG4bKbye1"));
  EXPECT_TRUE(validate_request(bye->view).ok()) << validate_request(bye->view).reason;
  EXPECT_EQ(bye->view.start_line(), "BYE sip:pbx@203.0.113.5:5060 SIP/2.0");
  EXPECT_EQ(bye->view.value(HeaderId::cseq), "4712 BYE");
  EXPECT_TRUE(top_via(bye->view)->has_rport);
  EXPECT_EQ(top_via(bye->view)->branch, "z9hG4bKbye1");
  EXPECT_EQ(bye->view.find(HeaderId::contact), nullptr);
  EXPECT_EQ(bye->view.content_length(), 0u);
  EXPECT_EQ(d->local_cseq(), 4712u);
}

TEST(DialogUac, ReInviteThenAckUsesTheNewInviteNumber) {
  auto d = Dialog::from_uac(parsed(kInvite)->view, parsed(trunk_response(200, "OK", ""))->view);
  ASSERT_TRUE(d);
  const std::string sdp = "v=0\r\n";
  const auto reinvite = parsed(d->make_request(Method::invite, "198.51.100.20:5062", "z9hG4bKre1", {}, "application/sdp", sdp));
  EXPECT_TRUE(validate_request(reinvite->view).ok());
  EXPECT_EQ(reinvite->view.value(HeaderId::cseq), "4712 INVITE");
  EXPECT_EQ(reinvite->view.value(HeaderId::contact), "<sip:edge@198.51.100.20:5062;transport=udp>");
  EXPECT_EQ(reinvite->view.value(HeaderId::content_type), "application/sdp");
  EXPECT_EQ(reinvite->view.body(), sdp);
  EXPECT_EQ(reinvite->view.find(HeaderId::route), nullptr);
  EXPECT_EQ(parsed(d->make_request(Method::ack, "h", "z9hG4bKa"))->view.value(HeaderId::cseq), "4712 ACK");
  EXPECT_EQ(parsed(d->make_request(Method::update, "h", "z9hG4bKu"))->view.value(HeaderId::cseq), "4713 UPDATE");
  EXPECT_EQ(parsed(d->make_request(Method::ack, "h", "z9hG4bKa2"))->view.value(HeaderId::cseq), "4712 ACK");
  EXPECT_EQ(parsed(d->make_request(Method::bye, "h", "z9hG4bKb"))->view.value(HeaderId::cseq), "4714 BYE");
}

TEST(DialogUac, ExtraHeadersAndBody) {
  auto d = Dialog::from_uac(parsed(kInvite)->view, parsed(trunk_response(200, "OK", ""))->view);
  ASSERT_TRUE(d);
  const HeaderPair extra[] = {{"Reason", "SIP;cause=488;text=\"Not Acceptable Here\""}, {"User-Agent", "webtrunk"}};
  const auto info = parsed(d->make_request(Method::info, "198.51.100.20:5062", "z9hG4bKi", extra,
                                           "application/dtmf-relay", "Signal=1\r\nDuration=100"));
  EXPECT_TRUE(validate_request(info->view).ok());
  EXPECT_EQ(info->view.value(HeaderId::reason), "SIP;cause=488;text=\"Not Acceptable Here\"");
  EXPECT_EQ(info->view.value(HeaderId::user_agent), "webtrunk");
  EXPECT_EQ(info->view.content_length(), 22u);
  EXPECT_EQ(info->view.body(), "Signal=1\r\nDuration=100");
}

TEST(DialogUac, AckAndByeMatchWhatJsSipSentToKamailio) {
  // JsSIP's INVITE and the 200 OK it got through Kamailio (comma-joined Record-Route): the ACK
  // and BYE JsSIP then sent are the reference for Request-URI, Route order, tags and CSeq.
  const auto inv = capture("jssip_invite_sdp.sip");
  const auto ok = capture("trunk_200_invite_sdp.sip");
  auto d = Dialog::from_uac(inv->view, ok->view);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->transport(), Transport::ws);
  const auto ref_ack = capture("jssip_ack.sip");
  const auto ack = parsed(d->make_request(Method::ack, "2ptt6va5fmo9.invalid", "z9hG4bK4412793"));
  // JsSIP lower-cases the Contact's "transport=UDP"; URI parameters compare case-insensitively.
  EXPECT_EQ(ack->view.method(), Method::ack);
  EXPECT_TRUE(text::iequals(ack->view.request_uri(), ref_ack->view.request_uri())) << ack->view.request_uri();
  EXPECT_EQ(all_values(ack->view, HeaderId::route), all_values(ref_ack->view, HeaderId::route));
  EXPECT_EQ(ack->view.value(HeaderId::via), ref_ack->view.value(HeaderId::via));
  for (HeaderId id : {HeaderId::to, HeaderId::from, HeaderId::call_id, HeaderId::cseq})
    EXPECT_EQ(ack->view.value(id), ref_ack->view.value(id)) << header_canonical_name(id);

  const auto ref_bye = capture("jssip_bye.sip");
  const auto bye = parsed(d->make_request(Method::bye, "2ptt6va5fmo9.invalid", "z9hG4bK8968520"));
  EXPECT_TRUE(text::iequals(bye->view.request_uri(), ref_bye->view.request_uri())) << bye->view.request_uri();
  EXPECT_EQ(all_values(bye->view, HeaderId::route), all_values(ref_bye->view, HeaderId::route));
  for (HeaderId id : {HeaderId::via, HeaderId::to, HeaderId::from, HeaderId::call_id, HeaderId::cseq})
    EXPECT_EQ(bye->view.value(id), ref_bye->view.value(id)) << header_canonical_name(id);
}

TEST(DialogUac, EarlyDialogIsConfirmedBy2xxWhichRecomputesTheRouteSet) {
  const auto inv = parsed(kInvite);
  auto d = Dialog::from_uac(inv->view, parsed(trunk_response(180, "Ringing", "Record-Route: <sip:old.example.com;lr>\n",
                                                             "<sip:early@203.0.113.5>"))->view);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->state(), Dialog::State::early);
  EXPECT_EQ(d->remote_target(), "sip:early@203.0.113.5");
  ASSERT_EQ(d->route_set().size(), 1u);
  d->handle_response(parsed(trunk_response(200, "OK", kTwoProxies))->view);
  EXPECT_EQ(d->state(), Dialog::State::confirmed);
  EXPECT_EQ(d->remote_target(), "sip:pbx@203.0.113.5:5060");
  ASSERT_EQ(d->route_set().size(), 3u);
  EXPECT_EQ(d->route_set()[0], "<sip:p1b.example.com;lr>");
}

TEST(DialogUac, TargetRefreshResponseReplacesTheRemoteTarget) {
  auto d = Dialog::from_uac(parsed(kInvite)->view, parsed(trunk_response(200, "OK", kTwoProxies))->view);
  ASSERT_TRUE(d);
  (void)d->make_request(Method::invite, "h", "z9hG4bKre");
  std::string ok = trunk_response(200, "OK", "Record-Route: <sip:ignored.example.com;lr>\n", "<sip:moved@203.0.113.9>");
  ok.replace(ok.find("4711 INVITE"), 11, "4712 INVITE");
  d->handle_response(parsed(ok)->view);
  EXPECT_EQ(d->remote_target(), "sip:moved@203.0.113.9");
  EXPECT_EQ(d->route_set().size(), 3u);  // a confirmed dialog's route set never changes
  // A 2xx from another fork (other To tag) is not ours.
  std::string fork = trunk_response(200, "OK", "", "<sip:fork@203.0.113.7>");
  fork.replace(fork.find("tag=ttag1"), 9, "tag=ttag2");
  d->handle_response(parsed(fork)->view);
  EXPECT_EQ(d->remote_target(), "sip:moved@203.0.113.9");
}

TEST(DialogUac, StrictRouterFirstHop) {
  auto d = Dialog::from_uac(parsed(kInvite)->view,
                            parsed(trunk_response(200, "OK", "Record-Route: <sip:strict.example.com>, <sip:loose.example.com;lr>\n"))->view);
  ASSERT_TRUE(d);
  // Reversed: loose first -> loose routing applies.
  auto bye = parsed(d->make_request(Method::bye, "h", "z9hG4bKb"));
  EXPECT_EQ(bye->view.request_uri(), "sip:pbx@203.0.113.5:5060");

  auto d2 = Dialog::from_uac(parsed(kInvite)->view,
                             parsed(trunk_response(200, "OK", "Record-Route: <sip:loose.example.com;lr>, <sip:strict.example.com>\n"))->view);
  ASSERT_TRUE(d2);
  // §12.2.1.1: a strict first hop becomes the Request-URI; the remote target goes last in Route.
  bye = parsed(d2->make_request(Method::bye, "h", "z9hG4bKb"));
  EXPECT_EQ(bye->view.request_uri(), "sip:strict.example.com");
  EXPECT_EQ(all_values(bye->view, HeaderId::route),
            (std::vector<std::string_view>{"<sip:loose.example.com;lr>", "<sip:pbx@203.0.113.5:5060>"}));
}

TEST(DialogUac, RefusesResponsesThatMakeNoDialog) {
  const auto inv = parsed(kInvite);
  std::string no_tag = trunk_response(200, "OK", "");
  no_tag.replace(no_tag.find(";tag=ttag1"), 10, "");
  EXPECT_FALSE(Dialog::from_uac(inv->view, parsed(no_tag)->view));
  EXPECT_FALSE(Dialog::from_uac(inv->view, parsed(trunk_response(100, "Trying", ""))->view));
  EXPECT_FALSE(Dialog::from_uac(inv->view, parsed(trunk_response(486, "Busy Here", ""))->view));
  EXPECT_FALSE(Dialog::from_uac(inv->view, inv->view));
}

TEST(DialogUac, NoContactFallsBackToTheRemoteUri) {
  std::string ok = trunk_response(200, "OK", "");
  ok.erase(ok.find("Contact:"), ok.find("Content-Length") - ok.find("Contact:"));
  auto d = Dialog::from_uac(parsed(kInvite)->view, parsed(ok)->view);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->remote_target(), "sip:+15551234567@trunk.example.com");
}

// ---------------------------------------------------------------------------------------------
// UAS (the browser leg)

TEST(DialogUas, FromJsSipInviteKeepsRecordRouteOrderAndAddsOurTag) {
  // The browser's INVITE as Kamailio forwarded it would carry Record-Route; add two.
  std::string text = test::read_file(test::data_path("captures/jssip_invite_sdp.sip"));
  text.insert(text.find("Max-Forwards"),
              "Record-Route: <sip:lb.example.com;lr>\r\nRecord-Route: <sip:ws.example.com;transport=ws;lr>\r\n");
  const auto inv = parsed(text);
  auto d = Dialog::from_uas(inv->view, "edgetag1", "sip:edge@203.0.113.10:8443;transport=ws");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->role(), Dialog::Role::uas);
  EXPECT_EQ(d->state(), Dialog::State::early);
  EXPECT_EQ(d->transport(), Transport::ws);
  EXPECT_EQ(d->call_id(), "97qcmidekhpsoulq4v3j");
  EXPECT_EQ(d->local_tag(), "edgetag1");
  EXPECT_EQ(d->remote_tag(), "jj68q4f2rq");
  EXPECT_EQ(d->remote_cseq(), 1864u);
  EXPECT_EQ(d->local_cseq(), 0u);
  EXPECT_EQ(d->remote_target(), "sip:alice@edge.test;gr=urn:uuid:fbdc327a-460a-4d74-8047-b41673616bc6");
  ASSERT_EQ(d->route_set().size(), 2u);
  EXPECT_EQ(d->route_set()[0], "<sip:lb.example.com;lr>");
  EXPECT_EQ(d->route_set()[1], "<sip:ws.example.com;transport=ws;lr>");
  EXPECT_EQ(d->local_contact(), "<sip:edge@203.0.113.10:8443;transport=ws>");
  EXPECT_EQ(d->local_party(), "<sip:trunk@edge.test>;tag=edgetag1");
  EXPECT_EQ(d->remote_party(), "<sip:alice@edge.test>;tag=jj68q4f2rq");
  d->confirm();
  EXPECT_EQ(d->state(), Dialog::State::confirmed);

  const auto bye = parsed(d->make_request(Method::bye, "203.0.113.10:8443", "z9hG4bKedgebye"));
  EXPECT_TRUE(validate_request(bye->view).ok()) << validate_request(bye->view).reason;
  EXPECT_EQ(bye->view.request_uri(), "sip:alice@edge.test;gr=urn:uuid:fbdc327a-460a-4d74-8047-b41673616bc6");
  EXPECT_EQ(bye->view.value(HeaderId::via), "SIP/2.0/WS 203.0.113.10:8443;branch=z9hG4bKedgebye");
  EXPECT_EQ(all_values(bye->view, HeaderId::route),
            (std::vector<std::string_view>{"<sip:lb.example.com;lr>", "<sip:ws.example.com;transport=ws;lr>"}));
  EXPECT_EQ(bye->view.value(HeaderId::from), "<sip:trunk@edge.test>;tag=edgetag1");
  EXPECT_EQ(bye->view.value(HeaderId::to), "<sip:alice@edge.test>;tag=jj68q4f2rq");
  EXPECT_EQ(bye->view.value(HeaderId::cseq), "1 BYE");
  // The browser's in-dialog requests carry the same id, seen from our side.
  const auto info = capture("jssip_info_dtmf.sip");
  EXPECT_TRUE(DialogId::of_incoming_request(info->view));
  EXPECT_FALSE(DialogId::of_incoming_request(inv->view));  // no To tag: not in a dialog yet
}

TEST(DialogUas, CSeqChecksAndTargetRefresh) {
  const auto inv = capture("sipjs_invite_sdp.sip");
  auto d = Dialog::from_uas(inv->view, "edgetag2", "<sip:edge@203.0.113.10:8443;transport=ws>");
  ASSERT_TRUE(d);
  d->set_local_cseq(100);
  EXPECT_EQ(parsed(d->make_request(Method::bye, "x", "z9hG4bKx"))->view.value(HeaderId::cseq), "101 BYE");

  auto in_dialog = [&](std::string_view method, int cseq, std::string_view contact = {}) {
    std::string s = std::string(method) + " sip:edge@203.0.113.10:8443;transport=ws SIP/2.0\n"
                    "Via: SIP/2.0/WS u2b2phfm7ila.invalid;branch=z9hG4bK" + std::to_string(cseq) + std::string(method) + "\n"
                    "To: <sip:trunk@edge.test>;tag=edgetag2\n"
                    "From: <sip:bob@edge.test>;tag=g6pi5mdgob\n"
                    "CSeq: " + std::to_string(cseq) + " " + std::string(method) + "\n"
                    "Call-ID: ul0blcu0v66acjfjuqo2\n"
                    "Max-Forwards: 70\n" +
                    (contact.empty() ? std::string() : "Contact: " + std::string(contact) + "\n") +
                    "Content-Length: 0\n\n";
    return parsed(test::crlf(s));
  };
  const auto ack = in_dialog("ACK", 1);
  EXPECT_EQ(DialogId::of_incoming_request(ack->view), d->id());
  EXPECT_TRUE(d->check_request(ack->view).ok());  // ACK repeats the INVITE's number
  EXPECT_TRUE(d->check_request(in_dialog("INFO", 2)->view).ok());
  EXPECT_EQ(d->remote_cseq(), 2u);
  const Verdict v = d->check_request(in_dialog("INFO", 1)->view);
  EXPECT_EQ(v.code, 500);  // §12.2.2: out of order
  EXPECT_EQ(d->remote_cseq(), 2u);
  EXPECT_TRUE(d->check_request(in_dialog("INVITE", 5, "<sip:newplace@u2b2phfm7ila.invalid;transport=ws;ob>")->view).ok());
  EXPECT_EQ(d->remote_target(), "sip:newplace@u2b2phfm7ila.invalid;transport=ws;ob");
  EXPECT_TRUE(d->check_request(in_dialog("INFO", 6, "<sip:notarefresh@x.invalid>")->view).ok());
  EXPECT_EQ(d->remote_target(), "sip:newplace@u2b2phfm7ila.invalid;transport=ws;ob");
  EXPECT_TRUE(d->check_request(in_dialog("UPDATE", 7, "<sip:upd@y.invalid>")->view).ok());
  EXPECT_EQ(d->remote_target(), "sip:upd@y.invalid");
  EXPECT_TRUE(d->check_request(in_dialog("CANCEL", 1)->view).ok());
}

TEST(DialogUas, RequestWithoutFromTagMakesNoDialog) {
  std::string text = test::read_file(test::data_path("captures/sipjs_invite_sdp.sip"));
  text.replace(text.find(";tag=g6pi5mdgob"), 15, "");
  EXPECT_FALSE(Dialog::from_uas(parsed(text)->view, "t", "<sip:e@h>"));
}

TEST(DialogUac, RemoteCSeqStartsEmpty) {
  auto d = Dialog::from_uac(parsed(kInvite)->view, parsed(trunk_response(200, "OK", ""))->view);
  ASSERT_TRUE(d);
  const std::string bye = test::crlf(
      "BYE sip:edge@198.51.100.20:5062 SIP/2.0\nVia: SIP/2.0/UDP 203.0.113.5;branch=z9hG4bKt1\n"
      "From: <sip:+15551234567@trunk.example.com>;tag=ttag1\nTo: \"Alice\" <sip:alice@edge.test>;tag=ftag1\n"
      "Call-ID: cid-1@edge\nCSeq: 1 BYE\nMax-Forwards: 70\nContent-Length: 0\n\n");
  const auto m = parsed(bye);
  EXPECT_EQ(DialogId::of_incoming_request(m->view), d->id());
  EXPECT_TRUE(d->check_request(m->view).ok());  // any number: the remote CSeq was empty
  EXPECT_EQ(d->remote_cseq(), 1u);
}

TEST(DialogId, HashesInAMap) {
  std::unordered_map<DialogId, int> m;
  m[{"c", "l", "r"}] = 1;
  m[{"c", "r", "l"}] = 2;
  m[{"c2", "l", "r"}] = 3;
  EXPECT_EQ(m.size(), 3u);
  EXPECT_EQ((m.at({"c", "l", "r"})), 1);
  EXPECT_EQ(DialogIdHash{}({"a", "b", "c"}), DialogIdHash{}({"a", "b", "c"}));
}

}  // namespace
}  // namespace webtrunk::sip
