// The trunk-side SIP port: requests only from the configured trunks (--trunk / --routes); anyone
// else gets no answer at all.
#include <gtest/gtest.h>

#include "sip_sim.hpp"

namespace webtrunk::sim {
namespace {

std::string options_from(std::string_view host) {
  return fmt::format(
      "OPTIONS sip:edge@127.0.0.1:5070 SIP/2.0\r\nVia: SIP/2.0/UDP {}:5060;branch=z9hG4bK-scan\r\n"
      "Max-Forwards: 70\r\nFrom: <sip:scan@{}>;tag=1\r\nTo: <sip:edge@127.0.0.1>\r\nCall-ID: scan-1\r\n"
      "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
      host, host);
}

TEST(TrunkPort, RequestsFromAnAddressThatIsNoTrunkGetNoAnswer) {
  Sim sim;
  auto parsed = core::SockAddr::parse("127.0.0.9:5060");
  ASSERT_TRUE(parsed);
  const core::SockAddr stranger = *parsed;
  const auto before = edge::kTrunkPortRefused.total();
  sim.core->handle_trunk_datagram(sim.now, stranger, options_from("127.0.0.9"));
  sim.core->handle_trunk_datagram(sim.now, stranger, "INVITE garbage\r\n\r\n");  // not even a 400
  EXPECT_FALSE(sim.core->poll_transmit());
  EXPECT_EQ(edge::kTrunkPortRefused.total() - before, 2);

  // The trunk itself is answered, from any of its ports.
  core::SockAddr trunk_other_port = sim.trunk.addr;
  trunk_other_port.set_port(5999);
  sim.core->handle_trunk_datagram(sim.now, trunk_other_port, options_from("127.0.0.1"));
  auto t = sim.core->poll_transmit();
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->addr == trunk_other_port);
  EXPECT_TRUE(t->bytes.starts_with("SIP/2.0 200")) << t->bytes;
  EXPECT_EQ(edge::kTrunkPortRefused.total() - before, 2);
}

}  // namespace
}  // namespace webtrunk::sim
