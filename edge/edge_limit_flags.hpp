// The flags of README "Limits" (`webtrunk edge`) and their reading into an EdgeLimits. Start-up
// code: a bad value comes back as an Error whose message names the flag.
#pragma once

#include "core/result.hpp"
#include "edge/edge_limits.hpp"
#include "edge/flags.hpp"

namespace webtrunk::edge {

// Adds the limit flags to the edge's flag set, and reads them back.
void add_limit_flags(FlagSet& f);
[[nodiscard]] core::Result<void> limits_from(const FlagValues& flags, EdgeLimits& out);

}  // namespace webtrunk::edge
