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

TEST(Routes, ErrorsNameFileAndLine) {
  auto expect_error = [](std::string_view content, std::string_view want) {
    auto t = RouteTable::parse(content, "routes.txt");
    ASSERT_FALSE(t.ok()) << content;
    EXPECT_NE(t.error().message.find(want), std::string::npos) << t.error().message;
  };
  expect_error("1555 udp:127.0.0.1:5081\n1666\n", "routes.txt:2: '1666' has no trunk");
  expect_error("# c\n\n15x5 udp:127.0.0.1:5081\n", "routes.txt:3: prefix '15x5' is not digits");
  expect_error("1555 tls:127.0.0.1:5081\n", "routes.txt:1: 'tls:127.0.0.1:5081': transport 'tls' is not supported");
  expect_error("1555 udp:127.0.0.1:99999\n", "routes.txt:1:");
  expect_error("1555 udp:127.0.0.1\n", "routes.txt:1:");
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
}

}  // namespace
}  // namespace webtrunk::edge
