// The edge's registrar (RFC 3261 §10.3 with RFC 5626 outbound): a browser's REGISTER becomes an
// in-memory binding on the WebSocket flow it arrived on. The Contact a browser registers has a
// `.invalid` host (JsSIP, SIP.js): it is kept only to echo it back, never to route; anything for
// the browser goes down the flow.
//
// A binding is identified by (AOR, +sip.instance, reg-id) when the Contact has an instance
// (RFC 5626 §6: a new REGISTER for the same pair replaces the flow), else by (AOR, Contact URI).
// It ends when its expiry passes, when the browser sends expires 0, or when its flow closes.
//
// Sans-IO: handle_register() takes `now`; expire(now) drops what timed out; next_expiry() tells
// the shard when to call it. Lifetimes: Binding pointers and views are valid until the next
// non-const call.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/clock.hpp"
#include "core/reactor.hpp"
#include "sip/message_view.hpp"

namespace webtrunk::edge {

struct RegistrarLimits {
  std::uint32_t min_expires = 60;       // below (and not 0): 423 Interval Too Brief
  std::uint32_t max_expires = 3600;     // above: shortened to this
  std::uint32_t default_expires = 600;  // no expires param and no Expires header
  std::size_t max_bindings_per_aor = 16;
};

struct Binding {
  std::uint64_t id = 0;
  std::string aor;          // "sip:alice@edge.test"
  std::string contact;      // the Contact element as sent, minus its expires param (echoed in 200)
  std::string contact_uri;  // the URI inside it
  std::string instance;     // "urn:uuid:..." ("" if none)
  std::uint32_t reg_id = 0;
  core::ConnId flow;
  core::Instant expires_at;
  std::string identity;     // the authenticated token id that registered it
};

struct RegisterResult {
  int code = 200;
  std::string_view reason = "OK";
  // For 200: one Contact value per current binding of the AOR, each with ";expires=N".
  std::vector<std::string> contacts;
  std::uint32_t min_expires = 0;  // for 423
};

// "sip:user@host" from a To/From URI: scheme lower-cased, host lower-cased, no params or port.
std::string aor_of(std::string_view uri);

inline std::uint64_t flow_key(core::ConnId id) noexcept {
  return (static_cast<std::uint64_t>(id.index) << 32) | id.generation;
}

class Registrar {
 public:
  explicit Registrar(RegistrarLimits limits = {}) : limits_(limits) {}

  // Applies a (validated) REGISTER that arrived on `flow`. A bad Contact or Expires gives 400.
  RegisterResult handle_register(core::Instant now, const sip::MessageView& req, core::ConnId flow,
                                 std::string_view identity);
  // Drops every binding on this flow (its WebSocket closed). Returns how many.
  std::size_t remove_flow(core::ConnId flow);
  // Drops expired bindings. Returns how many.
  std::size_t expire(core::Instant now);
  std::optional<core::Instant> next_expiry() const;

  std::vector<const Binding*> lookup(std::string_view aor) const;
  // Every binding of `user` under any host (sip:USER@*): a trunk calls a user, not a domain.
  std::vector<const Binding*> lookup_user(std::string_view user) const;
  // Whether some binding lives on this flow (a browser registered on it).
  bool has_flow(core::ConnId flow) const { return by_flow_.count(flow_key(flow)) != 0; }
  std::size_t size() const noexcept { return by_id_.size(); }

 private:
  void remove(std::uint64_t id);
  std::vector<std::string> contacts_of(core::Instant now, const std::string& aor) const;

  RegistrarLimits limits_;
  std::uint64_t next_id_ = 1;
  std::unordered_map<std::uint64_t, Binding> by_id_;
  std::map<std::string, std::vector<std::uint64_t>, std::less<>> by_aor_;
  std::unordered_multimap<std::uint64_t, std::uint64_t> by_flow_;  // flow_key -> binding id
  std::set<std::pair<core::Instant, std::uint64_t>> expiry_;
};

}  // namespace webtrunk::edge
