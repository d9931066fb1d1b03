// Relay: DTMF from SIP INFO (JsSIP's default) turned into RFC 4733 events toward the trunk, in
// the browser stream's SSRC and sequence (the relay in media/relay.cpp shifts the browser's
// sequence numbers by the packets injected here).
#include <algorithm>
#include <array>

#include "media/relay.hpp"
#include "media/relay_session.hpp"
#include "media/rtp.hpp"

namespace webtrunk::media {

using namespace relay_detail;  // NOLINT(google-build-using-namespace): the relay's own constants

// ---- DTMF from SIP INFO (RFC 4733 §2.5) ----

bool Relay::send_dtmf(core::Instant now, SessionId id, char digit, std::uint32_t duration_ms) {
  start_output();
  RelaySession* s = find(id);
  if (s == nullptr || s->ended || !s->trunk_dtmf_pt || !s->trunk_rtp.is_set()) return false;
  const std::optional<std::uint8_t> ev = dtmf_event(digit);
  if (!ev || s->digits.size() >= kMaxQueuedDigits) return false;
  s->digits.push_back(DtmfDigit{*ev, std::clamp(duration_ms, kDtmfMinMs, kDtmfMaxMs)});
  if (!s->dtmf_active) start_next_digit(now, *s);
  update_timed(*s);
  return true;
}

void Relay::start_next_digit(core::Instant now, RelaySession& s) {
  if (s.digits.empty()) {
    s.dtmf_active = false;
    return;
  }
  const DtmfDigit d = s.digits.front();
  s.digits.erase(s.digits.begin());
  const std::uint64_t clock = s.dtmf_clock;
  // The stream's timestamp now: the last one relayed plus the time since (RFC 4733 §2.3.1).
  const auto elapsed_us = std::chrono::duration_cast<std::chrono::microseconds>(now - s.last_ts_at).count();
  s.dtmf_ts = s.last_ts + static_cast<std::uint32_t>(static_cast<std::uint64_t>(std::max<std::int64_t>(0, elapsed_us)) *
                                                     clock / 1'000'000);
  s.dtmf_event = d.event;
  s.dtmf_total = static_cast<std::uint32_t>(std::min<std::uint64_t>(0xffff, d.duration_ms * clock / 1000));
  s.dtmf_sent = 0;
  s.dtmf_end_sent = 0;
  s.dtmf_first = true;
  s.dtmf_active = true;
  dtmf_tick(now, s);
}

void Relay::dtmf_tick(core::Instant now, RelaySession& s) {
  s.dtmf_at.reset();
  if (s.ended || !s.dtmf_active || !s.trunk_dtmf_pt || !s.trunk_rtp.is_set()) {
    s.dtmf_active = false;
    s.digits.clear();
    return;
  }
  const std::uint32_t step = std::max<std::uint32_t>(1, s.dtmf_clock / 50);  // 20 ms of samples
  if (s.dtmf_end_sent == 0) s.dtmf_sent = std::min(s.dtmf_total, s.dtmf_sent + step);
  const bool end = s.dtmf_sent >= s.dtmf_total;
  const auto seq = static_cast<std::uint16_t>(s.last_seq + 1);
  std::array<std::byte, 16> pkt{};
  const std::size_t n = write_dtmf_packet(pkt, *s.trunk_dtmf_pt, s.dtmf_first, seq, s.dtmf_ts, s.ssrc, s.dtmf_event,
                                          end, kDtmfVolume, static_cast<std::uint16_t>(s.dtmf_sent));
  // The relayed stream moves up by one so the trunk sees one sequence without a gap.
  s.last_seq = seq;
  ++s.seq_offset;
  s.injected = true;
  s.dtmf_first = false;
  emit_copy(trunk_port(PortKind::trunk_rtp, s), s.trunk_rtp, std::span<const std::byte>(pkt.data(), n));
  ++s.st.trunk_tx;
  kMediaDtmfPackets.inc();
  if (end && ++s.dtmf_end_sent >= kDtmfEndPackets) {
    s.dtmf_active = false;
    if (s.digits.empty()) return;
    // The next digit after one packet interval of silence.
    s.dtmf_at = now + kDtmfInterval;
    s.dtmf_next_digit = true;
    s.dtmf_active = true;  // a digit is pending: send_dtmf must not start another meanwhile
    return;
  }
  s.dtmf_at = now + kDtmfInterval;
}

}  // namespace webtrunk::media
