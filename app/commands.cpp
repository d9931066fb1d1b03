#include "app/commands.hpp"

namespace webtrunk::app {

const std::vector<Command>& commands() {
  static const std::vector<Command> list = {
      {"edge", "the WebRTC edge: SIP over WebSocket from browsers, SIP to the trunk", edge_flags, run_edge},
      {"auth", "the hosted auth service: customer token in, edge token out", auth_flags, run_auth},
      {"mint", "mint a customer token as JSON", mint_flags, run_mint},
      {"servlet", "the customer's token endpoint", servlet_flags, run_servlet},
      {"echo-trunk", "a SIP trunk that answers every call and echoes its audio", echo_trunk_flags, run_echo_trunk},
      {"demo", "everything on this machine: edge, auth service, echo trunk, demo page", demo_flags, run_demo},
  };
  return list;
}

}  // namespace webtrunk::app
