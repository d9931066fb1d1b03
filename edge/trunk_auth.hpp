// Outbound digest authentication toward a trunk: the edge as the UAC answering a trunk's 401/407
// (RFC 3261 §22.2; RFC 7616 for the digest itself; RFC 8760 for SHA-256 in SIP).
//
//   trunk 401 (WWW-Authenticate) / 407 (Proxy-Authenticate) to a request we sent
//     -> the same request again as a new transaction (in-dialog: the dialog's next CSeq; the
//        INVITE: same Call-ID and tags, CSeq + 1) with Authorization / Proxy-Authorization:
//        the first challenge whose algorithm we know (MD5, MD5-sess, SHA-256, SHA-256-sess; the
//        trunk lists its preferred first, RFC 8760 §2.4), qop=auth when offered, a fresh cnonce,
//        nc counting the requests sent with one nonce (RFC 7616 §3.4)
//   a challenge to a request that already carried our credentials -> answered again only when
//     it says stale=true with a new nonce (RFC 7616 §3.3: the credentials were right, the nonce
//     old); otherwise the trunk refused our credentials and the request fails
//
// The password is never logged and never leaves this object except hashed.
// Lifetime: one TrunkAuth per call (its nonce and nc); credentials belong to the route table.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "sip/message_view.hpp"

namespace webtrunk::edge {

struct TrunkCredentials {
  std::string user;
  std::string password;
  [[nodiscard]] bool empty() const noexcept { return user.empty(); }
};

enum class TrunkAuthOutcome : std::uint8_t {
  answered,        // header_name/header_value carry our credentials
  no_credentials,  // the route has none configured
  refused,         // a second challenge after our credentials (not stale): they are wrong
  unsupported,     // no challenge we can answer (unknown algorithm, qop=auth-int only, malformed)
};

struct TrunkAuthAnswer {
  TrunkAuthOutcome outcome = TrunkAuthOutcome::unsupported;
  std::string_view header_name;  // "Authorization" (401) or "Proxy-Authorization" (407)
  std::string header_value;
};

class TrunkAuth {
 public:
  // `challenge`: a 401/407 to a `method` request for `request_uri`; `retried`: that request
  // already carried our credentials. `cnonce`: fresh per answer.
  [[nodiscard]] TrunkAuthAnswer answer(const sip::MessageView& challenge, std::string_view method,
                                       std::string_view request_uri, bool retried, const TrunkCredentials& creds,
                                       std::string_view cnonce);

 private:
  std::string nonce_;  // the last nonce answered, with nc_ requests sent under it
  std::uint32_t nc_ = 0;
};

}  // namespace webtrunk::edge
