#include "edge/trunk_auth.hpp"

#include <fmt/format.h>

#include "auth/digest.hpp"
#include "sip/auth_params.hpp"

namespace webtrunk::edge {
namespace {

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// qop-options is a quoted comma list (RFC 3261 §25.1): "auth", "auth,auth-int", ...
bool offers_qop_auth(std::string_view list) noexcept {
  while (!list.empty()) {
    const auto comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (iequals(item, "auth")) return true;
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
  }
  return false;
}

void append_param(std::string& out, std::string_view name, std::string_view value, bool quoted) {
  if (out.size() > 7) out += ", ";  // after "Digest "
  out += name;
  out += '=';
  if (quoted) out += '"';
  out += value;
  if (quoted) out += '"';
}

}  // namespace

TrunkAuthAnswer TrunkAuth::answer(const sip::MessageView& challenge, std::string_view method,
                                  std::string_view request_uri, bool retried, const TrunkCredentials& creds,
                                  std::string_view cnonce) {
  TrunkAuthAnswer out;
  const bool proxy = challenge.status_code() == 407;
  out.header_name = proxy ? "Proxy-Authorization" : "Authorization";
  if (creds.empty()) {
    out.outcome = TrunkAuthOutcome::no_credentials;
    return out;
  }
  const sip::HeaderId want = proxy ? sip::HeaderId::proxy_authenticate : sip::HeaderId::www_authenticate;
  for (const sip::HeaderField* h = challenge.find(want); h != nullptr; h = challenge.find_next(h)) {
    sip::AuthParams p;
    if (!sip::parse_auth(h->value, p) || !p.is_digest()) continue;
    const auto realm = p.get("realm");
    const auto nonce = p.get("nonce");
    if (!realm || !nonce || nonce->empty()) continue;
    const std::string_view algorithm = p.get("algorithm").value_or("");
    if (!auth::parse_digest_algorithm(algorithm)) continue;
    const auto qop = p.get("qop");
    if (qop && !offers_qop_auth(*qop)) continue;  // auth-int only: we do not hash bodies
    if (retried) {
      // RFC 7616 §3.3: only a stale nonce justifies answering again.
      const auto stale = p.get("stale");
      if (!stale || !iequals(*stale, "true") || *nonce == nonce_) {
        out.outcome = TrunkAuthOutcome::refused;
        return out;
      }
    }
    if (*nonce == nonce_) {
      ++nc_;
    } else {
      nonce_ = std::string(*nonce);
      nc_ = 1;
    }
    const std::string nc = fmt::format("{:08x}", nc_);
    auth::DigestCredentials c;
    c.username = creds.user;
    c.realm = *realm;
    c.nonce = *nonce;
    c.uri = request_uri;
    c.algorithm = algorithm;
    if (qop) {
      c.qop = "auth";
      c.nc = nc;
      c.cnonce = cnonce;
    } else if (auth::parse_digest_algorithm(algorithm) == auth::DigestAlgorithm::md5_sess ||
               auth::parse_digest_algorithm(algorithm) == auth::DigestAlgorithm::sha256_sess) {
      c.cnonce = cnonce;
    }
    const auto opaque = p.get("opaque");
    if (opaque) c.opaque = *opaque;
    auth::DigestHex response;
    if (auth::compute_digest_response(c, method, creds.password, response) != auth::DigestStatus::ok) continue;
    std::string v = "Digest ";
    append_param(v, "username", c.username, true);
    append_param(v, "realm", c.realm, true);
    append_param(v, "nonce", c.nonce, true);
    append_param(v, "uri", c.uri, true);
    append_param(v, "response", response.view(), true);
    if (!algorithm.empty()) append_param(v, "algorithm", algorithm, false);
    if (!c.cnonce.empty()) append_param(v, "cnonce", c.cnonce, true);
    if (opaque) append_param(v, "opaque", *opaque, true);
    if (qop) {
      append_param(v, "qop", "auth", false);
      append_param(v, "nc", nc, false);
    }
    out.outcome = TrunkAuthOutcome::answered;
    out.header_value = std::move(v);
    return out;
  }
  out.outcome = TrunkAuthOutcome::unsupported;
  return out;
}

}  // namespace webtrunk::edge
