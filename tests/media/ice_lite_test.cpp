// IceLiteAgent against the RFC 5769 test vectors and against libnice's own ICE usage playing the
// browser (a full, controlling agent): what the browser sees is a response that libnice accepts,
// with its own address mapped back, and the right error codes otherwise.
#include "media/ice_lite.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <stun/stunagent.h>
#include <stun/usages/ice.h>

#include <array>
#include <chrono>
#include <cstring>
#include <set>
#include <vector>

namespace webtrunk::media {
namespace {

using namespace std::chrono_literals;

std::vector<std::byte> bytes(std::initializer_list<unsigned> v) {
  std::vector<std::byte> out;
  for (unsigned b : v) out.push_back(static_cast<std::byte>(b));
  return out;
}

// RFC 5769 §2.1: Binding request, USERNAME "evtj:h6vY", password "VOkJxbRl1RmTxUk/WvJxBt".
const std::vector<std::byte> kRfc5769Request = bytes({
    0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87,
    0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73, 0x74, 0x20, 0x63, 0x6c,
    0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff, 0x80, 0x29, 0x00, 0x08, 0x93, 0x2f,
    0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36, 0x00, 0x06, 0x00, 0x09, 0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76,
    0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14, 0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e,
    0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49, 0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf,
});
// §2.2: success response, XOR-MAPPED-ADDRESS 192.0.2.1:32853.
const std::vector<std::byte> kRfc5769ResponseV4 = bytes({
    0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
    0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9,
    0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7, 0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96,
});
// §2.3: success response, XOR-MAPPED-ADDRESS [2001:db8:1234:5678:11:2233:4455:6677]:32853.
const std::vector<std::byte> kRfc5769ResponseV6 = bytes({
    0x01, 0x01, 0x00, 0x48, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87,
    0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63, 0x74, 0x6f, 0x72, 0x20,
    0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa, 0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25,
    0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9, 0x00, 0x08, 0x00, 0x14, 0xa3, 0x82, 0x95, 0x4e, 0x4b, 0xe6, 0x7b, 0xf1,
    0x17, 0x84, 0xc9, 0x7c, 0x82, 0x92, 0xc2, 0x75, 0xbf, 0xe3, 0xed, 0x41, 0x80, 0x28, 0x00, 0x04, 0xc8, 0xfb,
    0x0b, 0x4c,
});
const std::string kRfc5769Password = "VOkJxbRl1RmTxUk/WvJxBt";

constexpr std::uint16_t kKnown[] = {STUN_ATTRIBUTE_USERNAME,        STUN_ATTRIBUTE_MESSAGE_INTEGRITY,
                                    STUN_ATTRIBUTE_ERROR_CODE,      STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS,
                                    STUN_ATTRIBUTE_MAPPED_ADDRESS,  STUN_ATTRIBUTE_PRIORITY,
                                    STUN_ATTRIBUTE_USE_CANDIDATE,   STUN_ATTRIBUTE_UNKNOWN_ATTRIBUTES,
                                    0};

const std::uint8_t* u8(const std::vector<std::byte>& v) { return reinterpret_cast<const std::uint8_t*>(v.data()); }
std::uint8_t* u8(std::vector<std::byte>& v) { return reinterpret_cast<std::uint8_t*>(v.data()); }

// The browser side: a libnice agent that builds checks and validates the answers to them.
class Browser {
 public:
  explicit Browser(bool fingerprint = true) {
    auto flags = STUN_AGENT_USAGE_SHORT_TERM_CREDENTIALS;
    if (fingerprint) flags = static_cast<StunAgentUsageFlags>(flags | STUN_AGENT_USAGE_USE_FINGERPRINT);
    stun_agent_init(&agent_, kKnown, STUN_COMPATIBILITY_RFC5389, flags);
  }

  // A connectivity check as Chromium sends it: controlling, PRIORITY, USERNAME, (USE-CANDIDATE).
  std::vector<std::byte> check(const std::string& username, const std::string& password, bool use_candidate) {
    user_ = username;
    pwd_ = password;
    std::vector<std::byte> buf(1024);
    StunMessage msg;
    const std::size_t len = stun_usage_ice_conncheck_create(
        &agent_, &msg, u8(buf), buf.size(), reinterpret_cast<const std::uint8_t*>(user_.data()), user_.size(),
        pwd_.empty() ? nullptr : reinterpret_cast<const std::uint8_t*>(pwd_.data()), pwd_.size(), use_candidate,
        true, 0x6e0001ff, 0x0102030405060708ull, nullptr, STUN_USAGE_ICE_COMPATIBILITY_RFC5245);
    EXPECT_GT(len, 0u);
    buf.resize(len);
    return buf;
  }

  // Tells the agent a request with this transaction id and key went out (to validate the
  // RFC 5769 responses, whose request this agent did not build).
  void expect_transaction(const std::vector<std::byte>& request, const std::string& password) {
    pwd_ = password;
    std::vector<std::byte> buf(64);
    StunMessage msg;
    ASSERT_TRUE(stun_agent_init_request(&agent_, &msg, u8(buf), buf.size(), STUN_BINDING));
    std::memcpy(buf.data() + 8, request.data() + 8, 12);  // the transaction id
    ASSERT_GT(stun_agent_finish_message(&agent_, &msg, reinterpret_cast<const std::uint8_t*>(pwd_.data()),
                                        pwd_.size()),
              0u);
  }

  StunValidationStatus validate(const std::vector<std::byte>& pkt, StunMessage& msg) {
    return stun_agent_validate(&agent_, &msg, u8(pkt), pkt.size(), nullptr, nullptr);
  }

 private:
  StunAgent agent_{};
  std::string user_;
  std::string pwd_;
};

core::SockAddr addr(const char* text) { return core::SockAddr::parse(text).value(); }

core::SockAddr mapped_address(StunMessage& msg) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  EXPECT_EQ(stun_usage_ice_conncheck_process(&msg, &ss, &len, STUN_USAGE_ICE_COMPATIBILITY_RFC5245),
            STUN_USAGE_ICE_RETURN_SUCCESS);
  return core::SockAddr::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss), len);
}

int error_code(const std::vector<std::byte>& pkt) {
  StunMessage msg{};
  msg.buffer = const_cast<std::uint8_t*>(u8(pkt));
  msg.buffer_len = pkt.size();
  int code = 0;
  if (stun_message_find_error(&msg, &code) != STUN_MESSAGE_RETURN_SUCCESS) return -1;
  return code;
}

bool has_attribute(const std::vector<std::byte>& pkt, StunAttribute type) {
  StunMessage msg{};
  msg.buffer = const_cast<std::uint8_t*>(u8(pkt));
  msg.buffer_len = pkt.size();
  return stun_message_has_attribute(&msg, type);
}

const core::Instant t0 = core::Instant{} + 1000s;

struct Fixture {
  IceCredentials edge{"EdgeUfrg", "EdgePasswordEdgePassword"};
  IceCredentials browser{"brws", "browserpasswordbrowserpw"};
  IceLiteAgent agent{edge};
  Browser b;
  std::array<std::byte, kIceMaxReply> out{};

  Fixture() { agent.set_remote(browser); }
  std::string username() const { return edge.ufrag + ":" + browser.ufrag; }
  std::vector<std::byte> send(core::Instant now, const std::vector<std::byte>& pkt, const core::SockAddr& from,
                              IceLiteAgent::Reply* r = nullptr) {
    const IceLiteAgent::Reply reply = agent.handle(now, pkt, from, out);
    if (r) *r = reply;
    return {out.begin(), out.begin() + static_cast<std::ptrdiff_t>(reply.len)};
  }
};

TEST(IceCredentials, RandomIceCharsOfRfc8839Lengths) {
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    const IceCredentials c = make_local_ice_credentials();
    ASSERT_EQ(c.ufrag.size(), 8u);
    ASSERT_EQ(c.pwd.size(), 24u);
    for (char ch : c.ufrag + c.pwd) {
      EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(ch)) || ch == '+' || ch == '/') << ch;
    }
    seen.insert(c.ufrag);
    seen.insert(c.pwd);
  }
  EXPECT_EQ(seen.size(), 100u);  // 48 and 144 random bits: no repeats
}

TEST(StunDemux, FindsTheLocalUfragOfABindingRequest) {
  EXPECT_EQ(stun_request_local_ufrag(kRfc5769Request), "evtj");
  Browser b;
  EXPECT_EQ(stun_request_local_ufrag(b.check("EdgeUfrg:brws", "pw", true)), "EdgeUfrg");
}

TEST(StunDemux, RejectsEverythingElse) {
  EXPECT_EQ(stun_request_local_ufrag(kRfc5769ResponseV4), std::nullopt);  // a response
  EXPECT_EQ(stun_request_local_ufrag({}), std::nullopt);
  std::vector<std::byte> truncated(kRfc5769Request.begin(), kRfc5769Request.end() - 4);
  EXPECT_EQ(stun_request_local_ufrag(truncated), std::nullopt);  // length field disagrees
  std::vector<std::byte> dtls = kRfc5769Request;
  dtls[0] = std::byte{22};  // RFC 7983: 20-63 is DTLS
  EXPECT_EQ(stun_request_local_ufrag(dtls), std::nullopt);
  std::vector<std::byte> no_cookie = kRfc5769Request;
  no_cookie[4] = std::byte{0};
  EXPECT_EQ(stun_request_local_ufrag(no_cookie), std::nullopt);
  Browser b;
  EXPECT_EQ(stun_request_local_ufrag(b.check("nocolon", "pw", false)), std::nullopt);
  EXPECT_EQ(stun_request_local_ufrag(b.check(":theirs", "pw", false)), std::nullopt);
  // An attribute whose length runs past the end.
  std::vector<std::byte> overrun = kRfc5769Request;
  overrun[22] = std::byte{0x01};  // SOFTWARE length 0x0110
  EXPECT_EQ(stun_request_local_ufrag(overrun), std::nullopt);
}

TEST(IceLite, Rfc5769RequestAuthenticatesWithItsCredentials) {
  IceLiteAgent agent({"evtj", kRfc5769Password});
  agent.set_remote({"h6vY", "unused-by-a-lite-agent"});
  std::array<std::byte, kIceMaxReply> out{};
  const auto from = addr("192.0.2.1:32853");
  const auto r = agent.handle(t0, kRfc5769Request, from, out);
  const std::vector<std::byte> reply(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(r.len));
  // The sample request carries ICE-CONTROLLED: its sender believes it is controlled, which a lite
  // agent (always controlled) answers with 487 Role Conflict, authenticated with our password.
  ASSERT_GT(r.len, 0u);
  EXPECT_FALSE(r.valid);
  EXPECT_EQ(error_code(reply), 487);
  EXPECT_EQ(std::memcmp(reply.data() + 8, kRfc5769Request.data() + 8, 12), 0);  // same transaction
  Browser b;
  b.expect_transaction(kRfc5769Request, kRfc5769Password);
  StunMessage msg;
  EXPECT_EQ(b.validate(reply, msg), STUN_VALIDATION_SUCCESS);  // MESSAGE-INTEGRITY and FINGERPRINT hold
  EXPECT_EQ(agent.selected(), nullptr);
}

TEST(IceLite, Rfc5769RequestWithAnotherPasswordIs401) {
  IceLiteAgent agent({"evtj", "not-the-password-of-5769"});
  agent.set_remote({"h6vY", ""});
  std::array<std::byte, kIceMaxReply> out{};
  const auto before = kIceUnauthorizedTotal.total();
  const auto r = agent.handle(t0, kRfc5769Request, addr("192.0.2.1:32853"), out);
  const std::vector<std::byte> reply(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(r.len));
  EXPECT_FALSE(r.valid);
  EXPECT_EQ(error_code(reply), 401);
  EXPECT_FALSE(has_attribute(reply, STUN_ATTRIBUTE_MESSAGE_INTEGRITY));  // RFC 5389 §10.1.2
  EXPECT_EQ(kIceUnauthorizedTotal.total(), before + 1);
  EXPECT_EQ(agent.consent_deadline(), core::Instant::max());
}

TEST(IceLite, Rfc5769ResponsesValidateWithLibnice) {
  struct Case {
    const std::vector<std::byte>* pkt;
    const char* mapped;
  };
  for (const Case& c : {Case{&kRfc5769ResponseV4, "192.0.2.1:32853"},
                        Case{&kRfc5769ResponseV6, "[2001:db8:1234:5678:11:2233:4455:6677]:32853"}}) {
    Browser b;
    b.expect_transaction(kRfc5769Request, kRfc5769Password);
    StunMessage msg;
    ASSERT_EQ(b.validate(*c.pkt, msg), STUN_VALIDATION_SUCCESS) << c.mapped;
    EXPECT_EQ(mapped_address(msg), addr(c.mapped));
    // The same bytes with one bit of the mapped address flipped fail MESSAGE-INTEGRITY.
    std::vector<std::byte> tampered = *c.pkt;
    tampered[45] ^= std::byte{1};
    Browser b2;
    b2.expect_transaction(kRfc5769Request, kRfc5769Password);
    EXPECT_NE(b2.validate(tampered, msg), STUN_VALIDATION_SUCCESS) << c.mapped;
  }
}

TEST(IceLite, BrowserCheckGetsAResponseLibniceAccepts) {
  for (const char* from_text : {"198.51.100.7:50123", "[2001:db8::42]:61000"}) {
    Fixture f;
    const auto from = addr(from_text);
    const auto req = f.b.check(f.username(), f.edge.pwd, false);
    IceLiteAgent::Reply r;
    const auto reply = f.send(t0, req, from, &r);
    ASSERT_TRUE(r.valid) << from_text;
    EXPECT_FALSE(r.use_candidate);
    EXPECT_EQ(std::memcmp(reply.data() + 8, req.data() + 8, 12), 0);
    StunMessage msg;
    ASSERT_EQ(f.b.validate(reply, msg), STUN_VALIDATION_SUCCESS);
    EXPECT_EQ(stun_message_get_class(&msg), STUN_RESPONSE);
    EXPECT_TRUE(has_attribute(reply, STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS));
    EXPECT_TRUE(has_attribute(reply, STUN_ATTRIBUTE_FINGERPRINT));
    EXPECT_EQ(mapped_address(msg), from) << from_text;
    EXPECT_EQ(f.agent.selected(), nullptr);  // a check without USE-CANDIDATE does not select
  }
}

TEST(IceLite, UseCandidateSelectsAndRenominationMoves) {
  Fixture f;
  const auto a = addr("198.51.100.7:50123");
  const auto b = addr("203.0.113.9:40000");
  IceLiteAgent::Reply r;
  f.send(t0, f.b.check(f.username(), f.edge.pwd, true), a, &r);
  ASSERT_TRUE(r.valid);
  EXPECT_TRUE(r.use_candidate);
  ASSERT_NE(f.agent.selected(), nullptr);
  EXPECT_EQ(*f.agent.selected(), a);
  // A plain check from another path does not move it; a nomination from there does.
  f.send(t0 + 1s, f.b.check(f.username(), f.edge.pwd, false), b, &r);
  EXPECT_EQ(*f.agent.selected(), a);
  f.send(t0 + 2s, f.b.check(f.username(), f.edge.pwd, true), b, &r);
  EXPECT_EQ(*f.agent.selected(), b);
  // An ICE restart (new remote ufrag) forgets it until the browser nominates again.
  f.agent.set_remote({"newufrag", "newpasswordnewpassword12"});
  EXPECT_EQ(f.agent.selected(), nullptr);
  f.send(t0 + 3s, f.b.check(f.edge.ufrag + ":newufrag", f.edge.pwd, true), a, &r);
  EXPECT_TRUE(r.valid);
  EXPECT_EQ(*f.agent.selected(), a);
}

TEST(IceLite, WrongPasswordIs401AndDoesNotSelect) {
  Fixture f;
  IceLiteAgent::Reply r;
  const auto reply = f.send(t0, f.b.check(f.username(), "WrongPasswordWrongPasswd", true), addr("192.0.2.1:1"), &r);
  EXPECT_FALSE(r.valid);
  EXPECT_EQ(error_code(reply), 401);
  EXPECT_EQ(f.agent.selected(), nullptr);
  EXPECT_FALSE(f.agent.consent_expired(t0 + 1h));  // no consent was ever given: no deadline
}

TEST(IceLite, WrongUfragIsDroppedUnanswered) {
  Fixture f;
  const auto before = kIceWrongUsernameTotal.total();
  IceLiteAgent::Reply r;
  EXPECT_TRUE(f.send(t0, f.b.check("OtherUfr:" + f.browser.ufrag, f.edge.pwd, true), addr("192.0.2.1:1"), &r).empty());
  EXPECT_TRUE(f.send(t0, f.b.check(f.edge.ufrag + ":stale", f.edge.pwd, true), addr("192.0.2.1:1"), &r).empty());
  EXPECT_TRUE(f.send(t0, f.b.check(f.edge.ufrag, f.edge.pwd, true), addr("192.0.2.1:1"), &r).empty());
  EXPECT_EQ(kIceWrongUsernameTotal.total(), before + 3);
  EXPECT_EQ(f.agent.selected(), nullptr);
}

TEST(IceLite, MissingIntegrityOrFingerprintIs400) {
  Fixture f;
  const auto reply = f.send(t0, f.b.check(f.username(), "", true), addr("192.0.2.1:1"));  // no MESSAGE-INTEGRITY
  EXPECT_EQ(error_code(reply), 400);
  Browser no_fp(false);
  const auto reply2 = f.send(t0, no_fp.check(f.username(), f.edge.pwd, true), addr("192.0.2.1:1"));
  EXPECT_EQ(error_code(reply2), 400);
  EXPECT_EQ(f.agent.selected(), nullptr);
}

TEST(IceLite, UnknownRequiredAttributeIs420AndOtherMethodsAre400) {
  Fixture f;
  // A Binding request with comprehension-required attribute 0x7777, signed properly.
  StunAgent a;
  stun_agent_init(&a, kKnown, STUN_COMPATIBILITY_RFC5389,
                  static_cast<StunAgentUsageFlags>(STUN_AGENT_USAGE_SHORT_TERM_CREDENTIALS |
                                                   STUN_AGENT_USAGE_USE_FINGERPRINT));
  const std::string user = f.username();
  auto build = [&](StunMethod method, bool odd_attribute) {
    std::vector<std::byte> buf(512);
    StunMessage m;
    EXPECT_TRUE(stun_agent_init_request(&a, &m, u8(buf), buf.size(), method));
    if (odd_attribute) {
      EXPECT_EQ(stun_message_append32(&m, static_cast<StunAttribute>(0x7777), 1), STUN_MESSAGE_RETURN_SUCCESS);
    }
    EXPECT_EQ(stun_message_append_bytes(&m, STUN_ATTRIBUTE_USERNAME, user.data(), user.size()),
              STUN_MESSAGE_RETURN_SUCCESS);
    buf.resize(stun_agent_finish_message(&a, &m, reinterpret_cast<const std::uint8_t*>(f.edge.pwd.data()),
                                         f.edge.pwd.size()));
    return buf;
  };
  const auto r420 = f.send(t0, build(STUN_BINDING, true), addr("192.0.2.1:1"));
  EXPECT_EQ(error_code(r420), 420);
  const auto r400 = f.send(t0, build(STUN_ALLOCATE, false), addr("192.0.2.1:1"));
  EXPECT_EQ(error_code(r400), 400);
  EXPECT_EQ(f.agent.consent_deadline(), core::Instant::max());
}

TEST(IceLite, ResponsesIndicationsAndNonStunAreIgnored) {
  Fixture f;
  EXPECT_TRUE(f.send(t0, kRfc5769ResponseV4, addr("192.0.2.1:1")).empty());
  std::vector<std::byte> indication = kRfc5769Request;
  indication[1] = std::byte{0x11};  // Binding indication
  EXPECT_TRUE(f.send(t0, indication, addr("192.0.2.1:1")).empty());
  EXPECT_TRUE(f.send(t0, bytes({22, 0xfe, 0xfd, 0, 0}), addr("192.0.2.1:1")).empty());
  std::vector<std::byte> small_out(10);
  const auto r = f.agent.handle(t0, f.b.check(f.username(), f.edge.pwd, true), addr("192.0.2.1:1"), small_out);
  EXPECT_EQ(r.len, 0u);  // no room for the reply: nothing half-written is sent
  EXPECT_FALSE(r.valid);
}

TEST(IceLite, ConsentExpiresAfter30sOfSilenceAndIsRefreshedByChecksAndMedia) {
  Fixture f;
  EXPECT_EQ(f.agent.consent_deadline(), core::Instant::max());
  EXPECT_FALSE(f.agent.consent_expired(t0 + 24h));
  IceLiteAgent::Reply r;
  f.send(t0, f.b.check(f.username(), f.edge.pwd, true), addr("192.0.2.1:1"), &r);
  ASSERT_TRUE(r.valid);
  EXPECT_EQ(f.agent.consent_deadline(), t0 + 30s);
  EXPECT_FALSE(f.agent.consent_expired(t0 + 29999ms));
  EXPECT_TRUE(f.agent.consent_expired(t0 + 30s));
  // A consent check (Chromium sends one every ~5 s) at 20 s moves the deadline to 50 s.
  f.send(t0 + 20s, f.b.check(f.username(), f.edge.pwd, false), addr("192.0.2.1:1"), &r);
  EXPECT_FALSE(f.agent.consent_expired(t0 + 49s));
  EXPECT_TRUE(f.agent.consent_expired(t0 + 50s));
  // Authenticated media counts too; a rejected check does not.
  f.agent.note_media(t0 + 45s);
  EXPECT_EQ(f.agent.consent_deadline(), t0 + 75s);
  f.send(t0 + 70s, f.b.check(f.username(), "WrongPasswordWrongPasswd", false), addr("192.0.2.1:1"));
  EXPECT_TRUE(f.agent.consent_expired(t0 + 75s));
}

TEST(IceLite, ConsentTimeoutIsConfigurable) {
  IceLiteAgent agent({"EdgeUfrg", "EdgePasswordEdgePassword"}, 5s);
  agent.note_media(t0);
  EXPECT_FALSE(agent.consent_expired(t0 + 4s));
  EXPECT_TRUE(agent.consent_expired(t0 + 5s));
}

}  // namespace
}  // namespace webtrunk::media
