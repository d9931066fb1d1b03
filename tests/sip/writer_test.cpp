// MessageWriter, write-time edits (lumps) and make_response (RFC 3261 §8.2.6): every output is
// parsed back and checked.
#include "sip/writer.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>

#include "sip/header_parsers.hpp"
#include "sip/parser.hpp"
#include "sip/validate.hpp"
#include "sip_test_util.hpp"

namespace webtrunk::sip {
namespace {

using test::crlf;

TEST(Writer, BuildsARequestThatParsesBack) {
  std::string out;
  MessageWriter w(out);
  w.request_line("INVITE", "sip:+15551234567@trunk.example.com;user=phone");
  w.header(HeaderId::via, "SIP/2.0/UDP 198.51.100.20:5062;branch=z9hG4bKedge1;rport");
  w.header(HeaderId::max_forwards, "70");
  w.header(HeaderId::from, "<sip:alice@edge.test>;tag=e1");
  w.header(HeaderId::to, "<sip:+15551234567@trunk.example.com>");
  w.header(HeaderId::call_id, "edge-1@198.51.100.20");
  w.header(HeaderId::cseq, "1 INVITE");
  w.header("Content-Type", "application/sdp");
  w.finish("v=0\r\n");
  EXPECT_TRUE(w.ok());
  EXPECT_EQ(w.size(), out.size());
  MessageView m;
  ASSERT_EQ(parse_message(out, m, {Framing::stream}).status, ParseStatus::ok);
  EXPECT_TRUE(validate_request(m).ok());
  EXPECT_EQ(m.content_length(), 5u);
  EXPECT_EQ(m.body(), "v=0\r\n");
  EXPECT_TRUE(out.find("Call-ID: edge-1@198.51.100.20\r\n") != std::string::npos);
}

TEST(Writer, CallerBufferReportsOverflow) {
  std::array<char, 64> buf{};
  MessageWriter w{std::span<char>(buf)};
  w.status_line(200, "OK");
  EXPECT_TRUE(w.ok());
  EXPECT_EQ(w.written(), "SIP/2.0 200 OK\r\n");
  w.header("X-Long", std::string(100, 'x'));
  EXPECT_FALSE(w.ok());
  EXPECT_LE(w.size(), buf.size());
}

TEST(Writer, FoldedValuesAreWrittenUnfolded) {
  const std::string text = crlf("MESSAGE sip:a@b SIP/2.0\nSubject: one\n two\nContent-Length: 0\n\n");
  MessageView m;
  ASSERT_EQ(parse_message(text, m).status, ParseStatus::ok);
  std::string out;
  MessageWriter w(out);
  w.header(*m.find(HeaderId::subject));
  EXPECT_EQ(out, "Subject: one two\r\n");
}

const std::string kInvite = crlf(
    "INVITE sip:trunk@edge.test SIP/2.0\n"
    "Via: SIP/2.0/WS 9v41u07uh5vh.invalid;branch=z9hG4bK9423794\n"
    "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKsecond, SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKthird\n"
    "Max-Forwards: 69\n"
    "To: <sip:trunk@edge.test>\n"
    "From: \"Alice\" <sip:alice@edge.test>;tag=0mccrtom1m\n"
    "Call-ID: dc64l4kj9inrf1cd46e7\n"
    "CSeq: 4689 INVITE\n"
    "Timestamp: 54\n"
    "X-Secret: drop-me\n"
    "Contact: <sip:alice@edge.test;gr=urn:uuid:ab05>\n"
    "Content-Type: application/sdp\n"
    "Content-Length: 5\n"
    "\n"
    "v=0\n");

TEST(Edits, RemoveReplaceInsertPrependAppendAndNewBody) {
  MessageView m;
  ASSERT_EQ(parse_message(kInvite, m).status, ParseStatus::ok);
  MessageEdits e;
  ASSERT_TRUE(e.prepend("Via", "SIP/2.0/UDP 198.51.100.20:5062;branch=z9hG4bKnew"));
  ASSERT_TRUE(e.remove_all("x-secret"));
  ASSERT_TRUE(e.replace(*m.find(HeaderId::max_forwards), "68"));
  ASSERT_TRUE(e.remove(*m.find(HeaderId::contact)));
  ASSERT_TRUE(e.insert_before(*m.find(HeaderId::content_type), "Contact", "<sip:edge@198.51.100.20:5062>"));
  ASSERT_TRUE(e.remove_all(HeaderId::timestamp));
  ASSERT_TRUE(e.append("Session-Expires", "1800;refresher=uac"));
  e.set_request_line("INVITE", "sip:+15551234567@trunk.example.com");
  e.set_body("v=0\r\ns=-\r\n");
  std::string out;
  MessageWriter w(out);
  ASSERT_TRUE(write_message(m, e, w));

  MessageView o;
  ASSERT_EQ(parse_message(out, o, {Framing::stream}).status, ParseStatus::ok) << out;
  EXPECT_EQ(o.request_uri(), "sip:+15551234567@trunk.example.com");
  EXPECT_EQ(top_via(o)->branch, "z9hG4bKnew");
  EXPECT_EQ(o.count(HeaderId::via), 3u);
  EXPECT_EQ(o.value(HeaderId::max_forwards), "68");
  EXPECT_EQ(o.find("X-Secret"), nullptr);
  EXPECT_EQ(o.find(HeaderId::timestamp), nullptr);
  EXPECT_EQ(o.value(HeaderId::contact), "<sip:edge@198.51.100.20:5062>");
  EXPECT_EQ(o.value(HeaderId::session_expires), "1800;refresher=uac");
  EXPECT_EQ(o.body(), "v=0\r\ns=-\r\n");
  EXPECT_EQ(o.content_length(), 10u);
  EXPECT_EQ(o.count(HeaderId::content_length), 1u);
  EXPECT_EQ(o.headers().back().id, HeaderId::content_length);
  EXPECT_TRUE(validate_request(o).ok());
}

TEST(Edits, NoEditsCopiesTheMessage) {
  MessageView m;
  ASSERT_EQ(parse_message(kInvite, m).status, ParseStatus::ok);
  std::string out;
  MessageWriter w(out);
  ASSERT_TRUE(write_message(m, MessageEdits{}, w));
  MessageView o;
  ASSERT_EQ(parse_message(out, o).status, ParseStatus::ok);
  EXPECT_EQ(o.headers().size(), m.headers().size());
  EXPECT_EQ(o.body(), m.body());
  EXPECT_EQ(out, kInvite);  // already canonical: byte for byte
}

// Found by fuzz_sip_message: a datagram with 128 header lines and no Content-Length is valid, but
// its copy carries a Content-Length line more, so a proxy must drop a line before forwarding it.
TEST(Edits, CopyAtTheHeaderLimitGrowsByContentLength) {
  std::string text = "MESSAGE sip:a@b SIP/2.0\r\n";
  for (std::size_t i = 0; i < MessageView::kMaxHeaders; ++i) text += "X-H: v\r\n";
  text += "\r\n";
  MessageView m;
  ASSERT_EQ(parse_message(text, m).status, ParseStatus::ok);
  std::string out;
  MessageWriter w(out);
  ASSERT_TRUE(write_message(m, MessageEdits{}, w));
  MessageView o;
  EXPECT_EQ(parse_message(out, o).reason, "Too many headers");
  MessageEdits e;
  ASSERT_TRUE(e.remove(m.headers()[0]));
  out.clear();
  MessageWriter w2(out);
  ASSERT_TRUE(write_message(m, e, w2));
  EXPECT_EQ(parse_message(out, o).status, ParseStatus::ok);
}

TEST(Edits, CapacityIsBounded) {
  MessageEdits e;
  for (std::size_t i = 0; i < MessageEdits::kMaxEdits; ++i) ASSERT_TRUE(e.append("X", "y"));
  EXPECT_FALSE(e.append("X", "y"));
}

TEST(MakeResponse, CopiesViaFromToCallIdCSeqAndAddsToTag) {
  MessageView req;
  ASSERT_EQ(parse_message(kInvite, req).status, ParseStatus::ok);
  const std::string resp = make_response(req, 180, "Ringing", "edge-tag-1");
  MessageView r;
  ASSERT_EQ(parse_message(resp, r, {Framing::stream}).status, ParseStatus::ok) << resp;
  EXPECT_EQ(r.status_code(), 180);
  EXPECT_EQ(r.reason_phrase(), "Ringing");
  EXPECT_TRUE(validate_response(r).ok());
  ListCursor vias(r, HeaderId::via);
  std::string_view e;
  const char* branches[] = {"z9hG4bK9423794", "z9hG4bKsecond", "z9hG4bKthird"};
  int i = 0;
  while (vias.next(e)) {
    Via v;
    ASSERT_TRUE(parse_via(e, v));
    EXPECT_EQ(v.branch, branches[i++]);
  }
  EXPECT_EQ(i, 3);
  EXPECT_EQ(to_tag(r), "edge-tag-1");
  EXPECT_EQ(from_tag(r), "0mccrtom1m");
  EXPECT_EQ(r.value(HeaderId::from), "\"Alice\" <sip:alice@edge.test>;tag=0mccrtom1m");
  EXPECT_EQ(call_id(r), "dc64l4kj9inrf1cd46e7");
  EXPECT_EQ(r.value(HeaderId::cseq), "4689 INVITE");
  EXPECT_EQ(r.find(HeaderId::timestamp), nullptr);
  EXPECT_EQ(r.find(HeaderId::contact), nullptr);
  EXPECT_EQ(r.content_length(), 0u);
}

TEST(MakeResponse, TryingHasNoTagButTheTimestamp) {
  MessageView req;
  ASSERT_EQ(parse_message(kInvite, req).status, ParseStatus::ok);
  MessageView r;
  const std::string trying = make_response(req, 100, "Trying", "edge-tag-1");
  ASSERT_EQ(parse_message(trying, r).status, ParseStatus::ok);
  EXPECT_EQ(to_tag(r), "");
  EXPECT_EQ(r.value(HeaderId::timestamp), "54");
}

TEST(MakeResponse, KeepsAnExistingToTagAndLetsCallerAddHeaders) {
  const std::string bye = crlf(
      "BYE sip:a@b SIP/2.0\nVia: SIP/2.0/WS h.invalid;branch=z9hG4bK1\nMax-Forwards: 69\n"
      "To: <sip:trunk@edge.test>;tag=theirs\nFrom: <sip:alice@edge.test>;tag=mine\nCall-ID: x\n"
      "CSeq: 2 BYE\nContent-Length: 0\n\n");
  MessageView req;
  ASSERT_EQ(parse_message(bye, req).status, ParseStatus::ok);
  std::string out;
  MessageWriter w(out);
  write_response_head(req, 481, "Call/Transaction Does Not Exist", "ignored", w);
  w.header("Server", "webtrunk");
  w.finish();
  MessageView r;
  ASSERT_EQ(parse_message(out, r).status, ParseStatus::ok);
  EXPECT_EQ(to_tag(r), "theirs");
  EXPECT_EQ(r.value(HeaderId::server), "webtrunk");
  EXPECT_EQ(r.reason_phrase(), "Call/Transaction Does Not Exist");
}

}  // namespace
}  // namespace webtrunk::sip
