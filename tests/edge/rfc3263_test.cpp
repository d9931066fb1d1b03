// RFC 3263 §4.1 choices from DNS records (NAPTR -> SRV names) and RFC 2782 SRV ordering, fed
// records directly; the lookups themselves are tested against a real DNS server in
// tests/integration/trunk_dns.test.js.
#include "edge/rfc3263.hpp"

#include <gtest/gtest.h>

#include <array>
#include <map>
#include <random>

namespace webtrunk::edge {
namespace {

constexpr std::array<sip::Transport, 2> kUdpTcp{sip::Transport::udp, sip::Transport::tcp};

std::vector<std::string> targets(const std::vector<SrvRecord>& v) {
  std::vector<std::string> out;
  for (const SrvRecord& r : v) out.push_back(r.target);
  return out;
}

TEST(Rfc3263, NaptrInOrderThenPreferenceOnlyTransportsTheEdgeSpeaks) {
  const std::vector<NaptrRecord> records{
      {20, 10, "s", "SIP+D2U", "_sip._udp.example.com"},
      {10, 50, "s", "SIP+D2T", "_sip._tcp.example.com"},
      {10, 10, "s", "SIPS+D2T", "_sips._tcp.example.com"},  // TLS: not usable here
      {5, 10, "s", "SIP+D2S", "_sip._sctp.example.com"},    // SCTP: never
      {1, 10, "a", "SIP+D2U", "other.example.com"},         // not an SRV name
  };
  const auto q = srv_from_naptr(records, std::nullopt, kUdpTcp);
  ASSERT_EQ(q.size(), 2u);
  EXPECT_EQ(q[0].name, "_sip._tcp.example.com");
  EXPECT_EQ(q[0].transport, sip::Transport::tcp);
  EXPECT_EQ(q[1].name, "_sip._udp.example.com");
  EXPECT_EQ(q[1].transport, sip::Transport::udp);
}

TEST(Rfc3263, NaptrOfTheRoutesTransportOnly) {
  const std::vector<NaptrRecord> records{
      {10, 10, "S", "sip+d2t", "_sip._tcp.example.com"},  // flags and service are case-insensitive
      {20, 10, "s", "SIP+D2U", "_sip._udp.example.com"},
  };
  const auto udp = srv_from_naptr(records, sip::Transport::udp, kUdpTcp);
  ASSERT_EQ(udp.size(), 1u);
  EXPECT_EQ(udp[0].name, "_sip._udp.example.com");
  const auto tls = srv_from_naptr(records, sip::Transport::tls, kUdpTcp);
  EXPECT_TRUE(tls.empty());  // then the SRV names are built from the host (srv_without_naptr)
}

TEST(Rfc3263, SrvNamesWithoutNaptr) {
  const auto all = srv_without_naptr("example.com", std::nullopt, kUdpTcp);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "_sip._udp.example.com");
  EXPECT_EQ(all[1].name, "_sip._tcp.example.com");
  const auto tcp = srv_without_naptr("example.com", sip::Transport::tcp, kUdpTcp);
  ASSERT_EQ(tcp.size(), 1u);
  EXPECT_EQ(tcp[0].name, "_sip._tcp.example.com");
  const auto tls = srv_without_naptr("example.com", sip::Transport::tls, kUdpTcp);
  ASSERT_EQ(tls.size(), 1u);
  EXPECT_EQ(tls[0].name, "_sips._tcp.example.com");
  EXPECT_EQ(default_sip_port(sip::Transport::tls), 5061);
  EXPECT_EQ(default_sip_port(sip::Transport::udp), 5060);
}

TEST(Rfc3263, SrvLowerPriorityFirstWhateverTheWeight) {
  const std::vector<SrvRecord> records{
      {20, 100, 5060, "c.example.com"},
      {10, 0, 5060, "b.example.com"},
      {30, 0, 5060, "."},  // "no service here": dropped
      {5, 1, 5062, "a.example.com"},
  };
  for (std::uint32_t draw : {0u, 1u, 1000u}) {
    const auto ordered = order_srv(records, [&](std::uint32_t n) { return std::min(draw, n); });
    EXPECT_EQ(targets(ordered), (std::vector<std::string>{"a.example.com", "b.example.com", "c.example.com"}));
  }
}

// RFC 2782: within a priority, the running-sum pick: draw 0 takes the weight-0 record (it sits
// first), a draw up to the first weight takes the first weighted one, and so on.
TEST(Rfc3263, SrvWeightRunningSum) {
  const std::vector<SrvRecord> records{
      {10, 60, 5060, "heavy.example.com"},
      {10, 0, 5060, "zero.example.com"},
      {10, 40, 5060, "light.example.com"},
  };
  auto first_with = [&](std::uint32_t draw) {
    bool used = false;
    return order_srv(records, [&](std::uint32_t n) {
             const std::uint32_t v = used ? 0 : std::min(draw, n);
             used = true;
             return v;
           })
        .front()
        .target;
  };
  EXPECT_EQ(first_with(0), "zero.example.com");
  EXPECT_EQ(first_with(1), "heavy.example.com");
  EXPECT_EQ(first_with(60), "heavy.example.com");
  EXPECT_EQ(first_with(61), "light.example.com");
  EXPECT_EQ(first_with(100), "light.example.com");
}

// With a real random source, each weighted record goes first about weight/sum of the time.
TEST(Rfc3263, SrvWeightsShareTheFirstPlace) {
  const std::vector<SrvRecord> records{{10, 75, 5060, "a"}, {10, 25, 5060, "b"}};
  std::mt19937 rng(7);
  std::map<std::string, int> first;
  constexpr int kRuns = 4000;
  for (int i = 0; i < kRuns; ++i) {
    const auto o = order_srv(records, [&](std::uint32_t n) { return std::uniform_int_distribution<std::uint32_t>(0, n)(rng); });
    ASSERT_EQ(o.size(), 2u);
    ++first[o.front().target];
  }
  EXPECT_NEAR(first["a"] / double(kRuns), 0.75, 0.04);
  EXPECT_NEAR(first["b"] / double(kRuns), 0.25, 0.04);
}

}  // namespace
}  // namespace webtrunk::edge
