// Per-backend cache of successful validations.
//
// Pooled clients present the same token many times (set_token per
// transaction); verifying an RSA signature each time is wasted work.  Each
// entry holds a copy of the token it was validated for, and a lookup hits
// only on an exact byte-for-byte match with that copy: the fast
// non-cryptographic hash merely picks the bucket, so two different tokens
// sharing a hash can never share a result.  (A SHA-256 key was the single
// largest cost of a cache hit.)  Holding the copy is safe because the cache
// lives in backend-local memory only, never in shared memory, and is never
// logged; the backend already holds the same token in its session identity,
// and evicted or cleared copies are wiped before their memory is freed.
// Entries are tied to a generation the caller bumps whenever keys or
// settings change, so a revoked key or tightened setting can never be
// bypassed through the cache.
#pragma once
#include "core/no_postgres.h"

#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/validator.h"

namespace dbx_oauth::core {

class TokenCache {
 public:
  // Bucket hash over the token bytes.  Tests pass a degenerate one to force
  // different tokens into one bucket; production uses the default.
  using HashFn = std::size_t (*)(std::string_view);

  explicit TokenCache(std::size_t capacity = 256, HashFn hash = default_hash);
  ~TokenCache();
  TokenCache(const TokenCache&) = delete;
  TokenCache& operator=(const TokenCache&) = delete;

  // The cached result for token if it was inserted with this generation and
  // has not expired (now >= exp drops it; no skew, the cache never extends
  // a token's life).  The pointer stays valid until the next non-const call.
  // Callers still run recheck_time() for the nbf/skew rules.
  const VerifiedToken* find(std::string_view token, uint64_t generation, int64_t now_unix);

  // Stores a copy; evicts the least recently used entry when full.  A
  // capacity of 0 disables caching.
  void insert(std::string_view token, const VerifiedToken& verified, uint64_t generation);

  void clear();
  std::size_t size() const { return index_.size(); }
  std::size_t capacity() const { return capacity_; }

  static std::size_t default_hash(std::string_view token);

 private:
  struct Entry {
    std::string token_text;  // exact key; the index's string_view points here
    uint64_t generation;
    VerifiedToken token;
  };
  using Lru = std::list<Entry>;  // front = most recently used

  struct Hasher {
    HashFn fn;
    std::size_t operator()(std::string_view s) const { return fn(s); }
  };

  void erase(Lru::iterator entry);

  std::size_t capacity_;
  Lru lru_;
  // Keys view the token_text of their list node (list nodes never move);
  // equality is std::string_view's exact byte comparison.
  std::unordered_map<std::string_view, Lru::iterator, Hasher> index_;
};

}  // namespace dbx_oauth::core
