// The flags of README "Limits" (`webtrunk edge`) and their reading into an EdgeLimits. Start-up
// code: a bad value comes back as an Error whose message names the flag.
#pragma once

#include "core/result.hpp"
#include "edge/edge_limits.hpp"
#include "app/flags.hpp"

namespace webtrunk::app {

// Adds the limit flags to the edge's flag set, and reads them back.
void add_limit_flags(FlagSet& f);
[[nodiscard]] core::Result<void> limits_from(const FlagValues& flags, edge::EdgeLimits& out);

}  // namespace webtrunk::app
