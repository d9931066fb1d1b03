// Control messages between the shards' SIP layers, for calls from a trunk to browsers registered
// on other shards (edge/inbound_call.hpp). Shards share nothing: a browser's WebSocket belongs to
// the shard that accepted it, a trunk's INVITE to the shard whose SIP port it reached. The
// receiving shard coordinates the whole call (trunk leg, fork, media session); the other shards
// only look up their registrations for it and carry its SIP bytes to and from their WebSockets:
//
//   coordinator -> every other shard   lookup{call, user}
//   shard -> coordinator                bindings{call, the user's bindings there}
//   coordinator -> browser's shard      to_flow{browser Call-ID, flow, bytes}: sent down the flow;
//                                        the Call-ID is remembered (bounded) so the browser's
//                                        responses and requests in it go back as from_flow
//   browser's shard -> coordinator      from_flow{flow, bytes}, flow_closed{flow}
//   coordinator -> browser's shard      forget{browser Call-ID} when the call is over
//
// Media stays on the coordinator: the browser sends its media to the address in the coordinator's
// offer, whatever shard carries its signalling, so no packet ever crosses shards.
//
// Lifetime: a ShardNote owns everything in it; it is a value moved through the mailbox.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/metrics.hpp"
#include "core/reactor.hpp"

namespace webtrunk::edge {

// A browser's WebSocket flow on some shard.
struct BrowserFlow {
  unsigned shard = 0;
  core::ConnId conn;
  bool operator==(const BrowserFlow& o) const noexcept { return shard == o.shard && conn == o.conn; }
};

// One binding as another shard reports it.
struct BindingTarget {
  BrowserFlow flow;
  std::string aor;
  std::string contact_uri;
};

struct ShardNote {
  enum class Kind : std::uint8_t { lookup, bindings, to_flow, from_flow, flow_closed, forget };
  Kind kind = Kind::lookup;
  unsigned from = 0;
  unsigned to = 0;
  std::string call;  // lookup, bindings: the trunk's Call-ID; to_flow, forget: the browser Call-ID
  std::string user;  // lookup
  std::vector<BindingTarget> bindings;
  core::ConnId flow;  // to_flow, from_flow, flow_closed: a flow of the browser's shard
  std::string bytes;  // to_flow, from_flow: one SIP message
};

inline const core::Counter kShardNotesDropped{"webtrunk_shard_notes_dropped_total",
                                              "cross-shard SIP notes dropped: the mailbox lane was full "
                                              "(a branch then times out)"};
inline const core::Counter kRemoteCallsRefused{"webtrunk_inbound_remote_calls_refused_total",
                                               "branches of calls from other shards not carried: the table of "
                                               "such calls on this shard was full"};

}  // namespace webtrunk::edge
