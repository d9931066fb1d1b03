// parse_message(): framing on datagrams and streams, every split point, limits, and no over-read
// past the end of the buffer (the buffer is placed right before a PROT_NONE page).
#include "sip/parser.hpp"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>

#include "core/bytes.hpp"
#include "sip/header_parsers.hpp"
#include "sip/text.hpp"
#include "sip/uri.hpp"
#include "sip/validate.hpp"
#include "sip/writer.hpp"
#include "sip_test_util.hpp"

namespace webtrunk::sip {
namespace {

using test::crlf;

const std::string kOptions = crlf(
    "OPTIONS sip:edge.test SIP/2.0\n"
    "Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bKabc\n"
    "Max-Forwards: 70\n"
    "To: <sip:edge.test>\n"
    "From: <sip:alice@edge.test>;tag=f1\n"
    "Call-ID: c1@192.0.2.1\n"
    "CSeq: 1 OPTIONS\n"
    "Content-Type: text/plain\n"
    "Content-Length: 5\n"
    "\n"
    "hello");

TEST(Parser, RequestLineHeadersAndBody) {
  MessageView m;
  const ParseResult r = parse_message(kOptions, m);
  ASSERT_EQ(r.status, ParseStatus::ok) << r.reason;
  EXPECT_EQ(r.consumed, kOptions.size());
  EXPECT_TRUE(m.is_request());
  EXPECT_FALSE(m.is_response());
  EXPECT_EQ(m.method(), Method::options);
  EXPECT_EQ(m.method_text(), "OPTIONS");
  EXPECT_EQ(m.request_uri(), "sip:edge.test");
  EXPECT_EQ(m.version(), "SIP/2.0");
  EXPECT_EQ(m.headers().size(), 8u);
  EXPECT_EQ(m.headers()[0].id, HeaderId::via);
  EXPECT_EQ(m.value(HeaderId::call_id), "c1@192.0.2.1");
  EXPECT_EQ(m.content_length(), 5u);
  EXPECT_EQ(m.body(), "hello");
  EXPECT_EQ(m.raw(), kOptions);
  EXPECT_EQ(m.head().size() + 5, kOptions.size());
  EXPECT_TRUE(validate_request(m).ok());
}

TEST(Parser, StatusLine) {
  MessageView m;
  const std::string text = crlf("SIP/2.0 486 Busy Here\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nContent-Length: 0\n\n");
  ASSERT_EQ(parse_message(text, m).status, ParseStatus::ok);
  EXPECT_TRUE(m.is_response());
  EXPECT_EQ(m.status_code(), 486);
  EXPECT_EQ(m.reason_phrase(), "Busy Here");
  for (const char* bad : {"SIP/2.0 99 x\r\n\r\n", "SIP/2.0 700 x\r\n\r\n", "SIP/2.0 2000 x\r\n\r\n",
                          "SIP/2.0 20x OK\r\n\r\n", "SIP/ 200 OK\r\n\r\n", "SIP/2.0\r\n\r\n"}) {
    EXPECT_EQ(parse_message(std::string_view(bad), m).status, ParseStatus::invalid) << bad;
  }
}

TEST(Parser, CompactFormsAndCaseInsensitiveNames) {
  MessageView m;
  const std::string text = crlf(
      "BYE sip:a@b SIP/2.0\nv: SIP/2.0/UDP h;branch=z9hG4bK1\nf: <sip:x@y>;tag=1\nt: <sip:a@b>;tag=2\n"
      "i: cid\nCSEQ: 2 BYE\nmax-forwards: 70\nm: <sip:x@h>\nl: 0\nc: text/plain\nk: timer\ns: hi\n"
      "e: gzip\no: refer\nu: refer\nr: <sip:c@d>\nb: <sip:e@f>\nx: 90\ny: abc\n\n");
  ASSERT_EQ(parse_message(text, m).status, ParseStatus::ok);
  const HeaderId expect[] = {HeaderId::via,          HeaderId::from,           HeaderId::to,
                             HeaderId::call_id,      HeaderId::cseq,           HeaderId::max_forwards,
                             HeaderId::contact,      HeaderId::content_length, HeaderId::content_type,
                             HeaderId::supported,    HeaderId::subject,        HeaderId::content_encoding,
                             HeaderId::event,        HeaderId::allow_events,   HeaderId::refer_to,
                             HeaderId::referred_by,  HeaderId::session_expires, HeaderId::identity};
  ASSERT_EQ(m.headers().size(), std::size(expect));
  for (std::size_t i = 0; i < std::size(expect); ++i) EXPECT_EQ(m.headers()[i].id, expect[i]) << i;
  EXPECT_TRUE(validate_request(m).ok());
  EXPECT_EQ(header_id_from_name("WWW-AUTHENTICATE"), HeaderId::www_authenticate);
  EXPECT_EQ(header_id_from_name("Min-Se"), HeaderId::min_se);
  EXPECT_EQ(header_id_from_name("X-Custom"), HeaderId::unknown);
  EXPECT_EQ(header_canonical_name(HeaderId::call_id), "Call-ID");
  EXPECT_EQ(method_from_text("invite"), Method::unknown);  // methods are case-sensitive
  EXPECT_EQ(method_text(Method::update), "UPDATE");
}

TEST(Parser, FoldedHeaderValues) {
  MessageView m;
  const std::string text = crlf(
      "INVITE sip:a@b SIP/2.0\nSubject: first\n  second\n\tthird\nVia: SIP/2.0/UDP h\n ;branch=z9hG4bK9\n"
      "Content-Length: 0\n\n");
  ASSERT_EQ(parse_message(text, m).status, ParseStatus::ok);
  const HeaderField* s = m.find(HeaderId::subject);
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->folded);
  std::string scratch;
  EXPECT_EQ(unfold(s->value, scratch), "first second third");
  EXPECT_EQ(top_via(m)->branch, "z9hG4bK9");
  EXPECT_FALSE(m.find(HeaderId::content_length)->folded);
}

TEST(Parser, BareLfLineEndsAndLeadingCrlfAreAccepted) {
  MessageView m;
  const std::string text = "\r\n\r\nACK sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nContent-Length: 0\n\n";
  const ParseResult r = parse_message(text, m);
  ASSERT_EQ(r.status, ParseStatus::ok);
  EXPECT_EQ(r.consumed, text.size());
  EXPECT_EQ(m.method(), Method::ack);
  EXPECT_EQ(leading_crlf(core::as_bytes(text)), 4u);
}

TEST(Parser, MalformedHeaderLines) {
  MessageView m;
  for (const char* bad : {
           "OPTIONS sip:a@b SIP/2.0\r\nNoColonHere\r\n\r\n",
           "OPTIONS sip:a@b SIP/2.0\r\n: empty name\r\n\r\n",
           "OPTIONS sip:a@b SIP/2.0\r\n leading fold\r\n\r\n",
           "OPTIONS sip:a@b SIP/2.0\r\nBad Name: x\r\n\r\n",
           "OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 1 2\r\n\r\nab",
           "OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 99999999999\r\n\r\n",
           "OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 0\r\nl: 0\r\n\r\n",
           "OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 0",
           "OPTIONS sip:a@b\r\n\r\n",
           "OPTIONS sip:a@b SIP/2.0 \r\n\r\n",
           " OPTIONS sip:a@b SIP/2.0\r\n\r\n",
           "OPTIONS a@b SIP/2.0\r\n\r\n",
           "OPT(IONS sip:a@b SIP/2.0\r\n\r\n",
           "OPTIONS sip:a@b HTTP/1.1\r\n\r\n",
       }) {
    const ParseResult r = parse_message(std::string_view(bad), m);
    EXPECT_EQ(r.status, ParseStatus::invalid) << bad;
    EXPECT_FALSE(r.reason.empty()) << bad;
  }
}

TEST(Parser, AnInvalidRequestKeepsEnoughToAnswer400) {
  MessageView m;
  const std::string text = crlf(
      "INVITE sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nContent-Length: -999\nFrom: <sip:x@y>;tag=1\n"
      "To: <sip:a@b>\nCall-ID: c\nCSeq: 1 INVITE\n\n");
  const ParseResult r = parse_message(text, m);
  ASSERT_EQ(r.status, ParseStatus::invalid);
  EXPECT_EQ(r.reason, "Bad Content-Length");
  ASSERT_TRUE(m.is_request());
  EXPECT_EQ(m.headers().size(), 6u);  // the whole head, although the error came on line 3
  const std::string resp = make_response(m, 400, r.reason, "t");
  MessageView o;
  ASSERT_EQ(parse_message(resp, o).status, ParseStatus::ok);
  EXPECT_EQ(o.status_code(), 400);
  EXPECT_EQ(o.reason_phrase(), "Bad Content-Length");
  EXPECT_EQ(call_id(o), "c");
  EXPECT_TRUE(validate_response(o).ok());
  // A broken start line leaves nothing that looks like a request or a response.
  EXPECT_EQ(parse_message(std::string_view("INVITE  sip:a@b SIP/2.0\r\n\r\n"), m).status, ParseStatus::invalid);
  EXPECT_FALSE(m.is_request());
  EXPECT_FALSE(m.is_response());
}

TEST(Parser, ANulByteInAHeaderValueIsRefusedWithAReason) {
  std::string text = kOptions;
  const std::size_t at = text.find("text/plain");
  ASSERT_NE(at, std::string::npos);
  text[at + 4] = '\0';  // "text\0plain": a C string would end there
  MessageView m;
  const ParseResult r = parse_message(text, m);
  ASSERT_EQ(r.status, ParseStatus::invalid);
  EXPECT_EQ(r.reason, "NUL byte in header value");
  // The head is indexed whole, so the 400 carries the reason and matches the request.
  ASSERT_TRUE(m.is_request());
  const std::string resp = make_response(m, 400, r.reason, "t");
  MessageView o;
  ASSERT_EQ(parse_message(resp, o).status, ParseStatus::ok);
  EXPECT_EQ(o.status_code(), 400);
  EXPECT_EQ(o.reason_phrase(), "NUL byte in header value");
  EXPECT_EQ(call_id(o), "c1@192.0.2.1");
  // Escaped in a quoted string it is a quoted-pair (RFC 3261 §25.1), as in RFC 4475 §3.1.1.3.
  std::string quoted = kOptions;
  quoted.replace(quoted.find("<sip:alice"), 0, std::string("\"a\\\0b\" ", 7));
  EXPECT_EQ(parse_message(quoted, m).status, ParseStatus::ok);
}

TEST(Parser, DatagramFraming) {
  MessageView m;
  // No Content-Length: the body is the rest of the datagram (RFC 3261 §18.3).
  const std::string no_cl = crlf("MESSAGE sip:a@b SIP/2.0\nContent-Type: text/plain\n\nhi there");
  ASSERT_EQ(parse_message(no_cl, m).status, ParseStatus::ok);
  EXPECT_EQ(m.body(), "hi there");
  EXPECT_FALSE(m.content_length());
  // Content-Length larger than what arrived: invalid on a datagram.
  const std::string big = crlf("MESSAGE sip:a@b SIP/2.0\nContent-Length: 20\n\nshort");
  EXPECT_EQ(parse_message(big, m).reason, "Content-Length larger than message");
  // Smaller: the extra octets are dropped.
  const std::string small = crlf("MESSAGE sip:a@b SIP/2.0\nContent-Length: 2\n\nhi there");
  const ParseResult r = parse_message(small, m);
  ASSERT_EQ(r.status, ParseStatus::ok);
  EXPECT_EQ(m.body(), "hi");
  EXPECT_EQ(r.consumed, small.size() - 6);
  // A datagram may end after its last header line without the empty line.
  ASSERT_EQ(parse_message(crlf("ACK sip:a@b SIP/2.0\nContent-Length: 0\n"), m).status, ParseStatus::ok);
  // Keep-alive datagrams and truncated lines.
  EXPECT_EQ(parse_message(std::string_view("\r\n\r\n"), m).status, ParseStatus::invalid);
  EXPECT_EQ(parse_message(std::string_view("ACK sip:a@b SIP/2.0\r\nVia: x"), m).reason, "Truncated message");
}

TEST(Parser, StreamNeedsContentLength) {
  MessageView m;
  const ParseOptions stream{Framing::stream};
  const std::string no_cl = crlf("MESSAGE sip:a@b SIP/2.0\nContent-Type: text/plain\n\nhi");
  EXPECT_EQ(parse_message(no_cl, m, stream).reason, "Missing Content-Length");
  EXPECT_EQ(parse_message(std::string_view("\r\n\r\n"), m, stream).status, ParseStatus::incomplete);
}

TEST(Parser, StreamEverySplitPointIsIncompleteUntilWhole) {
  const std::string two = kOptions + "\r\n" + kOptions;  // a CRLF keep-alive between two messages
  MessageView m;
  const ParseOptions stream{Framing::stream};
  for (std::size_t cut = 0; cut < kOptions.size(); ++cut) {
    const ParseResult r = parse_message(std::string_view(kOptions).substr(0, cut), m, stream);
    ASSERT_EQ(r.status, ParseStatus::incomplete) << "cut at " << cut;
  }
  ParseResult r = parse_message(two, m, stream);
  ASSERT_EQ(r.status, ParseStatus::ok);
  EXPECT_EQ(r.consumed, kOptions.size());
  EXPECT_EQ(m.body(), "hello");
  r = parse_message(std::string_view(two).substr(kOptions.size()), m, stream);
  ASSERT_EQ(r.status, ParseStatus::ok);
  EXPECT_EQ(r.consumed, kOptions.size() + 2);
  EXPECT_EQ(m.raw(), kOptions);
}

TEST(Parser, EverySplitOfACapturedInviteOnAStream) {
  const std::string invite = test::read_file(test::data_path("captures/jssip_invite_sdp.sip"));
  ASSERT_GT(invite.size(), 2000u);
  MessageView m;
  const ParseOptions stream{Framing::stream};
  for (std::size_t cut = 0; cut < invite.size(); ++cut)
    ASSERT_EQ(parse_message(std::string_view(invite).substr(0, cut), m, stream).status, ParseStatus::incomplete)
        << cut;
  const ParseResult r = parse_message(invite, m, stream);
  ASSERT_EQ(r.status, ParseStatus::ok);
  EXPECT_EQ(r.consumed, invite.size());
}

TEST(Parser, Limits) {
  MessageView m;
  std::string many = "OPTIONS sip:a@b SIP/2.0\r\n";
  for (int i = 0; i < 128; ++i) many += "X-H: v\r\n";
  ASSERT_EQ(parse_message(many + "\r\n", m).status, ParseStatus::ok);
  EXPECT_EQ(m.headers().size(), 128u);
  many += "X-H: v\r\n\r\n";
  EXPECT_EQ(parse_message(many, m).reason, "Too many headers");

  const std::string long_line = "OPTIONS sip:a@b SIP/2.0\r\nX-Long: " + std::string(kMaxLineLength, 'a') + "\r\n\r\n";
  EXPECT_EQ(parse_message(long_line, m).reason, "Line too long");
  EXPECT_EQ(parse_message(long_line, m, {Framing::stream}).reason, "Line too long");
  // Folded lines are bounded per physical line, the message as a whole by kMaxMessageSize.
  std::string folded = "OPTIONS sip:a@b SIP/2.0\r\nX-Fold: a";
  while (folded.size() < kMaxMessageSize) folded += "\r\n " + std::string(1000, 'b');
  folded += "\r\n\r\n";
  EXPECT_EQ(parse_message(folded, m).reason, "Message too large");
  EXPECT_EQ(parse_message(folded, m, {Framing::stream}).reason, "Message too large");

  const std::string huge_body = "MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 70000\r\n\r\n";
  EXPECT_EQ(parse_message(huge_body, m, {Framing::stream}).reason, "Message too large");
  std::string dgram = "MESSAGE sip:a@b SIP/2.0\r\n\r\n" + std::string(kMaxMessageSize, 'x');
  EXPECT_EQ(parse_message(dgram, m).reason, "Message too large");

  // A smaller configured limit applies to datagrams, stream heads and stream bodies alike.
  const ParseOptions small_dgram{Framing::datagram, 1000};
  const ParseOptions small_stream{Framing::stream, 1000};
  const std::string body_1000 = "MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 1000\r\n\r\n" + std::string(1000, 'x');
  EXPECT_EQ(parse_message(body_1000, m, small_dgram).reason, "Message too large");
  EXPECT_EQ(parse_message(body_1000, m, small_stream).reason, "Message too large");
  EXPECT_EQ(parse_message(body_1000, m, {Framing::stream}).status, ParseStatus::ok);
  std::string long_head = "OPTIONS sip:a@b SIP/2.0\r\n";
  while (long_head.size() < 1100) long_head += "X-H: vvvvvvvvvvvvvvvvvvvvvvvvvvvv\r\n";
  EXPECT_EQ(parse_message(long_head, m, small_stream).reason, "Message too large");
}

// Places `text` so its last byte is the last readable byte before a PROT_NONE page: any read past
// the end faults (picohttpparser's test trick).
class GuardedBuffer {
 public:
  GuardedBuffer() {
    page_ = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    size_ = 2 * page_ + kMaxMessageSize + page_;
    base_ = static_cast<char*>(mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    guard_ = base_ + size_ - page_;
    mprotect(guard_, page_, PROT_NONE);
  }
  ~GuardedBuffer() { munmap(base_, size_); }
  std::string_view place(std::string_view text) {
    char* p = guard_ - text.size();
    std::memcpy(p, text.data(), text.size());
    return {p, text.size()};
  }

 private:
  std::size_t page_ = 0;
  std::size_t size_ = 0;
  char* base_ = nullptr;
  char* guard_ = nullptr;
};

TEST(Parser, NeverReadsPastTheEndOfTheBuffer) {
  GuardedBuffer guard;
  const std::string invite = test::read_file(test::data_path("captures/jssip_invite_sdp.sip"));
  const std::string wsinv = test::read_file(test::data_path("rfc4475/valid/wsinv.dat"));
  MessageView m;
  for (const std::string* msg : {&invite, &wsinv, &kOptions}) {
    for (std::size_t cut = 0; cut <= msg->size(); ++cut) {
      const std::string_view placed = guard.place(std::string_view(*msg).substr(0, cut));
      for (Framing f : {Framing::datagram, Framing::stream}) {
        const ParseResult r = parse_message(placed, m, {f});
        if (r.status != ParseStatus::ok) continue;
        // The lazy helpers stay inside the buffer too.
        (void)(m.is_request() ? validate_request(m) : validate_response(m));
        (void)top_via(m);
        (void)to_tag(m);
        (void)from_tag(m);
        (void)cseq(m);
      }
    }
  }
}

TEST(Parser, EveryTestMessageEndingAtAGuardPageStaysInside) {
  GuardedBuffer guard;
  std::size_t n = 0;
  for (const char* dir : {"rfc4475/valid", "rfc4475/invalid", "captures"}) {
    for (const auto& entry : std::filesystem::directory_iterator(test::data_path(dir))) {
      const std::string text = test::read_file(entry.path().string());
      const std::string_view placed = guard.place(text);
      MessageView m;
      for (Framing f : {Framing::datagram, Framing::stream}) {
        if (parse_message(placed, m, {f}).status != ParseStatus::ok) continue;
        (void)(m.is_request() ? validate_request(m) : validate_response(m));
        ListCursor vias(m, HeaderId::via);
        std::string_view e;
        Via v;
        while (vias.next(e)) (void)parse_via(e, v);
        for (HeaderId id : {HeaderId::from, HeaderId::to, HeaderId::contact, HeaderId::route}) {
          ListCursor c(m, id);
          while (c.next(e)) {
            NameAddr na;
            Uri u;
            if (parse_name_addr(e, na)) (void)parse_uri(na.uri, u);
          }
        }
      }
      ++n;
    }
  }
  EXPECT_GT(n, 60u);
}

TEST(Parser, FindByNameAndNext) {
  const std::string text = crlf("OPTIONS sip:a@b SIP/2.0\nX-A: 1\nRoute: <sip:r1>\nx-a: 2\nRoute: <sip:r2>\n\n");
  MessageView m;
  ASSERT_EQ(parse_message(text, m).status, ParseStatus::ok);
  const HeaderField* x = m.find("X-A");
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(x->value, "1");
  const HeaderField* x2 = m.find_next(x);
  ASSERT_NE(x2, nullptr);
  EXPECT_EQ(x2->value, "2");
  EXPECT_EQ(m.find_next(x2), nullptr);
  EXPECT_EQ(m.count(HeaderId::route), 2u);
  EXPECT_EQ(m.find("route")->value, "<sip:r1>");
  EXPECT_EQ(m.find("Nope"), nullptr);
  EXPECT_EQ(m.value(HeaderId::call_id), "");
}

}  // namespace
}  // namespace webtrunk::sip
