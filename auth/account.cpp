#include "auth/account.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <nlohmann/json.hpp>

namespace webtrunk::auth {
namespace {

using nlohmann::json;

core::Error bad(std::string why) { return core::Error{-EINVAL, std::move(why)}; }

// A serialized origin (RFC 6454 §6.1) as browsers send it: scheme "://" host [":" port], no path.
bool valid_origin(std::string_view o) noexcept {
  if (o == "*") return true;
  const std::size_t sep = o.find("://");
  if (sep == std::string_view::npos || sep == 0 || o.size() > 256) return false;
  const std::string_view scheme = o.substr(0, sep);
  const std::string_view rest = o.substr(sep + 3);
  if (rest.empty()) return false;
  for (char c : scheme) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '.' || c == '-')) return false;
  }
  for (char c : rest) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '/' || c == '?' || c == '#' || c == '"' || c == '\\') return false;
    if (c >= 'A' && c <= 'Z') return false;  // browsers serialize hosts in lower case
  }
  return true;
}

core::Result<void> parse_secrets_field(const json& v, Account& a) {
  if (!v.is_array() || v.empty() || v.size() > kMaxAccountSecrets) {
    return bad(fmt::format("secrets: an array of 1 to {} {{\"kid\",\"secret\"}} objects", kMaxAccountSecrets));
  }
  for (std::size_t i = 0; i < v.size(); ++i) {
    const json& s = v[i];
    if (!s.is_object()) return bad(fmt::format("secrets[{}]: an object {{\"kid\",\"secret\"}}", i));
    for (const auto& [k, _] : s.items()) {
      if (k != "kid" && k != "secret") return bad(fmt::format("secrets[{}]: unknown field \"{}\"", i, k));
    }
    if (!s.contains("kid") || !s["kid"].is_string() || !valid_kid(s["kid"].get_ref<const std::string&>())) {
      return bad(fmt::format("secrets[{}].kid: 1 to 32 of A-Z a-z 0-9 _ -", i));
    }
    if (!s.contains("secret") || !s["secret"].is_string()) return bad(fmt::format("secrets[{}].secret: a string", i));
    const std::string& key = s["secret"].get_ref<const std::string&>();
    // Never quote the secret back, only what is wrong with it.
    if (key.size() < kMinCustomerSecretSize || key.size() > kMaxCustomerSecretSize) {
      return bad(fmt::format("secrets[{}].secret: {} to {} bytes (it has {})", i, kMinCustomerSecretSize,
                             kMaxCustomerSecretSize, key.size()));
    }
    if (key.find('\0') != std::string::npos) return bad(fmt::format("secrets[{}].secret: contains a NUL byte", i));
    Secret sec{s["kid"].get<std::string>(), key};
    for (const Secret& other : a.secrets) {
      if (other.kid == sec.kid) return bad(fmt::format("secrets[{}].kid: \"{}\" appears twice", i, sec.kid));
    }
    a.secrets.push_back(std::move(sec));
  }
  return {};
}

core::Result<void> parse_string_list(const json& v, std::string_view field, std::size_t max_items,
                                     bool (*valid)(std::string_view) noexcept, std::string_view rule,
                                     std::vector<std::string>& out) {
  if (!v.is_array() || v.size() > max_items) return bad(fmt::format("{}: an array of at most {} strings", field, max_items));
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_string() || !valid(v[i].get_ref<const std::string&>())) {
      return bad(fmt::format("{}[{}]: {}", field, i, rule));
    }
    out.push_back(v[i].get<std::string>());
  }
  return {};
}

core::Result<void> parse_limits(const json& v, AccountLimits& out) {
  if (!v.is_object()) return bad("limits: an object {\"max_call_seconds\",\"tokens_per_minute\",\"max_calls\"}");
  for (const auto& [k, val] : v.items()) {
    if (k == "max_call_seconds") {
      if (val.is_null()) continue;
      if (!val.is_number_integer() || val.get<std::int64_t>() < 1 || val.get<std::int64_t>() > 0x7fffffff) {
        return bad("limits.max_call_seconds: a whole number of seconds, 1 to 2147483647 (or null: no limit)");
      }
      out.max_call_seconds = static_cast<std::uint32_t>(val.get<std::int64_t>());
    } else if (k == "tokens_per_minute") {
      if (!val.is_number_integer() || val.get<std::int64_t>() < 1 || val.get<std::int64_t>() > 100'000'000) {
        return bad("limits.tokens_per_minute: a whole number, 1 to 100000000");
      }
      out.tokens_per_minute = static_cast<std::uint32_t>(val.get<std::int64_t>());
    } else if (k == "max_calls") {
      if (!val.is_number_integer() || val.get<std::int64_t>() < 1 || val.get<std::int64_t>() > 0x7fffffff) {
        return bad("limits.max_calls: a whole number of concurrent calls per edge, 1 to 2147483647");
      }
      out.max_calls = static_cast<std::uint32_t>(val.get<std::int64_t>());
    } else {
      return bad(fmt::format("limits: unknown field \"{}\"", k));
    }
  }
  return {};
}

bool valid_origin_fn(std::string_view o) noexcept { return valid_origin(o); }

}  // namespace

bool valid_account_id(std::string_view id) noexcept { return valid_claim_value(id); }

MintClaims Account::claims() const {
  MintClaims c;
  c.account = id;
  c.numbers = numbers;
  c.max_duration_s = limits.max_call_seconds;
  c.max_calls = limits.max_calls;
  return c;
}

bool Account::allows_origin(std::string_view origin) const noexcept {
  return std::any_of(origins.begin(), origins.end(), [&](const std::string& o) { return o == "*" || o == origin; });
}

core::Result<Account> account_from_json(std::string_view id, std::string_view text) {
  if (!valid_account_id(id)) return bad("account id: 1 to 64 of A-Z a-z 0-9 . _ @ -");
  const json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return bad("the body is not valid JSON");
  if (!doc.is_object()) return bad("the body must be a JSON object");
  Account a;
  a.id = std::string(id);
  bool have_secrets = false, have_numbers = false;
  for (const auto& [k, v] : doc.items()) {
    core::Result<void> r;
    if (k == "secrets") {
      r = parse_secrets_field(v, a);
      have_secrets = true;
    } else if (k == "origins") {
      r = parse_string_list(v, "origins", kMaxAccountOrigins, valid_origin_fn,
                            "an origin like \"https://shop.example\" or \"https://shop.example:8443\" (scheme and "
                            "host in lower case, no path, no trailing '/'), or \"*\"",
                            a.origins);
    } else if (k == "numbers") {
      r = parse_string_list(v, "numbers", kMaxNumberEntries, valid_number_claim,
                            "\"+15551230000\" (E.164), a prefix \"1555123*\", or \"*\" for any number", a.numbers);
      have_numbers = true;
    } else if (k == "limits") {
      r = parse_limits(v, a.limits);
    } else if (k == "id") {
      if (!v.is_string() || v.get_ref<const std::string&>() != id) return bad("id: must match the id in the URL");
    } else {
      return bad(fmt::format("unknown field \"{}\" (known: secrets, origins, numbers, limits)", k));
    }
    if (!r) return r.error();
  }
  if (!have_secrets) return bad("secrets: required, at least one {\"kid\",\"secret\"}");
  // An edge token with no num= claim may call anything, so "any number" must be said explicitly.
  if (!have_numbers || a.numbers.empty()) return bad("numbers: required, at least one (\"*\" allows any number)");
  return a;
}

std::string public_json(const Account& a) {
  json secrets = json::array();
  for (const Secret& s : a.secrets) secrets.push_back({{"kid", s.kid}, {"fingerprint", secret_fingerprint(s.key)}});
  json limits = {{"tokens_per_minute", a.limits.tokens_per_minute}, {"max_calls", a.limits.max_calls}};
  limits["max_call_seconds"] = a.limits.max_call_seconds ? json(*a.limits.max_call_seconds) : json(nullptr);
  const json doc = {{"id", a.id}, {"secrets", secrets}, {"origins", a.origins}, {"numbers", a.numbers}, {"limits", limits}};
  return doc.dump();
}

std::string stored_json(const Account& a) {
  json secrets = json::array();
  for (const Secret& s : a.secrets) secrets.push_back({{"kid", s.kid}, {"secret", s.key}});
  json limits = {{"tokens_per_minute", a.limits.tokens_per_minute}, {"max_calls", a.limits.max_calls}};
  if (a.limits.max_call_seconds) limits["max_call_seconds"] = *a.limits.max_call_seconds;
  const json doc = {{"secrets", secrets}, {"origins", a.origins}, {"numbers", a.numbers}, {"limits", limits}};
  return doc.dump();
}

}  // namespace webtrunk::auth
