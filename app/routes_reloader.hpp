// `--routes` (or `--trunk` with its password file) read again while the edge runs: on SIGHUP, and
// when the routes file or a password file it names changes (the 5 s file watch). A good file gives
// a new RouteTable that each shard takes on its own thread (edge::CallController::set_routes): new
// calls route by it, calls in progress keep theirs. A bad one is refused with one log line and
// counted; the previous table stays.
//
// Not thread-safe: used by the one thread that reloads (the signal thread).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/metrics.hpp"
#include "core/result.hpp"
#include "edge/routes.hpp"

namespace webtrunk::app {

inline const core::Counter kRoutesReloads{"webtrunk_routes_reloads_total", "route tables loaded again (SIGHUP or file change)"};
inline const core::Counter kRoutesReloadFailures{"webtrunk_routes_reload_failures_total",
                                                 "route reloads refused: a bad --routes or password file (the previous routes stay)"};

class RoutesReloader {
 public:
  using Load = std::function<core::Result<edge::RouteTable>()>;
  // `load` reads the files again; `routes_file` is the --routes file ("" with --trunk); `current`
  // is the table loaded at start.
  RoutesReloader(Load load, std::string routes_file, const edge::RouteTable& current);

  // A new table if the files changed since the last load (`force`: always), else nullptr; also
  // nullptr when the files are bad (logged once per change, counted).
  [[nodiscard]] std::shared_ptr<const edge::RouteTable> reload(bool force);

 private:
  std::vector<std::string> files() const;
  Load load_;
  std::string routes_file_;
  std::vector<std::string> password_files_;  // of the last good table
  std::string stamp_;
};

}  // namespace webtrunk::app
