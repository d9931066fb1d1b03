#include "auth/replay_cache.hpp"

#include <openssl/sha.h>

#include <cstring>

#include "core/metrics.hpp"

namespace webtrunk::auth {
namespace {

const core::Counter kReplayed{"webtrunk_auth_token_replayed_total", "Customer tokens refused: already used"};
const core::Counter kReplayFull{"webtrunk_auth_replay_cache_full_total",
                                "Customer tokens refused: replay cache full of live entries"};

}  // namespace

std::string_view reason_phrase(ReplayResult r) noexcept {
  switch (r) {
    case ReplayResult::fresh:
      return "OK";
    case ReplayResult::replayed:
      return "Token already used";
    case ReplayResult::full:
      return "Try again later";
  }
  return "Try again later";
}

std::size_t ReplayCache::IdHash::operator()(const Id& id) const noexcept {
  std::size_t h;
  std::memcpy(&h, id.data(), sizeof h);  // ids are hash outputs already: uniform bits
  return h;
}

ReplayCache::ReplayCache(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {
  live_.reserve(capacity_ < 4096 ? capacity_ : 4096);
}

void ReplayCache::purge(std::int64_t now) {
  while (!due_.empty() && due_.top().until < now) {
    live_.erase(due_.top().id);
    due_.pop();
  }
}

ReplayCache::Id ReplayCache::id_of(std::string_view token_id) noexcept {
  Id id{};
  if (token_id.size() == id.size()) {
    std::memcpy(id.data(), token_id.data(), id.size());
  } else {
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(token_id.data()), token_id.size(), md);
    std::memcpy(id.data(), md, id.size());
  }
  return id;
}

bool ReplayCache::restore(std::int64_t now, const Id& id, std::int64_t remember_until) {
  if (remember_until < now || live_.size() >= capacity_ || live_.contains(id)) return false;
  live_.emplace(id, remember_until);
  due_.push(Due{remember_until, id});
  return true;
}

ReplayResult ReplayCache::check_and_insert(std::int64_t now, std::string_view token_id, std::int64_t remember_until) {
  const Id id = id_of(token_id);
  purge(now);
  if (live_.contains(id)) {
    kReplayed.inc();
    return ReplayResult::replayed;
  }
  // A token already past its time is not remembered: it cannot verify again anyway.
  if (remember_until < now) return ReplayResult::fresh;
  if (live_.size() >= capacity_) {
    kReplayFull.inc();
    return ReplayResult::full;
  }
  live_.emplace(id, remember_until);
  due_.push(Due{remember_until, id});
  return ReplayResult::fresh;
}

}  // namespace webtrunk::auth
