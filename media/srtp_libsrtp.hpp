// The libsrtp2 engine behind SrtpTransform (`--srtp-engine=libsrtp`): the reference our own
// transform (media/srtp.hpp) is tested against bit for bit. Debian 12's libsrtp2 2.5.0 is built
// on NSS, so it costs microseconds per packet; it is here for comparison and as a fallback.
// Policy as the relay wants it: no MKI, KDR 0, replay window 128, no repeated transmissions.
#pragma once

#include <memory>

#include "core/result.hpp"
#include "media/srtp.hpp"
#include "media/types.hpp"

namespace webtrunk::media {

// Two libsrtp2 sessions share the keys: one (ssrc_any_outbound) protects, one (ssrc_any_inbound)
// unprotects, so protect and unprotect keep separate per-SSRC state like our engine does.
core::Result<std::unique_ptr<SrtpTransform>> make_libsrtp(const SrtpKeys& keys);

}  // namespace webtrunk::media
