// Bounded LRU cache of verified tokens (see token_cache.h).
#include "core/token_cache.h"

#include <functional>

namespace dbx_oauth::core {

namespace {

// Overwrites a token copy before its memory goes back to the allocator, so a
// freed heap chunk does not keep a bearer token around.
void wipe(std::string& s) {
  volatile char* p = s.data();
  for (std::size_t i = 0; i < s.size(); ++i) p[i] = 0;
  s.clear();
}

}  // namespace

TokenCache::TokenCache(std::size_t capacity, HashFn hash)
    : capacity_(capacity), index_(0, Hasher{hash}) {}

TokenCache::~TokenCache() { clear(); }

std::size_t TokenCache::default_hash(std::string_view token) { return std::hash<std::string_view>{}(token); }

void TokenCache::erase(Lru::iterator entry) {
  index_.erase(std::string_view(entry->token_text));
  wipe(entry->token_text);
  lru_.erase(entry);
}

const VerifiedToken* TokenCache::find(std::string_view token, uint64_t generation, int64_t now_unix) {
  const auto it = index_.find(token);
  if (it == index_.end()) return nullptr;
  const Lru::iterator entry = it->second;
  // Stale entries are useless forever: drop them now instead of waiting
  // for eviction, so the cache never holds results of old keys.
  if (entry->generation != generation || now_unix >= entry->token.expires_at) {
    erase(entry);
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, entry);
  return &entry->token;
}

void TokenCache::insert(std::string_view token, const VerifiedToken& verified, uint64_t generation) {
  if (capacity_ == 0) return;
  if (const auto it = index_.find(token); it != index_.end()) {
    it->second->generation = generation;
    it->second->token = verified;
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  while (index_.size() >= capacity_) erase(std::prev(lru_.end()));
  lru_.push_front(Entry{std::string(token), generation, verified});
  index_.emplace(std::string_view(lru_.front().token_text), lru_.begin());
}

void TokenCache::clear() {
  index_.clear();
  for (Entry& e : lru_) wipe(e.token_text);
  lru_.clear();
}

}  // namespace dbx_oauth::core
