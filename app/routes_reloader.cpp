#include "app/routes_reloader.hpp"

#include "app/file_stamp.hpp"
#include "core/log.hpp"

namespace webtrunk::app {

RoutesReloader::RoutesReloader(Load load, std::string routes_file, const edge::RouteTable& current)
    : load_(std::move(load)), routes_file_(std::move(routes_file)), password_files_(current.password_files()) {
  stamp_ = file_stamp(files());
}

std::vector<std::string> RoutesReloader::files() const {
  std::vector<std::string> out;
  if (!routes_file_.empty()) out.push_back(routes_file_);
  out.insert(out.end(), password_files_.begin(), password_files_.end());
  return out;
}

std::shared_ptr<const edge::RouteTable> RoutesReloader::reload(bool force) {
  const std::string now = file_stamp(files());
  if (!force && now == stamp_) return nullptr;
  stamp_ = now;  // a bad file is reported once per change, not every 5 s
  auto table = load_();
  if (!table) {
    kRoutesReloadFailures.inc();
    core::log(core::LogLevel::error, "routes.reload_failed", "{}; the previous routes stay in use", table.error().message);
    return nullptr;
  }
  kRoutesReloads.inc();
  password_files_ = table->password_files();
  stamp_ = file_stamp(files());  // the password files the new table names, too
  core::log(core::LogLevel::info, "routes.reloaded", "routes={}{}{}", table->routes().size(),
            routes_file_.empty() ? "" : " file=", routes_file_);
  return std::make_shared<const edge::RouteTable>(std::move(*table));
}

}  // namespace webtrunk::app
