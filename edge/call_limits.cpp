#include "edge/call_limits.hpp"

namespace webtrunk::edge {

CallLimiter::CallLimiter(CallLimitConfig config) noexcept : cfg_(config) {
  if (cfg_.shards == 0) cfg_.shards = 1;
}

std::uint32_t CallLimiter::shard_share(std::uint32_t limit, unsigned shards) noexcept {
  if (shards == 0) shards = 1;
  const std::uint64_t share = (std::uint64_t{limit} + shards - 1) / shards;
  return share == 0 ? 1 : static_cast<std::uint32_t>(share);
}

std::string CallLimiter::token_key(std::string_view account, std::string_view token_id) {
  // '\n' appears in neither an account id nor a token id (auth/README.md claim alphabet), so two
  // different pairs never make the same key.
  std::string k;
  k.reserve(account.size() + 1 + token_id.size());
  k.append(account).push_back('\n');
  k.append(token_id);
  return k;
}

CallLimiter::Verdict CallLimiter::try_acquire(std::string_view account, std::string_view token_id,
                                              std::optional<std::uint32_t> account_limit, CallSlot& slot) {
  slot = CallSlot{};
  const bool count_account = !account.empty();
  if (count_account && account_limit && account_calls(account) >= shard_share(*account_limit, cfg_.shards)) {
    kCallsOverAccountLimit.inc();
    return Verdict::account_full;
  }
  if (cfg_.max_calls_per_token != 0 &&
      token_calls(account, token_id) >= shard_share(cfg_.max_calls_per_token, cfg_.shards)) {
    kCallsOverTokenLimit.inc();
    return Verdict::token_full;
  }
  slot.token = token_key(account, token_id);
  ++tokens_[slot.token];
  if (count_account) {
    slot.account = std::string(account);
    ++accounts_[slot.account];
  }
  slot.held = true;
  return Verdict::ok;
}

void CallLimiter::drop(std::unordered_map<std::string, std::uint32_t>& m, const std::string& key) noexcept {
  auto it = m.find(key);
  if (it == m.end()) return;
  if (--it->second == 0) m.erase(it);
}

void CallLimiter::release(CallSlot& slot) noexcept {
  if (!slot.held) return;
  drop(tokens_, slot.token);
  if (!slot.account.empty()) drop(accounts_, slot.account);
  slot.held = false;
}

std::uint32_t CallLimiter::account_calls(std::string_view account) const {
  auto it = accounts_.find(std::string(account));
  return it == accounts_.end() ? 0 : it->second;
}

std::uint32_t CallLimiter::token_calls(std::string_view account, std::string_view token_id) const {
  auto it = tokens_.find(token_key(account, token_id));
  return it == tokens_.end() ? 0 : it->second;
}

}  // namespace webtrunk::edge
