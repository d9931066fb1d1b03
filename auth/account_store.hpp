// The auth service's accounts in SQLite (the embedded default; DESIGN.md "Operating it").
//
// Durability: journal_mode=WAL and synchronous=FULL, so a put() or remove() that returned has
// been fsynced to the WAL: the admin API answers 200 only after that, and a kill -9 (or power
// loss) right after loses nothing acknowledged. Every write is its own transaction.
//
// Reads never touch the disk: the store keeps every account in memory (with what the token path
// needs precomputed) and reloads them when another process committed a change (the CLI writing
// to the same file while the service runs), which it notices with one `PRAGMA data_version` per
// refresh() (that counter changes only for commits made through other connections).
//
// Not thread-safe: one owner (the service's shard, or the CLI). Several processes may open the
// same file; SQLite serializes their writes (busy timeout 5 s). The file is created mode 0600:
// it holds customer secrets.
//
// Lifetimes: a const Account* from find() is valid until the next put(), remove() or refresh().
#pragma once

#include <array>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "auth/account.hpp"
#include "core/result.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace webtrunk::auth {

class AccountStore {
 public:
  // Opens (creating if needed) the database file and loads every account. ":memory:" works for tests.
  static core::Result<std::unique_ptr<AccountStore>> open(const std::string& path);
  ~AccountStore();
  AccountStore(const AccountStore&) = delete;
  AccountStore& operator=(const AccountStore&) = delete;

  // Inserts or replaces; returns true when the account is new. Durable when it returns.
  core::Result<bool> put(const Account& account);
  // Returns false when there was no such account.
  core::Result<bool> remove(std::string_view id);

  const Account* find(std::string_view id) const noexcept;
  std::vector<std::string> ids() const;
  std::size_t size() const noexcept { return accounts_.size(); }
  // Whether some account allows this origin (answers a CORS preflight that names no account).
  bool any_allows_origin(std::string_view origin) const noexcept;

  // Reloads everything if another connection committed since the last look. Cheap when nothing
  // changed (one prepared statement).
  core::Result<void> refresh();

  // Used customer tokens (the replay cache's ids), so a token is single use across restarts too
  // (auth/README.md "Storage"). remember_token's commit survives kill -9 when it returns, but is
  // not fsynced (a power cut can lose the last ones), unlike put().
  using TokenId = std::array<std::uint8_t, 16>;
  core::Result<void> remember_token(const TokenId& id, std::int64_t until);
  // Group commit: after begin_tokens(), remember_token and prune_tokens write inside one open
  // transaction, and commit_tokens() commits it (one WAL append for the whole group instead of one
  // per token). Until commit_tokens() returned ok none of those tokens is durable; on failure the
  // transaction is rolled back. put() and remove() commit an open group first.
  core::Result<void> begin_tokens();
  core::Result<void> commit_tokens();
  bool tokens_open() const noexcept { return in_tokens_txn_; }
  // Forgets tokens whose `until` is before `now`; returns how many.
  core::Result<std::size_t> prune_tokens(std::int64_t now);
  // Tokens still remembered at `now`.
  core::Result<std::vector<std::pair<TokenId, std::int64_t>>> used_tokens(std::int64_t now);

 private:
  AccountStore() = default;
  core::Result<void> exec(const char* sql);
  core::Result<void> load_all();
  core::Result<std::int64_t> data_version();
  // Steps a write statement with synchronous=FULL for its commit, then back to NORMAL.
  bool full_sync_step(sqlite3_stmt* s);
  core::Error sql_error(std::string_view what) const;

  sqlite3* db_ = nullptr;
  sqlite3_stmt* put_ = nullptr;
  sqlite3_stmt* del_ = nullptr;
  sqlite3_stmt* exists_ = nullptr;
  sqlite3_stmt* version_ = nullptr;
  sqlite3_stmt* remember_ = nullptr;
  sqlite3_stmt* prune_ = nullptr;
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
  sqlite3_stmt* rollback_ = nullptr;
  bool in_tokens_txn_ = false;
  std::int64_t seen_version_ = -1;
  std::map<std::string, Account, std::less<>> accounts_;
};

}  // namespace webtrunk::auth
