#include "edge/routes.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <sstream>

#include "edge/route_metrics.hpp"

namespace webtrunk::edge {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::string_view strip_plus(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  return s;
}

// An IP literal's address, or unset: HOST is a name.
core::SockAddr literal_address(std::string_view host, std::uint16_t port) {
  const std::string text = host.find(':') != std::string_view::npos ? fmt::format("[{}]:{}", host, port)
                                                                     : fmt::format("{}:{}", host, port);
  auto a = core::SockAddr::parse(text);
  return a ? *a : core::SockAddr{};
}

bool valid_name(std::string_view host) {
  if (host.size() > 253) return false;
  for (char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '.' || c == '_';
    if (!ok) return false;
  }
  return true;
}

// The first line of `path`: a password. Errors say which file, never what is in it.
core::Result<std::string> read_password(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return core::Error{ENOENT, fmt::format("cannot read password file '{}'", path)};
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
  if (line.empty()) return core::Error{EINVAL, fmt::format("password file '{}' is empty", path)};
  return line;
}

core::Result<TrunkCredentials> credentials(std::string_view user, std::string_view password_file) {
  if (user.empty() && password_file.empty()) return TrunkCredentials{};
  if (user.empty() || password_file.empty()) {
    return core::Error{EINVAL, "trunk credentials need both user=NAME and password-file=FILE"};
  }
  for (char c : user) {
    if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
      return core::Error{EINVAL, "trunk user name has a quote, backslash or control character"};
    }
  }
  auto pw = read_password(std::string(password_file));
  if (!pw) return pw.error();
  return TrunkCredentials{std::string(user), std::move(*pw)};
}

// register=yes and register-expires= on a trunk with (or without) credentials.
core::Result<bool> set_register(TrunkTarget& t, bool register_with, std::string_view expires_text) {
  std::uint32_t expires = RouteTable::kDefaultRegisterExpires;
  if (!expires_text.empty()) {
    auto [p, ec] = std::from_chars(expires_text.data(), expires_text.data() + expires_text.size(), expires);
    if (ec != std::errc() || p != expires_text.data() + expires_text.size() || expires < 60 || expires > 86400) {
      return core::Error{EINVAL, fmt::format("register-expires '{}' is not 60-86400 seconds", expires_text)};
    }
    if (!register_with) return core::Error{EINVAL, "register-expires= goes with register=yes"};
  }
  if (register_with && t.credentials.empty()) {
    return core::Error{EINVAL, "register=yes needs user=NAME password-file=FILE (the trunk's account)"};
  }
  t.register_with = register_with;
  t.register_expires = expires;
  return true;
}

}  // namespace

std::string TrunkTarget::hostport() const {
  if (srv) return host;
  return ipv6_literal ? fmt::format("[{}]:{}", host, port) : fmt::format("{}:{}", host, port);
}

std::shared_ptr<const TrunkTargets> TrunkTarget::resolved() const {
  return targets ? targets->load() : std::make_shared<const TrunkTargets>();
}

core::Result<TrunkTarget> parse_trunk(std::string_view text) {
  TrunkTarget t;
  t.spec = std::string(text);
  constexpr std::string_view kForms = "TRANSPORT:HOST:PORT, TRANSPORT:HOST or HOST (e.g. udp:192.0.2.10:5060, udp:trunk.example.com)";
  std::string_view rest = text;
  if (text.starts_with("udp:")) {
    rest = text.substr(4);
  } else if (text.starts_with("tcp:")) {
    t.transport = sip::Transport::tcp;
    rest = text.substr(4);
  } else if (text.starts_with("tls:")) {
    t.transport = sip::Transport::tls;
    rest = text.substr(4);
  } else if (const auto colon = text.find(':'); colon != std::string_view::npos) {
    const std::string_view transport = text.substr(0, colon);
    if (transport.find('.') != std::string_view::npos || transport.empty()) {
      return core::Error{EINVAL, fmt::format("'{}' is not {}", text, kForms)};
    }
    return core::Error{EINVAL, fmt::format("'{}': transport '{}' is not supported (udp, tcp or tls)", text, transport)};
  } else {
    t.transport_given = false;  // a bare name: RFC 3263 picks the transport
  }
  std::string_view host, port_text;
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
      return core::Error{EINVAL, fmt::format("'{}': an IPv6 trunk is written udp:[ADDR]:PORT or tcp:[ADDR]:PORT", text)};
    }
    host = rest.substr(1, close - 1);
    port_text = rest.substr(close + 2);
    t.ipv6_literal = true;
  } else {
    const auto c = rest.rfind(':');
    host = c == std::string_view::npos ? rest : rest.substr(0, c);
    if (c != std::string_view::npos) port_text = rest.substr(c + 1);
    if (host.find(':') != std::string_view::npos) {
      return core::Error{EINVAL, fmt::format("'{}': an IPv6 trunk is written udp:[ADDR]:PORT or tcp:[ADDR]:PORT", text)};
    }
    if (c != std::string_view::npos && port_text.empty()) return core::Error{EINVAL, fmt::format("'{}': missing port after ':'", text)};
  }
  if (host.empty()) return core::Error{EINVAL, fmt::format("'{}': missing host", text)};
  t.host = std::string(host);
  if (t.transport == sip::Transport::tls) t.port = 5061;  // RFC 3261 §19.1.2, replaced by a given port
  if (!port_text.empty()) {
    unsigned port = 0;
    auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || p != port_text.data() + port_text.size() || port == 0 || port > 65535) {
      return core::Error{EINVAL, fmt::format("'{}': '{}' is not a port (1-65535)", text, port_text)};
    }
    t.port = static_cast<std::uint16_t>(port);
  }
  t.addr = literal_address(t.host, t.port);
  if (t.addr.is_set()) {
    // RFC 3263 §4.2: an address without a port is that address on 5060 (5061 for TLS); no lookup.
    t.targets = std::make_shared<TargetSlot>(std::vector<ResolvedTarget>{{t.transport, t.addr}});
    return t;
  }
  if (!valid_name(t.host)) return core::Error{EINVAL, fmt::format("'{}': '{}' is not an address or a host name", text, t.host)};
  t.srv = port_text.empty();
  t.targets = std::make_shared<TargetSlot>();
  return t;
}

core::Result<RouteTable> RouteTable::single(std::string_view trunk, std::string_view user,
                                           std::string_view password_file, bool register_with,
                                           std::uint32_t register_expires, bool tcp_fallback) {
  auto t = parse_trunk(trunk);
  if (!t) return core::Error{t.error().code, "--trunk " + t.error().message};
  auto creds = credentials(user, password_file);
  if (!creds) return core::Error{creds.error().code, "--trunk-user/--trunk-password-file: " + creds.error().message};
  t->credentials = std::move(*creds);
  t->password_file = std::string(password_file);
  t->series = route_series("*", t->spec);
  if (register_with && t->credentials.empty()) {
    return core::Error{EINVAL, "--trunk-register needs --trunk-user and --trunk-password-file (the trunk's account)"};
  }
  t->register_with = register_with;
  t->register_expires = register_expires;
  t->tcp_fallback = tcp_fallback;
  RouteTable table;
  table.routes_.push_back(Route{"*", std::move(*t)});
  table.index_tcp();
  return table;
}

core::Result<RouteTable> RouteTable::parse(std::string_view content, std::string_view source) {
  RouteTable table;
  std::size_t lineno = 0;
  while (!content.empty()) {
    ++lineno;
    const auto nl = content.find('\n');
    std::string_view line = content.substr(0, nl);
    content = nl == std::string_view::npos ? std::string_view{} : content.substr(nl + 1);
    if (const auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    line = trim(line);
    if (line.empty()) continue;
    auto fail = [&](std::string why) {
      return core::Error{EINVAL, fmt::format("{}:{}: {}", source, lineno, why)};
    };
    const auto sp = line.find_first_of(" \t");
    if (sp == std::string_view::npos) return fail(fmt::format("'{}' has no trunk (expected: PREFIX udp:HOST:PORT)", line));
    std::string_view prefix = line.substr(0, sp);
    std::string_view trunk = trim(line.substr(sp + 1));
    std::string_view user, password_file, register_expires;
    bool register_with = false;
    bool tcp_fallback = false;
    if (const auto end = trunk.find_first_of(" \t"); end != std::string_view::npos) {
      std::string_view opts = trim(trunk.substr(end));
      trunk = trunk.substr(0, end);
      while (!opts.empty()) {
        const auto e = opts.find_first_of(" \t");
        const std::string_view opt = opts.substr(0, e);
        opts = e == std::string_view::npos ? std::string_view{} : trim(opts.substr(e));
        if (opt.starts_with("user=")) {
          user = opt.substr(5);
        } else if (opt.starts_with("password-file=")) {
          password_file = opt.substr(14);
        } else if (opt == "register=yes" || opt == "register=no") {
          register_with = opt == "register=yes";
        } else if (opt == "tcp-fallback=yes" || opt == "tcp-fallback=no") {
          tcp_fallback = opt == "tcp-fallback=yes";
        } else if (opt.starts_with("register-expires=")) {
          register_expires = opt.substr(17);
        } else {
          return fail(fmt::format("unknown field '{}' (expected: PREFIX udp:HOST:PORT [user=NAME password-file=FILE] "
                                  "[register=yes [register-expires=SECONDS]] [tcp-fallback=yes])",
                                  opt));
        }
      }
    }
    if (prefix != "*") {
      prefix = strip_plus(prefix);
      if (prefix.empty()) return fail("empty prefix (use * for the default route)");
      for (char c : prefix) {
        if (c < '0' || c > '9') {
          return fail(fmt::format("prefix '{}' is not digits (or * for the default route)", line.substr(0, sp)));
        }
      }
    }
    for (const Route& r : table.routes_) {
      if (r.prefix == prefix) return fail(fmt::format("prefix '{}' is given twice", prefix));
    }
    auto t = parse_trunk(trunk);
    if (!t) return fail(t.error().message);
    auto creds = credentials(user, password_file);
    if (!creds) return fail(creds.error().message);
    t->credentials = std::move(*creds);
    t->password_file = std::string(password_file);
    t->series = route_series(line.substr(0, sp), t->spec);
    if (auto reg = set_register(*t, register_with, register_expires); !reg) return fail(reg.error().message);
    t->tcp_fallback = tcp_fallback;
    table.routes_.push_back(Route{std::string(prefix), std::move(*t)});
  }
  if (table.routes_.empty()) return core::Error{EINVAL, fmt::format("{}: no routes", source)};
  std::stable_sort(table.routes_.begin(), table.routes_.end(), [](const Route& a, const Route& b) {
    const bool ad = a.prefix == "*", bd = b.prefix == "*";
    if (ad != bd) return bd;  // the default goes last
    return a.prefix.size() > b.prefix.size();
  });
  table.index_tcp();
  return table;
}

core::Result<RouteTable> RouteTable::load_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return core::Error{ENOENT, fmt::format("--routes: cannot read '{}'", path)};
  std::stringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), path);
}

std::vector<std::string> RouteTable::password_files() const {
  std::vector<std::string> out;
  for (const Route& r : routes_) {
    if (!r.trunk.password_file.empty()) out.push_back(r.trunk.password_file);
  }
  return out;
}

bool RouteTable::is_trunk_address(const core::SockAddr& addr) const noexcept {
  auto same_ip = [&](const core::SockAddr& trunk) {
    core::SockAddr a = addr;
    a.set_port(trunk.port());
    return a == trunk;
  };
  for (const Route& r : routes_) {
    if (r.trunk.addr.is_set() && same_ip(r.trunk.addr)) return true;
  }
  for (const TargetSlot* slot : named_) {
    const auto now = slot->load();
    for (const ResolvedTarget& t : now->list) {
      if (same_ip(t.addr)) return true;
    }
  }
  return false;
}

void RouteTable::index_tcp() {
  tcp_trunks_.clear();
  tls_routes_.clear();
  named_.clear();
  named_tcp_.clear();
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    const Route& r = routes_[i];
    if (r.trunk.transport == sip::Transport::tls) tls_routes_.push_back(i);
    if (r.trunk.by_name()) {
      named_.push_back(r.trunk.targets.get());
      if (r.trunk.transport != sip::Transport::udp || !r.trunk.transport_given) named_tcp_.push_back(r.trunk.targets.get());
      continue;
    }
    if (r.trunk.transport != sip::Transport::tcp && r.trunk.transport != sip::Transport::tls) continue;
    if (std::find(tcp_trunks_.begin(), tcp_trunks_.end(), r.trunk.addr) == tcp_trunks_.end()) {
      tcp_trunks_.push_back(r.trunk.addr);
    }
  }
}

bool RouteTable::is_tcp_trunk(const core::SockAddr& addr) const noexcept {
  if (std::find(tcp_trunks_.begin(), tcp_trunks_.end(), addr) != tcp_trunks_.end()) return true;
  for (const TargetSlot* slot : named_tcp_) {
    const auto now = slot->load();
    for (const ResolvedTarget& t : now->list) {
      if (t.transport != sip::Transport::udp && t.addr == addr) return true;
    }
  }
  return false;
}

std::vector<const TrunkTarget*> RouteTable::named_trunks() const {
  std::vector<const TrunkTarget*> out;
  for (const Route& r : routes_) {
    if (r.trunk.by_name()) out.push_back(&r.trunk);
  }
  return out;
}

const TrunkTarget* RouteTable::tls_trunk(const core::SockAddr& addr) const noexcept {
  for (std::size_t i : tls_routes_) {
    const TrunkTarget& t = routes_[i].trunk;
    if (!t.by_name()) {
      if (t.addr == addr) return &t;
      continue;
    }
    const auto now = t.targets->load();
    for (const ResolvedTarget& r : now->list) {
      if (r.transport == sip::Transport::tls && r.addr == addr) return &t;
    }
  }
  return nullptr;
}

const TrunkTarget* RouteTable::lookup(std::string_view number) const noexcept {
  number = strip_plus(number);
  for (const Route& r : routes_) {
    if (r.prefix == "*" || number.starts_with(r.prefix)) return &r.trunk;
  }
  return nullptr;
}

}  // namespace webtrunk::edge
