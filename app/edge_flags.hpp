// The flags of `webtrunk edge` and their reading into an edge::EdgeConfig. Start-up code: a bad value
// comes back as an Error whose message names the flag.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "app/flags.hpp"
#include "core/result.hpp"
#include "core/tls_context.hpp"
#include "edge/edge_config.hpp"
#include "media/srtp.hpp"

namespace webtrunk::app {

// "AEAD_AES_256_GCM,AES_CM_128_HMAC_SHA1_80" -> the profiles in that order; the error names the
// profile it does not know.
core::Result<std::vector<media::SrtpProfile>> parse_srtp_profiles(std::string_view list);

FlagSet edge_flags();
// The route table --routes or --trunk (with --trunk-user/--trunk-password-file) name, read from
// their files now (at start, and again on each reload); an empty table without either.
core::Result<edge::RouteTable> routes_from(const FlagValues& flags);
// The client context of tls: trunks: the system CAs plus --trunk-ca, and --trunk-tls-cert/--trunk-tls-key
// for mutual TLS. An error names the flag and the file.
core::Result<std::shared_ptr<const core::TlsContext>> trunk_tls_from(const FlagValues& flags);
// Also applies --log-level and --log-format to the process's logger.
core::Result<edge::EdgeConfig> edge_config_from(const FlagValues& flags);

}  // namespace webtrunk::app
