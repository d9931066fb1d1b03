// libFuzzer target: the HTTP request-head parser, on arbitrary bytes and limits, plus the response
// writer and WsConnection's HTTP phase. Must never crash, read out of bounds or break an invariant.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>
#include <vector>

#include "core/http_head.hpp"
#include "core/ws_connection.hpp"

namespace {

using namespace webtrunk::core;

void check(bool ok) {
  if (!ok) std::abort();
}

bool inside(std::string_view v, const std::byte* begin, std::size_t size) {
  auto* p = reinterpret_cast<const std::byte*>(v.data());
  return v.empty() || (p >= begin && p + v.size() <= begin + size);
}

unsigned touch(std::string_view v) {
  unsigned sum = 0;
  for (char c : v) sum += static_cast<unsigned char>(c);
  return sum;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // libFuzzer hands us an exact-size heap buffer, so any over-read is an ASan report.
  const auto* bytes = reinterpret_cast<const std::byte*>(data);
  const std::span<const std::byte> in(bytes, size);
  const std::size_t max = size > 0 && (data[0] & 1) ? 16 + data[0] : kDefaultMaxHeadBytes;

  HttpRequestHead head;
  const HttpParseResult r = parse_request_head(in, head, max);
  volatile unsigned sink = 0;
  switch (r.status) {
    case ParseStatus::ok: {
      check(r.consumed > 0 && r.consumed <= size && r.consumed <= max);
      check(r.error == HttpError::none);
      check(head.header_count <= kMaxHttpHeaders);
      check(!head.method.empty() && !head.target.empty());
      check(inside(head.method, bytes, r.consumed) && inside(head.target, bytes, r.consumed));
      for (const HttpHeader& h : head.headers()) {
        check(!h.name.empty());
        check(inside(h.name, bytes, r.consumed) && inside(h.value, bytes, r.consumed));
        check(h.value.find_first_of("\r\n") == std::string_view::npos);
        sink = sink + touch(h.name) + touch(h.value);
      }
      sink = sink + head.has_token("Connection", "upgrade") + head.find("Host").has_value();
      // Any shorter prefix of a head is incomplete (never ok, never a different verdict).
      HttpRequestHead again;
      check(parse_request_head(in.first(r.consumed - 1), again, max).status == ParseStatus::incomplete);
      // Same head, byte-identical views, whatever follows it.
      check(parse_request_head(in.first(r.consumed), again, max).consumed == r.consumed);
      break;
    }
    case ParseStatus::invalid:
      check(r.error != HttpError::none);
      check(http_status_for(r.error) >= 400);
      break;
    case ParseStatus::incomplete:
      check(size < max);
      break;
  }

  // The response writer either refuses a value or writes one that cannot split the response.
  std::string out;
  const HttpHeader hs[] = {{"X-Fuzz", std::string_view(reinterpret_cast<const char*>(data), size)}};
  if (append_response_head(out, 200, "OK", hs)) {
    check(out.find("\r\n\r\n") == out.size() - 4);
  }

  // The connection's HTTP phase, with the bytes split in two at a data-chosen point.
  WsConfig config;
  config.limits.max_head_bytes = max;
  WsConnection conn(config);
  const std::size_t cut = size > 1 ? data[size - 1] % size : 0;
  std::vector<std::byte> a(bytes, bytes + cut), b(bytes + cut, bytes + size);
  for (auto* part : {&a, &b}) {
    conn.handle_bytes(Instant{}, *part);
    while (auto ev = conn.poll_event()) {
      if (auto* u = std::get_if<WsUpgraded>(&*ev)) sink = sink + touch(u->path) + touch(u->origin);
      if (auto* h = std::get_if<WsHttpRequest>(&*ev)) {
        sink = sink + touch(h->raw_head);
        check(conn.send_http_response(404, {}, "not here\n"));
      }
    }
  }
  sink = sink + static_cast<unsigned>(conn.pending_output().size());
  return 0;
}
