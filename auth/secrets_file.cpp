#include "auth/secrets_file.hpp"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <sstream>

#include "core/metrics.hpp"

namespace webtrunk::auth {
namespace {

const core::Counter kSecretsFileRejected{"webtrunk_auth_secrets_file_rejected_total",
                                         "Secrets files (or reloads) refused for a syntax error"};

bool is_blank(char c) noexcept { return c == ' ' || c == '\t' || c == '\r'; }

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

core::Error line_error(std::size_t line, std::string_view why) {
  kSecretsFileRejected.inc();
  return core::Error{-EINVAL, fmt::format("line {}: {}", line, why)};
}

}  // namespace

bool valid_kid(std::string_view kid) noexcept {
  if (kid.empty() || kid.size() > kMaxKidSize) return false;
  for (char c : kid) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string secret_fingerprint(std::string_view key) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  std::string input = "webtrunk-fp:";
  input.append(key);
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(), md);
  OPENSSL_cleanse(input.data(), input.size());
  return fmt::format("{:02x}{:02x}{:02x}{:02x}", md[0], md[1], md[2], md[3]);
}

core::Result<std::vector<Secret>> parse_secrets(std::string_view content) {
  std::vector<Secret> out;
  std::size_t line_no = 0;
  while (!content.empty()) {
    ++line_no;
    const std::size_t nl = content.find('\n');
    std::string_view line = content.substr(0, nl);
    content = nl == std::string_view::npos ? std::string_view{} : content.substr(nl + 1);

    line = trim(line);
    if (line.empty() || line.front() == '#') continue;
    if (line.find('\0') != std::string_view::npos) return line_error(line_no, "NUL byte in line");

    Secret s;
    const std::size_t colon = line.find(':');
    std::size_t blank = std::string_view::npos;
    for (std::size_t i = 0; i < line.size(); ++i) {
      if (line[i] == ' ' || line[i] == '\t') {
        blank = i;
        break;
      }
    }
    // The separator is whichever of ':' and blank comes first; with neither, a bare secret.
    const std::size_t sep = std::min(colon, blank);
    if (sep != std::string_view::npos) {
      const std::string_view kid = line.substr(0, sep);
      if (kid.empty()) return line_error(line_no, "empty key id before the separator");
      if (!valid_kid(kid)) {
        return line_error(line_no,
                          "key id must be 1 to 32 of A-Z a-z 0-9 _ - (a secret containing ':' "
                          "or a blank needs a key id in front)");
      }
      s.kid = std::string(kid);
      s.key = std::string(trim(line.substr(sep + 1)));
    } else {
      s.key = std::string(line);
    }
    if (s.key.empty()) return line_error(line_no, "empty secret");
    if (s.key.size() < kMinFileSecretSize) {
      return line_error(line_no, fmt::format("secret shorter than {} characters", kMinFileSecretSize));
    }
    for (const Secret& prev : out) {
      if (!s.kid.empty() && prev.kid == s.kid) return line_error(line_no, fmt::format("duplicate key id '{}'", s.kid));
    }
    if (out.size() == kMaxSecrets) return line_error(line_no, fmt::format("more than {} secrets", kMaxSecrets));
    out.push_back(std::move(s));
  }
  if (out.empty()) {
    kSecretsFileRejected.inc();
    return core::Error{-EINVAL, "no secret in file"};
  }
  return out;
}

core::Result<std::vector<Secret>> load_secrets_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return core::Error::from_errno(-errno, fmt::format("{}: cannot open", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return core::Error::from_errno(-EIO, fmt::format("{}: read failed", path));
  auto r = parse_secrets(ss.str());
  if (!r) return core::Error{r.error().code, fmt::format("{}: {}", path, r.error().message)};
  return r;
}

}  // namespace webtrunk::auth
