// SHA-256 helpers: token fingerprints for logs and cache keys, and a
// constant-time comparison for secrets.
#pragma once
#include "core/no_postgres.h"

#include <openssl/types.h>

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

namespace dbx_oauth::core {

// Raw 32-byte digest.
// The raw SHA-256 of a token: computed once per validation by the caller
// that needs it for a cache and passed down, so one token is hashed once.
using TokenDigest = std::array<unsigned char, 32>;

std::array<unsigned char, 32> sha256(std::string_view data);

// Lower-case hex of the first `bytes` bytes of digest (all 32 by default).
std::string digest_hex(const TokenDigest& digest, std::size_t bytes = 32);

// SHA-256 of a text and of a prefix of it, with the prefix hashed once:
// begin() hashes the prefix and keeps the state, finish() appends the rest
// to that state.  The validator needs sha256(signing input) for RS256,
// PS256 and ES256 and sha256(token) for the fingerprint, and the signing
// input is the token's first ~60%.  One per thread (it owns two OpenSSL
// contexts, made on first use); begin() before each finish().
class Sha256Prefix {
 public:
  Sha256Prefix();
  ~Sha256Prefix();
  Sha256Prefix(const Sha256Prefix&) = delete;
  Sha256Prefix& operator=(const Sha256Prefix&) = delete;

  // sha256(prefix).
  TokenDigest begin(std::string_view prefix);
  // sha256(prefix + rest) for the prefix of the last begin().
  TokenDigest finish(std::string_view rest);

 private:
  EVP_MD_CTX* whole_;  // prefix hashed, then the rest
  EVP_MD_CTX* fork_;   // a copy of whole_ after the prefix, finalised
};

// Digest as 64 lowercase hex characters.
std::string sha256_hex(std::string_view data);

// First 16 hex characters of sha256(token).  Safe to log: it identifies a
// token across log lines without revealing anything usable as a credential.
std::string token_fingerprint(std::string_view token);

// Compares in time that depends only on the lengths, never on the content,
// so a caller comparing secrets leaks no prefix information.
bool constant_time_equals(std::string_view a, std::string_view b);

}  // namespace dbx_oauth::core
