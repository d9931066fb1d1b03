#include "app/flags.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <charconv>
#include <fstream>
#include <sstream>

namespace webtrunk::app {
namespace {
const std::string kEmpty;
const std::vector<std::string> kNone;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}
}  // namespace

const std::string& FlagValues::get(std::string_view name) const {
  if (auto it = values_.find(name); it != values_.end() && !it->second.empty()) return it->second.back();
  if (auto it = defaults_.find(name); it != defaults_.end()) return it->second;
  return kEmpty;
}

const std::vector<std::string>& FlagValues::all(std::string_view name) const {
  if (auto it = values_.find(name); it != values_.end()) return it->second;
  return kNone;
}

bool FlagValues::has(std::string_view name) const { return values_.find(name) != values_.end(); }

bool FlagValues::flag(std::string_view name) const {
  const std::string& v = get(name);
  return v == "true" || v == "1" || v == "yes";
}

core::Result<long> FlagValues::get_int(std::string_view name, long min, long max) const {
  const std::string& v = get(name);
  long out = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || p != v.data() + v.size()) {
    return core::Error{EINVAL, fmt::format("--{}: '{}' is not a whole number", name, v)};
  }
  if (out < min || out > max) {
    return core::Error{ERANGE, fmt::format("--{}: {} is out of range [{}, {}]", name, out, min, max)};
  }
  return out;
}

FlagSet::FlagSet(std::string command, std::string summary)
    : command_(std::move(command)), summary_(std::move(summary)) {
  add({"config", "FILE", "read flags from FILE: one `name = value` per line, '#' comments", "", false});
  add({"help", "", "print this help and exit", "", false});
}

FlagSet& FlagSet::add(FlagSpec spec) {
  specs_.push_back(std::move(spec));
  return *this;
}

FlagSet& FlagSet::positionals(std::string usage) {
  positional_usage_ = std::move(usage);
  return *this;
}

const FlagSpec* FlagSet::find(std::string_view name) const {
  for (const auto& s : specs_) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

bool FlagSet::help_requested(const std::vector<std::string>& args) const {
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") return true;
  }
  return false;
}

core::Result<void> FlagSet::apply(FlagValues& out, std::string_view name, std::string value, bool has_value,
                                  std::string_view where) const {
  const FlagSpec* spec = find(name);
  if (spec == nullptr) {
    return core::Error{EINVAL, fmt::format("unknown flag --{}{} (see `webtrunk {} --help`)", name, where, command_)};
  }
  if (spec->metavar.empty()) {
    if (!has_value) value = "true";
    if (value != "true" && value != "false" && value != "1" && value != "0" && value != "yes" && value != "no") {
      return core::Error{EINVAL, fmt::format("--{}{}: expected true or false, got '{}'", name, where, value)};
    }
  } else if (!has_value) {
    return core::Error{EINVAL, fmt::format("--{}{} needs a value ({})", name, where, spec->metavar)};
  }
  auto& slot = out.values_[spec->name];
  if (!spec->repeatable) slot.clear();
  slot.push_back(std::move(value));
  return {};
}

core::Result<void> FlagSet::load_config(FlagValues& out, const std::string& path) const {
  std::ifstream in(path);
  if (!in) return core::Error{ENOENT, fmt::format("--config: cannot read '{}'", path)};
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    std::string_view l = trim(line);
    if (l.empty() || l.front() == '#') continue;
    if (l.starts_with("--")) l.remove_prefix(2);
    size_t cut = l.find_first_of("= \t");
    std::string_view name = trim(l.substr(0, cut));
    std::string_view value;
    bool has_value = false;
    if (cut != std::string_view::npos) {
      value = trim(l.substr(cut + 1));
      if (!value.empty() && value.front() == '=') value = trim(value.substr(1));
      has_value = !value.empty();
    }
    if (name == "config") return core::Error{EINVAL, fmt::format("{}:{}: config files do not nest", path, lineno)};
    auto r = apply(out, name, std::string(value), has_value, fmt::format(" (in {}:{})", path, lineno));
    if (!r) return r;
  }
  return {};
}

core::Result<FlagValues> FlagSet::parse(const std::vector<std::string>& args) const {
  FlagValues cli;
  for (const auto& s : specs_) {
    if (!s.default_value.empty()) cli.defaults_[s.name] = s.default_value;
  }
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view a = args[i];
    if (!positional_usage_.empty() && !a.starts_with("--")) {
      cli.positional_.push_back(args[i]);
      continue;
    }
    if (!a.starts_with("--") || a.size() == 2) {
      return core::Error{EINVAL, fmt::format("unexpected argument '{}' (flags look like --name VALUE)", a)};
    }
    a.remove_prefix(2);
    std::string name, value;
    bool has_value = false;
    if (size_t eq = a.find('='); eq != std::string_view::npos) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
      has_value = true;
    } else {
      name = a;
      const FlagSpec* spec = find(name);
      if (spec != nullptr && !spec->metavar.empty() && i + 1 < args.size()) {
        value = args[++i];
        has_value = true;
      }
    }
    auto r = apply(cli, name, std::move(value), has_value, "");
    if (!r) return r.error();
  }
  if (!cli.has("config")) return cli;
  // The file supplies what the command line did not.
  FlagValues merged;
  merged.defaults_ = cli.defaults_;
  merged.positional_ = cli.positional_;
  if (auto r = load_config(merged, cli.get("config")); !r) return r.error();
  for (auto& [k, v] : cli.values_) merged.values_[k] = v;
  return merged;
}

std::string FlagSet::help() const {
  std::string out = fmt::format("Usage: webtrunk {} [flags]\n", command_);
  if (!positional_usage_.empty()) out += positional_usage_ + "\n";
  out += fmt::format("\n{}\n\nFlags:\n", summary_);
  for (const auto& s : specs_) {
    std::string left = "  --" + s.name + (s.metavar.empty() ? "" : " " + s.metavar);
    if (left.size() < 28) left.resize(28, ' ');
    else left += "\n" + std::string(28, ' ');
    out += left + s.help;
    if (!s.default_value.empty()) out += fmt::format(" (default: {})", s.default_value);
    if (s.repeatable) out += " (repeatable)";
    out += '\n';
  }
  return out;
}

}  // namespace webtrunk::app
