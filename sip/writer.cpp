#include "sip/writer.hpp"

#include <cstring>

#include "sip/header_parsers.hpp"
#include "sip/text.hpp"

namespace webtrunk::sip {

// ---------------------------------------------------------------------------------------------
// MessageWriter

void MessageWriter::append(std::string_view s) noexcept {
  if (str_ != nullptr) {
    str_->append(s);
    return;
  }
  if (overflow_) return;
  if (s.size() > buf_.size() - used_) {
    overflow_ = true;
    return;
  }
  if (!s.empty()) std::memcpy(buf_.data() + used_, s.data(), s.size());
  used_ += s.size();
}

void MessageWriter::append_uint(unsigned long v) noexcept {
  char tmp[24];
  std::size_t n = 0;
  do {
    tmp[sizeof(tmp) - 1 - n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0 && n < sizeof(tmp));
  append({tmp + sizeof(tmp) - n, n});
}

// RFC 3261 §7.3.1: a fold is equivalent to one SP; we never emit folds.
void MessageWriter::append_unfolded(std::string_view value) noexcept {
  std::size_t i = 0;
  while (i < value.size()) {
    const std::size_t brk = value.find_first_of("\r\n", i);
    if (brk == std::string_view::npos) {
      append(value.substr(i));
      return;
    }
    std::size_t seg_end = brk;
    while (seg_end > i && text::is_ws(value[seg_end - 1])) --seg_end;
    append(value.substr(i, seg_end - i));
    append(" ");
    i = brk;
    while (i < value.size() && text::is_lws(value[i])) ++i;
  }
}

std::size_t MessageWriter::size() const noexcept { return str_ != nullptr ? str_->size() - start_ : used_; }

std::string_view MessageWriter::written() const noexcept {
  if (str_ != nullptr) return std::string_view(*str_).substr(start_);
  return {buf_.data(), used_};
}

void MessageWriter::request_line(std::string_view method, std::string_view uri) noexcept {
  append(method);
  append(" ");
  append(uri);
  append(" SIP/2.0\r\n");
}

void MessageWriter::status_line(int code, std::string_view reason) noexcept {
  append("SIP/2.0 ");
  append_uint(static_cast<unsigned long>(code < 0 ? 0 : code));
  append(" ");
  append(reason);
  append("\r\n");
}

void MessageWriter::start_line(std::string_view line) noexcept {
  append(line);
  append("\r\n");
}

void MessageWriter::header(std::string_view name, std::string_view value) noexcept {
  header_begin(name);
  append_unfolded(value);
  header_end();
}

void MessageWriter::header(HeaderId id, std::string_view value) noexcept { header(header_canonical_name(id), value); }

void MessageWriter::header(const HeaderField& h) noexcept { header(h.name, h.value); }

void MessageWriter::header_begin(std::string_view name) noexcept {
  append(name);
  append(": ");
}

void MessageWriter::header_append(std::string_view piece) noexcept { append(piece); }

void MessageWriter::header_end() noexcept { append("\r\n"); }

void MessageWriter::finish(std::string_view body) noexcept {
  append("Content-Length: ");
  append_uint(static_cast<unsigned long>(body.size()));
  append("\r\n\r\n");
  append(body);
}

// ---------------------------------------------------------------------------------------------
// MessageEdits

bool MessageEdits::add(const Edit& e) noexcept {
  if (count_ == kMaxEdits) return false;
  edits_[count_++] = e;
  return true;
}

bool MessageEdits::remove(const HeaderField& h) noexcept { return add({Kind::remove, &h, h.id, {}, {}}); }
bool MessageEdits::remove_all(HeaderId id) noexcept { return add({Kind::remove_id, nullptr, id, {}, {}}); }
bool MessageEdits::remove_all(std::string_view name) noexcept {
  return add({Kind::remove_name, nullptr, HeaderId::unknown, name, {}});
}
bool MessageEdits::replace(const HeaderField& h, std::string_view value) noexcept {
  return add({Kind::replace, &h, h.id, h.name, value});
}
bool MessageEdits::insert_before(const HeaderField& h, std::string_view name, std::string_view value) noexcept {
  return add({Kind::insert_before, &h, HeaderId::unknown, name, value});
}
bool MessageEdits::prepend(std::string_view name, std::string_view value) noexcept {
  return add({Kind::prepend, nullptr, HeaderId::unknown, name, value});
}
bool MessageEdits::append(std::string_view name, std::string_view value) noexcept {
  return add({Kind::append, nullptr, HeaderId::unknown, name, value});
}

void MessageEdits::set_request_line(std::string_view method, std::string_view uri) noexcept {
  method_ = method;
  uri_ = uri;
  status_ = 0;
}

void MessageEdits::set_status_line(int code, std::string_view reason) noexcept {
  status_ = code;
  reason_ = reason;
  method_ = uri_ = {};
}

void MessageEdits::set_body(std::string_view body) noexcept {
  new_body_ = true;
  body_ = body;
}

bool write_message(const MessageView& msg, const MessageEdits& edits, MessageWriter& out) noexcept {
  using Kind = MessageEdits::Kind;
  const std::span<const MessageEdits::Edit> list{edits.edits_.data(), edits.count_};

  if (!edits.method_.empty()) out.request_line(edits.method_, edits.uri_);
  else if (edits.status_ != 0) out.status_line(edits.status_, edits.reason_);
  else out.start_line(msg.start_line());

  for (const auto& e : list)
    if (e.kind == Kind::prepend) out.header(e.name, e.value);

  for (const HeaderField& h : msg.headers()) {
    for (const auto& e : list)
      if (e.kind == Kind::insert_before && e.target == &h) out.header(e.name, e.value);
    if (h.id == HeaderId::content_length) continue;  // rewritten by finish()
    bool removed = false;
    const MessageEdits::Edit* replacement = nullptr;
    for (const auto& e : list) {
      switch (e.kind) {
        case Kind::remove: removed = removed || e.target == &h; break;
        case Kind::remove_id: removed = removed || (e.id != HeaderId::unknown && e.id == h.id); break;
        case Kind::remove_name: removed = removed || text::iequals(e.name, h.name); break;
        case Kind::replace:
          if (e.target == &h) replacement = &e;
          break;
        default: break;
      }
    }
    if (removed) continue;
    if (replacement != nullptr) out.header(h.name, replacement->value);
    else out.header(h);
  }

  for (const auto& e : list)
    if (e.kind == Kind::append) out.header(e.name, e.value);

  out.finish(edits.new_body_ ? edits.body_ : msg.body());
  return out.ok();
}

// ---------------------------------------------------------------------------------------------
// Responses

void write_response_head(const MessageView& req, int code, std::string_view reason, std::string_view to_tag,
                         MessageWriter& w) noexcept {
  w.status_line(code, reason);
  // RFC 3261 §8.2.6.2: Via values in the same order, From, Call-ID and CSeq equal to the request's.
  for (const HeaderField* h = req.find(HeaderId::via); h != nullptr; h = req.find_next(h)) w.header(HeaderId::via, h->value);
  if (const HeaderField* h = req.find(HeaderId::from)) w.header(HeaderId::from, h->value);
  if (const HeaderField* h = req.find(HeaderId::to)) {
    // To is copied; a response other than 100 gets our tag if the request had none (§8.2.6.2).
    w.header_begin(header_canonical_name(HeaderId::to));
    w.append_unfolded(h->value);
    NameAddr na;
    const bool has_tag = parse_name_addr(h->value, na) && !na.tag().empty();
    if (!has_tag && code > 100 && !to_tag.empty()) {
      w.header_append(";tag=");
      w.header_append(to_tag);
    }
    w.header_end();
  }
  if (const HeaderField* h = req.find(HeaderId::call_id)) w.header(HeaderId::call_id, h->value);
  if (const HeaderField* h = req.find(HeaderId::cseq)) w.header(HeaderId::cseq, h->value);
  // RFC 3261 §8.2.6.1: a 100 (Trying) copies the request's Timestamp.
  if (code == 100)
    if (const HeaderField* h = req.find(HeaderId::timestamp)) w.header(HeaderId::timestamp, h->value);
}

std::string make_response(const MessageView& req, int code, std::string_view reason, std::string_view to_tag) {
  std::string out;
  out.reserve(req.head().size() / 2 + 64);
  MessageWriter w(out);
  write_response_head(req, code, reason, to_tag, w);
  w.finish();
  return out;
}

}  // namespace webtrunk::sip
