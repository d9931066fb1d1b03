#include "core/admission_control.hpp"

namespace webtrunk::core {
namespace {
constexpr Duration kWindow = std::chrono::seconds(1);
}  // namespace

std::string_view to_string(Admit a) noexcept {
  switch (a) {
    case Admit::ok:
      return "ok";
    case Admit::shard_full:
      return "shard_full";
    case Admit::address_full:
      return "address_full";
    case Admit::rate:
      return "rate";
    case Admit::banned:
      return "banned";
  }
  return "?";
}

AdmissionControl::Source& AdmissionControl::source(Instant now, std::uint64_t key) {
  maybe_sweep(now);
  auto [it, fresh] = sources_.try_emplace(key);
  Source& s = it->second;
  if (fresh || now - s.window >= kWindow) {
    s.window = now;
    s.new_in_window = 0;
    s.unauth_in_window = 0;
  }
  return s;
}

Admit AdmissionControl::admit(Instant now, std::uint64_t key) noexcept {
  Source& s = source(now, key);
  if (now < s.banned_until) return Admit::banned;
  if (++s.new_in_window > limits_.new_per_address_per_s) {
    s.banned_until = now + limits_.ban;
    return Admit::rate;
  }
  if (open_ >= limits_.max_connections) return Admit::shard_full;
  if (s.open >= limits_.max_per_address) return Admit::address_full;
  ++s.open;
  ++open_;
  return Admit::ok;
}

void AdmissionControl::release(std::uint64_t key) noexcept {
  auto it = sources_.find(key);
  if (it == sources_.end() || it->second.open == 0) return;
  --it->second.open;
  --open_;
}

bool AdmissionControl::unauthenticated_request(Instant now, std::uint64_t key) noexcept {
  Source& s = source(now, key);
  if (now < s.banned_until) return false;
  if (++s.unauth_in_window > limits_.unauth_per_address_per_s) {
    s.banned_until = now + limits_.ban;
    return false;
  }
  return true;
}

bool AdmissionControl::banned(Instant now, std::uint64_t key) const noexcept {
  auto it = sources_.find(key);
  return it != sources_.end() && now < it->second.banned_until;
}

void AdmissionControl::maybe_sweep(Instant now) noexcept {
  if (sources_.size() < 2 * swept_at_size_) return;
  for (auto it = sources_.begin(); it != sources_.end();) {
    const Source& s = it->second;
    if (s.open == 0 && now >= s.banned_until && now - s.window >= kWindow) {
      it = sources_.erase(it);
    } else {
      ++it;
    }
  }
  swept_at_size_ = sources_.size() < 1024 ? 1024 : sources_.size();
}

}  // namespace webtrunk::core
