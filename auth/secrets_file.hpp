// The `--edge-secret-file FILE` format (auth/README.md "Secrets file"):
//
//   # comment lines start with '#' (after optional blanks); blank lines are ignored
//   k2025b:9f1c0e...        kid ':' secret   (the secret is everything after the first ':')
//   k2025a  4b7de1...       kid, blanks, secret
//   legacysecretwithoutakid a bare secret (no ':' and no blank in it): verifies legacy tokens only
//
// Leading and trailing blanks (space, tab, CR) of a line are dropped, so CRLF files work. A '#'
// later in a line is part of the secret. Errors name the line and never quote the secret.
// Reload: read the file again, parse, and hand the vector to SecretStore::set_secrets; a parse
// error leaves the running secrets untouched.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "auth/secret.hpp"
#include "core/result.hpp"

namespace webtrunk::auth {

// Secrets shorter than this are refused in files: an HMAC key is only as strong as its entropy,
// and a file is where a production secret lives. (Test vectors with short secrets use the API.)
inline constexpr std::size_t kMinFileSecretSize = 16;
inline constexpr std::size_t kMaxSecrets = 16;

// Parses file content. Errors: "line N: <why>" (code -EINVAL). Duplicate kids, bad kid syntax, an
// empty or short secret, NUL bytes, more than kMaxSecrets, and a file with no secret are errors.
core::Result<std::vector<Secret>> parse_secrets(std::string_view content);

// Reads and parses a file ("<path>: line N: <why>", or the errno reason if it cannot be read).
core::Result<std::vector<Secret>> load_secrets_file(const std::string& path);

}  // namespace webtrunk::auth
