// Shared by the transaction tests (transaction_test.cpp, transaction_lossy_link_test.cpp): a fake
// clock origin, canned requests and responses, and helpers that drain a transaction's events and run
// its timers to the end.
#pragma once

#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "sip/branch.hpp"
#include "sip/client_transaction.hpp"
#include "sip/dialog.hpp"
#include "sip/header_parsers.hpp"
#include "sip/parser.hpp"
#include "sip/server_transaction.hpp"
#include "sip/transaction.hpp"
#include "sip/validate.hpp"
#include "sip/writer.hpp"
#include "sip_test_util.hpp"

namespace webtrunk::sip {

using core::Duration;
using core::Instant;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Kind = TxnEvent::Kind;

inline const Instant t0 = Instant{} + seconds(1000);

inline std::string invite_text(std::string_view branch = "z9hG4bKinv1", std::string_view transport = "UDP") {
  std::string s = "INVITE sip:+15551234567@trunk.example.com SIP/2.0\n"
                  "Via: SIP/2.0/" + std::string(transport) + " 198.51.100.20:5062;branch=" + std::string(branch) + "\n"
                  "Max-Forwards: 70\n"
                  "Route: <sip:proxy.example.com;lr>\n"
                  "From: \"Alice\" <sip:alice@edge.test>;tag=ftag1\n"
                  "To: <sip:+15551234567@trunk.example.com>\n"
                  "Call-ID: cid-1@edge\n"
                  "CSeq: 4711 INVITE\n"
                  "Contact: <sip:edge@198.51.100.20:5062;transport=udp>\n"
                  "Content-Length: 0\n"
                  "\n";
  return test::crlf(s);
}

inline std::string bye_text(std::string_view branch = "z9hG4bKbye1") {
  std::string s = "BYE sip:trunk@203.0.113.5:5060 SIP/2.0\n"
                  "Via: SIP/2.0/UDP 198.51.100.20:5062;branch=" + std::string(branch) + "\n"
                  "Max-Forwards: 70\n"
                  "From: <sip:alice@edge.test>;tag=ftag1\n"
                  "To: <sip:+15551234567@trunk.example.com>;tag=ttag1\n"
                  "Call-ID: cid-1@edge\n"
                  "CSeq: 4712 BYE\n"
                  "Content-Length: 0\n"
                  "\n";
  return test::crlf(s);
}

// A parsed copy of a message (the view points into its own bytes).
inline std::unique_ptr<OwnedMessage> parsed(std::string_view text) {
  auto m = std::make_unique<OwnedMessage>(text);
  EXPECT_TRUE(m->parsed) << text;
  return m;
}

inline std::unique_ptr<OwnedMessage> response_to(std::string_view request, int code, std::string_view reason,
                                                 std::string_view to_tag = "ttag1") {
  const auto req = parsed(request);
  return parsed(make_response(req->view, code, reason, to_tag));
}

std::vector<TxnEvent> drain(auto& txn) {
  std::vector<TxnEvent> out;
  while (auto ev = txn.poll_event()) out.push_back(std::move(*ev));
  return out;
}

inline std::vector<Kind> kinds(const std::vector<TxnEvent>& evs) {
  std::vector<Kind> k;
  for (const auto& e : evs) k.push_back(e.kind);
  return k;
}

// Runs the transaction's timers until it has nothing left, recording when it transmitted
// (as offsets from t0) and returning the events.
template <class Txn>
inline std::vector<TxnEvent> run_timers(Txn& txn, std::vector<Duration>& sends, Instant start = t0) {
  std::vector<TxnEvent> events;
  while (txn.poll_transmit()) sends.push_back(start - t0);
  for (int guard = 0; guard < 1000; ++guard) {
    const auto t = txn.poll_timeout();
    if (!t) break;
    txn.handle_timeout(*t);
    while (txn.poll_transmit()) sends.push_back(*t - t0);
    for (auto& e : drain(txn)) events.push_back(std::move(e));
  }
  return events;
}

inline std::vector<Duration> ms(std::initializer_list<long> v) {
  std::vector<Duration> out;
  for (long x : v) out.push_back(milliseconds(x));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Matching (§17.1.3, §17.2.3)

}  // namespace webtrunk::sip
