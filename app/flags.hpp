// Command-line flags for every subcommand, also readable from a config file (`--config FILE`, lines
// of `name = value` or `name value`, '#' comments; command-line flags win over the file).
// Parsing is start-up code: errors come back as Error with a message that names the flag.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace webtrunk::app {

struct FlagSpec {
  std::string name;         // without the leading "--"
  std::string metavar;      // e.g. "ADDR:PORT"; empty for a boolean switch
  std::string help;
  std::string default_value;
  bool repeatable = false;
};

class FlagValues {
 public:
  // Last value given (or the default); empty string when unset with no default.
  const std::string& get(std::string_view name) const;
  const std::vector<std::string>& all(std::string_view name) const;  // every value of a repeatable flag
  bool has(std::string_view name) const;                              // given on the command line or file
  bool flag(std::string_view name) const;                             // boolean switch

  core::Result<long> get_int(std::string_view name, long min, long max) const;
  // Arguments that are not flags, in order (only for a FlagSet that accepts them).
  const std::vector<std::string>& positional() const noexcept { return positional_; }

 private:
  friend class FlagSet;
  std::vector<std::string> positional_;
  std::map<std::string, std::vector<std::string>, std::less<>> values_;
  std::map<std::string, std::string, std::less<>> defaults_;
};

class FlagSet {
 public:
  FlagSet(std::string command, std::string summary);
  FlagSet& add(FlagSpec spec);
  // Accept arguments that are not flags (e.g. `webtrunk auth account put ID`); `usage` is printed
  // in --help, one line per form. Without this, any such argument is an error.
  FlagSet& positionals(std::string usage);
  // Parses argv-style args (without the program and subcommand names). `--help` sets `help_requested`.
  core::Result<FlagValues> parse(const std::vector<std::string>& args) const;
  std::string help() const;
  bool help_requested(const std::vector<std::string>& args) const;

 private:
  const FlagSpec* find(std::string_view name) const;
  core::Result<void> apply(FlagValues& out, std::string_view name, std::string value, bool has_value,
                           std::string_view where) const;
  core::Result<void> load_config(FlagValues& out, const std::string& path) const;

  std::string command_;
  std::string summary_;
  std::vector<FlagSpec> specs_;
  std::string positional_usage_;  // non-empty: positional arguments accepted
};

}  // namespace webtrunk::app
