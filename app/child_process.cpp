#include "app/child_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <deque>
#include <fstream>
#include <thread>

namespace webtrunk::app {
namespace {

std::string describe(int status) {
  if (WIFEXITED(status)) return "exited with " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "ended";
}

}  // namespace

core::Result<Child> Child::spawn(std::string name, const std::vector<std::string>& args, const std::string& log_file) {
  const int log_fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0) return core::Error::from_errno(-errno, "open " + log_file);
  std::vector<std::string> argv_s;
  argv_s.reserve(args.size() + 1);
  argv_s.push_back("webtrunk");
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int e = errno;
    ::close(log_fd);
    return core::Error::from_errno(-e, "fork");
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(1);  // the demo died before prctl
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    ::execv("/proc/self/exe", argv.data());
    ::_exit(127);
  }
  ::close(log_fd);
  return Child(std::move(name), log_file, pid);
}

Child::Child(Child&& o) noexcept : name_(std::move(o.name_)), log_(std::move(o.log_)), pid_(o.pid_) { o.pid_ = -1; }

Child& Child::operator=(Child&& o) noexcept {
  if (this != &o) {
    if (running()) stop();
    name_ = std::move(o.name_);
    log_ = std::move(o.log_);
    pid_ = o.pid_;
    o.pid_ = -1;
  }
  return *this;
}

Child::~Child() {
  if (running()) stop();
}

std::optional<std::string> Child::reap() {
  if (pid_ <= 0) return std::nullopt;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == 0) return std::nullopt;
  pid_ = -1;
  return r < 0 ? std::string("gone") : describe(status);
}

std::string Child::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return "not running";
  ::kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto how = reap()) return *how;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return "killed after " + std::to_string(grace.count()) + " ms";
}

std::string Child::log_tail(std::size_t lines) const {
  std::ifstream in(log_);
  std::deque<std::string> last;
  std::string line;
  while (std::getline(in, line)) {
    last.push_back(std::move(line));
    if (last.size() > lines) last.pop_front();
  }
  std::string out;
  for (const auto& l : last) out += "    " + l + "\n";
  return out;
}

}  // namespace webtrunk::app
