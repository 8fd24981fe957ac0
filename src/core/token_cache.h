// Per-backend cache of successful validations.
//
// Pooled clients present the same token many times (set_token per
// transaction); verifying an RSA signature each time is wasted work.  The
// cache is keyed by SHA-256 of the token, so the token itself is never
// stored, and entries are tied to a generation the caller bumps whenever
// keys or settings change, so a revoked key or tightened setting can never
// be bypassed through the cache.
#pragma once
#include "core/no_postgres.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/sha256.h"
#include "core/validator.h"

namespace dbx_oauth::core {

class TokenCache {
 public:
  explicit TokenCache(std::size_t capacity = 256);

  // The cached result for token if it was inserted with this generation and
  // has not expired (now >= exp drops it; no skew, the cache never extends
  // a token's life).  The pointer stays valid until the next non-const call.
  // Callers still run recheck_time() for the nbf/skew rules.
  const VerifiedToken* find(std::string_view token, uint64_t generation, int64_t now_unix);
  // The same keyed by sha256(token), for a caller that hashed it already.
  const VerifiedToken* find(const TokenDigest& token_sha256, uint64_t generation, int64_t now_unix);

  // Stores a copy; evicts the least recently used entry when full.  A
  // capacity of 0 disables caching.
  void insert(std::string_view token, const VerifiedToken& verified, uint64_t generation);
  void insert(const TokenDigest& token_sha256, const VerifiedToken& verified, uint64_t generation);

  void clear();
  std::size_t size() const { return index_.size(); }
  std::size_t capacity() const { return capacity_; }

 private:
  using Digest = std::string;  // 32 raw bytes of SHA-256

  struct Entry {
    Digest digest;
    uint64_t generation;
    VerifiedToken token;
  };
  using Lru = std::list<Entry>;  // front = most recently used

  static Digest digest_of(const TokenDigest& token_sha256);

  std::size_t capacity_;
  Lru lru_;
  std::unordered_map<Digest, Lru::iterator> index_;
};

}  // namespace dbx_oauth::core
