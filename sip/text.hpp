// Character classes and a small scanner for SIP header values (RFC 3261 §25.1).
//
// Views returned by the scanner point into the text it was given and live as long as that text.
// Inside an indexed header value a CR or LF can only be part of a fold (CRLF followed by SP/HT,
// RFC 3261 §7.3.1), so the scanner treats CR and LF as linear white space (LWS).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace webtrunk::sip::text {

constexpr char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
constexpr bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr bool is_alnum(char c) noexcept { return is_digit(c) || is_alpha(c); }
constexpr bool is_ws(char c) noexcept { return c == ' ' || c == '\t'; }
constexpr bool is_lws(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
constexpr bool is_hex(char c) noexcept {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

namespace detail {
constexpr std::array<bool, 256> make_token_table() {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) t[c] = is_alnum(static_cast<char>(c));
  for (char c : std::string_view{"-.!%*_+`'~"}) t[static_cast<unsigned char>(c)] = true;
  return t;
}
inline constexpr std::array<bool, 256> kToken = make_token_table();

// word = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" / "(" / ")" /
//        "<" / ">" / ":" / "\" / DQUOTE / "/" / "[" / "]" / "?" / "{" / "}")   (RFC 3261 §25.1)
constexpr std::array<bool, 256> make_word_table() {
  std::array<bool, 256> t = make_token_table();
  for (char c : std::string_view{"()<>:\\\"/[]?{}"}) t[static_cast<unsigned char>(c)] = true;
  return t;
}
inline constexpr std::array<bool, 256> kWord = make_word_table();

// hostname / IPv4address characters (RFC 3261 §25.1), plus '_' which real DNS names carry.
constexpr std::array<bool, 256> make_host_table() {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) t[c] = is_alnum(static_cast<char>(c));
  for (char c : std::string_view{"-._"}) t[static_cast<unsigned char>(c)] = true;
  return t;
}
inline constexpr std::array<bool, 256> kHost = make_host_table();

// Octets allowed anywhere in a URI as we read it: visible ASCII except '<', '>' and DQUOTE.
constexpr std::array<bool, 256> make_uri_table() {
  std::array<bool, 256> t{};
  for (int c = 0x21; c < 0x7F; ++c) t[c] = c != '<' && c != '>' && c != '"';
  return t;
}
inline constexpr std::array<bool, 256> kUri = make_uri_table();
}  // namespace detail

constexpr bool is_token_char(char c) noexcept { return detail::kToken[static_cast<unsigned char>(c)]; }
constexpr bool is_word_char(char c) noexcept { return detail::kWord[static_cast<unsigned char>(c)]; }
constexpr bool is_host_char(char c) noexcept { return detail::kHost[static_cast<unsigned char>(c)]; }
constexpr bool is_uri_char(char c) noexcept { return detail::kUri[static_cast<unsigned char>(c)]; }

constexpr bool is_token(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_token_char(c)) return false;
  return true;
}

constexpr std::string_view trim_lws(std::string_view s) noexcept {
  while (!s.empty() && is_lws(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_lws(s.back())) s.remove_suffix(1);
  return s;
}

// Parses 1*DIGIT into a value no larger than `max`; false on an empty string, a non-digit, or
// overflow. Leading zeros are fine ("0068", RFC 4475 §3.1.1.1).
constexpr bool parse_uint(std::string_view s, std::uint64_t max, std::uint64_t& out) noexcept {
  if (s.empty()) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    if (!is_digit(c)) return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
    if (v > max) return false;
  }
  out = v;
  return true;
}

// A forward-only cursor over a header value.
class Scanner {
 public:
  constexpr explicit Scanner(std::string_view s) noexcept : s_(s) {}

  [[nodiscard]] constexpr bool at_end() const noexcept { return pos_ >= s_.size(); }
  [[nodiscard]] constexpr char peek() const noexcept { return at_end() ? '\0' : s_[pos_]; }
  [[nodiscard]] constexpr std::size_t pos() const noexcept { return pos_; }
  constexpr void set_pos(std::size_t p) noexcept { pos_ = p < s_.size() ? p : s_.size(); }
  [[nodiscard]] constexpr std::string_view rest() const noexcept { return s_.substr(pos_); }
  [[nodiscard]] constexpr std::string_view text() const noexcept { return s_; }
  [[nodiscard]] constexpr std::string_view slice(std::size_t from, std::size_t to) const noexcept {
    return s_.substr(from, to - from);
  }

  // Skips LWS (SP, HT and folds). Returns true if anything was skipped.
  constexpr bool skip_lws() noexcept {
    const std::size_t start = pos_;
    while (pos_ < s_.size() && is_lws(s_[pos_])) ++pos_;
    return pos_ != start;
  }
  // SWS c SWS: the separators of RFC 3261 §25.1 (SEMI, EQUAL, SLASH, COLON, COMMA).
  constexpr bool eat_sep(char c) noexcept {
    const std::size_t save = pos_;
    skip_lws();
    if (peek() == c) {
      ++pos_;
      skip_lws();
      return true;
    }
    pos_ = save;
    return false;
  }
  constexpr bool eat(char c) noexcept {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }
  constexpr std::string_view token() noexcept {
    const std::size_t start = pos_;
    while (pos_ < s_.size() && is_token_char(s_[pos_])) ++pos_;
    return s_.substr(start, pos_ - start);
  }
  constexpr std::string_view word() noexcept {
    const std::size_t start = pos_;
    while (pos_ < s_.size() && is_word_char(s_[pos_])) ++pos_;
    return s_.substr(start, pos_ - start);
  }
  constexpr std::string_view digits() noexcept {
    const std::size_t start = pos_;
    while (pos_ < s_.size() && is_digit(s_[pos_])) ++pos_;
    return s_.substr(start, pos_ - start);
  }
  // quoted-string = DQUOTE *(qdtext / quoted-pair) DQUOTE. Returns the view including both quotes
  // (escapes not processed; see sip::unquote). False, with the position unchanged, when there is
  // no quoted string here or it is unterminated.
  constexpr bool quoted_string(std::string_view& out) noexcept {
    if (peek() != '"') return false;
    std::size_t i = pos_ + 1;
    while (i < s_.size()) {
      const char c = s_[i];
      if (c == '\\') {
        // quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F): never a CR or LF.
        if (i + 1 >= s_.size() || s_[i + 1] == '\r' || s_[i + 1] == '\n') return false;
        i += 2;
        continue;
      }
      if (c == '"') {
        out = s_.substr(pos_, i + 1 - pos_);
        pos_ = i + 1;
        return true;
      }
      ++i;
    }
    return false;
  }

 private:
  std::string_view s_;
  std::size_t pos_ = 0;
};

}  // namespace webtrunk::sip::text

namespace webtrunk::sip {

// Replaces each fold (CRLF or LF followed by SP/HT) and the white space around it with one SP
// (RFC 3261 §7.3.1). Returns `value` itself when it holds no fold; otherwise writes into `scratch`
// and returns a view of it (valid until `scratch` changes).
std::string_view unfold(std::string_view value, std::string& scratch);

// The text of a quoted string without its quotes and with quoted-pairs resolved. Returns a view of
// the input when there is no escape, else writes into `scratch`. A value without quotes is
// returned unchanged.
std::string_view unquote(std::string_view quoted, std::string& scratch);

}  // namespace webtrunk::sip
