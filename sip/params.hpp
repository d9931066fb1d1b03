// Parameter lists: ";name=value;flag" after a URI (uri-parameters, RFC 3261 §19.1.1) or after a
// header value (generic-param, RFC 3261 §25.1). LWS around ';' and '=' is allowed, folds included.
//
// Lifetime: Param views point into the text given to the cursor (the receive buffer).
#pragma once

#include <optional>
#include <string_view>

namespace webtrunk::sip {

struct Param {
  std::string_view name;
  std::string_view value;  // as written: a quoted-string keeps its quotes (see sip::unquote)
  bool has_value = false;
};

class ParamCursor {
 public:
  // `params` is empty or starts (after optional LWS) with ';'.
  explicit ParamCursor(std::string_view params) noexcept : s_(params) {}

  // The next parameter; false at the end or on a syntax error (then ok() is false): an empty
  // name (";;", RFC 4475 §3.1.2.1), a bad character, an unterminated quoted string.
  [[nodiscard]] bool next(Param& out) noexcept;
  [[nodiscard]] bool ok() const noexcept { return ok_; }

 private:
  std::string_view s_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

// True when the whole list parses.
[[nodiscard]] bool params_valid(std::string_view params) noexcept;

// The value of the first parameter named `name` (case-insensitive, RFC 3261 §19.1.4): "" for a
// flag such as ";lr", nullopt when absent or when the list is malformed before it.
[[nodiscard]] std::optional<std::string_view> find_param(std::string_view params, std::string_view name) noexcept;

[[nodiscard]] inline bool has_param(std::string_view params, std::string_view name) noexcept {
  return find_param(params, name).has_value();
}

}  // namespace webtrunk::sip
