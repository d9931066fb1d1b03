// SIP transactions (RFC 3261 §17) on a fake clock: every timer on UDP and on reliable transports,
// the ACK a client INVITE builds for a non-2xx, CANCEL, transaction matching, the 2xx
// retransmitter and identifiers (the lossy-link exchanges: transaction_lossy_link_test.cpp).
#include <gtest/gtest.h>

#include "transaction_test_support.hpp"

namespace webtrunk::sip {
namespace {

// The edge keeps thousands of these: they stay small (the message strings live on the heap).
static_assert(sizeof(ClientTransaction) <= 512);
static_assert(sizeof(ServerTransaction) <= 512);
static_assert(sizeof(TwoXxRetransmitter) <= 384);

TEST(TransactionKey, RequestAndItsResponsesShareAKey) {
  const auto inv = parsed(invite_text());
  const auto ringing = response_to(invite_text(), 180, "Ringing");
  const auto k1 = TransactionKey::of_request(inv->view);
  const auto k2 = TransactionKey::of_response(ringing->view);
  ASSERT_TRUE(k1 && k2);
  EXPECT_EQ(*k1, *k2);
  EXPECT_EQ(k1->branch, "z9hG4bKinv1");
  EXPECT_EQ(k1->sent_by, "198.51.100.20:5062");
  EXPECT_EQ(k1->method, Method::invite);
  EXPECT_EQ(TransactionKeyHash{}(*k1), TransactionKeyHash{}(*k2));
}

TEST(TransactionKey, AckForNon2xxMatchesTheInviteCancelHasItsOwn) {
  ClientTransaction c(t0, Method::invite, invite_text(), "z9hG4bKinv1", Transport::udp);
  const auto busy = response_to(invite_text(), 486, "Busy Here");
  c.handle_response(t0, busy->view);
  const auto ack = parsed(c.ack());
  const auto inv = parsed(invite_text());
  EXPECT_EQ(TransactionKey::of_request(ack->view), TransactionKey::of_request(inv->view));

  const auto cancel = parsed(c.make_cancel());
  const auto kc = TransactionKey::of_request(cancel->view);
  ASSERT_TRUE(kc);
  EXPECT_EQ(kc->method, Method::cancel);
  EXPECT_NE(*kc, *TransactionKey::of_request(inv->view));
  EXPECT_EQ(kc->cancelled_invite(), *TransactionKey::of_request(inv->view));
}

TEST(TransactionKey, BranchMethodAndSentByDistinguish) {
  const auto a = *TransactionKey::of_request(parsed(invite_text("z9hG4bKaaa"))->view);
  const auto b = *TransactionKey::of_request(parsed(invite_text("z9hG4bKbbb"))->view);
  EXPECT_NE(a, b);
  // Same branch, the CANCEL's 200 vs the INVITE's 487: told apart by the CSeq method.
  const std::string cancel_text = test::crlf(
      "CANCEL sip:+15551234567@trunk.example.com SIP/2.0\n"
      "Via: SIP/2.0/UDP 198.51.100.20:5062;branch=z9hG4bKinv1\n"
      "Max-Forwards: 70\nFrom: <sip:alice@edge.test>;tag=ftag1\nTo: <sip:+15551234567@trunk.example.com>\n"
      "Call-ID: cid-1@edge\nCSeq: 4711 CANCEL\nContent-Length: 0\n\n");
  const auto ok_cancel = response_to(cancel_text, 200, "OK");
  const auto terminated = response_to(invite_text(), 487, "Request Terminated");
  EXPECT_NE(TransactionKey::of_response(ok_cancel->view), TransactionKey::of_response(terminated->view));
  EXPECT_EQ(TransactionKey::of_response(ok_cancel->view)->method, Method::cancel);
  // Host compared case-insensitively.
  std::string upper = invite_text();
  upper.replace(upper.find("198.51.100.20"), 13, "EDGE.EXAMPLE");
  std::string lower = invite_text();
  lower.replace(lower.find("198.51.100.20"), 13, "edge.example");
  EXPECT_EQ(TransactionKey::of_request(parsed(upper)->view), TransactionKey::of_request(parsed(lower)->view));
  // Port matters.
  std::string other_port = invite_text();
  other_port.replace(other_port.find(":5062;"), 6, ":5063;");
  EXPECT_NE(TransactionKey::of_request(parsed(other_port)->view), TransactionKey::of_request(parsed(invite_text())->view));
}

TEST(TransactionKey, Rfc2543BranchGivesNoKey) {
  EXPECT_FALSE(TransactionKey::of_request(parsed(invite_text("1234"))->view));
  EXPECT_FALSE(TransactionKey::of_response(response_to(invite_text("abc"), 200, "OK")->view));
}

TEST(TransactionKey, WorksAsAHashMapKey) {
  std::unordered_map<TransactionKey, int> m;
  for (int i = 0; i < 100; ++i) m[*TransactionKey::of_request(parsed(invite_text("z9hG4bK" + std::to_string(i)))->view)] = i;
  EXPECT_EQ(m.size(), 100u);
  const auto r = response_to(invite_text("z9hG4bK42"), 200, "OK");
  EXPECT_EQ(m.at(*TransactionKey::of_response(r->view)), 42);
}

// ---------------------------------------------------------------------------------------------
// INVITE client (§17.1.1)

TEST(InviteClient, TimerARetransmitsDoublingAndTimerBTimesOutOnUdp) {
  ClientTransaction c(t0, Method::invite, invite_text(), "z9hG4bKinv1", Transport::udp);
  EXPECT_EQ(c.state(), ClientTransaction::State::calling);
  std::vector<Duration> sends;
  const auto evs = run_timers(c, sends);
  // Timer A: 500 ms, 1 s, 2 s, 4 s, 8 s, 16 s (no T2 cap for INVITE) until Timer B = 64*T1 = 32 s.
  EXPECT_EQ(sends, ms({0, 500, 1500, 3500, 7500, 15500, 31500}));
  EXPECT_EQ(kinds(evs), (std::vector<Kind>{Kind::timeout, Kind::terminated}));
  EXPECT_TRUE(c.terminated());
}

TEST(InviteClient, NoRetransmissionOnReliableTransportsButTimerBStill) {
  for (Transport t : {Transport::tcp, Transport::tls, Transport::ws, Transport::wss}) {
    ClientTransaction c(t0, Method::invite, invite_text(), "z9hG4bKinv1", t);
    EXPECT_EQ(c.poll_timeout(), t0 + seconds(32));
    std::vector<Duration> sends;
    const auto evs = run_timers(c, sends);
    EXPECT_EQ(sends, ms({0}));
    EXPECT_EQ(kinds(evs), (std::vector<Kind>{Kind::timeout, Kind::terminated}));
  }
}

TEST(InviteClient, CustomTimerValues) {
  TimerConfig tc;
  tc.t1 = milliseconds(100);
  ClientTransaction c(t0, Method::invite, invite_text(), "z9hG4bKinv1", Transport::udp, tc);
  std::vector<Duration> sends;
  run_timers(c, sends);
  EXPECT_EQ(sends, ms({0, 100, 300, 700, 1500, 3100, 6300}));  // Timer B = 6.4 s
}

TEST(InviteClient, ProvisionalStopsRetransmissionAndBusyBuildsTheAck) {
  ClientTransaction c(t0, Method::invite, invite_text(), "z9hG4bKinv1", Transport::udp);
  EXPECT_EQ(c.poll_transmit(), invite_text());
  EXPECT_FALSE(c.poll_transmit());

  c.handle_response(t0 + milliseconds(50), response_to(invite_text(), 100, "Trying", "")->view);
  c.handle_response(t0 + milliseconds(300), response_to(invite_text(), 180, "Ringing")->view);
  EXPECT_EQ(c.state(), ClientTransaction::State::proceeding);
  EXPECT_FALSE(c.poll_timeout());  // Proceeding: no Timer A, no Timer B
  auto evs = drain(c);
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[0].status, 100);
  EXPECT_EQ(evs[1].status, 180);
  ASSERT_TRUE(evs[1].message && evs[1].message->parsed);
  EXPECT_EQ(to_tag(evs[1].message->view), "ttag1");

  c.handle_response(t0 + seconds(5), response_to(invite_text(), 486, "Busy Here")->view);
  EXPECT_EQ(c.state(), ClientTransaction::State::completed);
  evs = drain(c);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].kind, Kind::response);
  EXPECT_EQ(evs[0].status, 486);
  EXPECT_EQ(evs[0].message->view.reason_phrase(), "Busy Here");

  // §17.1.1.3: the ACK.
  const auto ack_bytes = c.poll_transmit();
  ASSERT_TRUE(ack_bytes);
  const auto ack = parsed(*ack_bytes);
  EXPECT_TRUE(validate_request(ack->view).ok()) << validate_request(ack->view).reason;
  EXPECT_EQ(ack->view.method(), Method::ack);
  EXPECT_EQ(ack->view.request_uri(), "sip:+15551234567@trunk.example.com");
  EXPECT_EQ(ack->view.count(HeaderId::via), 1u);
  EXPECT_EQ(top_via(ack->view)->branch, "z9hG4bKinv1");
  EXPECT_EQ(ack->view.value(HeaderId::to), "<sip:+15551234567@trunk.example.com>;tag=ttag1");
  EXPECT_EQ(ack->view.value(HeaderId::from), "\"Alice\" <sip:alice@edge.test>;tag=ftag1");
  EXPECT_EQ(ack->view.value(HeaderId::call_id), "cid-1@edge");
  EXPECT_EQ(ack->view.value(HeaderId::cseq), "4711 ACK");
  EXPECT_EQ(ack->view.value(HeaderId::route), "<sip:proxy.example.com;lr>");
  EXPECT_EQ(ack->view.value(HeaderId::max_forwards), "70");
  EXPECT_EQ(ack->view.find(HeaderId::contact), nullptr);
  EXPECT_EQ(ack->view.body(), "");

  // A retransmitted 486 during Timer D is ACKed again and not handed up.
  EXPECT_EQ(c.poll_timeout(), t0 + seconds(5) + seconds(32));
  c.handle_response(t0 + seconds(6), response_to(invite_text(), 486, "Busy Here")->view);
  EXPECT_EQ(c.poll_transmit(), *ack_bytes);
  EXPECT_TRUE(drain(c).empty());
  c.handle_response(t0 + seconds(7), response_to(invite_text(), 486, "Busy Here")->view);
  EXPECT_EQ(c.poll_transmit(), *ack_bytes);

  c.handle_timeout(t0 + seconds(37));
  EXPECT_TRUE(c.terminated());
  EXPECT_EQ(kinds(drain(c)), std::vector<Kind>{Kind::terminated});
  EXPECT_FALSE(c.poll_timeout());
}

TEST(InviteClient, FinalOnReliableTransportAcksAndTerminatesAtOnce) {
  ClientTransaction c(t0, Method::invite, invite_text("z9hG4bKinv1", "TCP"), "z9hG4bKinv1", Transport::tcp);
  (void)c.poll_transmit();
  c.handle_response(t0 + seconds(1), response_to(invite_text("z9hG4bKinv1", "TCP"), 404, "Not Found")->view);
  EXPECT_TRUE(c.terminated());  // Timer D = 0
  const auto ack = c.poll_transmit();
  ASSERT_TRUE(ack);
  EXPECT_EQ(parsed(*ack)->view.method(), Method::ack);
  EXPECT_EQ(kinds(drain(c)), (std::vector<Kind>{Kind::response, Kind::terminated}));
}

TEST(InviteClient, TwoHundredTerminatesAndIsNotAcked) {
  ClientTransaction c(t0, Method::invite, invite_text(), "z9hG4bKinv1", Transport::udp);
  (void)c.poll_transmit();
  c.handle_response(t0 + milliseconds(200), response_to(invite_text(), 200, "OK")->view);
  EXPECT_TRUE(c.terminated());
  EXPECT_FALSE(c.poll_transmit());  // the TU ACKs a 2xx (§13.2.2.4)
  EXPECT_FALSE(c.poll_timeout());
  const auto evs = drain(c);
  ASSERT_EQ(kinds(evs), (std::vector<Kind>{Kind::response, Kind::terminated}));
  EXPECT_EQ(evs[0].status, 200);
  // Further responses are ignored by the dead transaction.
  c.handle_response(t0 + seconds(1), response_to(invite_text(), 200, "OK")->view);
  EXPECT_TRUE(drain(c).empty());
}

TEST(InviteClient, Retransmitted2xxAfterTerminationReachesTheDialogThroughTheLayer) {
  // A minimal layer: client transactions by key; a response with no transaction is stray, and a
  // stray 2xx to INVITE is re-ACKed by its dialog (§13.2.2.4).
  std::unordered_map<TransactionKey, ClientTransaction> txns;
  const auto inv = parsed(invite_text());
  txns.try_emplace(*TransactionKey::of_request(inv->view), t0, Method::invite, invite_text(), "z9hG4bKinv1",
                   Transport::udp);
  std::optional<Dialog> dialog;
  int acks_sent = 0;
  auto on_response = [&](Instant now, const MessageView& resp) {
    const auto key = TransactionKey::of_response(resp);
    ASSERT_TRUE(key);
    if (auto it = txns.find(*key); it != txns.end()) {
      it->second.handle_response(now, resp);
      while (auto ev = it->second.poll_event()) {
        if (ev->kind == Kind::response && ev->status >= 200 && ev->status < 300) {
          dialog = Dialog::from_uac(inv->view, ev->message->view);
          (void)dialog->make_request(Method::ack, "198.51.100.20:5062", new_branch(), {}, {}, {});
          ++acks_sent;
        }
        if (ev->kind == Kind::terminated) {
          txns.erase(it);
          break;
        }
      }
      return;
    }
    // Stray: a 2xx retransmission for an INVITE whose transaction is gone.
    const auto id = DialogId::of_incoming_response(resp);
    if (resp.status_code() / 100 == 2 && key->method == Method::invite && dialog && id == dialog->id()) {
      const auto ack = parsed(dialog->make_request(Method::ack, "198.51.100.20:5062", new_branch(), {}, {}, {}));
      EXPECT_EQ(ack->view.value(HeaderId::cseq), "4711 ACK");
      ++acks_sent;
    }
  };
  const auto ok = response_to(invite_text(), 200, "OK");
  on_response(t0 + milliseconds(100), ok->view);
  EXPECT_TRUE(txns.empty());
  on_response(t0 + milliseconds(600), ok->view);
  on_response(t0 + milliseconds(1600), ok->view);
  EXPECT_EQ(acks_sent, 3);
}

TEST(InviteClient, CancelWaitsForAProvisionalThenHandsOutTheCancel) {
  ClientTransaction c(t0, Method::invite, invite_text(), "z9hG4bKinv1", Transport::udp);
  (void)c.poll_transmit();
  c.cancel(t0 + milliseconds(100));
  EXPECT_TRUE(drain(c).empty());  // §9.1: no CANCEL before a provisional
  c.handle_response(t0 + milliseconds(200), response_to(invite_text(), 180, "Ringing")->view);
  auto evs = drain(c);
  ASSERT_EQ(kinds(evs), (std::vector<Kind>{Kind::response, Kind::cancel_ready}));
  const auto cancel = parsed(evs[1].request);
  EXPECT_TRUE(validate_request(cancel->view).ok()) << validate_request(cancel->view).reason;
  EXPECT_EQ(cancel->view.method(), Method::cancel);
  EXPECT_EQ(cancel->view.request_uri(), "sip:+15551234567@trunk.example.com");
  EXPECT_EQ(top_via(cancel->view)->branch, "z9hG4bKinv1");
  EXPECT_EQ(cancel->view.count(HeaderId::via), 1u);
  EXPECT_EQ(cancel->view.value(HeaderId::to), "<sip:+15551234567@trunk.example.com>");  // no tag (§9.1)
  EXPECT_EQ(cancel->view.value(HeaderId::cseq), "4711 CANCEL");
  EXPECT_EQ(cancel->view.value(HeaderId::route), "<sip:proxy.example.com;lr>");

  // The CANCEL runs as its own non-INVITE transaction with the same branch.
  ClientTransaction ct(t0 + milliseconds(200), Method::cancel, evs[1].request, "z9hG4bKinv1", Transport::udp);
  EXPECT_EQ(ct.poll_transmit(), evs[1].request);
  const auto ok = response_to(evs[1].request, 200, "OK");
  EXPECT_EQ(TransactionKey::of_response(ok->view), TransactionKey::of_request(cancel->view));
  ct.handle_response(t0 + milliseconds(250), ok->view);
  EXPECT_EQ(drain(ct)[0].status, 200);

  // The INVITE ends with 487, ACKed here.
  c.handle_response(t0 + milliseconds(260), response_to(invite_text(), 487, "Request Terminated")->view);
  evs = drain(c);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].status, 487);
  EXPECT_EQ(parsed(*c.poll_transmit())->view.method(), Method::ack);
  c.cancel(t0 + seconds(1));  // too late: nothing
  EXPECT_TRUE(drain(c).empty());
}

TEST(InviteClient, CancelInProceedingIsReadyAtOnceAndGivesUpAfter64T1) {
  ClientTransaction c(t0, Method::invite, invite_text(), "z9hG4bKinv1", Transport::udp);
  (void)c.poll_transmit();
  c.handle_response(t0 + milliseconds(100), response_to(invite_text(), 183, "Session Progress")->view);
  drain(c);
  c.cancel(t0 + seconds(10));
  EXPECT_EQ(kinds(drain(c)), std::vector<Kind>{Kind::cancel_ready});
  c.cancel(t0 + seconds(11));  // once only
  EXPECT_TRUE(drain(c).empty());
  EXPECT_EQ(c.poll_timeout(), t0 + seconds(42));
  c.handle_timeout(t0 + seconds(42));  // §9.1: no final response within 64*T1 of the CANCEL
  EXPECT_EQ(kinds(drain(c)), (std::vector<Kind>{Kind::timeout, Kind::terminated}));
}

TEST(InviteClient, TransportErrorTerminates) {
  ClientTransaction c(t0, Method::invite, invite_text(), "z9hG4bKinv1", Transport::tcp);
  (void)c.poll_transmit();
  c.handle_transport_error(t0);
  EXPECT_TRUE(c.terminated());
  EXPECT_EQ(kinds(drain(c)), (std::vector<Kind>{Kind::transport_error, Kind::terminated}));
  EXPECT_FALSE(c.poll_timeout());
}

TEST(InviteClient, ManyProvisionalsWithoutPollingNeverLoseTheFinal) {
  ClientTransaction c(t0, Method::invite, invite_text(), "z9hG4bKinv1", Transport::tcp);
  for (int i = 0; i < 10; ++i) c.handle_response(t0, response_to(invite_text(), 180, "Ringing")->view);
  c.handle_response(t0, response_to(invite_text(), 603, "Decline")->view);
  const auto evs = drain(c);
  ASSERT_GE(evs.size(), 2u);
  EXPECT_EQ(evs[evs.size() - 2].status, 603);
  EXPECT_EQ(evs.back().kind, Kind::terminated);
}

TEST(InviteClient, IgnoresGarbageStatus) {
  ClientTransaction c(t0, Method::invite, invite_text(), "z9hG4bKinv1", Transport::udp);
  const auto req = parsed(invite_text());
  c.handle_response(t0, req->view);  // a request is no response
  EXPECT_TRUE(drain(c).empty());
  EXPECT_EQ(c.state(), ClientTransaction::State::calling);
}

// ---------------------------------------------------------------------------------------------
// Non-INVITE client (§17.1.2)

TEST(NonInviteClient, TimerECapsAtT2AndTimerFTimesOut) {
  ClientTransaction c(t0, Method::bye, bye_text(), "z9hG4bKbye1", Transport::udp);
  EXPECT_EQ(c.state(), ClientTransaction::State::trying);
  std::vector<Duration> sends;
  const auto evs = run_timers(c, sends);
  EXPECT_EQ(sends, ms({0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500}));
  EXPECT_EQ(kinds(evs), (std::vector<Kind>{Kind::timeout, Kind::terminated}));
}

TEST(NonInviteClient, ProvisionalMovesTimerEToT2) {
  ClientTransaction c(t0, Method::bye, bye_text(), "z9hG4bKbye1", Transport::udp);
  (void)c.poll_transmit();
  c.handle_timeout(t0 + milliseconds(500));  // first retransmission, next at 1.5 s
  EXPECT_TRUE(c.poll_transmit());
  c.handle_response(t0 + milliseconds(600), response_to(bye_text(), 100, "Trying", "")->view);
  EXPECT_EQ(c.state(), ClientTransaction::State::proceeding);
  EXPECT_EQ(drain(c)[0].status, 100);
  EXPECT_EQ(c.poll_timeout(), t0 + milliseconds(1500));
  c.handle_timeout(t0 + milliseconds(1500));
  EXPECT_TRUE(c.poll_transmit());
  EXPECT_EQ(c.poll_timeout(), t0 + milliseconds(5500));  // T2 from now on
  c.handle_timeout(t0 + milliseconds(5500));
  EXPECT_EQ(c.poll_timeout(), t0 + milliseconds(9500));
}

TEST(NonInviteClient, FinalThenTimerKAbsorbsRetransmissionsOnUdp) {
  ClientTransaction c(t0, Method::bye, bye_text(), "z9hG4bKbye1", Transport::udp);
  (void)c.poll_transmit();
  c.handle_response(t0 + milliseconds(100), response_to(bye_text(), 200, "OK")->view);
  EXPECT_EQ(c.state(), ClientTransaction::State::completed);
  EXPECT_EQ(drain(c)[0].status, 200);
  EXPECT_EQ(c.poll_timeout(), t0 + milliseconds(5100));  // Timer K = T4
  c.handle_response(t0 + milliseconds(600), response_to(bye_text(), 200, "OK")->view);
  EXPECT_TRUE(drain(c).empty());
  EXPECT_FALSE(c.poll_transmit());  // no ACK for non-INVITE
  c.handle_timeout(t0 + milliseconds(5100));
  EXPECT_EQ(kinds(drain(c)), std::vector<Kind>{Kind::terminated});
}

TEST(NonInviteClient, ReliableHasNoTimerEAndZeroTimerK) {
  ClientTransaction c(t0, Method::bye, bye_text(), "z9hG4bKbye1", Transport::ws);
  (void)c.poll_transmit();
  EXPECT_EQ(c.poll_timeout(), t0 + seconds(32));  // Timer F only
  c.handle_response(t0 + milliseconds(100), response_to(bye_text(), 481, "Call/Transaction Does Not Exist")->view);
  EXPECT_TRUE(c.terminated());
  EXPECT_EQ(kinds(drain(c)), (std::vector<Kind>{Kind::response, Kind::terminated}));
  std::vector<Duration> sends;
  ClientTransaction c2(t0, Method::options, bye_text(), "z9hG4bKbye1", Transport::wss);
  EXPECT_EQ(kinds(run_timers(c2, sends)), (std::vector<Kind>{Kind::timeout, Kind::terminated}));
  EXPECT_EQ(sends, ms({0}));
}

TEST(NonInviteClient, CancelDoesNothing) {
  ClientTransaction c(t0, Method::bye, bye_text(), "z9hG4bKbye1", Transport::udp);
  c.cancel(t0);
  EXPECT_TRUE(drain(c).empty());
  EXPECT_EQ(c.make_cancel(), "");
}

// ---------------------------------------------------------------------------------------------
// INVITE server (§17.2.1)

TEST(InviteServer, Sends100AfterTwoHundredMillisecondsIfTheTuIsSilent) {
  const auto inv = parsed(invite_text());
  ServerTransaction s(t0, inv->view, Transport::udp);
  EXPECT_EQ(s.state(), ServerTransaction::State::proceeding);
  EXPECT_FALSE(s.poll_transmit());
  EXPECT_EQ(s.poll_timeout(), t0 + milliseconds(200));
  s.handle_timeout(t0 + milliseconds(200));
  const auto trying = s.poll_transmit();
  ASSERT_TRUE(trying);
  const auto m = parsed(*trying);
  EXPECT_EQ(m->view.status_code(), 100);
  EXPECT_EQ(to_tag(m->view), "");
  EXPECT_EQ(TransactionKey::of_response(m->view), TransactionKey::of_request(inv->view));
  EXPECT_EQ(s.last_status(), 100);
  EXPECT_FALSE(s.poll_timeout());  // nothing more until the TU answers
}

TEST(InviteServer, TuProvisionalSuppressesTheAutomatic100) {
  const auto inv = parsed(invite_text());
  ServerTransaction s(t0, inv->view, Transport::udp);
  s.respond(t0 + milliseconds(50), make_response(inv->view, 180, "Ringing", "ttag1"), 180);
  EXPECT_EQ(parsed(*s.poll_transmit())->view.status_code(), 180);
  s.handle_timeout(t0 + milliseconds(200));
  EXPECT_FALSE(s.poll_transmit());
  // A retransmitted INVITE gets the latest provisional again.
  s.handle_retransmission(t0 + milliseconds(500));
  EXPECT_EQ(parsed(*s.poll_transmit())->view.status_code(), 180);
}

TEST(InviteServer, RetransmittedInviteBeforeAnyResponseGets100AtOnce) {
  const auto inv = parsed(invite_text());
  ServerTransaction s(t0, inv->view, Transport::udp);
  s.handle_retransmission(t0 + milliseconds(100));
  EXPECT_EQ(parsed(*s.poll_transmit())->view.status_code(), 100);
  s.handle_timeout(t0 + milliseconds(200));
  EXPECT_FALSE(s.poll_transmit());  // not twice
}

TEST(InviteServer, BusyIsRetransmittedOnTimerGUntilTheAck) {
  const auto inv = parsed(invite_text());
  ServerTransaction s(t0, inv->view, Transport::udp);
  s.respond(t0, make_response(inv->view, 100, "Trying", {}), 100);
  s.respond(t0 + seconds(1), make_response(inv->view, 180, "Ringing", "ttag1"), 180);
  EXPECT_EQ(parsed(*s.poll_transmit())->view.status_code(), 180);
  const std::string busy = make_response(inv->view, 486, "Busy Here", "ttag1");
  const Instant tb = t0 + seconds(2);
  s.respond(tb, busy, 486);
  EXPECT_EQ(s.state(), ServerTransaction::State::completed);
  EXPECT_EQ(s.poll_transmit(), busy);

  std::vector<Duration> sends;
  for (int i = 0; i < 5; ++i) {
    const Instant t = *s.poll_timeout();
    s.handle_timeout(t);
    ASSERT_EQ(s.poll_transmit(), busy);
    sends.push_back(t - tb);
  }
  // Timer G: T1, then doubling, capped at T2.
  EXPECT_EQ(sends, ms({500, 1500, 3500, 7500, 11500}));
  // A retransmitted INVITE also gets the 486.
  s.handle_retransmission(tb + seconds(12));
  EXPECT_EQ(s.poll_transmit(), busy);

  s.handle_ack(tb + seconds(12));
  EXPECT_EQ(s.state(), ServerTransaction::State::confirmed);
  EXPECT_EQ(s.poll_timeout(), tb + seconds(17));  // Timer I = T4, no more G or H
  s.handle_retransmission(tb + seconds(13));       // absorbed in Confirmed
  s.handle_ack(tb + seconds(13));
  EXPECT_FALSE(s.poll_transmit());
  s.handle_timeout(tb + seconds(17));
  EXPECT_EQ(kinds(drain(s)), std::vector<Kind>{Kind::terminated});
}

TEST(InviteServer, TimerHFiresWithoutAck) {
  const auto inv = parsed(invite_text());
  ServerTransaction s(t0, inv->view, Transport::udp);
  s.respond(t0, make_response(inv->view, 480, "Temporarily Unavailable", "ttag1"), 480);
  std::vector<Duration> sends;
  const auto evs = run_timers(s, sends);
  EXPECT_EQ(sends, ms({0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500}));
  EXPECT_EQ(kinds(evs), (std::vector<Kind>{Kind::timeout, Kind::terminated}));
}

TEST(InviteServer, ReliableHasNoTimerGButTimerHAndZeroTimerI) {
  const auto inv = parsed(invite_text("z9hG4bKinv1", "WS"));
  ServerTransaction s(t0, inv->view, Transport::ws);
  s.respond(t0, make_response(inv->view, 486, "Busy Here", "ttag1"), 486);
  EXPECT_TRUE(s.poll_transmit());
  EXPECT_EQ(s.poll_timeout(), t0 + seconds(32));  // Timer H only
  s.handle_ack(t0 + seconds(1));
  EXPECT_TRUE(s.terminated());  // Timer I = 0
  EXPECT_EQ(kinds(drain(s)), std::vector<Kind>{Kind::terminated});

  ServerTransaction s2(t0, inv->view, Transport::ws);
  s2.respond(t0, make_response(inv->view, 486, "Busy Here", "ttag1"), 486);
  std::vector<Duration> sends;
  EXPECT_EQ(kinds(run_timers(s2, sends)), (std::vector<Kind>{Kind::timeout, Kind::terminated}));
  EXPECT_EQ(sends, ms({0}));
}

TEST(InviteServer, TwoHundredMovesToAcceptedWhichAbsorbsRetransmissions) {
  const auto inv = parsed(invite_text());
  ServerTransaction s(t0, inv->view, Transport::udp);
  const std::string ok = make_response(inv->view, 200, "OK", "ttag1");
  s.respond(t0, ok, 200);
  EXPECT_EQ(s.state(), ServerTransaction::State::accepted);
  EXPECT_EQ(s.poll_transmit(), ok);
  s.handle_retransmission(t0 + milliseconds(500));
  EXPECT_FALSE(s.poll_transmit());  // RFC 6026: the TU retransmits the 2xx, not the transaction
  s.respond(t0 + milliseconds(500), ok, 200);
  EXPECT_EQ(s.poll_transmit(), ok);
  s.respond(t0 + milliseconds(600), make_response(inv->view, 486, "Busy Here", "ttag1"), 486);  // too late
  EXPECT_FALSE(s.poll_transmit());
  EXPECT_EQ(s.poll_timeout(), t0 + seconds(32));  // Timer L
  s.handle_timeout(t0 + seconds(32));
  EXPECT_EQ(kinds(drain(s)), std::vector<Kind>{Kind::terminated});
}

TEST(InviteServer, CancelFindsTheInviteTransaction) {
  // A minimal server-side layer keyed by TransactionKey (§9.2, §17.2.3).
  std::unordered_map<TransactionKey, ServerTransaction> txns;
  const std::string invite = invite_text("z9hG4bKbrowser1", "WS");
  const auto inv = parsed(invite);
  const auto kinv = *TransactionKey::of_request(inv->view);
  txns.try_emplace(kinv, t0, inv->view, Transport::ws);
  auto& st = txns.at(kinv);
  st.respond(t0, make_response(inv->view, 180, "Ringing", "edgetag"), 180);
  (void)st.poll_transmit();

  const std::string cancel_text = test::crlf(
      "CANCEL sip:+15551234567@trunk.example.com SIP/2.0\n"
      "Via: SIP/2.0/WS 198.51.100.20:5062;branch=z9hG4bKbrowser1\n"
      "Max-Forwards: 70\nFrom: \"Alice\" <sip:alice@edge.test>;tag=ftag1\n"
      "To: <sip:+15551234567@trunk.example.com>\nCall-ID: cid-1@edge\nCSeq: 4711 CANCEL\nContent-Length: 0\n\n");
  const auto cancel = parsed(cancel_text);
  const auto kcancel = *TransactionKey::of_request(cancel->view);
  ASSERT_EQ(txns.count(kcancel), 0u);  // a new server transaction for the CANCEL
  auto [it, inserted] = txns.try_emplace(kcancel, t0 + seconds(1), cancel->view, Transport::ws);
  ASSERT_TRUE(inserted);
  auto invite_txn = txns.find(kcancel.cancelled_invite());
  ASSERT_NE(invite_txn, txns.end());
  EXPECT_EQ(invite_txn->second.state(), ServerTransaction::State::proceeding);
  it->second.respond(t0 + seconds(1), make_response(cancel->view, 200, "OK", "edgetag"), 200);
  invite_txn->second.respond(t0 + seconds(1), make_response(inv->view, 487, "Request Terminated", "edgetag"), 487);
  const auto r200 = parsed(*it->second.poll_transmit());
  const auto r487 = parsed(*invite_txn->second.poll_transmit());
  EXPECT_EQ(r200->view.value(HeaderId::cseq), "4711 CANCEL");
  EXPECT_EQ(r487->view.value(HeaderId::cseq), "4711 INVITE");
  EXPECT_TRUE(it->second.terminated());  // non-INVITE on WS: Timer J = 0

  // The ACK for the 487 carries the INVITE's branch: it finds the INVITE transaction.
  ClientTransaction browser(t0, Method::invite, invite, "z9hG4bKbrowser1", Transport::ws);
  browser.handle_response(t0 + seconds(1), r487->view);
  const auto ack = parsed(std::string(browser.ack()));
  const auto kack = *TransactionKey::of_request(ack->view);
  ASSERT_EQ(kack, kinv);
  txns.at(kack).handle_ack(t0 + seconds(1));
  EXPECT_TRUE(txns.at(kinv).terminated());
}

TEST(InviteServer, TransportErrorTerminates) {
  const auto inv = parsed(invite_text());
  ServerTransaction s(t0, inv->view, Transport::tls);
  s.respond(t0, make_response(inv->view, 500, "Server Internal Error", "x"), 500);
  s.handle_transport_error(t0);
  EXPECT_EQ(kinds(drain(s)), (std::vector<Kind>{Kind::transport_error, Kind::terminated}));
  EXPECT_FALSE(s.poll_transmit());
}

// ---------------------------------------------------------------------------------------------
// Non-INVITE server (§17.2.2)

TEST(NonInviteServer, RetransmissionsGetTheLastResponseAndTimerJ) {
  const auto bye = parsed(bye_text());
  ServerTransaction s(t0, bye->view, Transport::udp);
  EXPECT_EQ(s.state(), ServerTransaction::State::trying);
  EXPECT_FALSE(s.poll_timeout());  // no automatic 100 for non-INVITE
  s.handle_retransmission(t0 + milliseconds(500));
  EXPECT_FALSE(s.poll_transmit());  // Trying: absorbed
  s.respond(t0 + milliseconds(600), make_response(bye->view, 100, "Trying", {}), 100);
  EXPECT_EQ(s.state(), ServerTransaction::State::proceeding);
  EXPECT_TRUE(s.poll_transmit());
  s.handle_retransmission(t0 + milliseconds(700));
  EXPECT_EQ(parsed(*s.poll_transmit())->view.status_code(), 100);
  const std::string ok = make_response(bye->view, 200, "OK", {});
  s.respond(t0 + seconds(1), ok, 200);
  EXPECT_EQ(s.state(), ServerTransaction::State::completed);
  EXPECT_EQ(s.poll_transmit(), ok);
  s.handle_retransmission(t0 + seconds(2));
  EXPECT_EQ(s.poll_transmit(), ok);
  s.respond(t0 + seconds(2), make_response(bye->view, 500, "No", {}), 500);  // one final only
  EXPECT_FALSE(s.poll_transmit());
  EXPECT_EQ(s.poll_timeout(), t0 + seconds(33));  // Timer J = 64*T1
  s.handle_timeout(t0 + seconds(33));
  EXPECT_EQ(kinds(drain(s)), std::vector<Kind>{Kind::terminated});
}

TEST(NonInviteServer, ReliableTerminatesOnTheFinal) {
  const auto bye = parsed(bye_text());
  ServerTransaction s(t0, bye->view, Transport::wss);
  s.respond(t0, make_response(bye->view, 200, "OK", {}), 200);
  EXPECT_TRUE(s.poll_transmit());
  EXPECT_TRUE(s.terminated());  // Timer J = 0
  EXPECT_FALSE(s.poll_timeout());
}

// ---------------------------------------------------------------------------------------------
// 2xx retransmission by the UAS core (§13.3.1.4)

TEST(TwoXxRetransmitter, DoublesToT2UntilAck) {
  TwoXxRetransmitter r(t0, "SIP/2.0 200 OK\r\n\r\n", Transport::udp);
  EXPECT_FALSE(r.poll_transmit());  // the first copy went out through the server transaction
  std::vector<Duration> sends;
  for (int i = 0; i < 6; ++i) {
    const Instant t = *r.poll_timeout();
    r.handle_timeout(t);
    ASSERT_TRUE(r.poll_transmit());
    sends.push_back(t - t0);
  }
  EXPECT_EQ(sends, ms({500, 1500, 3500, 7500, 11500, 15500}));
  r.handle_ack(t0 + seconds(16));
  EXPECT_TRUE(r.done());
  EXPECT_TRUE(r.acked());
  EXPECT_FALSE(r.poll_timeout());
  EXPECT_EQ(kinds(drain(r)), std::vector<Kind>{Kind::terminated});
}

TEST(TwoXxRetransmitter, GivesUpAfter64T1) {
  TwoXxRetransmitter r(t0, "SIP/2.0 200 OK\r\n\r\n", Transport::udp);
  std::vector<Duration> sends;
  const auto evs = run_timers(r, sends);
  EXPECT_EQ(sends, ms({500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500}));
  EXPECT_EQ(kinds(evs), (std::vector<Kind>{Kind::timeout, Kind::terminated}));
  EXPECT_FALSE(r.acked());
}

TEST(TwoXxRetransmitter, ReliableOnlyWaitsForTheAck) {
  TwoXxRetransmitter r(t0, "SIP/2.0 200 OK\r\n\r\n", Transport::ws);
  EXPECT_EQ(r.poll_timeout(), t0 + seconds(32));
  r.handle_retransmission(t0 + seconds(1));
  EXPECT_TRUE(r.poll_transmit());
  r.handle_timeout(t0 + seconds(32));
  EXPECT_EQ(kinds(drain(r)), (std::vector<Kind>{Kind::timeout, Kind::terminated}));
}

// ---------------------------------------------------------------------------------------------
// Identifiers (RFC 3261 §8.1.1.7, §19.3)

TEST(IdGenerator, BranchesCarryTheMagicCookieAndAreUnique) {
  IdGenerator g;
  std::unordered_set<std::string> seen;
  for (int i = 0; i < 10000; ++i) {
    const std::string b = g.branch();
    ASSERT_EQ(b.size(), 27u);
    ASSERT_TRUE(has_magic_cookie(b));
    for (char c : b.substr(7)) ASSERT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')) << b;
    ASSERT_TRUE(seen.insert(b).second);
  }
  EXPECT_EQ(g.tag().size(), 12u);
  EXPECT_EQ(g.call_id().size(), 24u);
  EXPECT_TRUE(is_valid_call_id(g.call_id()));
  const std::uint32_t cs = g.initial_cseq();
  EXPECT_GE(cs, 1u);
  EXPECT_LE(cs, 65536u);
}

TEST(IdGenerator, SeededIsReproducibleAndThreadGeneratorsWork) {
  IdGenerator a(42), b(42), c(43);
  EXPECT_EQ(a.branch(), b.branch());
  EXPECT_NE(a.tag(), c.tag());
  EXPECT_NE(new_branch(), new_branch());
  EXPECT_NE(new_tag(), new_tag());
  EXPECT_NE(new_call_id(), new_call_id());
}

TEST(Transport, ReliabilityAndNames) {
  EXPECT_FALSE(is_reliable(Transport::udp));
  EXPECT_TRUE(is_reliable(Transport::tcp));
  EXPECT_TRUE(is_reliable(Transport::tls));
  EXPECT_TRUE(is_reliable(Transport::ws));
  EXPECT_TRUE(is_reliable(Transport::wss));
  EXPECT_EQ(transport_from_name("WSS"), Transport::wss);
  EXPECT_EQ(transport_from_name("udp"), Transport::udp);
  EXPECT_FALSE(transport_from_name("SCTP"));
  EXPECT_EQ(via_transport_name(Transport::ws), "WS");
  EXPECT_EQ(uri_transport_param(Transport::tls), "tls");
  static_assert(!is_reliable(Transport::udp));
}

}  // namespace
}  // namespace webtrunk::sip
