// Registrar: RFC 3261 §10.3 with RFC 5626 flows, on a fake clock.
#include "edge/registrar.hpp"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include "sip/parser.hpp"
#include "sip/writer.hpp"

namespace webtrunk::edge {
namespace {

const core::Instant kT0 = core::Instant{} + std::chrono::hours(1);

struct Req {
  std::string bytes;
  sip::MessageView view;
  explicit Req(std::vector<std::string> headers) {
    sip::MessageWriter w(bytes);
    w.request_line("REGISTER", "sip:edge.test");
    w.header("Via", "SIP/2.0/WS x.invalid;branch=z9hG4bK1");
    w.header("Max-Forwards", "69");
    w.header("To", "<sip:alice@Edge.Test>");
    w.header("From", "<sip:alice@edge.test>;tag=a");
    w.header("Call-ID", "c1");
    w.header("CSeq", "1 REGISTER");
    for (const auto& h : headers) {
      const auto c = h.find(':');
      w.header(std::string_view(h).substr(0, c), std::string_view(h).substr(c + 2));
    }
    w.finish();
    EXPECT_EQ(sip::parse_message(std::string_view(bytes), view).status, sip::ParseStatus::ok);
  }
};

const std::string kJsSipContact =
    "Contact: <sip:uoggfa7q@2ptt6va5fmo9.invalid;transport=ws>;+sip.ice;reg-id=1;"
    "+sip.instance=\"<urn:uuid:fbdc327a-460a-4d74-8047-b41673616bc6>\";expires=600";

TEST(Registrar, JsSipRegisterMakesABindingOnTheFlow) {
  Registrar r;
  Req req({kJsSipContact, "Expires: 600"});
  const RegisterResult res = r.handle_register(kT0, req.view, core::ConnId{3, 1}, "alice");
  ASSERT_EQ(res.code, 200);
  ASSERT_EQ(res.contacts.size(), 1u);
  EXPECT_EQ(res.contacts[0],
            "<sip:uoggfa7q@2ptt6va5fmo9.invalid;transport=ws>;+sip.ice;reg-id=1;"
            "+sip.instance=\"<urn:uuid:fbdc327a-460a-4d74-8047-b41673616bc6>\";expires=600");
  auto b = r.lookup("sip:alice@edge.test");  // host case-folded
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0]->flow, (core::ConnId{3, 1}));
  EXPECT_EQ(b[0]->instance, "urn:uuid:fbdc327a-460a-4d74-8047-b41673616bc6");
  EXPECT_EQ(b[0]->reg_id, 1u);
  EXPECT_EQ(r.next_expiry(), kT0 + std::chrono::seconds(600));
}

TEST(Registrar, LookupByUserFindsTheUserUnderAnyHostAndNoOtherUser) {
  Registrar r;
  Req req({kJsSipContact, "Expires: 600"});
  ASSERT_EQ(r.handle_register(kT0, req.view, core::ConnId{3, 1}, "alice").code, 200);
  // A trunk calls sip:alice@<the edge's address>: the realm the browser registered under differs.
  ASSERT_EQ(r.lookup_user("alice").size(), 1u);
  EXPECT_EQ(r.lookup_user("alice")[0]->flow, (core::ConnId{3, 1}));
  EXPECT_TRUE(r.lookup_user("ali").empty());
  EXPECT_TRUE(r.lookup_user("alicex").empty());
  EXPECT_TRUE(r.lookup_user("").empty());
}

TEST(Registrar, SameInstanceOnANewFlowReplacesTheOldOne) {
  Registrar r;
  Req req({kJsSipContact});
  ASSERT_EQ(r.handle_register(kT0, req.view, core::ConnId{3, 1}, "alice").code, 200);
  const auto res = r.handle_register(kT0, req.view, core::ConnId{7, 2}, "alice");
  ASSERT_EQ(res.code, 200);
  EXPECT_EQ(res.contacts.size(), 1u);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r.lookup("sip:alice@edge.test")[0]->flow, (core::ConnId{7, 2}));
  EXPECT_EQ(r.remove_flow(core::ConnId{3, 1}), 0u);
  EXPECT_EQ(r.remove_flow(core::ConnId{7, 2}), 1u);
  EXPECT_EQ(r.size(), 0u);
}

TEST(Registrar, SipJsContactWithoutInstanceAndHeaderExpires) {
  Registrar r;
  Req req({"Contact: <sip:02afp07h@u2b2phfm7ila.invalid;transport=ws>;expires=600"});
  auto res = r.handle_register(kT0, req.view, core::ConnId{1, 1}, "bob");
  ASSERT_EQ(res.code, 200);
  EXPECT_EQ(res.contacts[0], "<sip:02afp07h@u2b2phfm7ila.invalid;transport=ws>;expires=600");
  // A query (no Contact) lists the bindings with the time left.
  Req query({});
  res = r.handle_register(kT0 + std::chrono::seconds(100), query.view, core::ConnId{1, 1}, "bob");
  ASSERT_EQ(res.contacts.size(), 1u);
  EXPECT_NE(res.contacts[0].find(";expires=500"), std::string::npos);
}

TEST(Registrar, ExpiresZeroStarAndLimits) {
  Registrar r;
  Req reg({kJsSipContact});
  ASSERT_EQ(r.handle_register(kT0, reg.view, core::ConnId{1, 1}, "a").code, 200);
  Req zero({"Contact: <sip:uoggfa7q@2ptt6va5fmo9.invalid;transport=ws>;reg-id=1;"
            "+sip.instance=\"<urn:uuid:fbdc327a-460a-4d74-8047-b41673616bc6>\";expires=0"});
  auto res = r.handle_register(kT0, zero.view, core::ConnId{1, 1}, "a");
  EXPECT_EQ(res.code, 200);
  EXPECT_TRUE(res.contacts.empty());
  EXPECT_EQ(r.size(), 0u);

  ASSERT_EQ(r.handle_register(kT0, reg.view, core::ConnId{1, 1}, "a").code, 200);
  Req star({"Contact: *", "Expires: 0"});
  EXPECT_EQ(r.handle_register(kT0, star.view, core::ConnId{1, 1}, "a").code, 200);
  EXPECT_EQ(r.size(), 0u);
  Req bad_star({"Contact: *", "Expires: 60"});
  EXPECT_EQ(r.handle_register(kT0, bad_star.view, core::ConnId{1, 1}, "a").code, 400);

  Req brief({"Contact: <sip:x@y.invalid;transport=ws>;expires=10"});
  res = r.handle_register(kT0, brief.view, core::ConnId{1, 1}, "a");
  EXPECT_EQ(res.code, 423);
  EXPECT_EQ(res.min_expires, 60u);

  Req longer({"Contact: <sip:x@y.invalid;transport=ws>", "Expires: 86400"});
  res = r.handle_register(kT0, longer.view, core::ConnId{1, 1}, "a");
  ASSERT_EQ(res.code, 200);
  EXPECT_NE(res.contacts[0].find(";expires=3600"), std::string::npos);
}

TEST(Registrar, BindingsExpire) {
  Registrar r;
  Req a({"Contact: <sip:x@y.invalid;transport=ws>;expires=60"});
  Req b({"Contact: <sip:z@y.invalid;transport=ws>;expires=120"});
  ASSERT_EQ(r.handle_register(kT0, a.view, core::ConnId{1, 1}, "a").code, 200);
  ASSERT_EQ(r.handle_register(kT0, b.view, core::ConnId{2, 1}, "a").code, 200);
  EXPECT_EQ(r.size(), 2u);
  EXPECT_EQ(r.expire(kT0 + std::chrono::seconds(59)), 0u);
  EXPECT_EQ(r.expire(kT0 + std::chrono::seconds(60)), 1u);
  EXPECT_EQ(r.next_expiry(), kT0 + std::chrono::seconds(120));
  EXPECT_EQ(r.expire(kT0 + std::chrono::seconds(200)), 1u);
  EXPECT_FALSE(r.next_expiry().has_value());
}

TEST(Registrar, AorOf) {
  EXPECT_EQ(aor_of("sip:alice@Edge.Test:5060;transport=ws"), "sip:alice@edge.test");
  EXPECT_EQ(aor_of("SIP:edge.test"), "sip:edge.test");
}

}  // namespace
}  // namespace webtrunk::edge
