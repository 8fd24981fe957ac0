// Bounded LRU cache of verified tokens (see token_cache.h).
#include "core/token_cache.h"

#include "core/sha256.h"

namespace dbx_oauth::core {

TokenCache::TokenCache(std::size_t capacity) : capacity_(capacity) {}

TokenCache::Digest TokenCache::digest_of(const TokenDigest& token_sha256) {
  return Digest(reinterpret_cast<const char*>(token_sha256.data()), token_sha256.size());
}

const VerifiedToken* TokenCache::find(std::string_view token, uint64_t generation, int64_t now_unix) {
  return find(sha256(token), generation, now_unix);
}

void TokenCache::insert(std::string_view token, const VerifiedToken& verified, uint64_t generation) {
  insert(sha256(token), verified, generation);
}

const VerifiedToken* TokenCache::find(const TokenDigest& token_sha256, uint64_t generation,
                                      int64_t now_unix) {
  const auto it = index_.find(digest_of(token_sha256));
  if (it == index_.end()) return nullptr;
  const Lru::iterator entry = it->second;
  // Stale entries are useless forever: drop them now instead of waiting
  // for eviction, so the cache never holds results of old keys.
  if (entry->generation != generation || now_unix >= entry->token.expires_at) {
    index_.erase(it);
    lru_.erase(entry);
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, entry);
  return &entry->token;
}

void TokenCache::insert(const TokenDigest& token_sha256, const VerifiedToken& verified, uint64_t generation) {
  if (capacity_ == 0) return;
  Digest digest = digest_of(token_sha256);
  if (const auto it = index_.find(digest); it != index_.end()) {
    it->second->generation = generation;
    it->second->token = verified;
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  while (index_.size() >= capacity_) {
    index_.erase(lru_.back().digest);
    lru_.pop_back();
  }
  lru_.push_front(Entry{digest, generation, verified});
  index_.emplace(std::move(digest), lru_.begin());
}

void TokenCache::clear() {
  index_.clear();
  lru_.clear();
}

}  // namespace dbx_oauth::core
