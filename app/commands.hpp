// The subcommands of the one `webtrunk` binary. Each returns the process exit code:
// 0 success, 1 runtime failure (with a message), 2 bad usage (unknown or malformed flag).
// `bench` is not here: it runs the load tools of bench/, which only the executable links (no library
// may depend on bench/), so main.cpp adds it (bench/tools/load.hpp).
#pragma once

#include <string>
#include <vector>

#include "app/flags.hpp"

namespace webtrunk::app {

struct Command {
  const char* name;
  const char* summary;
  FlagSet (*flags)();
  int (*run)(const FlagValues& flags);
};

const std::vector<Command>& commands();

FlagSet edge_flags();     // app/edge_flags.cpp
FlagSet demo_flags();
FlagSet auth_flags();     // app/cmd_auth.cpp
FlagSet mint_flags();     // app/cmd_customer.cpp
FlagSet servlet_flags();  // app/cmd_customer.cpp
FlagSet echo_trunk_flags();  // app/cmd_echo_trunk.cpp
int run_edge(const FlagValues& flags);
int run_demo(const FlagValues& flags);
int run_auth(const FlagValues& flags);
int run_mint(const FlagValues& flags);
int run_servlet(const FlagValues& flags);
int run_echo_trunk(const FlagValues& flags);

}  // namespace webtrunk::app
