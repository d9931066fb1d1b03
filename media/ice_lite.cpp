#include "media/ice_lite.hpp"

#include <openssl/rand.h>
#include <stun/stunagent.h>
#include <stun/usages/ice.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "core/bytes.hpp"
#include "core/log.hpp"

namespace webtrunk::media {

namespace {

constexpr std::size_t kStunHeader = 20;
constexpr std::uint32_t kMagicCookie = 0x2112A442;
constexpr std::uint16_t kBindingRequest = 0x0001;
constexpr std::uint16_t kAttrUsername = 0x0006;
constexpr std::uint16_t kAttrMessageIntegrity = 0x0008;

// Comprehension-required attributes (0x0000-0x7FFF) this agent understands; any other one in a
// request is answered 420 (RFC 5389 §7.3.1). Optional ones (0x8000-) such as FINGERPRINT,
// ICE-CONTROLLING and Chromium's GOOG-NETWORK-INFO are skipped by libnice without a list.
constexpr std::uint16_t kKnownAttributes[] = {
    STUN_ATTRIBUTE_MAPPED_ADDRESS, STUN_ATTRIBUTE_USERNAME,      STUN_ATTRIBUTE_MESSAGE_INTEGRITY,
    STUN_ATTRIBUTE_ERROR_CODE,     STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS, STUN_ATTRIBUTE_PRIORITY,
    STUN_ATTRIBUTE_USE_CANDIDATE,  0};

// One StunAgent for every session. libnice's StunAgent carries 200 saved transaction ids (about
// 11 KB), which only matter to an agent that sends requests and matches their responses. A lite
// agent never sends a request, and handle() gives libnice only requests (responses are dropped
// before stun_agent_validate), so libnice never writes to it after stun_agent_init: sharing it
// between sessions and shard threads is safe, and a call does not pay 11 KB for it.
StunAgent* shared_stun_agent() noexcept {
  static StunAgent agent = [] {
    StunAgent a;
    stun_agent_init(&a, kKnownAttributes, STUN_COMPATIBILITY_RFC5389,
                    static_cast<StunAgentUsageFlags>(STUN_AGENT_USAGE_SHORT_TERM_CREDENTIALS |
                                                     STUN_AGENT_USAGE_USE_FINGERPRINT));
    return a;
  }();
  return &agent;
}

// What the USERNAME check found, for handle() to tell a wrong password from a wrong username.
struct ValidaterData {
  const IceCredentials* local;
  const IceCredentials* remote;
  bool wrong_username = false;
};

// RFC 8445 §7.3: USERNAME is "<our ufrag>:<their ufrag>"; MESSAGE-INTEGRITY is keyed by our pwd.
bool validate_username(StunAgent*, StunMessage*, std::uint8_t* username, std::uint16_t username_len,
                       std::uint8_t** password, std::size_t* password_len, void* user_data) {
  auto* d = static_cast<ValidaterData*>(user_data);
  const std::string_view name(reinterpret_cast<const char*>(username), username_len);
  const std::size_t colon = name.find(':');
  if (colon == std::string_view::npos || name.substr(0, colon) != d->local->ufrag ||
      (!d->remote->ufrag.empty() && name.substr(colon + 1) != d->remote->ufrag)) {
    d->wrong_username = true;
    return false;
  }
  // libnice only reads the key; its API is not const-correct.
  *password = reinterpret_cast<std::uint8_t*>(const_cast<char*>(d->local->pwd.data()));
  *password_len = d->local->pwd.size();
  return true;
}

// An error response (400, 401, 420, 487) for `req`. `key` null: no MESSAGE-INTEGRITY (RFC 5389
// §10.1.2: 400 and 401 answer requests that did not authenticate).
std::size_t error_reply(const StunMessage& req, StunError code, const std::uint8_t* key, std::size_t key_len,
                        std::span<std::byte> out) noexcept {
  StunMessage msg;
  auto* buf = reinterpret_cast<std::uint8_t*>(out.data());
  if (!stun_agent_init_error(shared_stun_agent(), &msg, buf, out.size(), &req, code)) return 0;
  return stun_agent_finish_message(shared_stun_agent(), &msg, key, key_len);
}

}  // namespace

IceCredentials make_local_ice_credentials() {
  static constexpr char kIceChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  static_assert(sizeof(kIceChars) - 1 == 64, "64 ice-chars: one per 6 random bits, no modulo bias");
  std::array<unsigned char, 32> rnd{};
  if (RAND_bytes(rnd.data(), static_cast<int>(rnd.size())) != 1) {
    core::log(core::LogLevel::error, "ice.rand_failed", "RAND_bytes failed; cannot make ICE credentials");
    std::abort();
  }
  IceCredentials c;
  c.ufrag.reserve(8);
  c.pwd.reserve(24);
  for (std::size_t i = 0; i < 8; ++i) c.ufrag.push_back(kIceChars[rnd[i] & 63]);
  for (std::size_t i = 8; i < 32; ++i) c.pwd.push_back(kIceChars[rnd[i] & 63]);
  return c;
}

std::optional<std::string_view> stun_request_local_ufrag(std::span<const std::byte> pkt) noexcept {
  if (pkt.size() < kStunHeader) return std::nullopt;
  const std::byte* p = pkt.data();
  // RFC 5389 §6: type (first two bits zero), length (a multiple of 4, the exact rest), cookie.
  if (core::load_be16(p) != kBindingRequest) return std::nullopt;
  const std::size_t len = core::load_be16(p + 2);
  if (len % 4 != 0 || kStunHeader + len != pkt.size()) return std::nullopt;
  if (core::load_be32(p + 4) != kMagicCookie) return std::nullopt;
  std::size_t off = kStunHeader;
  while (off + 4 <= pkt.size()) {
    const std::uint16_t type = core::load_be16(p + off);
    const std::size_t alen = core::load_be16(p + off + 2);
    if (alen > pkt.size() - off - 4) return std::nullopt;
    if (type == kAttrMessageIntegrity) return std::nullopt;  // USERNAME must come before it
    if (type == kAttrUsername) {
      const std::string_view name(reinterpret_cast<const char*>(p + off + 4), alen);
      const std::size_t colon = name.find(':');
      if (colon == std::string_view::npos || colon == 0) return std::nullopt;
      return name.substr(0, colon);
    }
    off += 4 + ((alen + 3) & ~std::size_t{3});
  }
  return std::nullopt;
}

IceLiteAgent::IceLiteAgent(IceCredentials local, core::Duration consent_timeout)
    : local_(std::move(local)), consent_timeout_(consent_timeout) {}

void IceLiteAgent::set_remote(IceCredentials remote) {
  if (!remote_.ufrag.empty() && remote.ufrag != remote_.ufrag) selected_ = core::SockAddr{};
  remote_ = std::move(remote);
}

IceLiteAgent::Reply IceLiteAgent::handle(core::Instant now, std::span<const std::byte> pkt,
                                         const core::SockAddr& from, std::span<std::byte> out) noexcept {
  Reply reply;
  if (out.size() < kIceMaxReply) {
    // libnice asserts (aborts) when a reply does not fit, so refuse before it is asked to.
    kIceReplyFailuresTotal.inc();
    return reply;
  }
  const auto* buf = reinterpret_cast<const std::uint8_t*>(pkt.data());
  if (stun_message_validate_buffer_length(buf, pkt.size(), true) != static_cast<int>(pkt.size())) {
    kIceNotStunTotal.inc();
    return reply;
  }
  // Class bits C1 (0x0100) and C0 (0x0010) both zero: a request. Responses and indications
  // (Chromium sends none to a lite agent) never reach libnice: see shared_stun_agent().
  if ((core::load_be16(pkt.data()) & 0x0110) != 0) {
    kIceIgnoredTotal.inc();
    return reply;
  }

  StunAgent* agent = shared_stun_agent();
  StunMessage req;
  ValidaterData vd{&local_, &remote_};
  const StunValidationStatus status = stun_agent_validate(agent, &req, buf, pkt.size(), validate_username, &vd);
  switch (status) {
    case STUN_VALIDATION_SUCCESS:
      break;
    case STUN_VALIDATION_NOT_STUN:
    case STUN_VALIDATION_INCOMPLETE_STUN:
      kIceNotStunTotal.inc();
      return reply;
    case STUN_VALIDATION_UNAUTHORIZED:
      if (vd.wrong_username) {
        // Not this session's check (a stale ufrag after an ICE restart, or a probe): answering
        // would only confirm to a stranger that the port is live.
        kIceWrongUsernameTotal.inc();
        return reply;
      }
      kIceUnauthorizedTotal.inc();
      reply.len = error_reply(req, STUN_ERROR_UNAUTHORIZED, nullptr, 0, out);
      return reply;
    case STUN_VALIDATION_UNKNOWN_REQUEST_ATTRIBUTE: {
      kIceBadRequestsTotal.inc();
      StunMessage msg;
      reply.len = stun_agent_build_unknown_attributes_error(agent, &msg, reinterpret_cast<std::uint8_t*>(out.data()),
                                                            out.size(), &req);
      return reply;
    }
    case STUN_VALIDATION_BAD_REQUEST:                // no FINGERPRINT, or a wrong one
    case STUN_VALIDATION_UNAUTHORIZED_BAD_REQUEST:  // no USERNAME or no MESSAGE-INTEGRITY
      kIceBadRequestsTotal.inc();
      reply.len = error_reply(req, STUN_ERROR_BAD_REQUEST, nullptr, 0, out);
      return reply;
    default:  // unmatched responses, unknown optional attributes of non-requests: not for us
      kIceIgnoredTotal.inc();
      return reply;
  }

  // RFC 8445 §6.1.1: against a full agent the lite agent is controlled and never switches, so a
  // peer that also claims the controlled role is told to take the controlling one (487, §7.3.1.1).
  std::uint64_t tie = 0;
  if (stun_message_find64(&req, STUN_ATTRIBUTE_ICE_CONTROLLED, &tie) == STUN_MESSAGE_RETURN_SUCCESS) {
    kIceRoleConflictsTotal.inc();
    reply.len = error_reply(req, STUN_ERROR_ROLE_CONFLICT, req.key, req.key_len, out);
    return reply;
  }

  sockaddr_storage src{};
  std::memcpy(&src, from.data(), from.size());
  bool controlling = false;  // we are controlled; without ICE-CONTROLLED libnice sees no conflict
  StunMessage msg;
  std::size_t len = out.size();
  const StunUsageIceReturn r =
      stun_usage_ice_conncheck_create_reply(agent, &req, &msg, reinterpret_cast<std::uint8_t*>(out.data()), &len,
                                            &src, from.size(), &controlling, std::numeric_limits<std::uint64_t>::max(),
                                            STUN_USAGE_ICE_COMPATIBILITY_RFC5245);
  if (r == STUN_USAGE_ICE_RETURN_INVALID_METHOD) {  // a request but not Binding: libnice wrote a 400
    kIceBadRequestsTotal.inc();
    reply.len = len;
    return reply;
  }
  if (r != STUN_USAGE_ICE_RETURN_SUCCESS || len == 0) {
    kIceReplyFailuresTotal.inc();
    return reply;
  }

  kIceChecksTotal.inc();
  reply.len = len;
  reply.valid = true;
  last_refresh_ = now;  // RFC 7675 §5.1: a successful check is consent
  if (stun_usage_ice_conncheck_use_candidate(&req)) {
    reply.use_candidate = true;
    // RFC 8445 §8.1.1: the controlling agent may nominate again (Chromium does after a network
    // change); the latest nomination wins.
    if (!(selected_ == from)) {
      kIceNominationsTotal.inc();
      selected_ = from;
    }
  }
  return reply;
}

void IceLiteAgent::note_media(core::Instant now) noexcept { last_refresh_ = now; }

core::Instant IceLiteAgent::consent_deadline() const noexcept {
  if (!last_refresh_) return core::Instant::max();
  return *last_refresh_ + consent_timeout_;
}

}  // namespace webtrunk::media
