// `webtrunk demo`: the whole chain of trust on this machine with no set-up (issue 5). It makes a
// temporary directory with fresh random secrets, starts four children of this same binary
//
//   echo-trunk  the SIP trunk: answers every call, sends the audio back
//   auth        the hosted auth service (SQLite in the temp dir), edge secret + admin token
//   edge        the WebRTC edge, trunk = the echo trunk, same edge secret
//   servlet     the customer's site: the demo page (a copy of web/dist + config.json) and /token
//
// provisions the demo account through the auth service's admin API (its customer secret, the page's
// origin, the demo number), prints the page's URL, and stops everything (children by PID) on Ctrl-C
// or SIGTERM, or when one of them dies. Children log to files in the temp dir.
//
// TLS (--tls, --tls-cert, or a --host other than loopback): browsers give the microphone only to
// https pages (loopback excepted), and an https page may only reach wss:// and https://. Then the
// page, the auth service and the edge all speak TLS with one certificate: the --tls-cert/--tls-key
// given, else a self-signed ECDSA P-256 one made at start for the host, localhost and 127.0.0.1
// (valid kCertDays, in the temp dir, key 0600), whose SHA-256 fingerprint is printed so a person
// can check what the browser shows before accepting it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "app/child_process.hpp"
#include "app/commands.hpp"
#include "app/customer_servlet.hpp"
#include "app/tls_flags.hpp"
#include "core/http_server.hpp"
#include "core/nofile_limit.hpp"
#include "core/socket.hpp"
#include "core/tls_certificate.hpp"

namespace webtrunk::app {
namespace {

// What the demo takes with sigtimedwait (blocked from the start; children get an empty mask back):
// stop on SIGINT/SIGTERM, a child's end on SIGCHLD, SIGHUP passed on to the children.
sigset_t demo_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGHUP);
  return set;
}

namespace fs = std::filesystem;
using std::chrono::milliseconds;

constexpr auto kStartTimeout = std::chrono::seconds(15);
// The demo edge's --drain-timeout: Ctrl-C should not keep a demo waiting for calls for 30 s.
constexpr int kEdgeDrainS = 2;
// Validity of the self-signed certificate: long enough for a demo, short enough to be thrown away.
constexpr std::int64_t kCertDays = 7;

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> b(bytes);
  if (RAND_bytes(b.data(), static_cast<int>(b.size())) != 1) throw std::runtime_error("RAND_bytes failed");
  std::string out;
  for (unsigned char c : b) out += fmt::format("{:02x}", c);
  return out;
}

void write_private(const fs::path& p, const std::string& content) {
  std::ofstream out(p);
  out << content;
  if (!out) throw std::runtime_error("cannot write " + p.string());
  fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write);
}

struct HttpResult {
  int status = 0;  // 0: no answer
  std::string body;
};

// One blocking HTTP/1.1 request on loopback with a deadline: the readiness checks and the admin
// API call. Not a general client: the answer is read until the server closes (Connection: close).
// `tls`: over TLS, the certificate not verified: the peer is our own child on this machine, and
// the request is sent only once the handshake is done.
HttpResult http_call(bool tls, const core::SockAddr& to, const std::string& method, const std::string& path,
                     const std::string& headers = {}, const std::string& body = {}) {
  HttpResult res;
  const int fd = ::socket(to.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return res;
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(tls ? SSL_CTX_new(TLS_client_method()) : nullptr,
                                                          &SSL_CTX_free);
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(ctx ? SSL_new(ctx.get()) : nullptr, &SSL_free);
  const auto send_all = [&](const std::string& b) {
    if (ssl) return SSL_write(ssl.get(), b.data(), static_cast<int>(b.size())) == static_cast<int>(b.size());
    return ::send(fd, b.data(), b.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(b.size());
  };
  const auto recv_some = [&](char* buf, std::size_t n) -> ssize_t {
    if (ssl) return SSL_read(ssl.get(), buf, static_cast<int>(n));
    return ::recv(fd, buf, n, 0);
  };
  bool up = ::connect(fd, to.data(), to.size()) == 0;
  if (up && tls) up = ssl && SSL_set_fd(ssl.get(), fd) == 1 && SSL_connect(ssl.get()) == 1;
  if (up) {
    const std::string req =
        fmt::format("{} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n{}Content-Length: {}\r\n\r\n{}", method, path,
                    to.to_string(), headers, body.size(), body);
    if (send_all(req)) {
      std::string in;
      char buf[4096];
      for (int i = 0; i < 256; ++i) {  // bounded: 1 MiB
        const ssize_t n = recv_some(buf, sizeof buf);
        if (n <= 0) break;
        in.append(buf, static_cast<std::size_t>(n));
      }
      if (in.starts_with("HTTP/1.") && in.size() > 12) res.status = std::atoi(in.c_str() + 9);
      if (auto cut = in.find("\r\n\r\n"); cut != std::string::npos) res.body = in.substr(cut + 4);
    }
  }
  ERR_clear_error();  // a refused connection while a child starts is expected, not worth a log line
  ssl.reset();
  ::close(fd);
  return res;
}

// An OPTIONS to the echo trunk answered 200: it is up.
bool sip_options_ok(const core::SockAddr& to) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const core::SockAddr any = core::SockAddr::ipv4_loopback(0);
  (void)::bind(fd, any.data(), any.size());
  core::SockAddr local;
  socklen_t len = core::SockAddr::capacity();
  ::getsockname(fd, local.data(), &len);
  timeval tv{0, 200'000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const std::string msg = fmt::format(
      "OPTIONS sip:echo@{0} SIP/2.0\r\nVia: SIP/2.0/UDP {1};branch=z9hG4bK{2}\r\nMax-Forwards: 70\r\n"
      "From: <sip:demo@{1}>;tag={2}\r\nTo: <sip:echo@{0}>\r\nCall-ID: {2}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
      to.to_string(), local.to_string(), random_hex(6));
  (void)::sendto(fd, msg.data(), msg.size(), 0, to.data(), to.size());
  char buf[2048];
  const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  ::close(fd);
  return n > 12 && std::string_view(buf, static_cast<std::size_t>(n)).starts_with("SIP/2.0 200");
}

// The page's files: --web, else web/dist beside the build directory of this binary, else ./web/dist.
fs::path find_web_dir(const std::string& flag) {
  if (!flag.empty()) return flag;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  for (const fs::path& p : {exe.parent_path().parent_path() / "web" / "dist", fs::current_path(ec) / "web" / "dist"}) {
    if (fs::is_regular_file(p / "index.html", ec)) return p;
  }
  return exe.parent_path().parent_path() / "web" / "dist";
}

struct Ports {
  std::string host;
  std::string name;  // in every URL and origin (--public-name; default: host)
  long http = 0, auth = 0, ws = 0, sip = 0, trunk = 0;
  std::string at(long port) const { return fmt::format("{}:{}", host, port); }
  std::string public_at(long port) const { return fmt::format("{}:{}", name, port); }
  core::SockAddr addr(long port) const { return core::SockAddr::parse(at(port)).value(); }
};

// The demo's TLS: off, or one certificate for the page, the auth service and the edge.
struct DemoTls {
  bool on = false;
  bool self_signed = false;
  std::vector<std::string> child_args;  // --tls-cert/--tls-key for each child with a public port
  std::string cert_file;                // the (first) certificate, for the printed instructions
  std::string fingerprint;              // its SHA-256, "AB:CD:..." ("" if unreadable)
  std::string names;                    // self-signed: the names it is valid for, "a, b"
  std::string http() const { return on ? "https" : "http"; }
  std::string ws() const { return on ? "wss" : "ws"; }
};

// The SHA-256 fingerprint of the first certificate in a PEM text, as browsers show it ("AB:CD:..."),
// "" if there is none.
std::string sha256_fingerprint(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr, &X509_free);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  ERR_clear_error();
  if (!cert || X509_digest(cert.get(), EVP_sha256(), md, &len) != 1) return {};
  std::string out;
  for (unsigned int i = 0; i < len; ++i) out += fmt::format("{}{:02X}", i == 0 ? "" : ":", md[i]);
  return out;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Whether browsers treat the host as a secure context without TLS (loopback: 127.0.0.0/8).
bool is_loopback(const std::string& host) { return host.starts_with("127."); }

// What --tls, --no-tls, --tls-cert/--tls-key and --host ask for. With TLS and no --tls-cert, a
// self-signed certificate for the public name, the host (and localhost, 127.0.0.1) is written into
// `dir`/tls/.
core::Result<DemoTls> demo_tls(const FlagValues& flags, const Ports& ports, const fs::path& dir) {
  const std::string& host = ports.host;
  DemoTls t;
  const bool given = tls_configured(flags);
  if (flags.flag("no-tls") && (flags.flag("tls") || given)) {
    return core::Error{EINVAL, "--no-tls cannot go with --tls or --tls-cert"};
  }
  t.on = !flags.flag("no-tls") && (flags.flag("tls") || given || !is_loopback(host));
  if (!t.on) return t;
  if (given) {
    // Checked here, so a wrong file is one clear line before anything starts.
    auto config = tls_server_config_from(flags, nullptr);
    if (!config) return config.error();
    auto ctx = core::TlsContext::server(**config);
    if (!ctx) return core::Error{ctx.error().code, "--tls-cert/--tls-key: " + ctx.error().message};
    for (const auto& c : flags.all("tls-cert")) t.child_args.insert(t.child_args.end(), {"--tls-cert", c});
    for (const auto& k : flags.all("tls-key")) t.child_args.insert(t.child_args.end(), {"--tls-key", k});
    t.cert_file = (*config)->certs.front().cert_file;
    t.fingerprint = sha256_fingerprint(read_file(t.cert_file));
    return t;
  }
  core::TlsCertSpec spec;
  spec.common_name = ports.name;
  for (const std::string& n : {ports.name, host, std::string("localhost"), std::string("127.0.0.1")}) {
    if (std::find(spec.dns_names.begin(), spec.dns_names.end(), n) == spec.dns_names.end()) spec.dns_names.push_back(n);
  }
  spec.not_after_s = kCertDays * 86400;
  auto pem = core::make_tls_certificate(spec);
  if (!pem) return core::Error{pem.error().code, "making the demo's certificate: " + pem.error().message};
  std::error_code ec;
  fs::create_directories(dir / "tls", ec);
  fs::permissions(dir / "tls", fs::perms::owner_all, ec);
  t.self_signed = true;
  t.cert_file = (dir / "tls" / "demo.crt").string();
  const std::string key_file = (dir / "tls" / "demo.key").string();
  write_private(key_file, pem->key);
  std::ofstream(t.cert_file) << pem->cert;
  t.child_args = {"--tls-cert", t.cert_file, "--tls-key", key_file};
  t.fingerprint = sha256_fingerprint(pem->cert);
  for (const auto& n : spec.dns_names) t.names += (t.names.empty() ? "" : ", ") + n;
  return t;
}

class Demo {
 public:
  Demo(const FlagValues& flags, Ports ports, DemoTls tls, fs::path dir)
      : flags_(flags), p_(std::move(ports)), tls_(std::move(tls)), dir_(std::move(dir)) {}
  ~Demo() { stop_all(); }

  // Starts everything; false (after saying why) if a part did not come up.
  bool start(const fs::path& web);
  // Waits for SIGINT/SIGTERM or a child's end; returns the exit code.
  int wait();
  void stop_all();

 private:
  bool launch(const std::string& name, std::vector<std::string> args);
  bool ready(Child& c, const std::function<bool()>& probe);
  bool provision();
  std::string page_origin() const { return fmt::format("{}://{}", tls_.http(), p_.public_at(p_.http)); }
  std::string localhost_origin() const { return fmt::format("{}://localhost:{}", tls_.http(), p_.http); }
  bool healthy(long port) const { return http_call(tls_.on, p_.addr(port), "GET", "/healthz").status == 200; }
  // `args` and, with TLS, the certificate flags.
  std::vector<std::string> with_tls(std::vector<std::string> args) const {
    args.insert(args.end(), tls_.child_args.begin(), tls_.child_args.end());
    return args;
  }

  const FlagValues& flags_;
  Ports p_;
  DemoTls tls_;
  fs::path dir_;
  std::string customer_secret_;
  std::string admin_token_;
  std::vector<Child> children_;
};

bool Demo::launch(const std::string& name, std::vector<std::string> args) {
  args.push_back("--log-level=" + flags_.get("log-level"));
  auto c = Child::spawn(name, args, (dir_ / (name + ".log")).string());
  if (!c) {
    std::fprintf(stderr, "webtrunk demo: cannot start %s: %s\n", name.c_str(), c.error().message.c_str());
    return false;
  }
  children_.push_back(std::move(*c));
  return true;
}

bool Demo::ready(Child& c, const std::function<bool()>& probe) {
  const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto how = c.reap()) {
      std::fprintf(stderr, "webtrunk demo: %s %s at start. Its log (%s):\n%s", c.name().c_str(), how->c_str(),
                   c.log_file().c_str(), c.log_tail().c_str());
      return false;
    }
    if (probe()) return true;
    std::this_thread::sleep_for(milliseconds(50));
  }
  std::fprintf(stderr, "webtrunk demo: %s did not come up within %lld s. Its log (%s):\n%s", c.name().c_str(),
               static_cast<long long>(kStartTimeout.count()), c.log_file().c_str(), c.log_tail().c_str());
  return false;
}

bool Demo::start(const fs::path& web) {
  // Fresh secrets for this run only (the temp dir is private to the user).
  customer_secret_ = random_hex(24);
  admin_token_ = random_hex(24);
  write_private(dir_ / "customer.secret", customer_secret_ + "\n");
  write_private(dir_ / "edge.secrets", "demo1:" + random_hex(32) + "\n");
  write_private(dir_ / "admin.token", admin_token_ + "\n");
  // The customer's site: the page plus its configuration.
  fs::copy(web, dir_ / "site", fs::copy_options::recursive);
  const std::string auth_url = fmt::format("{}://{}", tls_.http(), p_.public_at(p_.auth));
  std::ofstream(dir_ / "site" / "config.json")
      << fmt::format("{{\"auth_url\":{},\"number\":{}}}\n", core::json_quote(auth_url),
                     core::json_quote(flags_.get("number")));

  const auto addr = [&](long port) { return p_.addr(port); };
  if (!launch("echo-trunk", {"echo-trunk", "--listen", p_.at(p_.trunk), "--ring-ms", flags_.get("ring-ms")})) {
    return false;
  }
  if (!ready(children_.back(), [&] { return sip_options_ok(addr(p_.trunk)); })) return false;

  if (!launch("auth", with_tls({"auth", "--listen", p_.at(p_.auth), "--db", (dir_ / "accounts.db").string(),
                                 "--edge-secret-file", (dir_ / "edge.secrets").string(), "--admin-token-file",
                                 (dir_ / "admin.token").string(), "--edge-uri",
                                 fmt::format("{}://{}", tls_.ws(), p_.public_at(p_.ws)), "--clock-skew",
                                 flags_.get("clock-skew")}))) {
    return false;
  }
  if (!ready(children_.back(), [&] { return healthy(p_.auth); })) return false;
  if (!provision()) return false;

  std::vector<std::string> edge = {"edge", tls_.on ? "--wss" : "--ws", p_.at(p_.ws), "--trunk", "udp:" + p_.at(p_.trunk), "--sip-listen",
                                   p_.host, "--sip-port", std::to_string(p_.sip), "--edge-secret-file",
                                   (dir_ / "edge.secrets").string(), "--shards", flags_.get("shards"),
                                   "--origin", page_origin(), "--drain-timeout", std::to_string(kEdgeDrainS)};
  if (p_.host == "127.0.0.1") edge.insert(edge.end(), {"--origin", localhost_origin()});
  for (const auto& a : flags_.all("edge-arg")) edge.push_back(a);
  if (!launch("edge", with_tls(edge))) return false;
  if (!ready(children_.back(), [&] { return healthy(p_.ws); })) return false;

  const std::string secret_file =
      flags_.has("servlet-secret-file") ? flags_.get("servlet-secret-file") : (dir_ / "customer.secret").string();
  if (!launch("servlet", with_tls({"servlet", "--listen", p_.at(p_.http), "--account", flags_.get("account"),
                                    "--secret-file", secret_file, "--static", (dir_ / "site").string(), "--ttl",
                                    flags_.get("customer-ttl")}))) {
    return false;
  }
  return ready(children_.back(), [&] { return healthy(p_.http); });
}

bool Demo::provision() {
  std::vector<std::string> origins = flags_.all("account-origin");
  if (origins.empty()) {
    origins.push_back(page_origin());
    if (p_.host == "127.0.0.1") origins.push_back(localhost_origin());
  }
  std::string origins_json;
  for (const auto& o : origins) origins_json += (origins_json.empty() ? "" : ",") + core::json_quote(o);
  const std::string body = fmt::format(
      "{{\"secrets\":[{{\"kid\":\"c1\",\"secret\":{}}}],\"origins\":[{}],\"numbers\":[{}],"
      "\"limits\":{{\"max_call_seconds\":3600}}}}",
      core::json_quote(customer_secret_), origins_json, core::json_quote(flags_.get("number")));
  const HttpResult r = http_call(tls_.on, p_.addr(p_.auth), "PUT", "/v1/accounts/" + flags_.get("account"),
                                 "Authorization: Bearer " + admin_token_ + "\r\nContent-Type: application/json\r\n",
                                 body);
  if (r.status != 200 && r.status != 201) {
    std::fprintf(stderr, "webtrunk demo: provisioning the demo account failed: HTTP %d %s\n", r.status,
                 r.body.c_str());
    return false;
  }
  return true;
}

int Demo::wait() {
  const sigset_t set = demo_signals();
  for (;;) {
    timespec ts{1, 0};
    const int sig = ::sigtimedwait(&set, nullptr, &ts);
    if (sig == SIGHUP) {  // a reload, passed on: each child reloads what it holds
      for (auto& c : children_) {
        if (c.running()) (void)::kill(c.pid(), SIGHUP);
      }
      continue;
    }
    if (sig == SIGINT || sig == SIGTERM) {
      std::printf("\nwebtrunk demo: stopping (%s)\n", sig == SIGINT ? "Ctrl-C" : "SIGTERM");
      return 0;
    }
    for (auto& c : children_) {
      if (auto how = c.reap()) {
        std::fprintf(stderr, "webtrunk demo: %s %s; stopping the rest. Its log (%s):\n%s", c.name().c_str(),
                     how->c_str(), c.log_file().c_str(), c.log_tail().c_str());
        return 1;
      }
    }
  }
}

void Demo::stop_all() {
  // Reverse order: the servlet and the edge go before the services they use.
  // Each gets SIGTERM and drains: the edge hangs up its calls (BYE to the browser and to the echo
  // trunk, which is still up) within kEdgeDrainS plus its settle and close steps.
  for (auto it = children_.rbegin(); it != children_.rend(); ++it) {
    if (it->running()) it->stop(std::chrono::seconds(kEdgeDrainS + 6));
  }
  children_.clear();
}

}  // namespace

FlagSet demo_flags() {
  FlagSet f("demo", "Run the whole chain on this machine: echo trunk, auth service, edge and the demo page.");
  f.add({"host", "IP",
         "address every part listens on (browsers allow the microphone on 127.0.0.1 / localhost, elsewhere only "
         "on https: any other address turns --tls on)",
         "127.0.0.1", false});
  f.add({"tls", "",
         "the page and servlet on https, the auth service on https, the edge on wss (a self-signed certificate "
         "made at start unless --tls-cert is given)",
         "", false});
  f.add({"public-name", "NAME",
         "host name (or address) in every URL and origin the demo prints and hands out, e.g. the name on "
         "--tls-cert (default: --host)",
         "", false});
  f.add({"no-tls", "", "plain http/ws even on an address other than loopback (e.g. behind a TLS proxy)", "", false});
  add_tls_flags(f);
  f.add({"http-port", "P", "the demo page and its token servlet", "8000", false});
  f.add({"auth-port", "P", "the auth service", "8001", false});
  f.add({"ws-port", "P", "the edge's WebSocket (SIP over WS)", "8080", false});
  f.add({"sip-port", "P", "the edge's trunk-side SIP port (UDP)", "5080", false});
  f.add({"trunk-port", "P", "the echo trunk's SIP port (UDP)", "5070", false});
  f.add({"shards", "N", "edge shards", "1", false});
  f.add({"web", "DIR", "the built page (default: web/dist of this source tree)", "", false});
  f.add({"number", "NUMBER", "the number the demo account may call (the page pre-fills it)", "+15551230000", false});
  f.add({"account", "ID", "the demo account's id", "demo", false});
  f.add({"ring-ms", "MS", "how long the echo trunk rings before it answers", "1000", false});
  f.add({"log-level", "LEVEL", "log level of every part (logs go to files in the demo's temp dir)", "info", false});
  f.add({"keep", "", "keep the temp dir (logs, secrets, account db) at exit", "", false});
  // To see the error paths on the page (the end-to-end tests use these too).
  f.add({"account-origin", "URL", "provision these page origins instead of the demo page's own (repeatable)", "", true});
  f.add({"customer-ttl", "SECONDS", "lifetime of the servlet's tokens", "300", false});
  f.add({"clock-skew", "SECONDS", "the auth service's tolerated clock difference", "30", false});
  f.add({"servlet-secret-file", "FILE", "the servlet signs with this secret instead of the account's", "", false});
  f.add({"edge-arg", "ARG", "extra flag for the edge, e.g. --edge-arg=--srtp-profiles=AEAD_AES_128_GCM (repeatable)",
         "", true});
  return f;
}

int run_demo(const FlagValues& flags) {
  core::raise_nofile_limit();  // the children (edge, auth, servlet, echo trunk) inherit it
  Ports ports;
  ports.host = flags.get("host");
  if (!core::SockAddr::parse(ports.host + ":0")) {
    std::fprintf(stderr, "webtrunk demo: --host '%s' is not an IPv4 address\n", ports.host.c_str());
    return 2;
  }
  ports.name = flags.has("public-name") ? flags.get("public-name") : ports.host;
  struct {
    const char* name;
    long* out;
  } port_flags[] = {{"http-port", &ports.http}, {"auth-port", &ports.auth}, {"ws-port", &ports.ws},
                    {"sip-port", &ports.sip},   {"trunk-port", &ports.trunk}};
  for (auto& pf : port_flags) {
    auto v = flags.get_int(pf.name, 1, 65535);
    if (!v) {
      std::fprintf(stderr, "webtrunk demo: %s\n", v.error().message.c_str());
      return 2;
    }
    *pf.out = *v;
  }
  for (const char* n : {"ring-ms", "customer-ttl", "clock-skew", "shards"}) {
    if (auto v = flags.get_int(n, 0, 600000); !v) {
      std::fprintf(stderr, "webtrunk demo: %s\n", v.error().message.c_str());
      return 2;
    }
  }
  const fs::path web = find_web_dir(flags.get("web"));
  std::error_code ec;
  if (!fs::is_regular_file(web / "index.html", ec) || !fs::is_regular_file(web / "app.js", ec)) {
    std::fprintf(stderr,
                 "webtrunk demo: the demo page is not built (%s has no index.html and app.js).\n"
                 "  Build it: (cd web && npm ci && npm run build)   -- scripts/setup.sh does this too.\n",
                 web.string().c_str());
    return 1;
  }

  // SIGINT/SIGTERM/SIGCHLD/SIGHUP are taken with sigtimedwait; children get an empty mask back.
  const sigset_t set = demo_signals();
  ::sigprocmask(SIG_BLOCK, &set, nullptr);

  char tmpl[] = "/tmp/webtrunk-demo-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    std::perror("webtrunk demo: mkdtemp");
    return 1;
  }
  const fs::path dir = tmpl;
  auto tls = demo_tls(flags, ports, dir);
  if (!tls) {
    std::fprintf(stderr, "webtrunk demo: %s\n", tls.error().message.c_str());
    fs::remove_all(dir, ec);
    return 2;
  }
  int code = 1;
  {
    Demo demo(flags, ports, *tls, dir);
    if (demo.start(web)) {
      const std::string& http = tls->http();
      const std::string page = fmt::format("{}://{}:{}/", http, ports.name, ports.http);
      std::printf(
          "webtrunk demo is running:\n"
          "  demo page + token servlet  %s   (the customer's web site)\n"
          "  auth service               %s://%s:%ld/   (account \"%s\", may call %s)\n"
          "  edge (SIP over WebSocket)  %s://%s:%ld   (metrics: %s://%s:%ld/metrics)\n"
          "  echo trunk                 udp:%s:%ld   (answers every call, sends your audio back)\n"
          "  logs, secrets, account db  %s/\n\n",
          page.c_str(), http.c_str(), ports.name.c_str(), ports.auth, flags.get("account").c_str(),
          flags.get("number").c_str(), tls->ws().c_str(), ports.name.c_str(), ports.ws, http.c_str(),
          ports.name.c_str(), ports.ws, ports.host.c_str(), ports.trunk, dir.string().c_str());
      if (tls->on) {
        std::printf("TLS certificate            %s\n  SHA-256 fingerprint      %s\n", tls->cert_file.c_str(),
                    tls->fingerprint.empty() ? "(unreadable)" : tls->fingerprint.c_str());
      }
      if (tls->self_signed) {
        std::printf(
            "It is self-signed (valid %lld days, for %s), so the browser must be told to\n"
            "trust it, once for each port: open\n"
            "  https://%s:%ld/healthz   (the edge; wss:// cannot show a warning page)\n"
            "  https://%s:%ld/healthz   (the auth service)\n"
            "  %s\n"
            "and accept the warning on each after checking the fingerprint above; or import %s\n"
            "into the browser's (or the system's) trusted authorities; or give a real certificate with\n"
            "--tls-cert/--tls-key (README: \"TLS certificates\").\n\n",
            static_cast<long long>(kCertDays), tls->names.c_str(), ports.name.c_str(), ports.ws,
            ports.name.c_str(), ports.auth, page.c_str(), tls->cert_file.c_str());
      } else if (tls->on) {
        std::printf("\n");
      }
      std::printf(
          "Open %s in a browser, press Call, allow the microphone: you should hear yourself.\n"
          "Stop with Ctrl-C.\n",
          page.c_str());
      std::fflush(stdout);
      code = demo.wait();
    }
    demo.stop_all();
  }
  if (flags.flag("keep") || code != 0) {
    std::printf("webtrunk demo: logs kept in %s/\n", dir.string().c_str());
  } else {
    fs::remove_all(dir, ec);
  }
  return code;
}

}  // namespace webtrunk::app
