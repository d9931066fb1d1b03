#include "edge/rfc3263.hpp"

#include <algorithm>
#include <cctype>

namespace webtrunk::edge {
namespace {

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool usable_transport(sip::Transport t, std::optional<sip::Transport> wanted, std::span<const sip::Transport> usable) {
  if (wanted) return t == *wanted;
  return std::find(usable.begin(), usable.end(), t) != usable.end();
}

}  // namespace

std::optional<sip::Transport> naptr_transport(std::string_view service) noexcept {
  if (iequals(service, "SIP+D2U")) return sip::Transport::udp;
  if (iequals(service, "SIP+D2T")) return sip::Transport::tcp;
  // RFC 3263 §4.1: TLS is "SIPS+D2T". "SIP+D2S" is SCTP, which the edge does not speak.
  if (iequals(service, "SIPS+D2T")) return sip::Transport::tls;
  return std::nullopt;
}

std::vector<SrvQuery> srv_from_naptr(std::vector<NaptrRecord> records, std::optional<sip::Transport> wanted,
                                     std::span<const sip::Transport> usable) {
  std::stable_sort(records.begin(), records.end(), [](const NaptrRecord& a, const NaptrRecord& b) {
    return a.order != b.order ? a.order < b.order : a.preference < b.preference;
  });
  std::vector<SrvQuery> out;
  for (const NaptrRecord& r : records) {
    if (!iequals(r.flags, "s") || r.replacement.empty()) continue;
    const auto t = naptr_transport(r.service);
    if (!t || !usable_transport(*t, wanted, usable)) continue;
    const bool seen = std::any_of(out.begin(), out.end(), [&](const SrvQuery& q) { return q.name == r.replacement; });
    if (!seen) out.push_back(SrvQuery{*t, r.replacement});
  }
  return out;
}

std::vector<SrvQuery> srv_without_naptr(std::string_view host, std::optional<sip::Transport> wanted,
                                        std::span<const sip::Transport> usable) {
  std::vector<SrvQuery> out;
  auto add = [&](sip::Transport t) {
    switch (t) {
      case sip::Transport::udp: out.push_back({t, "_sip._udp." + std::string(host)}); break;
      case sip::Transport::tcp: out.push_back({t, "_sip._tcp." + std::string(host)}); break;
      case sip::Transport::tls: out.push_back({t, "_sips._tcp." + std::string(host)}); break;
      default: break;
    }
  };
  if (wanted) {
    add(*wanted);
  } else {
    for (sip::Transport t : usable) add(t);
  }
  return out;
}

std::vector<SrvRecord> order_srv(std::vector<SrvRecord> records, const std::function<std::uint32_t(std::uint32_t)>& random) {
  std::erase_if(records, [](const SrvRecord& r) { return r.target.empty() || r.target == "."; });
  std::stable_sort(records.begin(), records.end(),
                   [](const SrvRecord& a, const SrvRecord& b) { return a.priority < b.priority; });
  std::vector<SrvRecord> out;
  out.reserve(records.size());
  auto group = records.begin();
  while (group != records.end()) {
    auto end = std::find_if(group, records.end(), [&](const SrvRecord& r) { return r.priority != group->priority; });
    std::vector<SrvRecord> left(group, end);
    // RFC 2782: the weight-0 records first in the list, then pick by running sum until none is left.
    std::stable_partition(left.begin(), left.end(), [](const SrvRecord& r) { return r.weight == 0; });
    while (!left.empty()) {
      std::uint32_t sum = 0;
      for (const SrvRecord& r : left) sum += r.weight;
      const std::uint32_t pick = random(sum);
      std::uint32_t running = 0;
      auto chosen = left.begin();
      for (auto it = left.begin(); it != left.end(); ++it) {
        running += it->weight;
        if (running >= pick) {
          chosen = it;
          break;
        }
      }
      out.push_back(std::move(*chosen));
      left.erase(chosen);
    }
    group = end;
  }
  return out;
}

}  // namespace webtrunk::edge
