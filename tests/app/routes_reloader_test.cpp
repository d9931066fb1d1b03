// --routes read again while the edge runs: a change is seen, a bad file is refused (the old table
// stays, counted), and the password files the routes name are read again.
#include "app/routes_reloader.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>

#include "tests/core/tls_test_support.hpp"

namespace webtrunk::app {
namespace {

using core::test::TempDir;

// Rewrites `path` and moves its modification time on, so the watch sees it whatever the clock's grain.
void rewrite(const TempDir& dir, const std::string& name, const std::string& text) {
  const std::string p = dir.file(name, text);
  static int bump = 0;
  std::filesystem::last_write_time(p, std::filesystem::file_time_type::clock::now() + std::chrono::seconds(++bump));
}

struct Loaded {
  TempDir dir;
  std::string file;
  std::unique_ptr<RoutesReloader> reloader;

  explicit Loaded(const std::string& content) {
    dir.file("pw-a", "secret-a\n");
    file = dir.file("routes", content);
    auto first = edge::RouteTable::load_file(file);
    EXPECT_TRUE(first) << (first ? "" : first.error().message);
    const std::string path = file;
    reloader = std::make_unique<RoutesReloader>([path] { return edge::RouteTable::load_file(path); }, file, *first);
  }
};

TEST(RoutesReloader, NothingChangedNothingLoadedUnlessForced) {
  Loaded l("1555 udp:127.0.0.1:5080\n");
  EXPECT_EQ(l.reloader->reload(false), nullptr);
  auto forced = l.reloader->reload(true);
  ASSERT_NE(forced, nullptr);
  EXPECT_EQ(forced->routes().size(), 1u);
}

TEST(RoutesReloader, AChangedFileGivesTheNewTable) {
  Loaded l("1555 udp:127.0.0.1:5080\n");
  const auto reloads = kRoutesReloads.total();
  rewrite(l.dir, "routes", "1555 udp:127.0.0.2:5080\n44 udp:127.0.0.3:5060\n");
  auto t = l.reloader->reload(false);
  ASSERT_NE(t, nullptr);
  ASSERT_EQ(t->routes().size(), 2u);
  EXPECT_EQ(t->lookup("15551234")->spec, "udp:127.0.0.2:5080");
  EXPECT_EQ(t->lookup("4420")->spec, "udp:127.0.0.3:5060");
  EXPECT_EQ(kRoutesReloads.total() - reloads, 1);
  EXPECT_EQ(l.reloader->reload(false), nullptr) << "seen once";
}

TEST(RoutesReloader, ABadFileIsRefusedOnceAndCounted) {
  Loaded l("1555 udp:127.0.0.1:5080\n");
  const auto failures = kRoutesReloadFailures.total();
  rewrite(l.dir, "routes", "1555 sctp:127.0.0.2:5080\n");
  EXPECT_EQ(l.reloader->reload(false), nullptr);
  EXPECT_EQ(kRoutesReloadFailures.total() - failures, 1);
  EXPECT_EQ(l.reloader->reload(false), nullptr) << "a bad file is reported once per change";
  EXPECT_EQ(kRoutesReloadFailures.total() - failures, 1);
  std::filesystem::remove(l.file);
  EXPECT_EQ(l.reloader->reload(true), nullptr);  // SIGHUP with the file gone
  EXPECT_EQ(kRoutesReloadFailures.total() - failures, 2);
  rewrite(l.dir, "routes", "1555 udp:127.0.0.2:5080\n");
  ASSERT_NE(l.reloader->reload(false), nullptr) << "fixed: loaded";
}

TEST(RoutesReloader, ThePasswordFilesAreReadAgainAndWatched) {
  Loaded l("1555 udp:127.0.0.1:5080\n");
  rewrite(l.dir, "routes", "1555 udp:127.0.0.1:5080 user=acme password-file=" + l.dir.path() + "/pw-a\n");
  auto t = l.reloader->reload(false);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->lookup("1555")->credentials.password, "secret-a");
  // Only the password changes: the watch sees it, the new table has it.
  rewrite(l.dir, "pw-a", "secret-a-rotated\n");
  t = l.reloader->reload(false);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->lookup("1555")->credentials.user, "acme");
  EXPECT_EQ(t->lookup("1555")->credentials.password, "secret-a-rotated");
  // An emptied password file is refused like a bad routes file.
  rewrite(l.dir, "pw-a", "\n");
  EXPECT_EQ(l.reloader->reload(false), nullptr);
}

}  // namespace
}  // namespace webtrunk::app
