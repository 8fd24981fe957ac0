// Bounded per-backend token cache (src/core/token_cache.h).
#include "core/token_cache.h"

#include <gtest/gtest.h>

#include <string>

using namespace dbx_oauth::core;

namespace {

constexpr int64_t kNow = 1700000000;

VerifiedToken verified(const std::string& identity, int64_t expires_at = kNow + 3600) {
  VerifiedToken token;
  token.identity = identity;
  token.expires_at = expires_at;
  return token;
}

}  // namespace

TEST(TokenCache, FindsInsertedToken) {
  TokenCache cache(4);
  cache.insert("token-a", verified("alice@example.com"), 1);
  const VerifiedToken* hit = cache.find("token-a", 1, kNow);
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ(hit->identity, "alice@example.com");
  EXPECT_EQ(cache.find("token-b", 1, kNow), nullptr);
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.capacity(), 4u);
}

TEST(TokenCache, DigestAndTokenKeysAreTheSame) {
  TokenCache cache(4);
  cache.insert(sha256("token-a"), verified("alice@example.com"), 1);
  const VerifiedToken* hit = cache.find("token-a", 1, kNow);
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ(hit->identity, "alice@example.com");
  cache.insert("token-b", verified("bob@example.com"), 1);
  ASSERT_NE(cache.find(sha256("token-b"), 1, kNow), nullptr);
  EXPECT_EQ(cache.find(sha256("token-c"), 1, kNow), nullptr);
}

TEST(TokenCache, DefaultCapacity) { EXPECT_EQ(TokenCache().capacity(), 256u); }

TEST(TokenCache, GenerationMismatchMissesAndDrops) {
  TokenCache cache(4);
  cache.insert("token-a", verified("alice@example.com"), 1);
  EXPECT_EQ(cache.find("token-a", 2, kNow), nullptr);
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.find("token-a", 1, kNow), nullptr);
}

TEST(TokenCache, ExpiredEntriesAreDropped) {
  TokenCache cache(4);
  cache.insert("token-a", verified("alice@example.com", kNow + 10), 1);
  EXPECT_NE(cache.find("token-a", 1, kNow + 9), nullptr);
  EXPECT_EQ(cache.find("token-a", 1, kNow + 10), nullptr);  // now >= exp
  EXPECT_EQ(cache.size(), 0u);
}

TEST(TokenCache, BoundedWithLruEviction) {
  TokenCache cache(3);
  for (int i = 0; i < 3; ++i) cache.insert("token-" + std::to_string(i), verified("u" + std::to_string(i)), 1);
  ASSERT_NE(cache.find("token-0", 1, kNow), nullptr);  // token-0 now most recently used
  cache.insert("token-3", verified("u3"), 1);           // evicts token-1
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_NE(cache.find("token-0", 1, kNow), nullptr);
  EXPECT_EQ(cache.find("token-1", 1, kNow), nullptr);
  EXPECT_NE(cache.find("token-2", 1, kNow), nullptr);
  EXPECT_NE(cache.find("token-3", 1, kNow), nullptr);
  for (int i = 10; i < 100; ++i) cache.insert("token-" + std::to_string(i), verified("x"), 1);
  EXPECT_EQ(cache.size(), 3u);
}

TEST(TokenCache, ReinsertReplacesWithoutGrowing) {
  TokenCache cache(2);
  cache.insert("token-a", verified("old@example.com"), 1);
  cache.insert("token-a", verified("new@example.com"), 2);
  EXPECT_EQ(cache.size(), 1u);
  const VerifiedToken* hit = cache.find("token-a", 2, kNow);
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ(hit->identity, "new@example.com");
}

TEST(TokenCache, ZeroCapacityDisablesCaching) {
  TokenCache cache(0);
  cache.insert("token-a", verified("alice@example.com"), 1);
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.find("token-a", 1, kNow), nullptr);
}

TEST(TokenCache, ClearEmpties) {
  TokenCache cache(4);
  cache.insert("token-a", verified("a@example.com"), 1);
  cache.insert("token-b", verified("b@example.com"), 1);
  cache.clear();
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.find("token-a", 1, kNow), nullptr);
}

TEST(TokenCache, KeyIsTheWholeToken) {
  TokenCache cache(4);
  cache.insert("aaa.bbb.ccc", verified("a@example.com"), 1);
  EXPECT_EQ(cache.find("aaa.bbb.cc", 1, kNow), nullptr);
  EXPECT_EQ(cache.find("aaa.bbb.ccd", 1, kNow), nullptr);
  EXPECT_NE(cache.find("aaa.bbb.ccc", 1, kNow), nullptr);
}
