// SIP digest authentication, server side: RFC 2617 (MD5, qop=auth and no qop; RFC 3261 §22.4),
// RFC 7616 (SHA-256, -sess) and RFC 8760 (SHA-256 in SIP). The password is the edge token's
// derived password (auth/edge_token_verifier.hpp), so HA1 = H(username ":" realm ":" password)
// exactly as Kamailio's auth_ephemeral computes it (auth.md §1.2).
//
// Interop (auth.md §5.10; JsSIP and SIP.js DigestAuthentication.authenticate): both clients read
// only the FIRST WWW-/Proxy-Authenticate header and abort unless its algorithm is absent or exactly
// "MD5". So the default challenge is MD5 only; build_challenges(..., offer_sha256=true) puts the
// RFC 8760 SHA-256 challenge first (RFC 7616 §3.7: preferred first), which those clients refuse.
//
// Lifetimes: DigestCredentials are views into the request the SIP parser holds; nothing here keeps
// them. Quoted-string values must be passed unquoted; a value with a backslash escape is refused
// as malformed (no token we mint contains one).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace webtrunk::auth {

// Authorization / Proxy-Authorization digest parameters (RFC 3261 §25.1 digest-response).
struct DigestCredentials {
  std::string_view username;
  std::string_view realm;
  std::string_view nonce;
  std::string_view uri;
  std::string_view response;   // hex, 32 (MD5) or 64 (SHA-256) digits
  std::string_view algorithm;  // empty means MD5 (RFC 2617 §3.2.2)
  std::string_view qop;        // "auth" or empty
  std::string_view nc;         // 8 hex digits when qop is present
  std::string_view cnonce;
  std::string_view opaque;
};

// Fills DigestCredentials from any parameter lookup `get(name) -> std::optional<std::string_view>`
// returning unquoted values (sip::AuthParams::get does), so auth/ needs no SIP type. Absent
// parameters stay empty. The views are the lookup's: they live as long as the request buffer.
template <class Get>
DigestCredentials digest_credentials_from(const Get& get) {
  DigestCredentials c;
  auto set = [&](std::string_view name, std::string_view& field) {
    if (auto v = get(name)) field = *v;
  };
  set("username", c.username);
  set("realm", c.realm);
  set("nonce", c.nonce);
  set("uri", c.uri);
  set("response", c.response);
  set("algorithm", c.algorithm);
  set("qop", c.qop);
  set("nc", c.nc);
  set("cnonce", c.cnonce);
  set("opaque", c.opaque);
  return c;
}

enum class DigestAlgorithm : std::uint8_t { md5, md5_sess, sha256, sha256_sess };
// Case-insensitive ("MD5", "md5", "SHA-256", "SHA-256-sess", ...); empty is MD5.
std::optional<DigestAlgorithm> parse_digest_algorithm(std::string_view s) noexcept;
std::string_view to_string(DigestAlgorithm a) noexcept;  // "MD5", "MD5-sess", "SHA-256", "SHA-256-sess"

enum class DigestStatus : std::uint8_t {
  ok,
  mismatch,               // "Wrong password": the response does not verify
  unsupported_algorithm,  // "Unsupported digest algorithm"
  unsupported_qop,        // "Unsupported qop" (auth-int, or an unknown token)
  malformed,              // "Malformed credentials": a missing field, bad nc, bad hex length
};
std::string_view reason_phrase(DigestStatus s) noexcept;

// Lower-case hex digest in fixed storage.
struct DigestHex {
  std::array<char, 64> buf{};
  std::uint8_t len = 0;
  std::string_view view() const noexcept { return {buf.data(), len}; }
};

DigestHex digest_ha1(DigestAlgorithm a, std::string_view username, std::string_view realm,
                     std::string_view password) noexcept;

// The response the client should have sent (RFC 7616 §3.4.1), for tests and for client code.
[[nodiscard]] DigestStatus compute_digest_response(const DigestCredentials& c, std::string_view method,
                                                   std::string_view password, DigestHex& out) noexcept;

// Checks c.response against `password`, in constant time over the hex digits. The caller checks
// separately that c.realm is its realm and c.nonce is its nonce (auth/nonce.hpp). Hex case is
// ignored (RFC 7616 says lower case; some clients send upper).
[[nodiscard]] DigestStatus check_digest(const DigestCredentials& c, std::string_view method,
                                        std::string_view password) noexcept;

struct DigestChallenge {
  std::string_view realm;  // must be non-empty (Kamailio refuses an empty realm)
  std::string_view nonce;
  std::string_view opaque;  // optional; echoed by the client
  bool stale = false;       // RFC 7616 §3.3: the nonce was stale, the credentials were right
  DigestAlgorithm algorithm = DigestAlgorithm::md5;
  bool qop_auth = true;  // qop="auth" (Kamailio auth_challenge flag 1); false: RFC 2069 style
};

// One header value: Digest realm="r", nonce="n", algorithm=MD5, qop="auth"[, stale=true][, opaque="o"]
std::string build_challenge(const DigestChallenge& ch);
// One value per offered algorithm, in the order to send them: [MD5] by default, or
// [SHA-256, MD5] when offer_sha256 (RFC 8760 §2.4; see the interop note above).
std::vector<std::string> build_challenges(DigestChallenge ch, bool offer_sha256 = false);

}  // namespace webtrunk::auth
