#include "sip/transaction.hpp"

#include <utility>

#include "core/metrics.hpp"
#include "sip/header_parsers.hpp"
#include "sip/parser.hpp"
#include "sip/text.hpp"

namespace webtrunk::sip {

namespace {

const core::Counter kTxnDroppedProvisionals{"webtrunk_sip_txn_dropped_provisionals_total",
                                            "Provisional responses dropped because the TU did not poll events"};
const core::Counter kTxnUnkeyable{"webtrunk_sip_txn_unkeyable_total",
                                  "Messages without an RFC 3261 branch or a parsable top Via or CSeq"};

void lower_into(std::string& out, std::string_view s) {
  out.reserve(out.size() + s.size());
  for (char c : s) out.push_back(text::lower(c));
}

std::optional<TransactionKey> key_from(const MessageView& msg, Method method) {
  const std::optional<Via> via = top_via(msg);
  if (!via || !has_magic_cookie(via->branch)) {
    kTxnUnkeyable.inc();
    return std::nullopt;
  }
  TransactionKey k;
  k.branch.assign(via->branch);
  lower_into(k.sent_by, via->host);
  if (via->has_port) {
    k.sent_by.push_back(':');
    k.sent_by.append(std::to_string(via->port));
  }
  k.method = method == Method::ack ? Method::invite : method;
  return k;
}

}  // namespace

OwnedMessage::OwnedMessage(std::string_view raw) : bytes(raw) {
  parsed = parse_message(std::string_view(bytes), view).status == ParseStatus::ok;
}

std::optional<TransactionKey> TransactionKey::of_request(const MessageView& request) {
  if (!request.is_request()) return std::nullopt;
  return key_from(request, request.method());
}

std::optional<TransactionKey> TransactionKey::of_response(const MessageView& response) {
  if (!response.is_response()) return std::nullopt;
  const std::optional<CSeq> cs = cseq(response);
  if (!cs) {
    kTxnUnkeyable.inc();
    return std::nullopt;
  }
  return key_from(response, cs->method);
}

std::size_t TransactionKeyHash::operator()(const TransactionKey& k) const noexcept {
  // The branch is random: it alone spreads keys well; sent-by rarely differs.
  const std::size_t h = std::hash<std::string_view>{}(k.branch);
  return h ^ (static_cast<std::size_t>(k.method) * 0x9e3779b97f4a7c15ULL);
}

namespace detail {

void EventQueue::push(TxnEvent ev) noexcept {
  if (count_ == kSlots) {
    // Make room by dropping the oldest provisional response; there always is one when full,
    // since a transaction queues at most three events of other kinds over its life.
    std::size_t victim = kSlots;
    for (std::size_t i = 0; i < count_; ++i) {
      if (slots_[i].kind == TxnEvent::Kind::response && slots_[i].status < 200) {
        victim = i;
        break;
      }
    }
    kTxnDroppedProvisionals.inc();
    if (victim == kSlots) {
      if (ev.kind == TxnEvent::Kind::response && ev.status < 200) return;  // drop the newcomer
      victim = 0;
    }
    for (std::size_t i = victim; i + 1 < count_; ++i) slots_[i] = std::move(slots_[i + 1]);
    --count_;
  }
  slots_[count_++] = std::move(ev);
}

std::optional<TxnEvent> EventQueue::pop() noexcept {
  if (count_ == 0) return std::nullopt;
  std::optional<TxnEvent> out(std::move(slots_[0]));
  for (std::size_t i = 0; i + 1 < count_; ++i) slots_[i] = std::move(slots_[i + 1]);
  --count_;
  slots_[count_] = TxnEvent{};
  return out;
}

std::string_view first_via_element(const MessageView& msg) noexcept {
  ListCursor c(msg, HeaderId::via);
  std::string_view e;
  if (!c.next(e)) return {};
  return e;
}

}  // namespace detail

}  // namespace webtrunk::sip
