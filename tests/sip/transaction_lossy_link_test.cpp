// A SIP client and server transaction (RFC 3261 §17) connected through a lossy in-memory UDP link on
// a fake clock: every exchange completes whichever packets are lost.
#include <gtest/gtest.h>

#include "transaction_test_support.hpp"

namespace webtrunk::sip {
namespace {

// ---------------------------------------------------------------------------------------------
// A client and a server transaction over a lossy in-memory UDP link.

// Drops every `period`-th packet, starting with packet number `phase` (1-based), counting each
// direction on its own or both together (`shared`).
struct LossyLink {
  LossyLink(int p, int ph, bool sh) : period(p), phase(ph), shared(sh) {}
  int period;
  int phase;
  bool shared;
  int sent[2] = {0, 0};
  int dropped = 0;
  std::deque<std::pair<int, std::string>> in_flight;  // (direction 0 = to server, 1 = to client)

  void send(int dir, std::string bytes) {
    const int n = ++sent[shared ? 0 : dir];
    if (n % period == phase % period) {
      ++dropped;
      return;
    }
    in_flight.emplace_back(dir, std::move(bytes));
  }
};

struct ExchangeResult {
  int client_final = 0;
  bool client_terminated = false;
  bool server_terminated = false;
  bool server_got_ack = false;
  int dropped = 0;
  int server_transactions_created = 0;
  Instant ended{};
};

// The client TU sends `request`; the server TU answers 180 at once and `final_status` after 1 s.
// For a 2xx to INVITE the client TU ACKs (out of the transaction) and re-ACKs stray 2xx, and the
// server TU retransmits the 2xx until that ACK.
ExchangeResult run_lossy_exchange(const std::string& request, Method method, int final_status, int period, int phase,
                                  bool shared) {
  LossyLink link(period, phase, shared);
  ExchangeResult res;
  Instant now = t0;
  const auto req_msg = parsed(request);
  const TransactionKey key = *TransactionKey::of_request(req_msg->view);

  ClientTransaction client(now, method, request, key.branch, Transport::udp);
  bool client_alive = true;
  std::optional<ServerTransaction> server;
  std::optional<TwoXxRetransmitter> rtx;
  std::optional<Instant> final_at;
  std::string final_bytes;
  std::optional<Dialog> dialog;
  std::string ack_2xx;

  auto deliver_to_server = [&](const std::string& bytes) {
    const auto m = parsed(bytes);
    const auto k = TransactionKey::of_request(m->view);
    ASSERT_TRUE(k);
    if (m->view.method() == Method::ack) {
      if (server && *k == key) {
        server->handle_ack(now);
        res.server_got_ack = true;
      } else if (rtx) {
        rtx->handle_ack(now);  // ACK for the 2xx: new branch, the TU's business
        res.server_got_ack = true;
      }
      return;
    }
    if (server && *k == key) {
      server->handle_retransmission(now);
      return;
    }
    if (res.server_transactions_created > 0) return;  // retransmission after the server transaction ended
    ++res.server_transactions_created;
    server.emplace(now, m->view, Transport::udp);
    if (method == Method::invite) server->respond(now, make_response(m->view, 180, "Ringing", "stag"), 180);
    final_at = now + seconds(1);
    final_bytes = make_response(m->view, final_status, "Final", "stag");
  };
  auto deliver_to_client = [&](const std::string& bytes) {
    const auto m = parsed(bytes);
    if (client_alive && TransactionKey::of_response(m->view) == key) {
      client.handle_response(now, m->view);
      return;
    }
    // Stray 2xx to INVITE after the transaction ended: the dialog re-ACKs it.
    if (m->view.status_code() / 100 == 2 && method == Method::invite && !ack_2xx.empty())
      link.send(0, ack_2xx);
  };

  for (int step = 0; step < 10000; ++step) {
    // Pump until quiet at this instant.
    for (bool progress = true; progress;) {
      progress = false;
      if (client_alive) {
        while (auto b = client.poll_transmit()) link.send(0, std::move(*b)), progress = true;
        while (auto ev = client.poll_event()) {
          progress = true;
          if (ev->kind == Kind::response && ev->status >= 200) {
            res.client_final = ev->status;
            if (method == Method::invite && ev->status < 300) {
              dialog = Dialog::from_uac(req_msg->view, ev->message->view);
              ack_2xx = dialog->make_request(Method::ack, "198.51.100.20:5062", new_branch(), {}, {}, {});
              link.send(0, ack_2xx);
            }
          }
          if (ev->kind == Kind::timeout) res.client_final = 408;
          if (ev->kind == Kind::terminated) {
            client_alive = false;
            res.client_terminated = true;
          }
        }
      }
      if (server) {
        while (auto b = server->poll_transmit()) link.send(1, std::move(*b)), progress = true;
        while (auto ev = server->poll_event()) {
          progress = true;
          if (ev->kind == Kind::terminated) res.server_terminated = true;
        }
      }
      if (rtx) {
        while (auto b = rtx->poll_transmit()) link.send(1, std::move(*b)), progress = true;
        while (rtx->poll_event()) progress = true;
      }
      while (!link.in_flight.empty()) {
        auto [dir, bytes] = std::move(link.in_flight.front());
        link.in_flight.pop_front();
        if (dir == 0) {
          deliver_to_server(bytes);
        } else {
          deliver_to_client(bytes);
        }
        progress = true;
      }
    }
    // Next deadline.
    std::optional<Instant> next;
    auto consider = [&](std::optional<Instant> t) {
      if (t && (!next || *t < *next)) next = t;
    };
    if (client_alive) consider(client.poll_timeout());
    if (server) consider(server->poll_timeout());
    if (rtx) consider(rtx->poll_timeout());
    consider(final_at);
    if (!next) break;
    now = *next;
    if (final_at && *final_at <= now) {
      final_at.reset();
      server->respond(now, final_bytes, final_status);
      if (method == Method::invite && final_status / 100 == 2) rtx.emplace(now, final_bytes, Transport::udp);
    }
    if (client_alive) client.handle_timeout(now);
    if (server) server->handle_timeout(now);
    if (rtx) rtx->handle_timeout(now);
  }
  res.dropped = link.dropped;
  res.ended = now;
  if (rtx) res.server_got_ack = res.server_got_ack && rtx->acked();
  return res;
}

struct LossCase {
  int period;
  int phase;
  bool shared;
};

class LossyLinkTest : public ::testing::TestWithParam<LossCase> {};

TEST_P(LossyLinkTest, InviteRejectedCompletesWithAck) {
  const auto [period, phase, shared] = GetParam();
  const auto r = run_lossy_exchange(invite_text(), Method::invite, 486, period, phase, shared);
  EXPECT_GT(r.dropped, 0);
  EXPECT_EQ(r.client_final, 486);
  EXPECT_TRUE(r.server_got_ack);
  EXPECT_TRUE(r.client_terminated);
  EXPECT_TRUE(r.server_terminated);
  EXPECT_EQ(r.server_transactions_created, 1);
}

TEST_P(LossyLinkTest, InviteAcceptedCompletesWith2xxAck) {
  const auto [period, phase, shared] = GetParam();
  const auto r = run_lossy_exchange(invite_text(), Method::invite, 200, period, phase, shared);
  EXPECT_GT(r.dropped, 0);
  EXPECT_EQ(r.client_final, 200);
  EXPECT_TRUE(r.server_got_ack);
  EXPECT_TRUE(r.client_terminated);
  EXPECT_TRUE(r.server_terminated);
}

TEST_P(LossyLinkTest, ByeCompletes) {
  const auto [period, phase, shared] = GetParam();
  const auto r = run_lossy_exchange(bye_text(), Method::bye, 200, period, phase, shared);
  EXPECT_GT(r.dropped, 0);
  EXPECT_EQ(r.client_final, 200);
  EXPECT_TRUE(r.client_terminated);
  EXPECT_TRUE(r.server_terminated);
  EXPECT_EQ(r.server_transactions_created, 1);
}

INSTANTIATE_TEST_SUITE_P(DropEvery2ndOr3rd, LossyLinkTest,
                         // Not every 2nd packet counted both ways: the final response and the ACK
                         // then alternate and every ACK is lost, which no protocol survives.
                         ::testing::Values(LossCase{2, 1, false}, LossCase{2, 2, false}, LossCase{3, 1, false},
                                           LossCase{3, 2, false}, LossCase{3, 1, true}, LossCase{3, 2, true},
                                           LossCase{3, 3, true}),
                         [](const ::testing::TestParamInfo<LossCase>& p) {
                           return "every" + std::to_string(p.param.period) + "th_from" +
                                  std::to_string(p.param.phase) + (p.param.shared ? "_both_ways" : "_each_way");
                         });

}  // namespace
}  // namespace webtrunk::sip
