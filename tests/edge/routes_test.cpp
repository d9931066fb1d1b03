// Routes: --trunk and --routes FILE parsing (errors name the line), longest prefix wins, "*".
#include "edge/routes.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace webtrunk::edge {
namespace {

TEST(Routes, SingleTrunkTakesEveryNumber) {
  auto t = RouteTable::single("udp:127.0.0.1:5080");
  ASSERT_TRUE(t.ok()) << t.error().message;
  const TrunkTarget* r = t->lookup("15551234567");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->host, "127.0.0.1");
  EXPECT_EQ(r->port, 5080);
  EXPECT_EQ(r->addr.to_string(), "127.0.0.1:5080");
  EXPECT_EQ(r->hostport(), "127.0.0.1:5080");
  EXPECT_NE(t->lookup("anything"), nullptr);
}

TEST(Routes, LongestPrefixWinsAndStarIsTheDefault) {
  auto t = RouteTable::parse(
      "# carrier routes\n"
      "1555   udp:127.0.0.1:5081\n"
      "+15551 udp:127.0.0.1:5082   # a comment after\n"
      "\n"
      "*      udp:[::1]:5083\n"
      "49     udp:127.0.0.1:5084\r\n",
      "routes.txt");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->lookup("15551234567")->port, 5082);
  EXPECT_EQ(t->lookup("+15551234567")->port, 5082);
  EXPECT_EQ(t->lookup("15559999")->port, 5081);
  EXPECT_EQ(t->lookup("4930123")->port, 5084);
  const TrunkTarget* d = t->lookup("33123");
  EXPECT_EQ(d->port, 5083);
  EXPECT_EQ(d->hostport(), "[::1]:5083");
}

TEST(Routes, NoDefaultMeansNoRoute) {
  auto t = RouteTable::parse("1555 udp:127.0.0.1:5081\n", "r");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->lookup("4930123"), nullptr);
  EXPECT_EQ(RouteTable().lookup("1"), nullptr);
}

TEST(Routes, TcpTrunksParseAndAreKnownByAddress) {
  auto t = RouteTable::parse("1555 tcp:127.0.0.1:5081\n* udp:127.0.0.1:5082\n", "routes.txt");
  ASSERT_TRUE(t.ok()) << t.error().message;
  ASSERT_NE(t->lookup("15551"), nullptr);
  EXPECT_EQ(t->lookup("15551")->transport, sip::Transport::tcp);
  EXPECT_EQ(t->lookup("4930")->transport, sip::Transport::udp);
  EXPECT_TRUE(t->is_tcp_trunk(core::SockAddr::parse("127.0.0.1:5081").value()));
  EXPECT_FALSE(t->is_tcp_trunk(core::SockAddr::parse("127.0.0.1:5082").value()));
  EXPECT_FALSE(t->is_tcp_trunk(core::SockAddr::parse("127.0.0.1:5083").value()));
}

TEST(Routes, TlsTrunksAreStreamTrunksWithTheirHostForTheCertificate) {
  auto t = RouteTable::parse("1555 tls:localhost:5061\n1666 tls:127.0.0.1:5062\n* tcp:127.0.0.1:5063\n", "routes.txt");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->lookup("15551")->transport, sip::Transport::tls);
  const auto a5061 = core::SockAddr::parse("127.0.0.1:5061").value();
  EXPECT_FALSE(t->is_tcp_trunk(a5061));  // a name: nothing until the resolver publishes its targets
  EXPECT_EQ(t->tls_trunk(a5061), nullptr);
  t->lookup("15551")->targets->store(
      std::make_shared<const TrunkTargets>(TrunkTargets{{{sip::Transport::tls, a5061}}, {}}));
  EXPECT_TRUE(t->is_tcp_trunk(a5061));  // a TLS link is a TCP link with TLS on it
  ASSERT_NE(t->tls_trunk(a5061), nullptr);
  EXPECT_EQ(t->tls_trunk(a5061)->host, "localhost");
  ASSERT_NE(t->tls_trunk(core::SockAddr::parse("127.0.0.1:5062").value()), nullptr);
  EXPECT_EQ(t->tls_trunk(core::SockAddr::parse("127.0.0.1:5062").value())->host, "127.0.0.1");
  EXPECT_EQ(t->tls_trunk(core::SockAddr::parse("127.0.0.1:5063").value()), nullptr);  // tcp:
  EXPECT_TRUE(t->is_tcp_trunk(core::SockAddr::parse("127.0.0.1:5063").value()));
}

TEST(Routes, ErrorsNameFileAndLine) {
  auto expect_error = [](std::string_view content, std::string_view want) {
    auto t = RouteTable::parse(content, "routes.txt");
    ASSERT_FALSE(t.ok()) << content;
    EXPECT_NE(t.error().message.find(want), std::string::npos) << t.error().message;
  };
  expect_error("1555 udp:127.0.0.1:5081\n1666\n", "routes.txt:2: '1666' has no trunk");
  expect_error("# c\n\n15x5 udp:127.0.0.1:5081\n", "routes.txt:3: prefix '15x5' is not digits");
  expect_error("1555 sctp:127.0.0.1:5081\n", "routes.txt:1: 'sctp:127.0.0.1:5081': transport 'sctp' is not supported");
  expect_error("1555 udp:127.0.0.1:99999\n", "routes.txt:1:");
  expect_error("1555 udp:127.0.0.1:\n", "routes.txt:1: 'udp:127.0.0.1:': missing port");
  expect_error("1555 udp:127.0.0.1:5081\n1555 udp:127.0.0.1:5082\n", "routes.txt:2: prefix '1555' is given twice");
  expect_error("1555 udp:127.0.0.1:5081 extra\n", "routes.txt:1: unknown field 'extra'");
  expect_error("1555 udp:127.0.0.1:5081 user=pbx\n", "routes.txt:1: trunk credentials need both");
  expect_error("1555 udp:127.0.0.1:5081 user=pbx password-file=/nonexistent/pw\n",
               "routes.txt:1: cannot read password file '/nonexistent/pw'");
  expect_error("# nothing\n", "routes.txt: no routes");
  expect_error("* udp:::1:5060\n", "IPv6");
}

TEST(Routes, CredentialsPerRouteFromAPasswordFile) {
  const std::string pw = ::testing::TempDir() + "routes_test_pw";
  {
    std::ofstream(pw) << "s3cret \r\nignored second line\n";
  }
  auto t = RouteTable::parse("1555 udp:127.0.0.1:5081 user=pbx password-file=" + pw + "\n* udp:127.0.0.1:5082\n",
                             "routes.txt");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->lookup("15550001")->credentials.user, "pbx");
  EXPECT_EQ(t->lookup("15550001")->credentials.password, "s3cret");
  EXPECT_TRUE(t->lookup("4930")->credentials.empty());
  auto single = RouteTable::single("udp:127.0.0.1:5080", "acme", pw);
  ASSERT_TRUE(single.ok());
  EXPECT_EQ(single->lookup("1")->credentials.password, "s3cret");
  // An error names the file, never what is in it.
  std::ofstream(pw) << "\n";
  auto empty = RouteTable::single("udp:127.0.0.1:5080", "acme", pw);
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.error().message.find("is empty"), std::string::npos);
  std::remove(pw.c_str());
}

TEST(Routes, RegisterOptions) {
  const std::string pw = ::testing::TempDir() + "routes_register_pw";
  std::ofstream(pw) << "s3cret\n";
  auto t = RouteTable::parse("1555 udp:127.0.0.1:5081 user=pbx password-file=" + pw +
                                 " register=yes register-expires=120\n* udp:127.0.0.1:5082 user=pbx password-file=" + pw +
                                 " register=yes\n49 udp:127.0.0.1:5083\n",
                             "routes.txt");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_TRUE(t->lookup("15550001")->register_with);
  EXPECT_EQ(t->lookup("15550001")->register_expires, 120u);
  EXPECT_TRUE(t->lookup("1")->register_with);
  EXPECT_EQ(t->lookup("1")->register_expires, RouteTable::kDefaultRegisterExpires);
  EXPECT_FALSE(t->lookup("4930")->register_with);
  auto single = RouteTable::single("udp:127.0.0.1:5080", "acme", pw, true, 300);
  ASSERT_TRUE(single.ok()) << single.error().message;
  EXPECT_TRUE(single->lookup("1")->register_with);
  EXPECT_EQ(single->lookup("1")->register_expires, 300u);

  auto fails = [](std::string_view routes) {
    auto r = RouteTable::parse(routes, "routes.txt");
    EXPECT_FALSE(r.ok()) << routes;
    return r.ok() ? std::string() : r.error().message;
  };
  EXPECT_EQ(fails("* udp:127.0.0.1:5080 register=yes\n"),
            "routes.txt:1: register=yes needs user=NAME password-file=FILE (the trunk's account)");
  EXPECT_EQ(fails("* udp:127.0.0.1:5080 user=a password-file=" + pw + " register=yes register-expires=5\n"),
            "routes.txt:1: register-expires '5' is not 60-86400 seconds");
  EXPECT_EQ(fails("* udp:127.0.0.1:5080 user=a password-file=" + pw + " register-expires=600\n"),
            "routes.txt:1: register-expires= goes with register=yes");
  EXPECT_NE(fails("* udp:127.0.0.1:5080 register=maybe\n").find("unknown field 'register=maybe'"), std::string::npos);
  auto no_user = RouteTable::single("udp:127.0.0.1:5080", {}, {}, true);
  ASSERT_FALSE(no_user.ok());
  EXPECT_EQ(no_user.error().message, "--trunk-register needs --trunk-user and --trunk-password-file (the trunk's account)");
  std::remove(pw.c_str());
}

TEST(Routes, TrunkSpecErrors) {
  EXPECT_FALSE(parse_trunk("127.0.0.1:5080").ok());
  EXPECT_FALSE(parse_trunk("udp:").ok());
  EXPECT_FALSE(parse_trunk("udp::5080").ok());
  EXPECT_FALSE(parse_trunk("udp:127.0.0.1:0").ok());
  auto v6 = parse_trunk("udp:[::1]:5060");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_TRUE(v6->ipv6_literal);
  EXPECT_FALSE(RouteTable::load_file("/nonexistent/routes").ok());
  EXPECT_FALSE(parse_trunk("sctp:trunk.test").ok());      // not a transport of this edge
  auto tls = parse_trunk("tls:192.0.2.1");
  ASSERT_TRUE(tls.ok());
  EXPECT_EQ(tls->port, 5061);  // TLS's default port (RFC 3261 §19.1.2)
  EXPECT_FALSE(parse_trunk("udp:trunk.test:").ok());      // a colon and no port
  EXPECT_FALSE(parse_trunk("udp:bad/name").ok());         // neither an address nor a name
}

// RFC 3263 §4.2: a name with a port is looked up as A/AAAA; without one, NAPTR/SRV choose the port
// and the Request-URI keeps the name alone. Nothing is resolved when the table is built.
TEST(Routes, NamesWaitForTheResolver) {
  auto t = RouteTable::parse("1555 udp:trunk.test:5080\n2666 tcp:trunk.test\n* trunk.test\n", "routes");
  ASSERT_TRUE(t.ok()) << t.error().message;
  const TrunkTarget* with_port = t->lookup("1555");
  ASSERT_NE(with_port, nullptr);
  EXPECT_TRUE(with_port->by_name());
  EXPECT_FALSE(with_port->srv);
  EXPECT_EQ(with_port->hostport(), "trunk.test:5080");
  EXPECT_TRUE(with_port->resolved()->list.empty());
  EXPECT_EQ(with_port->resolved()->error, "not resolved yet");
  const TrunkTarget* tcp = t->lookup("2666");
  ASSERT_NE(tcp, nullptr);
  EXPECT_TRUE(tcp->srv);
  EXPECT_TRUE(tcp->transport_given);
  EXPECT_EQ(tcp->transport, sip::Transport::tcp);
  EXPECT_EQ(tcp->hostport(), "trunk.test");
  const TrunkTarget* bare = t->lookup("9");
  ASSERT_NE(bare, nullptr);
  EXPECT_TRUE(bare->srv);
  EXPECT_FALSE(bare->transport_given);
  EXPECT_EQ(t->named_trunks().size(), 3u);

  // What the resolver publishes is what the table answers with, at once.
  const core::SockAddr a = core::SockAddr::parse("127.0.0.7:5090").value();
  tcp->targets->store(std::make_shared<const TrunkTargets>(TrunkTargets{{{sip::Transport::tcp, a}}, {}}));
  EXPECT_TRUE(t->is_tcp_trunk(a));
  core::SockAddr other_port = a;
  other_port.set_port(40000);
  EXPECT_TRUE(t->is_trunk_address(other_port));
  EXPECT_FALSE(t->is_trunk_address(core::SockAddr::parse("127.0.0.8:5090").value()));
}

// An address without a port is that address on 5060, with no lookup (RFC 3263 §4.2).
TEST(Routes, AnAddressWithoutAPortIsOn5060) {
  auto t = parse_trunk("udp:127.0.0.1");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_FALSE(t->by_name());
  EXPECT_EQ(t->addr.to_string(), "127.0.0.1:5060");
  ASSERT_EQ(t->resolved()->list.size(), 1u);
  EXPECT_EQ(t->resolved()->list[0].addr, t->addr);
}

}  // namespace
}  // namespace webtrunk::edge
