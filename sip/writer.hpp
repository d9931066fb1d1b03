// Building SIP messages: a writer for start line, headers and body with Content-Length computed,
// edits applied at write time to a received message (Kamailio "lumps"), and responses built from
// a request per RFC 3261 §8.2.6.
//
// Lifetime: MessageWriter holds a reference to its std::string or the caller's buffer; it must not
// outlive them. MessageEdits holds views (names, values, body) and HeaderField pointers into a
// MessageView: everything they refer to must live until write_message() returns.
#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "sip/message_view.hpp"

namespace webtrunk::sip {

class MessageWriter {
 public:
  // Appends to `out` (which grows; running out of memory terminates, as everywhere in std).
  explicit MessageWriter(std::string& out) noexcept : str_(&out), start_(out.size()) {}
  // Writes into a fixed caller buffer (e.g. a registered send buffer); ok() turns false on overflow
  // and nothing is written past buffer.size().
  explicit MessageWriter(std::span<char> buffer) noexcept : buf_(buffer) {}

  void request_line(std::string_view method, std::string_view uri) noexcept;  // "INVITE uri SIP/2.0"
  void status_line(int code, std::string_view reason) noexcept;               // "SIP/2.0 200 OK"
  void start_line(std::string_view line) noexcept;                            // as given, CRLF added

  void header(std::string_view name, std::string_view value) noexcept;  // "Name: value"
  void header(HeaderId id, std::string_view value) noexcept;           // canonical name
  // A received header copied as it came (its name as written); a folded value is written unfolded.
  void header(const HeaderField& h) noexcept;
  // A header written in pieces: header_begin(name), header_append(...)..., header_end().
  void header_begin(std::string_view name) noexcept;
  void header_append(std::string_view piece) noexcept;
  void header_end() noexcept;

  // Content-Length from `body`, the empty line, then the body. Call once, last.
  void finish(std::string_view body = {}) noexcept;

  [[nodiscard]] bool ok() const noexcept { return !overflow_; }
  [[nodiscard]] std::size_t size() const noexcept;          // bytes written by this writer
  [[nodiscard]] std::string_view written() const noexcept;  // those bytes

  void append(std::string_view s) noexcept;
  void append_unfolded(std::string_view value) noexcept;

 private:
  void append_uint(unsigned long v) noexcept;

  std::string* str_ = nullptr;
  std::size_t start_ = 0;
  std::span<char> buf_;
  std::size_t used_ = 0;
  bool overflow_ = false;
};

// Edits to apply while copying a received message (a proxy/B2BUA forwarding or mirroring it),
// without reparsing: remove, replace or add header lines, change the start line or the body.
// Content-Length is always recomputed. Fixed capacity, no allocation: each call returns false when
// the edit list is full.
class MessageEdits {
 public:
  static constexpr std::size_t kMaxEdits = 32;

  bool remove(const HeaderField& h) noexcept;                               // that line
  bool remove_all(HeaderId id) noexcept;                                    // every line with the id
  bool remove_all(std::string_view name) noexcept;                          // extension header, by name
  bool replace(const HeaderField& h, std::string_view value) noexcept;      // same name, new value
  bool insert_before(const HeaderField& h, std::string_view name, std::string_view value) noexcept;
  bool prepend(std::string_view name, std::string_view value) noexcept;     // first header (a new top Via)
  bool append(std::string_view name, std::string_view value) noexcept;      // after the last header

  void set_request_line(std::string_view method, std::string_view uri) noexcept;
  void set_status_line(int code, std::string_view reason) noexcept;
  void set_body(std::string_view body) noexcept;  // replace Content-Type too if the type changes

 private:
  friend bool write_message(const MessageView&, const MessageEdits&, MessageWriter&) noexcept;

  enum class Kind : std::uint8_t { remove, remove_id, remove_name, replace, insert_before, prepend, append };
  struct Edit {
    Kind kind = Kind::remove;
    const HeaderField* target = nullptr;
    HeaderId id = HeaderId::unknown;
    std::string_view name;
    std::string_view value;
  };
  bool add(const Edit& e) noexcept;

  std::array<Edit, kMaxEdits> edits_{};
  std::size_t count_ = 0;
  std::string_view method_, uri_, reason_;
  int status_ = 0;
  bool new_body_ = false;
  std::string_view body_;
};

// Writes `msg` with `edits` applied. False when the writer overflowed. Headers not touched by an
// edit are copied with their names as received and values unfolded; Content-Length comes last.
// The parser's limits are not enforced here: a copy of a message at the limit (128 lines, 64 KiB
// with bare-LF line ends) can come out one line or a few octets over them.
bool write_message(const MessageView& msg, const MessageEdits& edits, MessageWriter& out) noexcept;

// RFC 3261 §8.2.6: the status line and the headers a response copies from its request: every Via
// in order, From, To (with ";tag=<to_tag>" added when the request had none and code > 100),
// Call-ID, CSeq, and Timestamp for a 100 (§8.2.6.1). `w` stays open: add headers, then finish().
void write_response_head(const MessageView& req, int code, std::string_view reason, std::string_view to_tag,
                         MessageWriter& w) noexcept;

// A complete response without a body (Content-Length: 0).
[[nodiscard]] std::string make_response(const MessageView& req, int code, std::string_view reason,
                                        std::string_view to_tag);

}  // namespace webtrunk::sip
