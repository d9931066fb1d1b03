#include "edge/trunk_resolver.hpp"

#include <ares.h>
#include <arpa/nameser.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <map>
#include <random>

#include "core/log.hpp"
#include "edge/rfc3263.hpp"

namespace webtrunk::edge {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::seconds;

constexpr std::array<sip::Transport, 3> kUsable{sip::Transport::udp, sip::Transport::tcp, sip::Transport::tls};
constexpr seconds kFirstRetry{1};
constexpr seconds kMaxRetry{60};

// One name as routes write it: the same text with the same transport is looked up once.
struct Key {
  std::string host;
  std::uint16_t port = 0;  // 0: SRV chooses (RFC 3263 §4.2)
  bool transport_given = true;
  sip::Transport transport = sip::Transport::udp;
  auto operator<=>(const Key&) const = default;
};

std::string key_text(const Key& k) {
  const std::string t = k.transport_given ? std::string(sip::uri_transport_param(k.transport)) + ":" : "";
  return k.port != 0 ? fmt::format("{}{}:{}", t, k.host, k.port) : t + k.host;
}

struct Outcome {
  std::vector<ResolvedTarget> targets;
  seconds ttl{0};
  std::string error;  // when targets is empty
};

std::string ares_error_text(int status) {
  switch (status) {
    case ARES_ENOTFOUND: return "NXDOMAIN";
    case ARES_ENODATA: return "no records";
    case ARES_ETIMEOUT: return "DNS timeout";
    case ARES_ECONNREFUSED: return "DNS server refused";
    case ARES_EREFUSED: return "DNS server refused";
    case ARES_ESERVFAIL: return "DNS server failure";
    default: return ares_strerror(status);
  }
}

// The smallest TTL of a reply's answer records (c-ares 1.18 parses SRV and NAPTR without their
// TTLs). RFC 1035 §4.1: header, questions (name, type, class), answers (name, type, class, TTL,
// rdlength, rdata). 0 when the reply cannot be read.
std::uint32_t min_answer_ttl(const unsigned char* buf, int len) {
  if (len < 12) return 0;
  auto u16 = [&](int at) { return static_cast<unsigned>((buf[at] << 8) | buf[at + 1]); };
  const unsigned qd = u16(4), an = u16(6);
  int at = 12;
  auto skip_name = [&]() {
    char* name = nullptr;
    long used = 0;
    if (ares_expand_name(buf + at, buf, len, &name, &used) != ARES_SUCCESS) return false;
    ares_free_string(name);
    at += static_cast<int>(used);
    return at <= len;
  };
  for (unsigned i = 0; i < qd; ++i) {
    if (!skip_name() || at + 4 > len) return 0;
    at += 4;
  }
  std::uint32_t ttl = UINT32_MAX;
  for (unsigned i = 0; i < an; ++i) {
    if (!skip_name() || at + 10 > len) return 0;
    const std::uint32_t t = (static_cast<std::uint32_t>(u16(at + 4)) << 16) | u16(at + 6);
    ttl = std::min(ttl, t);
    at += 10 + static_cast<int>(u16(at + 8));
    if (at > len) return 0;
  }
  return ttl == UINT32_MAX ? 0 : ttl;
}

}  // namespace

struct TrunkResolver::Impl {
  struct Entry {
    Key key;
    std::vector<std::weak_ptr<TargetSlot>> slots;
    std::shared_ptr<const TrunkTargets> current;  // last published (null: never tried)
    Clock::time_point due{};                      // next lookup
    Clock::time_point expires{};                  // the good targets' TTL
    seconds backoff = kFirstRetry;
    bool unresolved = false;                      // counted in kDnsUnresolved
  };

  TrunkResolverConfig cfg;
  ares_channel channel = nullptr;
  std::mt19937 rng{std::random_device{}()};

  std::mutex mu;
  std::condition_variable cv;        // new names or stop, for the thread
  std::condition_variable settled;   // an entry got its first answer, for wait_settled
  std::map<Key, Entry> entries;
  bool stop = false;
  std::thread thread;

  ~Impl() {
    {
      std::lock_guard lock(mu);
      stop = true;
    }
    cv.notify_all();
    if (thread.joinable()) thread.join();
    for (auto& [k, e] : entries) {
      if (e.unresolved) kDnsUnresolved.dec();
    }
    if (channel != nullptr) ares_destroy(channel);
    ares_library_cleanup();
  }

  // ---- the c-ares event loop, run until the one outstanding lookup completes ----
  void run_until(const bool& done) {
    while (!done) {
      std::array<ares_socket_t, ARES_GETSOCK_MAXNUM> socks{};
      const int bits = ares_getsock(channel, socks.data(), ARES_GETSOCK_MAXNUM);
      std::array<pollfd, ARES_GETSOCK_MAXNUM> fds{};
      nfds_t n = 0;
      for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
        const bool r = ARES_GETSOCK_READABLE(bits, i), w = ARES_GETSOCK_WRITABLE(bits, i);
        if (!r && !w) continue;
        fds[n++] = pollfd{socks[static_cast<std::size_t>(i)], static_cast<short>((r ? POLLIN : 0) | (w ? POLLOUT : 0)), 0};
      }
      timeval tv{};
      timeval* tvp = ares_timeout(channel, nullptr, &tv);
      const int ms = tvp == nullptr ? 1000 : static_cast<int>(tv.tv_sec * 1000 + tv.tv_usec / 1000);
      const int rc = ::poll(fds.data(), n, ms);
      if (rc <= 0) {
        ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // timeouts
        continue;
      }
      for (nfds_t i = 0; i < n; ++i) {
        const ares_socket_t rfd = (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) != 0 ? fds[i].fd : ARES_SOCKET_BAD;
        const ares_socket_t wfd = (fds[i].revents & POLLOUT) != 0 ? fds[i].fd : ARES_SOCKET_BAD;
        if (rfd != ARES_SOCKET_BAD || wfd != ARES_SOCKET_BAD) ares_process_fd(channel, rfd, wfd);
      }
    }
  }

  struct Reply {
    int status = ARES_ENODATA;
    std::vector<unsigned char> bytes;
    bool done = false;
  };

  Reply query(const std::string& name, int type) {
    Reply r;
    ares_query(
        channel, name.c_str(), ns_c_in, type,
        [](void* arg, int status, int, unsigned char* abuf, int alen) {
          auto* out = static_cast<Reply*>(arg);
          out->status = status;
          if (status == ARES_SUCCESS && abuf != nullptr && alen > 0) out->bytes.assign(abuf, abuf + alen);
          out->done = true;
        },
        &r);
    run_until(r.done);
    return r;
  }

  struct Addresses {
    int status = ARES_ENODATA;
    std::vector<core::SockAddr> addrs;
    std::uint32_t ttl = UINT32_MAX;
    bool done = false;
  };

  // A/AAAA of `host` (c-ares' getaddrinfo: the hosts file, then DNS), with `port`.
  Addresses addresses(const std::string& host, std::uint16_t port) {
    Addresses a;
    ares_addrinfo_hints hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    ares_getaddrinfo(
        channel, host.c_str(), nullptr, &hints,
        [](void* arg, int status, int, ares_addrinfo* res) {
          auto* out = static_cast<Addresses*>(arg);
          out->status = status;
          if (res != nullptr) {
            for (ares_addrinfo_node* n = res->nodes; n != nullptr; n = n->ai_next) {
              core::SockAddr s = core::SockAddr::from_sockaddr(n->ai_addr, n->ai_addrlen);
              if (!s.is_set()) continue;
              out->addrs.push_back(s);
              out->ttl = std::min(out->ttl, static_cast<std::uint32_t>(std::max(0, n->ai_ttl)));
            }
            ares_freeaddrinfo(res);
          }
          out->done = true;
        },
        &a);
    run_until(a.done);
    for (auto& s : a.addrs) s.set_port(port);
    return a;
  }

  // RFC 3263 §4 for one name.
  Outcome resolve(const Key& k) {
    Outcome out;
    std::uint32_t ttl = UINT32_MAX;
    const std::optional<sip::Transport> wanted =
        k.transport_given ? std::optional<sip::Transport>(k.transport) : std::nullopt;
    auto add_host = [&](const std::string& host, std::uint16_t port, sip::Transport t) {
      Addresses a = addresses(host, port);
      if (a.status != ARES_SUCCESS || a.addrs.empty()) {
        if (out.error.empty()) out.error = fmt::format("{} for {}", ares_error_text(a.status), host);
        return;
      }
      ttl = std::min(ttl, a.ttl);
      for (const core::SockAddr& s : a.addrs) {
        const ResolvedTarget rt{t, s};
        if (out.targets.size() < cfg.max_targets && std::find(out.targets.begin(), out.targets.end(), rt) == out.targets.end()) {
          out.targets.push_back(rt);
        }
      }
    };
    if (k.port != 0) {
      add_host(k.host, k.port, k.transport);
    } else {
      std::vector<SrvQuery> srv_names;
      if (Reply n = query(k.host, ns_t_naptr); n.status == ARES_SUCCESS) {
        ares_naptr_reply* list = nullptr;
        if (ares_parse_naptr_reply(n.bytes.data(), static_cast<int>(n.bytes.size()), &list) == ARES_SUCCESS) {
          std::vector<NaptrRecord> records;
          for (ares_naptr_reply* r = list; r != nullptr; r = r->next) {
            records.push_back(NaptrRecord{r->order, r->preference, reinterpret_cast<const char*>(r->flags),
                                          reinterpret_cast<const char*>(r->service), r->replacement});
          }
          ares_free_data(list);
          srv_names = srv_from_naptr(std::move(records), wanted, kUsable);
          if (!srv_names.empty()) ttl = std::min(ttl, min_answer_ttl(n.bytes.data(), static_cast<int>(n.bytes.size())));
        }
      }
      if (srv_names.empty()) srv_names = srv_without_naptr(k.host, wanted, kUsable);
      // RFC 3263 §4.1: the first transport whose SRV name has records is the one used.
      for (const SrvQuery& q : srv_names) {
        Reply s = query(q.name, ns_t_srv);
        if (s.status != ARES_SUCCESS) continue;
        ares_srv_reply* list = nullptr;
        if (ares_parse_srv_reply(s.bytes.data(), static_cast<int>(s.bytes.size()), &list) != ARES_SUCCESS) continue;
        std::vector<SrvRecord> records;
        for (ares_srv_reply* r = list; r != nullptr; r = r->next) {
          records.push_back(SrvRecord{r->priority, r->weight, r->port, r->host});
        }
        ares_free_data(list);
        if (records.empty()) continue;
        ttl = std::min(ttl, min_answer_ttl(s.bytes.data(), static_cast<int>(s.bytes.size())));
        auto draw = [this](std::uint32_t n) { return std::uniform_int_distribution<std::uint32_t>(0, n)(rng); };
        for (const SrvRecord& r : order_srv(std::move(records), draw)) add_host(r.target, r.port, q.transport);
        if (out.targets.empty() && out.error.empty()) out.error = fmt::format("SRV {} names no service", q.name);
        break;
      }
      if (out.targets.empty() && out.error.empty()) {
        // RFC 3263 §4.2: no SRV records: the name's own addresses on the default port.
        const sip::Transport t = wanted.value_or(sip::Transport::udp);
        add_host(k.host, default_sip_port(t), t);
      }
    }
    if (!out.targets.empty()) out.error.clear();
    out.ttl = seconds(ttl == UINT32_MAX ? 0 : ttl);
    return out;
  }

  // ---- the thread ----
  void publish(Entry& e, std::shared_ptr<const TrunkTargets> t) {
    e.current = std::move(t);
    std::erase_if(e.slots, [&](const std::weak_ptr<TargetSlot>& w) {
      auto s = w.lock();
      if (s) s->store(e.current);
      return !s;
    });
    const bool unresolved = e.current->list.empty();
    if (unresolved != e.unresolved) {
      if (unresolved) {
        kDnsUnresolved.inc();
      } else {
        kDnsUnresolved.dec();
      }
      e.unresolved = unresolved;
    }
  }

  void finish(Entry& e, Outcome o, Clock::time_point now) {
    kDnsLookups.inc();
    if (!o.targets.empty()) {
      const seconds ttl = std::clamp(o.ttl, cfg.min_ttl, cfg.max_ttl);
      e.expires = now + ttl;
      e.due = now + std::max<Clock::duration>(seconds(1), ttl * 3 / 4);
      e.backoff = kFirstRetry;
      std::string list;
      for (const ResolvedTarget& t : o.targets) {
        list += fmt::format("{}{}:{}", list.empty() ? "" : ",", sip::uri_transport_param(t.transport), t.addr.to_string());
      }
      if (!e.current || e.current->list != o.targets) {
        core::log(core::LogLevel::info, "dns.resolved", "trunk={} targets={} ttl={}", key_text(e.key), list, ttl.count());
      }
      publish(e, std::make_shared<const TrunkTargets>(TrunkTargets{std::move(o.targets), {}}));
      return;
    }
    kDnsFailures.inc();
    e.due = now + e.backoff;
    e.backoff = std::min(e.backoff * 2, kMaxRetry);
    const bool keep = e.current && !e.current->list.empty() && now < e.expires;
    core::log(keep ? core::LogLevel::info : core::LogLevel::warn, "dns.failed", "trunk={} why={} retry_in={}s{}",
              key_text(e.key), o.error, (e.due - now) / seconds(1), keep ? " (the last targets stay until their TTL ends)" : "");
    if (!keep) publish(e, std::make_shared<const TrunkTargets>(TrunkTargets{{}, std::move(o.error)}));
  }

  void run() {
    core::set_current_shard(core::kMaxShards - 1);  // its own metrics row, apart from every shard's
    std::unique_lock lock(mu);
    while (!stop) {
      // Names no table uses any more go; then the one due first.
      for (auto it = entries.begin(); it != entries.end();) {
        std::erase_if(it->second.slots, [](const std::weak_ptr<TargetSlot>& w) { return w.expired(); });
        if (it->second.slots.empty()) {
          if (it->second.unresolved) kDnsUnresolved.dec();
          it = entries.erase(it);
        } else {
          ++it;
        }
      }
      auto next = std::min_element(entries.begin(), entries.end(),
                                   [](const auto& a, const auto& b) { return a.second.due < b.second.due; });
      const auto now = Clock::now();
      if (next == entries.end()) {
        cv.wait(lock);
        continue;
      }
      if (next->second.due > now) {
        cv.wait_until(lock, next->second.due);
        continue;
      }
      const Key key = next->first;
      next->second.due = now + kMaxRetry;  // not picked again while this lookup runs
      lock.unlock();
      Outcome o = resolve(key);
      lock.lock();
      if (auto it = entries.find(key); it != entries.end()) finish(it->second, std::move(o), Clock::now());
      settled.notify_all();
    }
  }
};

core::Result<std::unique_ptr<TrunkResolver>> TrunkResolver::start(TrunkResolverConfig config) {
  if (const int rc = ares_library_init(ARES_LIB_INIT_ALL); rc != ARES_SUCCESS) {
    return core::Error{EINVAL, fmt::format("c-ares: {}", ares_strerror(rc))};
  }
  auto impl = std::make_unique<Impl>();
  impl->cfg = std::move(config);
  ares_options opts{};
  opts.timeout = static_cast<int>(impl->cfg.query_timeout.count());
  opts.tries = impl->cfg.tries;
  if (const int rc = ares_init_options(&impl->channel, &opts, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES); rc != ARES_SUCCESS) {
    return core::Error{EINVAL, fmt::format("c-ares: {}", ares_strerror(rc))};
  }
  if (!impl->cfg.servers.empty()) {
    std::string csv;
    for (const std::string& s : impl->cfg.servers) {
      auto a = core::SockAddr::parse(s.find(':') == std::string::npos ? s + ":53" : s);
      if (!a) return core::Error{EINVAL, fmt::format("--dns-server '{}' is not IP[:PORT]", s)};
      csv += (csv.empty() ? "" : ",") + a->to_string();
    }
    if (const int rc = ares_set_servers_ports_csv(impl->channel, csv.c_str()); rc != ARES_SUCCESS) {
      return core::Error{EINVAL, fmt::format("--dns-server {}: {}", csv, ares_strerror(rc))};
    }
  }
  // The thread takes no signal: it inherits a full mask (the process's SIGHUP/SIGTERM belong to the
  // signal thread; one delivered here would end the process).
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->run(); });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return std::unique_ptr<TrunkResolver>(new TrunkResolver(std::move(impl)));
}

TrunkResolver::TrunkResolver(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TrunkResolver::~TrunkResolver() = default;

void TrunkResolver::attach(const RouteTable& table) {
  bool added = false;
  {
    std::lock_guard lock(impl_->mu);
    for (const TrunkTarget* t : table.named_trunks()) {
      const Key k{t->host, t->srv ? std::uint16_t{0} : t->port, t->transport_given, t->transport};
      auto it = impl_->entries.find(k);
      if (it == impl_->entries.end()) {
        if (impl_->entries.size() >= impl_->cfg.max_names) {
          kDnsNamesRefused.inc();
          core::log(core::LogLevel::error, "dns.too_many_names", "trunk={} not resolved: the resolver keeps {} names",
                    key_text(k), impl_->cfg.max_names);
          t->targets->store(std::make_shared<const TrunkTargets>(TrunkTargets{{}, "too many trunk names"}));
          continue;
        }
        it = impl_->entries.emplace(k, Impl::Entry{}).first;
        it->second.key = k;
        added = true;
      }
      it->second.slots.push_back(t->targets);
      if (it->second.current) t->targets->store(it->second.current);
    }
  }
  if (added) impl_->cv.notify_all();
}

bool TrunkResolver::wait_settled(std::chrono::milliseconds limit) {
  std::unique_lock lock(impl_->mu);
  return impl_->settled.wait_for(lock, limit, [&] {
    return std::all_of(impl_->entries.begin(), impl_->entries.end(), [](const auto& e) { return e.second.current != nullptr; });
  });
}

}  // namespace webtrunk::edge
