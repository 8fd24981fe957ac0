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

namespace {
// Every token lands in one bucket: only the exact comparison tells them apart.
std::size_t one_bucket(std::string_view) { return 42; }
}  // namespace

TEST(TokenCache, SameHashDifferentTokensNeverMatch) {
  TokenCache cache(8, one_bucket);
  cache.insert("token-a", verified("alice@example.com"), 1);
  EXPECT_EQ(cache.find("token-b", 1, kNow), nullptr);
  EXPECT_EQ(cache.find("token-", 1, kNow), nullptr);
  EXPECT_EQ(cache.find("token-aa", 1, kNow), nullptr);
  EXPECT_EQ(cache.find(std::string("token-a\0", 8), 1, kNow), nullptr);
  cache.insert("token-b", verified("bob@example.com"), 1);
  EXPECT_EQ(cache.size(), 2u);
  const VerifiedToken* a = cache.find("token-a", 1, kNow);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->identity, "alice@example.com");
  const VerifiedToken* b = cache.find("token-b", 1, kNow);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->identity, "bob@example.com");
}

TEST(TokenCache, SameHashGenerationAndExpiryDropOnlyTheirEntry) {
  TokenCache cache(8, one_bucket);
  cache.insert("token-a", verified("alice@example.com", kNow + 10), 1);
  cache.insert("token-b", verified("bob@example.com"), 2);
  EXPECT_EQ(cache.find("token-b", 1, kNow), nullptr);  // generation mismatch drops b
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_NE(cache.find("token-a", 1, kNow), nullptr);
  EXPECT_EQ(cache.find("token-a", 1, kNow + 10), nullptr);  // now >= exp drops a
  EXPECT_EQ(cache.size(), 0u);
}

TEST(TokenCache, SameHashLruEvictionKeepsTheRightEntries) {
  TokenCache cache(2, one_bucket);
  cache.insert("t1", verified("u1"), 1);
  cache.insert("t2", verified("u2"), 1);
  ASSERT_NE(cache.find("t1", 1, kNow), nullptr);
  cache.insert("t3", verified("u3"), 1);  // evicts t2
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.find("t2", 1, kNow), nullptr);
  ASSERT_NE(cache.find("t1", 1, kNow), nullptr);
  EXPECT_EQ(cache.find("t1", 1, kNow)->identity, "u1");
  EXPECT_EQ(cache.find("t3", 1, kNow)->identity, "u3");
}

TEST(TokenCache, LookupKeyNeedNotOutliveTheCall) {
  TokenCache cache(4);
  {
    std::string temp = "token-temporary";
    cache.insert(temp, verified("t@example.com"), 1);
    temp.assign(temp.size(), 'x');  // the cache must hold its own copy
  }
  const VerifiedToken* hit = cache.find(std::string("token-temporary"), 1, kNow);
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ(hit->identity, "t@example.com");
}
