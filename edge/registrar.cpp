#include "edge/registrar.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "sip/header_parsers.hpp"
#include "sip/params.hpp"
#include "sip/text.hpp"
#include "sip/uri.hpp"

namespace webtrunk::edge {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = sip::text::lower(c);
  return out;
}

// The Contact element rewritten as "<uri>;params" without its expires param (RFC 3261 §10.3
// step 8: the registrar states each binding's expiry itself).
std::string contact_without_expires(const sip::NameAddr& na) {
  std::string out;
  if (!na.display_name.empty()) {
    out.append(na.display_name);
    out.push_back(' ');
  }
  out.push_back('<');
  out.append(na.uri);
  out.push_back('>');
  sip::ParamCursor pc(na.params);
  sip::Param p;
  while (pc.next(p)) {
    if (sip::text::iequals(p.name, "expires")) continue;
    out.push_back(';');
    out.append(p.name);
    if (p.has_value) {
      out.push_back('=');
      out.append(p.value);
    }
  }
  return out;
}

}  // namespace

std::string aor_of(std::string_view uri_text) {
  sip::Uri uri;
  if (!sip::parse_uri(uri_text, uri)) return std::string(uri_text);
  if (!uri.is_sip()) return std::string(uri_text);
  std::string out = lower(uri.scheme_text);
  out.push_back(':');
  if (!uri.user.empty()) {
    out.append(uri.user);
    out.push_back('@');
  }
  out.append(lower(uri.host));
  return out;
}

RegisterResult Registrar::handle_register(core::Instant now, const sip::MessageView& req, core::ConnId flow,
                                          std::string_view identity) {
  RegisterResult res;
  auto bad = [&](std::string_view why) {
    res.code = 400;
    res.reason = why;
    return res;
  };
  sip::NameAddr to;
  if (!sip::parse_name_addr(req.value(sip::HeaderId::to), to)) return bad("Bad To");
  const std::string aor = aor_of(to.uri);

  std::optional<std::uint32_t> header_expires;
  if (const auto* h = req.find(sip::HeaderId::expires)) {
    header_expires = sip::parse_delta_seconds(h->value);
    if (!header_expires) return bad("Bad Expires");
  }

  struct Update {
    sip::NameAddr na;
    std::string uri;
    std::string instance;
    std::uint32_t reg_id = 0;
    std::uint32_t expires = 0;
  };
  std::vector<Update> updates;
  bool star = false;
  sip::ListCursor cur(req, sip::HeaderId::contact);
  std::string_view element;
  while (cur.next(element)) {
    if (sip::is_star_contact(element)) {
      star = true;
      continue;
    }
    Update u;
    if (!sip::parse_name_addr(element, u.na)) return bad("Bad Contact");
    u.uri = std::string(u.na.uri);
    u.instance = std::string(sip::contact_instance(u.na));
    u.reg_id = sip::contact_reg_id(u.na).value_or(0);
    u.expires = sip::contact_expires(u.na).value_or(header_expires.value_or(limits_.default_expires));
    if (u.expires != 0 && u.expires < limits_.min_expires) {
      // RFC 3261 §10.3 step 7.
      res.code = 423;
      res.reason = "Interval Too Brief";
      res.min_expires = limits_.min_expires;
      return res;
    }
    u.expires = std::min(u.expires, limits_.max_expires);
    updates.push_back(std::move(u));
  }
  if (!cur.ok()) return bad("Bad Contact");

  if (star) {
    // RFC 3261 §10.3 step 6: "*" only alone and with Expires: 0.
    if (!updates.empty() || header_expires != 0u) return bad("Invalid wildcard Contact");
    if (auto it = by_aor_.find(aor); it != by_aor_.end()) {
      const auto ids = it->second;
      for (auto id : ids) remove(id);
    }
    return res;
  }

  for (const Update& u : updates) {
    // Find the binding this contact refers to.
    std::uint64_t found = 0;
    if (auto it = by_aor_.find(aor); it != by_aor_.end()) {
      for (auto id : it->second) {
        const Binding& b = by_id_.at(id);
        const bool same = !u.instance.empty() ? (b.instance == u.instance && b.reg_id == u.reg_id)
                                              : (b.instance.empty() && b.contact_uri == u.uri);
        if (same) {
          found = id;
          break;
        }
      }
    }
    if (u.expires == 0) {
      if (found != 0) remove(found);
      continue;
    }
    if (found != 0) remove(found);  // RFC 5626 §6: the newer flow replaces the older one
    auto& ids = by_aor_[aor];
    if (ids.size() >= limits_.max_bindings_per_aor) {
      res.code = 403;
      res.reason = "Too many registrations";
      return res;
    }
    Binding b;
    b.id = next_id_++;
    b.aor = aor;
    b.contact = contact_without_expires(u.na);
    b.contact_uri = u.uri;
    b.instance = u.instance;
    b.reg_id = u.reg_id;
    b.flow = flow;
    b.expires_at = now + std::chrono::seconds(u.expires);
    b.identity = std::string(identity);
    ids.push_back(b.id);
    by_flow_.emplace(flow_key(flow), b.id);
    expiry_.emplace(b.expires_at, b.id);
    by_id_.emplace(b.id, std::move(b));
  }
  res.contacts = contacts_of(now, aor);
  return res;
}

std::vector<std::string> Registrar::contacts_of(core::Instant now, const std::string& aor) const {
  std::vector<std::string> out;
  auto it = by_aor_.find(aor);
  if (it == by_aor_.end()) return out;
  for (auto id : it->second) {
    const Binding& b = by_id_.at(id);
    const auto left = std::chrono::ceil<std::chrono::seconds>(b.expires_at - now).count();
    out.push_back(fmt::format("{};expires={}", b.contact, std::max<std::int64_t>(left, 0)));
  }
  return out;
}

void Registrar::remove(std::uint64_t id) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  const Binding& b = it->second;
  if (auto a = by_aor_.find(b.aor); a != by_aor_.end()) {
    auto& v = a->second;
    v.erase(std::remove(v.begin(), v.end(), id), v.end());
    if (v.empty()) by_aor_.erase(a);
  }
  auto range = by_flow_.equal_range(flow_key(b.flow));
  for (auto f = range.first; f != range.second; ++f) {
    if (f->second == id) {
      by_flow_.erase(f);
      break;
    }
  }
  expiry_.erase({b.expires_at, id});
  by_id_.erase(it);
}

std::size_t Registrar::remove_flow(core::ConnId flow) {
  std::vector<std::uint64_t> ids;
  auto range = by_flow_.equal_range(flow_key(flow));
  for (auto f = range.first; f != range.second; ++f) ids.push_back(f->second);
  for (auto id : ids) remove(id);
  return ids.size();
}

std::size_t Registrar::expire(core::Instant now) {
  std::size_t n = 0;
  while (!expiry_.empty() && expiry_.begin()->first <= now) {
    remove(expiry_.begin()->second);
    ++n;
  }
  return n;
}

std::optional<core::Instant> Registrar::next_expiry() const {
  if (expiry_.empty()) return std::nullopt;
  return expiry_.begin()->first;
}

std::vector<const Binding*> Registrar::lookup(std::string_view aor) const {
  std::vector<const Binding*> out;
  if (auto it = by_aor_.find(aor); it != by_aor_.end()) {
    for (auto id : it->second) out.push_back(&by_id_.at(id));
  }
  return out;
}

std::vector<const Binding*> Registrar::lookup_user(std::string_view user) const {
  std::vector<const Binding*> out;
  if (user.empty()) return out;
  const std::string prefix = "sip:" + std::string(user) + "@";
  for (auto it = by_aor_.lower_bound(prefix); it != by_aor_.end() && it->first.starts_with(prefix); ++it) {
    for (auto id : it->second) out.push_back(&by_id_.at(id));
  }
  return out;
}

}  // namespace webtrunk::edge
