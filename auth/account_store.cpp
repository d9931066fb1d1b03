#include "auth/account_store.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

#include "core/clock.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"

namespace webtrunk::auth {
namespace {

const core::Counter kStoreWrites{"webtrunk_auth_store_writes_total", "account writes committed (put and delete)"};
const core::Counter kStoreErrors{"webtrunk_auth_store_errors_total", "account store operations that failed"};
const core::Counter kStoreReloads{"webtrunk_auth_store_reloads_total",
                                  "account reloads after another process changed the database"};
const core::Counter kStoreBadRows{"webtrunk_auth_store_bad_rows_total", "stored accounts that failed validation on load"};

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS accounts ("
    " id TEXT PRIMARY KEY,"
    " doc TEXT NOT NULL,"          // stored_json(): secrets, origins, numbers, limits
    " updated_at INTEGER NOT NULL"  // unix seconds, for operators
    ") WITHOUT ROWID;"
    // Used customer tokens: the replay cache survives a restart (a token exchanged once stays
    // refused until it could no longer verify anyway).
    "CREATE TABLE IF NOT EXISTS used_tokens ("
    " id BLOB PRIMARY KEY,"         // ReplayCache::id_of(customer_token_id())
    " until INTEGER NOT NULL"       // unix seconds: expiry + skew
    ") WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS used_tokens_until ON used_tokens(until)";

struct Stmt {
  sqlite3_stmt* s;
  ~Stmt() { sqlite3_reset(s); sqlite3_clear_bindings(s); }
};

}  // namespace

core::Error AccountStore::sql_error(std::string_view what) const {
  kStoreErrors.inc();
  return core::Error{-EIO, fmt::format("account store: {}: {}", what, db_ ? sqlite3_errmsg(db_) : "no database")};
}

core::Result<std::unique_ptr<AccountStore>> AccountStore::open(const std::string& path) {
  std::unique_ptr<AccountStore> st(new AccountStore());
  if (path != ":memory:") {
    // Create the file ourselves so it is born 0600 (it holds customer secrets); SQLite gives its
    // -wal and -shm files the same mode.
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return core::Error::from_errno(-errno, "account store: cannot open " + path);
    ::close(fd);
  }
  if (sqlite3_open_v2(path.c_str(), &st->db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    return st->sql_error("open " + path);
  }
  sqlite3_busy_timeout(st->db_, 5000);
  // WAL: readers never block the writer; FULL: the WAL is fsynced at every commit, so a commit
  // that returned survives kill -9 and power loss (https://sqlite.org/pragma.html#pragma_synchronous).
  if (path != ":memory:") {
    if (auto r = st->exec("PRAGMA journal_mode=WAL"); !r) return r.error();
  }
  if (auto r = st->exec("PRAGMA synchronous=FULL"); !r) return r.error();
  if (auto r = st->exec(kSchema); !r) return r.error();

  const struct {
    const char* sql;
    sqlite3_stmt** out;
  } stmts[] = {
      {"INSERT INTO accounts(id, doc, updated_at) VALUES(?1, ?2, ?3) "
       "ON CONFLICT(id) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at",
       &st->put_},
      {"DELETE FROM accounts WHERE id = ?1", &st->del_},
      {"SELECT 1 FROM accounts WHERE id = ?1", &st->exists_},
      {"PRAGMA data_version", &st->version_},
      {"INSERT OR IGNORE INTO used_tokens(id, until) VALUES(?1, ?2)", &st->remember_},
      {"DELETE FROM used_tokens WHERE until < ?1", &st->prune_},
      {"BEGIN IMMEDIATE", &st->begin_},
      {"COMMIT", &st->commit_},
      {"ROLLBACK", &st->rollback_},
  };
  for (const auto& s : stmts) {
    if (sqlite3_prepare_v3(st->db_, s.sql, -1, SQLITE_PREPARE_PERSISTENT, s.out, nullptr) != SQLITE_OK) {
      return st->sql_error("prepare");
    }
  }
  if (auto r = st->load_all(); !r) return r.error();
  // Between account writes the connection runs NORMAL, for the used-token commits of the exchange
  // path (remember_token); put() and remove() commit under FULL (full_sync_step). SQLite applies
  // this pragma when it is compiled, so it is run with exec each time, never kept prepared.
  if (auto r = st->exec("PRAGMA synchronous=NORMAL"); !r) return r.error();
  return st;
}

AccountStore::~AccountStore() {
  if (in_tokens_txn_) (void)sqlite3_step(rollback_);
  for (sqlite3_stmt* s : {put_, del_, exists_, version_, remember_, prune_, begin_, commit_, rollback_}) {
    sqlite3_finalize(s);
  }
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

core::Result<void> AccountStore::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "?";
    sqlite3_free(err);
    kStoreErrors.inc();
    return core::Error{-EIO, fmt::format("account store: {}", msg)};
  }
  return {};
}

core::Result<std::int64_t> AccountStore::data_version() {
  Stmt g{version_};
  if (sqlite3_step(version_) != SQLITE_ROW) return sql_error("data_version");
  return static_cast<std::int64_t>(sqlite3_column_int64(version_, 0));
}

core::Result<void> AccountStore::load_all() {
  auto v = data_version();
  if (!v) return v.error();
  sqlite3_stmt* q = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT id, doc FROM accounts", -1, &q, nullptr) != SQLITE_OK) {
    return sql_error("prepare load");
  }
  std::map<std::string, Account, std::less<>> fresh;
  int rc;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    const auto* id = reinterpret_cast<const char*>(sqlite3_column_text(q, 0));
    const auto* doc = reinterpret_cast<const char*>(sqlite3_column_text(q, 1));
    const std::string_view idv = id ? id : "";
    auto a = account_from_json(idv, doc ? doc : "");
    if (!a) {
      // Someone edited the file by hand; skip the row rather than refuse to start. Its id only.
      kStoreBadRows.inc();
      core::log(core::LogLevel::error, "auth.store_bad_row", "account={} skipped: {}", idv, a.error().message);
      continue;
    }
    fresh.emplace(std::string(idv), std::move(*a));
  }
  sqlite3_finalize(q);
  if (rc != SQLITE_DONE) return sql_error("load");
  accounts_ = std::move(fresh);
  seen_version_ = *v;
  return {};
}

core::Result<void> AccountStore::refresh() {
  auto v = data_version();
  if (!v) return v.error();
  if (*v == seen_version_) return {};
  kStoreReloads.inc();
  return load_all();
}

bool AccountStore::full_sync_step(sqlite3_stmt* s) {
  // FULL: the WAL is fsynced at this commit, so an acknowledged account write survives power loss.
  const bool full = exec("PRAGMA synchronous=FULL").ok();
  const bool ok = full && sqlite3_step(s) == SQLITE_DONE;
  (void)exec("PRAGMA synchronous=NORMAL");  // a failure is counted in the store's error metric
  return ok;
}

core::Result<bool> AccountStore::put(const Account& account) {
  if (auto r = commit_tokens(); !r) return r.error();  // FULL below must not run inside the group
  if (auto r = refresh(); !r) return r.error();
  const std::string doc = stored_json(account);
  bool created = false;
  {
    Stmt g{exists_};
    sqlite3_bind_text(exists_, 1, account.id.data(), static_cast<int>(account.id.size()), SQLITE_STATIC);
    created = sqlite3_step(exists_) != SQLITE_ROW;
  }
  {
    Stmt g{put_};
    sqlite3_bind_text(put_, 1, account.id.data(), static_cast<int>(account.id.size()), SQLITE_STATIC);
    sqlite3_bind_text(put_, 2, doc.data(), static_cast<int>(doc.size()), SQLITE_STATIC);
    sqlite3_bind_int64(put_, 3, core::unix_now());
    if (!full_sync_step(put_)) return sql_error("put " + account.id);
  }
  kStoreWrites.inc();
  accounts_.insert_or_assign(account.id, account);
  return created;
}

core::Result<bool> AccountStore::remove(std::string_view id) {
  if (auto r = commit_tokens(); !r) return r.error();  // FULL below must not run inside the group
  if (auto r = refresh(); !r) return r.error();
  Stmt g{del_};
  sqlite3_bind_text(del_, 1, id.data(), static_cast<int>(id.size()), SQLITE_STATIC);
  if (!full_sync_step(del_)) return sql_error(fmt::format("delete {}", id));
  const bool existed = sqlite3_changes(db_) > 0;
  kStoreWrites.inc();
  if (auto it = accounts_.find(id); it != accounts_.end()) accounts_.erase(it);
  return existed;
}

const Account* AccountStore::find(std::string_view id) const noexcept {
  auto it = accounts_.find(id);
  return it == accounts_.end() ? nullptr : &it->second;
}

std::vector<std::string> AccountStore::ids() const {
  std::vector<std::string> out;
  out.reserve(accounts_.size());
  for (const auto& [id, _] : accounts_) out.push_back(id);
  return out;
}

bool AccountStore::any_allows_origin(std::string_view origin) const noexcept {
  for (const auto& [_, a] : accounts_) {
    if (a.allows_origin(origin)) return true;
  }
  return false;
}

core::Result<void> AccountStore::remember_token(const TokenId& id, std::int64_t until) {
  // synchronous=NORMAL for this commit only: in WAL mode the commit is in the WAL (the OS page
  // cache) when it returns, so it survives kill -9 and a restart, with no fsync; a power cut can lose
  // the last ones. An fsync per exchange would cap the service at the disk's fsyncs per second
  // (~100-150 here) instead of tens of thousands of exchanges (bench/RESULTS.md "Auth service").
  // The connection runs NORMAL; account writes switch to FULL for their commit (full_sync_step).
  Stmt g{remember_};
  sqlite3_bind_blob(remember_, 1, id.data(), static_cast<int>(id.size()), SQLITE_STATIC);
  sqlite3_bind_int64(remember_, 2, until);
  if (sqlite3_step(remember_) != SQLITE_DONE) return sql_error("remember token");
  return {};
}

core::Result<void> AccountStore::begin_tokens() {
  if (in_tokens_txn_) return {};
  // IMMEDIATE: the write lock is taken now (waiting up to the busy timeout for another writer, the
  // CLI), so no statement of the group can fail later with SQLITE_BUSY halfway through.
  Stmt g{begin_};
  if (sqlite3_step(begin_) != SQLITE_DONE) return sql_error("begin tokens");
  in_tokens_txn_ = true;
  return {};
}

core::Result<void> AccountStore::commit_tokens() {
  if (!in_tokens_txn_) return {};
  in_tokens_txn_ = false;
  // synchronous=NORMAL as for a single remember_token: the group is in the WAL when COMMIT returns.
  {
    Stmt g{commit_};
    if (sqlite3_step(commit_) == SQLITE_DONE) return {};
  }
  core::Error e = sql_error("commit tokens");
  if (sqlite3_get_autocommit(db_) == 0) {
    Stmt g{rollback_};
    (void)sqlite3_step(rollback_);
  }
  return e;
}

core::Result<std::size_t> AccountStore::prune_tokens(std::int64_t now) {
  Stmt g{prune_};
  sqlite3_bind_int64(prune_, 1, now);
  if (sqlite3_step(prune_) != SQLITE_DONE) return sql_error("prune tokens");
  return static_cast<std::size_t>(sqlite3_changes(db_));
}

core::Result<std::vector<std::pair<AccountStore::TokenId, std::int64_t>>> AccountStore::used_tokens(std::int64_t now) {
  sqlite3_stmt* q = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT id, until FROM used_tokens WHERE until >= ?1", -1, &q, nullptr) != SQLITE_OK) {
    return sql_error("prepare used tokens");
  }
  sqlite3_bind_int64(q, 1, now);
  std::vector<std::pair<TokenId, std::int64_t>> out;
  int rc;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    TokenId id{};
    if (sqlite3_column_bytes(q, 0) != static_cast<int>(id.size())) continue;  // not ours: ignored
    std::memcpy(id.data(), sqlite3_column_blob(q, 0), id.size());
    out.emplace_back(id, sqlite3_column_int64(q, 1));
  }
  sqlite3_finalize(q);
  if (rc != SQLITE_DONE) return sql_error("load used tokens");
  return out;
}

}  // namespace webtrunk::auth
