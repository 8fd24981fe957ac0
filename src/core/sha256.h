// SHA-256 helpers: token fingerprints for logs and cache keys, and a
// constant-time comparison for secrets.
#pragma once
#include "core/no_postgres.h"

#include <array>
#include <string>
#include <string_view>

namespace dbx_oauth::core {

// Raw 32-byte digest.
std::array<unsigned char, 32> sha256(std::string_view data);

// Digest as 64 lowercase hex characters.
std::string sha256_hex(std::string_view data);

// First 16 hex characters of sha256(token).  Safe to log: it identifies a
// token across log lines without revealing anything usable as a credential.
std::string token_fingerprint(std::string_view token);

// Compares in time that depends only on the lengths, never on the content,
// so a caller comparing secrets leaks no prefix information.
bool constant_time_equals(std::string_view a, std::string_view b);

}  // namespace dbx_oauth::core
