// RFC 4475 torture messages (tests/data/sip/rfc4475/, written by make_messages.py): every valid
// one parses, validates and reads back its key fields; every invalid one is refused with a reason.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <string>

#include "sip/auth_params.hpp"
#include "sip/header_parsers.hpp"
#include "sip/parser.hpp"
#include "sip/text.hpp"
#include "sip/uri.hpp"
#include "sip/validate.hpp"
#include "sip/writer.hpp"
#include "sip_test_util.hpp"

namespace webtrunk::sip {
namespace {

using test::data_path;
using test::read_file;

std::string torture(const std::string& dir, const std::string& name) {
  return read_file(data_path("rfc4475/" + dir + "/" + name + ".dat"));
}

Verdict validate(const MessageView& m) { return m.is_request() ? validate_request(m) : validate_response(m); }

// Parses and validates a valid/ message; fails the test otherwise.
void parse_valid(const std::string& text, MessageView& m) {
  const ParseResult r = parse_message(text, m);
  ASSERT_EQ(r.status, ParseStatus::ok) << r.reason;
  const Verdict v = validate(m);
  ASSERT_TRUE(v.ok()) << v.code << " " << v.reason;
}

TEST(Rfc4475, EveryValidMessageParsesAndValidates) {
  std::size_t n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(data_path("rfc4475/valid"))) {
    SCOPED_TRACE(entry.path().filename().string());
    const std::string text = read_file(entry.path().string());
    MessageView m;
    parse_valid(text, m);
    ++n;
  }
  EXPECT_EQ(n, 22u);
}

struct InvalidCase {
  const char* name;
  bool parse_fails;  // refused by parse_message (else by validation)
  int code;          // the status validation answers (ignored when parse fails)
  const char* reason;
};

// Why each is refused; RFC 4475 section in the comment.
const InvalidCase kInvalid[] = {
    {"badinv01", false, 400, "Bad Via"},                      // 3.1.2.1 empty params ";;,;,,"
    {"clerr", true, 0, "Content-Length larger than message"},  // 3.1.2.2
    {"ncl", true, 0, "Bad Content-Length"},                    // 3.1.2.3 -999
    {"scalar02", false, 400, "Bad CSeq"},                      // 3.1.2.4 CSeq >= 2**31
    {"scalarlg", false, 400, "Bad CSeq"},                      // 3.1.2.5 (response)
    {"quotbal", false, 400, "Bad To"},                         // 3.1.2.6 unterminated quote
    {"ltgtruri", true, 0, "Bad Request-URI"},                  // 3.1.2.7 <sip:...> as Request-URI
    {"lwsruri", true, 0, "Malformed request line"},            // 3.1.2.8
    {"lwsstart", true, 0, "Malformed request line"},           // 3.1.2.9
    {"trws", true, 0, "Malformed request line"},               // 3.1.2.10
    {"escruri", false, 400, "Request-URI has headers"},        // 3.1.2.11
    {"baddate", false, 400, "Bad Date"},                       // 3.1.2.12
    {"regbadct", false, 400, "Bad Contact"},                   // 3.1.2.13
    {"badaspec", false, 400, "Bad To"},                        // 3.1.2.14 "< sip:... >"
    {"baddn", false, 400, "Bad From"},                         // 3.1.2.15 "Bell, Alexander"
    {"badvers", false, 505, "Version Not Supported"},          // 3.1.2.16
    {"mismatch01", false, 400, "CSeq method does not match"},  // 3.1.2.17
    {"mismatch02", false, 400, "CSeq method does not match"},  // 3.1.2.18
    {"bigcode", true, 0, "Bad status code"},                   // 3.1.2.19
    {"badbranch", false, 400, "Bad Via branch"},               // 3.2.1
    {"insuf", false, 400, "Missing From"},                     // 3.3.1
    {"unkscm", false, 416, "Unsupported URI Scheme"},          // 3.3.2
    {"novelsc", false, 416, "Unsupported URI Scheme"},         // 3.3.3
    {"bext01", false, 420, "Bad Extension"},                   // 3.3.5
    {"multi01", false, 400, "Multiple From headers"},          // 3.3.8
    {"mcl01", true, 0, "Multiple Content-Length"},             // 3.3.9
    {"inv2543", false, 400, "Missing Max-Forwards"},           // 3.4.1: RFC 2543 peers are not served
};

TEST(Rfc4475, EveryInvalidMessageIsRefusedWithAReason) {
  std::set<std::string> listed;
  for (const InvalidCase& c : kInvalid) {
    SCOPED_TRACE(c.name);
    listed.insert(c.name);
    const std::string text = torture("invalid", c.name);
    ASSERT_FALSE(text.empty());
    MessageView m;
    const ParseResult r = parse_message(text, m);
    if (c.parse_fails) {
      EXPECT_EQ(r.status, ParseStatus::invalid);
      EXPECT_EQ(r.reason, c.reason);
      continue;
    }
    ASSERT_EQ(r.status, ParseStatus::ok) << r.reason;  // a parser must not break on it
    const Verdict v = validate(m);
    EXPECT_EQ(v.code, c.code);
    EXPECT_EQ(v.reason, c.reason);
  }
  // Every file in invalid/ is covered by the table.
  for (const auto& entry : std::filesystem::directory_iterator(data_path("rfc4475/invalid")))
    EXPECT_TRUE(listed.count(entry.path().stem().string())) << entry.path();
}

TEST(Rfc4475, BadExtensionAnswerListsTheUnsupportedOptions) {
  const std::string text = torture("invalid", "bext01");
  MessageView m;
  ASSERT_EQ(parse_message(text, m).status, ParseStatus::ok);
  const Verdict v = validate_request(m);
  ASSERT_EQ(v.code, 420);
  std::string out;
  MessageWriter w(out);
  write_response_head(m, v.code, v.reason, "t1", w);
  write_unsupported(m, w);
  w.finish();
  MessageView r;
  ASSERT_EQ(parse_message(out, r).status, ParseStatus::ok);
  EXPECT_EQ(r.status_code(), 420);
  EXPECT_EQ(r.value(HeaderId::unsupported), "nothingSupportsThis, nothingSupportsThisEither");
  EXPECT_TRUE(validate_response(r).ok());
}

TEST(Rfc4475, WsinvShortTortuousInvite) {
  const std::string text = torture("valid", "wsinv");
  MessageView m;
  parse_valid(text, m);
  EXPECT_EQ(m.method(), Method::invite);
  Uri ruri;
  ASSERT_TRUE(parse_uri(m.request_uri(), ruri));
  EXPECT_EQ(ruri.user, "vivekg");
  EXPECT_EQ(ruri.host, "chair-dnrc.example.com");
  EXPECT_TRUE(has_param(ruri.params, "unknownparam"));
  EXPECT_EQ(to_tag(m), "1918181833n");
  EXPECT_EQ(from_tag(m), "98asjd8");
  NameAddr from;
  ASSERT_TRUE(parse_name_addr(m.value(HeaderId::from), from));
  std::string scratch;
  EXPECT_EQ(unquote(from.display_name, scratch), "J Rosenberg \\\"");
  EXPECT_EQ(parse_max_forwards(m.value(HeaderId::max_forwards)), 68u);
  EXPECT_EQ(call_id(m), "wsinv.ndaksdj@192.0.2.1");
  const auto cs = cseq(m);
  ASSERT_TRUE(cs);
  EXPECT_EQ(cs->number, 9u);
  EXPECT_EQ(cs->method, Method::invite);
  // Three Vias: one on a folded "Via" line, two comma-separated on a folded "v" line.
  ListCursor vias(m, HeaderId::via);
  std::string_view e;
  const char* hosts[] = {"192.0.2.2", "spindle.example.com", "192.168.255.111"};
  const char* branches[] = {"390skdjuw", "z9hG4bK9ikj8", "z9hG4bK30239"};
  const char* transports[] = {"UDP", "TCP", "UDP"};
  int i = 0;
  while (vias.next(e)) {
    ASSERT_LT(i, 3);
    Via v;
    ASSERT_TRUE(parse_via(e, v)) << e;
    EXPECT_EQ(v.host, hosts[i]);
    EXPECT_EQ(v.branch, branches[i]);
    EXPECT_EQ(v.transport, transports[i]);
    ++i;
  }
  EXPECT_EQ(i, 3);
  EXPECT_EQ(m.value(HeaderId::subject), "");
  const HeaderField* nf = m.find("NewFangledHeader");
  ASSERT_NE(nf, nullptr);
  EXPECT_TRUE(nf->folded);
  EXPECT_EQ(unfold(nf->value, scratch), "newfangled value continued newfangled value");
  EXPECT_EQ(m.find("UnknownHeaderWithUnusualValue")->value, ";;,,;;,;");
  NameAddr contact;
  ASSERT_TRUE(parse_name_addr(m.value(HeaderId::contact), contact));
  EXPECT_EQ(unquote(contact.display_name, scratch), "Quoted string \"\"");
  EXPECT_EQ(find_param(contact.params, "newparam"), "newvalue");
  EXPECT_EQ(find_param(contact.params, "secondparam"), "");
  EXPECT_EQ(find_param(contact.params, "q"), "0.33");
  NameAddr route;
  ASSERT_TRUE(parse_name_addr(m.value(HeaderId::route), route));
  Uri ru;
  ASSERT_TRUE(parse_uri(route.uri, ru));
  EXPECT_TRUE(has_param(ru.params, "lr"));
  EXPECT_EQ(find_param(ru.params, "unknownwith"), "value");
  EXPECT_EQ(m.body().size(), 150u);
  EXPECT_TRUE(m.body().starts_with("v=0\r\n"));
}

TEST(Rfc4475, IntmethWideRangeOfCharacters) {
  const std::string text = torture("valid", "intmeth");
  MessageView m;
  parse_valid(text, m);
  EXPECT_EQ(m.method(), Method::unknown);
  EXPECT_EQ(m.method_text(), "!interesting-Method0123456789_*+`.%indeed'~");
  Uri ruri;
  ASSERT_TRUE(parse_uri(m.request_uri(), ruri));
  EXPECT_EQ(ruri.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
  EXPECT_EQ(ruri.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
  EXPECT_EQ(ruri.host, "example.com");
  EXPECT_EQ(top_via(m)->branch, "z9hG4bK-.!%66*_+`'~");
  NameAddr to;
  ASSERT_TRUE(parse_name_addr(m.value(HeaderId::to), to));
  std::string scratch;
  EXPECT_EQ(unquote(to.display_name, scratch), std::string_view("BEL:\x07 NUL:\0 DEL:\x7F", 17));
  NameAddr from;
  ASSERT_TRUE(parse_name_addr(m.value(HeaderId::from), from));
  EXPECT_EQ(from.display_name, "token1~` token2'+_ token3*%!.-");
  EXPECT_EQ(from.tag(), "_token~1'+`*%!-.");
  EXPECT_EQ(find_param(from.params, "fromParam''~+*_!.-%"), "\"работающий\"");
  EXPECT_EQ(call_id(m), "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{");
  EXPECT_EQ(cseq(m)->method_text, m.method_text());
  EXPECT_EQ(parse_max_forwards(m.value(HeaderId::max_forwards)), 255u);
  EXPECT_NE(m.find("extensionHeader-!.%*+_`'~"), nullptr);
}

TEST(Rfc4475, EscapesStayEscapedAndCompareDecoded) {
  MessageView m;
  const std::string esc01 = torture("valid", "esc01");
  parse_valid(esc01, m);
  Uri ruri;
  ASSERT_TRUE(parse_uri(m.request_uri(), ruri));
  EXPECT_EQ(ruri.user, "sips%3Auser%40example.com");
  EXPECT_TRUE(uri_part_equals(ruri.user, "sips:user@example.com"));
  EXPECT_EQ(m.find(HeaderId::content_type)->name, "C");
  EXPECT_EQ(call_id(m), "esc01.239409asdfakjkn23onasd0-3234");
  NameAddr c;
  ASSERT_TRUE(parse_name_addr(m.value(HeaderId::contact), c));
  Uri cu;
  ASSERT_TRUE(parse_uri(c.uri, cu));
  EXPECT_TRUE(uri_part_equals(cu.user, "caller"));
  EXPECT_EQ(find_param(cu.params, "n%61me"), "v%61lue%25%34%31");

  const std::string escnull = torture("valid", "escnull");
  parse_valid(escnull, m);
  EXPECT_EQ(m.count(HeaderId::contact), 2u);
  EXPECT_EQ(m.content_length(), 0u);

  const std::string esc02 = torture("valid", "esc02");
  parse_valid(esc02, m);
  EXPECT_EQ(m.method(), Method::unknown);  // RE%47IST%45R is not REGISTER
  EXPECT_EQ(m.count(HeaderId::contact), 2u);
  EXPECT_NE(m.find("C%6Fntact"), nullptr);
}

TEST(Rfc4475, LongValuesAndManyVias) {
  const std::string text = torture("valid", "longreq");
  MessageView m;
  parse_valid(text, m);
  EXPECT_EQ(m.count(HeaderId::via), 34u);
  const auto v = top_via(m);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->host, "sip33.example.com");
  EXPECT_TRUE(v->branch.empty());
  NameAddr to;
  ASSERT_TRUE(parse_name_addr(m.value(HeaderId::to), to));
  Uri u;
  ASSERT_TRUE(parse_uri(to.uri, u));
  EXPECT_EQ(u.port, 6000);
  EXPECT_EQ(from_tag(m).size(), 155u);
}

TEST(Rfc4475, ExtraOctetsInADatagramAreDiscarded) {
  const std::string text = torture("valid", "dblreq");
  MessageView m;
  const ParseResult r = parse_message(text, m);
  ASSERT_EQ(r.status, ParseStatus::ok);
  EXPECT_EQ(m.method(), Method::register_);
  EXPECT_TRUE(m.body().empty());
  EXPECT_LT(r.consumed, text.size());
  EXPECT_TRUE(validate_request(m).ok());
}

TEST(Rfc4475, SemicolonInUserAndTransports) {
  MessageView m;
  const std::string semiuri = torture("valid", "semiuri");
  parse_valid(semiuri, m);
  Uri ruri;
  ASSERT_TRUE(parse_uri(m.request_uri(), ruri));
  EXPECT_EQ(ruri.user, "user;par=u%40example.net");
  EXPECT_EQ(ruri.host, "example.com");
  EXPECT_TRUE(ruri.params.empty());

  const std::string transports = torture("valid", "transports");
  parse_valid(transports, m);
  ListCursor c(m, HeaderId::via);
  std::string_view e;
  std::string seen;
  while (c.next(e)) {
    Via v;
    ASSERT_TRUE(parse_via(e, v));
    seen += std::string(v.transport) + " ";
  }
  EXPECT_EQ(seen, "UDP SCTP TLS UNKNOWN TCP ");
}

TEST(Rfc4475, MultipartBinaryBodyAndOddReasonPhrases) {
  MessageView m;
  const std::string mpart = torture("valid", "mpart01");
  parse_valid(mpart, m);
  EXPECT_EQ(m.method(), Method::message);
  EXPECT_EQ(m.body().size(), 553u);
  MediaType mt;
  ASSERT_TRUE(parse_media_type(m.value(HeaderId::content_type), mt));
  EXPECT_TRUE(mt.is("multipart", "mixed"));
  EXPECT_EQ(find_param(mt.params, "boundary"), "7a9cbec02ceef655");
  EXPECT_TRUE(top_via(m)->has_rport);

  const std::string unreason = torture("valid", "unreason");
  parse_valid(unreason, m);
  EXPECT_EQ(m.status_code(), 200);
  EXPECT_EQ(m.reason_phrase(), "= 2**3 * 5**2 но сто девяносто девять - простое");

  const std::string noreason = torture("valid", "noreason");
  parse_valid(noreason, m);
  EXPECT_EQ(m.status_code(), 100);
  EXPECT_EQ(m.reason_phrase(), "");
}

TEST(Rfc4475, ApplicationLayerMessagesParse) {
  MessageView m;
  const std::string unksm2 = torture("valid", "unksm2");
  parse_valid(unksm2, m);
  NameAddr to;
  ASSERT_TRUE(parse_name_addr(m.value(HeaderId::to), to));
  Uri u;
  ASSERT_TRUE(parse_uri(to.uri, u));
  EXPECT_EQ(u.scheme, UriScheme::other);
  EXPECT_EQ(u.scheme_text, "isbn");

  const std::string regaut = torture("valid", "regaut01");
  parse_valid(regaut, m);
  AuthParams auth;
  ASSERT_TRUE(parse_auth(m.value(HeaderId::authorization), auth));
  EXPECT_EQ(auth.scheme, "NoOneKnowsThisScheme");
  EXPECT_FALSE(auth.is_digest());
  EXPECT_EQ(auth.get("opaque-data"), "here");

  const std::string cparam01 = torture("valid", "cparam01");
  parse_valid(cparam01, m);
  NameAddr c;
  ASSERT_TRUE(parse_name_addr(m.value(HeaderId::contact), c));
  EXPECT_FALSE(c.angle_brackets);
  EXPECT_EQ(c.uri, "sip:+19725552222@gw1.example.net");
  EXPECT_TRUE(has_param(c.params, "unknownparam"));  // a header param, not a URI param

  const std::string cparam02 = torture("valid", "cparam02");
  parse_valid(cparam02, m);
  ASSERT_TRUE(parse_name_addr(m.value(HeaderId::contact), c));
  EXPECT_TRUE(c.params.empty());
  ASSERT_TRUE(parse_uri(c.uri, u));
  EXPECT_TRUE(has_param(u.params, "unknownparam"));

  const std::string regescrt = torture("valid", "regescrt");
  parse_valid(regescrt, m);
  ASSERT_TRUE(parse_name_addr(m.value(HeaderId::contact), c));
  ASSERT_TRUE(parse_uri(c.uri, u));
  EXPECT_EQ(u.headers, "Route=%3Csip:sip.example.com%3E");

  const std::string zeromf = torture("valid", "zeromf");
  parse_valid(zeromf, m);
  EXPECT_EQ(parse_max_forwards(m.value(HeaderId::max_forwards)), 0u);

  const std::string bcast = torture("valid", "bcast");
  parse_valid(bcast, m);
  EXPECT_EQ(m.count(HeaderId::via), 2u);
}

}  // namespace
}  // namespace webtrunk::sip
