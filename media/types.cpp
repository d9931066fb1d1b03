#include "media/types.hpp"

#include <cstring>

namespace webtrunk::media {

std::string_view to_string(SrtpProfile p) noexcept {
  switch (p) {
    case SrtpProfile::aes_cm_128_hmac_sha1_80: return "AES_CM_128_HMAC_SHA1_80";
    case SrtpProfile::aead_aes_128_gcm: return "AEAD_AES_128_GCM";
    case SrtpProfile::aead_aes_256_gcm: return "AEAD_AES_256_GCM";
  }
  return "?";
}

std::string_view to_string(Direction d) noexcept {
  switch (d) {
    case Direction::sendrecv: return "sendrecv";
    case Direction::sendonly: return "sendonly";
    case Direction::recvonly: return "recvonly";
    case Direction::inactive: return "inactive";
  }
  return "?";
}

std::string_view to_string(MediaEnd e) noexcept {
  switch (e) {
    case MediaEnd::consent_lost: return "consent lost";
    case MediaEnd::dtls_failed: return "DTLS failed";
    case MediaEnd::media_setup_timeout: return "media setup timeout";
    case MediaEnd::trunk_rtp_timeout: return "trunk RTP timeout";
  }
  return "?";
}

core::Result<SrtpKeyPair> split_dtls_srtp_keys(SrtpProfile profile, const std::uint8_t* material,
                                               std::size_t len, bool we_are_server) {
  const std::size_t k = srtp_key_len(profile);
  const std::size_t s = srtp_salt_len(profile);
  if (len != 2 * (k + s)) return core::Error{-22, "DTLS-SRTP keying material has the wrong length"};
  SrtpKeys client{profile, {}, {}};
  SrtpKeys server{profile, {}, {}};
  std::memcpy(client.key.data(), material, k);
  std::memcpy(server.key.data(), material + k, k);
  std::memcpy(client.salt.data(), material + 2 * k, s);
  std::memcpy(server.salt.data(), material + 2 * k + s, s);
  if (we_are_server) return SrtpKeyPair{server, client};
  return SrtpKeyPair{client, server};
}

}  // namespace webtrunk::media
