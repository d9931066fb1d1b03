// Child processes of `webtrunk demo`: this same binary (/proc/self/exe) run with another subcommand,
// its output appended to a log file, stopped by PID. Start-up code, blocking calls.
//
// A child gets PR_SET_PDEATHSIG(SIGTERM), so it stops even if the demo is killed with SIGKILL, and
// an empty signal mask (the demo blocks SIGINT/SIGTERM/SIGCHLD to sigwait on them).
//
// Lifetimes: a Child owns its PID until stop() or reap() saw it exit; the destructor stops it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace webtrunk::app {

class Child {
 public:
  // Runs `/proc/self/exe args...` with stdin from /dev/null and stdout+stderr appended to `log_file`.
  static core::Result<Child> spawn(std::string name, const std::vector<std::string>& args, const std::string& log_file);

  Child(Child&& o) noexcept;
  Child& operator=(Child&& o) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child();

  const std::string& name() const noexcept { return name_; }
  const std::string& log_file() const noexcept { return log_; }
  pid_t pid() const noexcept { return pid_; }
  bool running() const noexcept { return pid_ > 0; }

  // Non-blocking: if the process ended, returns how ("exited with 1", "killed by signal 9") and
  // forgets the PID.
  std::optional<std::string> reap();
  // SIGTERM, wait up to `grace`, then SIGKILL. Returns how it ended.
  std::string stop(std::chrono::milliseconds grace = std::chrono::milliseconds(5000));

  // The last `lines` lines of the log file (for a failure message).
  std::string log_tail(std::size_t lines = 15) const;

 private:
  Child(std::string name, std::string log, pid_t pid) : name_(std::move(name)), log_(std::move(log)), pid_(pid) {}

  std::string name_;
  std::string log_;
  pid_t pid_ = -1;
};

}  // namespace webtrunk::app
