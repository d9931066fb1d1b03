// Reliable provisional responses on the trunk leg (RFC 3262), the edge as the UAC: our INVITE says
// `Supported: 100rel`; a trunk 18x with `Require: 100rel` and `RSeq` is acknowledged by a PRACK
// (`RAck: <RSeq> <CSeq number> INVITE`) in the early dialog that 18x made (its To tag, the route
// set from its Record-Route, the dialog's next CSeq), as a non-INVITE client transaction of its own.
//
// Retransmissions: RFC 3262 §4 says a reliable provisional whose RSeq is not one higher than the
// last one acknowledged "MUST NOT be acknowledged with a PRACK, and MUST NOT be processed further".
// So a retransmitted 18x (same RSeq) and an out-of-order one (a gap) are discarded and counted. A
// lost PRACK is not a problem for this rule: the PRACK is a non-INVITE transaction, which on UDP
// retransmits itself (Timer E) until the trunk's 200 (RFC 3261 §17.1.2), and the trunk's own
// retransmissions of the 18x stop when that PRACK arrives.
//
// The browser side knows nothing of this: the 18x goes on to Call::early_answer, which builds the
// browser's provisional afresh (no Require, no RSeq: JsSIP and SIP.js do not use 100rel).
#include <fmt/format.h>

#include <algorithm>

#include "core/log.hpp"
#include "edge/call.hpp"
#include "sip/header_parsers.hpp"
#include "sip/parser.hpp"
#include "sip/text.hpp"

namespace webtrunk::edge {
namespace {

// RFC 3262 §7.1: RSeq = 1*DIGIT, 1 to 2**31 - 1.
std::optional<std::uint32_t> parse_rseq(const sip::MessageView& resp) {
  const std::string_view v = sip::text::trim_lws(resp.value(sip::HeaderId::rseq));
  std::uint64_t n = 0;
  if (!sip::text::parse_uint(v, 0x7fffffffU, n) || n == 0) return std::nullopt;
  return static_cast<std::uint32_t>(n);
}

}  // namespace

bool Call::acknowledge_reliable(core::Instant now, const sip::MessageView& resp) {
  const std::optional<std::uint32_t> rseq = parse_rseq(resp);
  const std::optional<sip::CSeq> cs = sip::cseq(resp);
  const std::string_view tag = sip::to_tag(resp);
  auto discard = [&](std::string_view why) {
    kTrunkReliableDiscarded.inc();
    core::log(core::LogLevel::info, "call.reliable_provisional_discarded",
              "call={} trunk_call_id={} status={} rseq={} why={}", b_call_id, t_call_id, resp.status_code(),
              rseq.value_or(0), why);
    return false;
  };
  if (!rseq || !cs || tag.empty()) return discard("no RSeq, CSeq or To tag");
  auto e =
      std::find_if(t_early.begin(), t_early.end(), [&](const EarlyDialog& d) { return d.dialog.remote_tag() == tag; });
  if (e != t_early.end()) {
    // RFC 3262 §4: only the next RSeq of this early dialog is acknowledged and processed.
    if (*rseq == e->rseq) return discard("retransmission");
    if (*rseq != e->rseq + 1) return discard("out of order");
    e->rseq = *rseq;
  } else {
    if (t_early.size() >= kMaxEarlyDialogs) return discard("too many early dialogs");
    sip::MessageView req;
    if (sip::parse_message(std::string_view(t_invite_bytes), req).status != sip::ParseStatus::ok)
      return discard("no INVITE");
    std::optional<sip::Dialog> d = sip::Dialog::from_uac(req, resp);  // §12.1.2: an early dialog
    if (!d) return discard("no early dialog");
    t_early.push_back(EarlyDialog{std::move(*d), *rseq});
  }
  send_prack(now, tag, fmt::format("{} {} INVITE", *rseq, cs->number), nullptr);
  return true;
}

void Call::send_prack(core::Instant now, std::string_view tag, std::string_view rack, const TrunkAuthAnswer* auth) {
  sip::Dialog* d = nullptr;
  for (EarlyDialog& e : t_early) {
    if (e.dialog.remote_tag() == tag) d = &e.dialog;
  }
  if (d == nullptr && t_dialog && t_dialog->remote_tag() == tag) d = &*t_dialog;
  if (d == nullptr) return;  // a new INVITE replaced that dialog: nothing left to acknowledge
  const std::string branch = core.ids_.branch();
  std::vector<sip::HeaderPair> h{{"RAck", rack}};
  if (auth != nullptr) h.emplace_back(auth->header_name, auth->header_value);
  std::string bytes = d->make_request(sip::Method::prack, trunk_via(), branch, h);
  auto t = std::make_unique<CallClientTxn>();
  t->txn = std::make_unique<sip::ClientTransaction>(now, sip::Method::prack, std::move(bytes), branch,
                                                    sip::Transport::udp, core.cfg_.timers);
  t->leg = Leg::trunk;
  t->purpose = CallClientTxn::Purpose::prack;
  t->method = sip::Method::prack;
  t->with_credentials = auth != nullptr;
  t->extra.emplace_back("RAck", std::string(rack));
  t->early_tag = std::string(tag);
  clients.push_back(std::move(t));
  kTrunkPrackSent.inc();
}

void Call::confirm_early_dialog() {
  if (!t_dialog) return;
  for (const EarlyDialog& e : t_early) {
    // RFC 3261 §12.2.1.1: CSeq grows within the dialog, and the PRACKs used the early dialog's.
    if (e.dialog.remote_tag() == t_dialog->remote_tag()) {
      t_dialog->set_local_cseq(std::max(t_dialog->local_cseq(), e.dialog.local_cseq()));
    }
  }
  t_early.clear();
}

}  // namespace webtrunk::edge
