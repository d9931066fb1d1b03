// The connection limits of `webtrunk auth` and `webtrunk servlet` (README "Limits of the auth service
// and the servlet"): the edge's admission limits (core/admission_control.hpp) applied to an HTTP
// port, and its keep-alive and slow-request timeouts. Start-up code: a bad value comes back as an
// Error whose message names the flag.
#pragma once

#include "app/flags.hpp"
#include "core/http_server.hpp"
#include "core/result.hpp"

namespace webtrunk::app {

void add_http_limit_flags(FlagSet& f);
[[nodiscard]] core::Result<void> http_limits_from(const FlagValues& flags, core::HttpServerOptions& out);

}  // namespace webtrunk::app
