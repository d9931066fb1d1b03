// libFuzzer target: HTTP/1.1 request framing (HttpServerConnection) on arbitrary bytes delivered in
// arbitrary chunks, with every request answered. Must never crash, read out of bounds, hand out a
// view outside its input, or answer after it decided to close.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/bytes.hpp"
#include "core/http_server.hpp"

namespace {

using namespace webtrunk::core;

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  // First byte: the chunk size the input arrives in (1..256); second: small or default limits.
  const std::size_t chunk = std::size_t{data[0]} + 1;
  HttpLimits lim;
  if (data[1] & 1) {
    lim.max_head_bytes = 64 + data[1];
    lim.max_body_bytes = data[1];
  }
  const std::string_view all(reinterpret_cast<const char*>(data + 2), size - 2);
  HttpServerConnection c(lim);
  std::size_t requests = 0;
  std::size_t body_bytes = 0;
  for (std::size_t off = 0; off < all.size(); off += chunk) {
    c.handle_bytes(as_bytes(all.substr(off, chunk)));
    while (auto req = c.next_request()) {
      check(!c.wants_close());
      check(req->body.size() <= lim.max_body_bytes);
      check(req->path.size() <= req->target.size());
      body_bytes += req->body.size();
      for (const HttpHeader& h : req->headers) check(h.name.size() + h.value.size() <= lim.max_head_bytes);
      (void)req->query_param("account");
      ++requests;
      HttpResponse resp = HttpResponse::json(200, std::string(req->body));
      if (requests % 3 == 0) resp.close = true;
      c.respond(resp);
    }
    // The peer reads half of what is pending: the rest must stay intact for later.
    auto out = c.pending_output();
    check(requests == 0 || !out.empty() || off > 0);
    c.consume_output(out.size() / 2);
  }
  check(body_bytes <= all.size());
  return 0;
}
