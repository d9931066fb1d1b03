#include "core/shards.hpp"

#include <fmt/format.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <csignal>

#include "core/log.hpp"
#include "core/metrics.hpp"

namespace webtrunk::core {
namespace {

sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);  // reload, never a stop (see set_on_reload)
  return set;
}

Error prefixed(unsigned k, const Error& e) { return Error{e.code, fmt::format("shard {}: {}", k, e.message)}; }

}  // namespace

Result<std::vector<unsigned>> parse_cpu_list(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return Error{-EINVAL, fmt::format("bad --cpu-list '{}': {} (want e.g. 0,1 or 0-3,8)", text, why)};
  };
  auto number = [](std::string_view s, unsigned& out) {
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return !s.empty() && ec == std::errc{} && end == s.data() + s.size() && out < CPU_SETSIZE;
  };
  std::vector<unsigned> cpus;
  if (text.empty()) return bad("empty");
  while (!text.empty()) {
    const auto comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    if (item.empty() || (comma != std::string_view::npos && text.empty())) return bad("empty item");
    unsigned lo = 0;
    unsigned hi = 0;
    if (const auto dash = item.find('-'); dash != std::string_view::npos) {
      if (!number(item.substr(0, dash), lo) || !number(item.substr(dash + 1), hi)) return bad("not a CPU range");
      if (lo > hi) return bad("range runs backwards");
    } else {
      if (!number(item, lo)) return bad("not a CPU number");
      hi = lo;
    }
    for (unsigned c = lo; c <= hi; ++c) {
      if (std::find(cpus.begin(), cpus.end(), c) != cpus.end()) return bad("CPU listed twice");
      cpus.push_back(c);
    }
  }
  return cpus;
}

std::vector<unsigned> allowed_cpus() {
  std::vector<unsigned> out;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    for (unsigned c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &set)) out.push_back(c);
    }
  }
  if (out.empty()) out.push_back(0);
  return out;
}

Shards::Shards(ShardsConfig cfg) : cfg_(std::move(cfg)) {
  cpus_ = cfg_.cpus.empty() ? allowed_cpus() : cfg_.cpus;
  n_ = cfg_.shards != 0 ? cfg_.shards : static_cast<unsigned>(cpus_.size());
  n_ = std::clamp(n_, 1u, kMaxShards);  // metrics keep one row per shard
}

Shards::~Shards() {
  request_stop();
  (void)join();
}

Result<void> Shards::start(Init init) {
  if (!threads_.empty() || mailbox_) return Error{-EALREADY, "shards already started"};
  std::vector<Waker*> raw;
  for (unsigned k = 0; k < n_; ++k) {
    auto w = Waker::create();
    if (!w) return w.error();
    raw.push_back(w.value().get());
    wakers_.push_back(std::move(w.value()));
  }
  auto sw = Waker::create();
  if (!sw) return sw.error();
  stop_waker_ = std::move(sw.value());
  // Lanes 0..n-1 are the shards'; lane n is for other threads (post()).
  mailbox_ = std::make_unique<Shard::ShardMailbox>(n_, n_ + 1, cfg_.mailbox_capacity, std::move(raw));
  shards_.assign(n_, nullptr);

  // Threads inherit the signal mask: create them with SIGINT/SIGTERM blocked so a signal can never
  // land on a shard, then give the caller its own mask back.
  const sigset_t sigs = stop_signals();
  sigset_t old;
  pthread_sigmask(SIG_BLOCK, &sigs, &old);
  auto shared_init = std::make_shared<Init>(std::move(init));
  for (unsigned k = 0; k < n_; ++k) {
    threads_.emplace_back([this, k, shared_init] { thread_main(k, *shared_init); });
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);

  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return inits_done_ == n_; });
  if (!first_error_.ok()) {
    abort_start_ = true;
    Error e = first_error_.error();
    cv_.notify_all();
    lock.unlock();
    (void)join();
    return e;
  }
  go_ = true;
  cv_.notify_all();
  log(LogLevel::info, "shards.started", "shards={} cpus={}", n_, fmt::join(cpus_, ","));
  return {};
}

void Shards::thread_main(unsigned k, const Init& init) {
  set_current_shard(k);
  const sigset_t sigs = stop_signals();
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  Result<void> r;
  const unsigned cpu = cpus_[k % cpus_.size()];
  if (cfg_.pin) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (int rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set); rc != 0) {
      r = Error::from_errno(-rc, fmt::format("shard {}: cannot pin to CPU {} (not in this process's cpuset?)", k, cpu));
    }
  }
  std::unique_ptr<Shard> shard;
  if (r) {
    ShardConfig sc = cfg_.shard;
    sc.index = k;
    auto s = Shard::create(sc, mailbox_.get(), wakers_[k].get());
    if (s) {
      shard = std::move(s.value());
    } else {
      r = prefixed(k, s.error());
    }
  }
  if (r) {
    if (auto ir = init(*shard); !ir) r = prefixed(k, ir.error());
  }

  bool proceed = false;
  {
    std::unique_lock lock(mu_);
    if (!r && first_error_.ok()) first_error_ = r.error();
    if (r) {
      shards_[k] = shard.get();
      if (stop_) shard->request_stop();
    }
    ++inits_done_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return go_ || abort_start_; });
    proceed = go_ && r.ok();
  }
  Result<void> rr = proceed ? shard->run() : Result<void>{};
  {
    std::lock_guard lock(mu_);
    shards_[k] = nullptr;
    if (!rr && first_error_.ok()) first_error_ = prefixed(k, rr.error());
  }
  shard.reset();  // on its own thread: SINGLE_ISSUER rings are torn down by their owner
  if (!rr) request_stop();  // one dead loop takes the process down in order
}

void Shards::request_stop() noexcept {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    for (Shard* s : shards_) {
      if (s != nullptr) s->request_stop();
    }
  }
  if (stop_waker_) stop_waker_->wake();
}

Result<void> Shards::join() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  std::lock_guard lock(mu_);
  return first_error_;
}

Result<void> Shards::run_until_signal(Init init) {
  const sigset_t sigs = stop_signals();
  sigset_t old;
  pthread_sigmask(SIG_BLOCK, &sigs, &old);
  const int sfd = ::signalfd(-1, &sigs, SFD_CLOEXEC);
  if (sfd < 0) {
    const int e = errno;
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return Error::from_errno(-e, "signalfd");
  }
  auto started = start(std::move(init));
  if (started) {
    // start() restored the mask it found, which is ours with the signals blocked.
    pollfd fds[2] = {{sfd, POLLIN, 0}, {stop_waker_->fd(), POLLIN, 0}};
    int terminations = 0;
    for (;;) {
      const int rc = ::poll(fds, 2, on_watch_ ? 5000 : -1);
      if (rc < 0 && errno == EINTR) continue;
      if (rc < 0) break;
      if (rc == 0) {
        on_watch_();
        continue;
      }
      if (fds[0].revents & POLLIN) {
        signalfd_siginfo si{};
        const bool got = ::read(sfd, &si, sizeof(si)) == static_cast<ssize_t>(sizeof(si));
        if (got && si.ssi_signo == SIGHUP) {
          log(LogLevel::info, "shards.signal", "signal={} reload", si.ssi_signo);
          if (on_reload_) on_reload_();
          continue;
        }
        const bool terminate = got && (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM);
        if (terminate && on_terminate_) {
          on_terminate_(++terminations);  // the hook drains and calls request_stop() when done
          continue;
        }
        log(LogLevel::info, "shards.signal", "signal={} stopping {} shards", si.ssi_signo, n_);
        break;
      }
      if (fds[1].revents & POLLIN) break;
    }
    request_stop();
  }
  auto joined = started ? join() : started;
  ::close(sfd);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return joined;
}

bool Shards::post(unsigned to, Task task) {
  std::lock_guard lock(post_mu_);
  if (!mailbox_) return false;
  return mailbox_->post(n_, to, std::move(task));
}

}  // namespace webtrunk::core
