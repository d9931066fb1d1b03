// The edge's configuration: filled once at start (from the flags of `webtrunk edge`), read-only after.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "edge/edge_limits.hpp"
#include "edge/media_sdp.hpp"
#include "edge/routes.hpp"
#include "media/srtp.hpp"
#include "media/types.hpp"

namespace webtrunk::edge {

struct EdgeConfig {
  std::vector<std::string> ws_listen;   // "ADDR:PORT", each opened on every shard (SO_REUSEPORT)
  std::vector<std::string> wss_listen;  // the same, TLS (wss://, https:// for /healthz and /metrics)
  unsigned shards = 0;                  // 0: one per online CPU
  std::vector<unsigned> cpus;           // shard k pinned to cpus[k % size]; empty: the allowed CPUs
  std::size_t max_message_bytes = 65536;
  std::size_t max_head_bytes = 8192;
  std::vector<std::string> allowed_origins;  // empty: any Origin
  EdgeLimits limits;                         // bounds and admission on the WebSocket port
  // --admin-listen: /metrics and /healthz on their own listener (app/admin_endpoint.hpp); when set,
  // the WebSocket port answers 404 for them.
  std::string admin_listen;

  // SIP toward the trunk (issue 3). Shard k binds UDP sip_listen:(sip_port + k) and puts that
  // address in its Via and Contact, so replies and in-dialog requests come back to it.
  std::string sip_listen = "127.0.0.1";
  std::uint16_t sip_port = 5060;
  std::shared_ptr<const RouteTable> routes;  // from --trunk or --routes; never null after parsing
  std::string edge_secret_file;              // "" only with --no-auth
  bool no_auth = false;
  bool bind_from_user = false;
  std::string realm;                         // digest realm; default: sip_listen

  // Media (issue 4). Shard k's browser-side UDP socket is media_listen:(media_port + k) (port 0:
  // the kernel picks); its host candidate says public_ip. Trunk-side RTP pairs come from the
  // shard's slice of rtp_ports (media::rtp_port_slice) on media_listen.
  std::string media_listen;        // an IP address; default: sip_listen
  std::string public_ip;           // an IP address; default: media_listen
  std::uint16_t media_port = 0;
  std::string rtp_ports = "20000-29999";  // "A-B", checked
  bool trunk_rtp_shared = true;    // --trunk-rtp-mode shared (default): one RTP/RTCP pair per shard (media/relay.hpp)
  std::string dtls_cert;           // PEM files; both or neither (then one certificate is made at start)
  std::string dtls_key;
  media::SrtpEngine srtp_engine = media::SrtpEngine::own;
  std::vector<media::SrtpProfile> srtp_profiles;  // empty: the DTLS identity's default order
  unsigned media_setup_timeout_s = 10;  // trunk's answer -> DTLS connected; 0: no limit
  unsigned trunk_rtp_timeout_s = 0;     // trunk RTP silence; 0: off
  unsigned trunk_ping_s = 30;         // OPTIONS keep-alives to trunks (README "Dead trunks"); 0: off
  unsigned trunk_ping_failures = 3;  // in a row: the trunk is down
  bool trunk_100rel = true;          // Supported: 100rel on trunk INVITEs (RFC 3262)
  unsigned trunk_crlf_ping_s = 30;   // CRLF keep-alives on an idle TCP trunk connection (RFC 5626 §4.4.1); 0: off
  unsigned call_ping_s = 30;         // in-dialog OPTIONS per answered call; 0: off
  unsigned consent_timeout_s = 30;  // RFC 7675
  unsigned drain_timeout_s = 30;    // SIGTERM: how long calls may go on (README "Shutdown and restarts")
  std::vector<std::string> codecs = default_codec_preference();  // --codecs, in order of preference
};

}  // namespace webtrunk::edge
