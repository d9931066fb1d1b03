// Result<T>: a value or an Error (an errno-style code plus a static reason). Used on every path
// where failure is expected (syscalls, parsing, config); exceptions are for start-up only.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace webtrunk::core {

struct Error {
  int code = 0;             // -errno for syscalls, or a module's own code
  std::string message;      // says why, for a log line or a CLI message

  static Error from_errno(int neg_errno, std::string what);
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T v) : v_(std::move(v)) {}          // NOLINT(google-explicit-constructor)
  Result(Error e) : v_(std::move(e)) {}      // NOLINT(google-explicit-constructor)
  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  T& value() & { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T* operator->() { return &value(); }
  T& operator*() & { return value(); }
  const Error& error() const { assert(!ok()); return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error e) : err_(std::move(e)), ok_(false) {}  // NOLINT(google-explicit-constructor)
  bool ok() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  const Error& error() const { assert(!ok_); return err_; }

 private:
  Error err_;
  bool ok_ = true;
};

}  // namespace webtrunk::core
