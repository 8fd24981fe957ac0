// The revocation set (src/core/revocation_set.h): matching rules, the
// fixed capacity, and deletion that never cuts a probe chain.
#include "core/revocation_set.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace dbx_oauth::core;

namespace {

struct Set {
  explicit Set(uint32_t capacity) : memory(RevocationSet::bytes_for(capacity) / 8 + 1) {
    RevocationSet::init(memory.data(), capacity);
  }
  RevocationSet get() { return RevocationSet(memory.data()); }
  std::vector<uint64_t> memory;
};

constexpr int64_t kT = 1800000000;  // a fixed clock (unix seconds)

}  // namespace

TEST(RevocationSet, EmptyMatchesNothing) {
  Set s(100);
  EXPECT_EQ(s.get().check("alice@example.com", kT, "jti:1"), RevocationMatch::none);
  EXPECT_EQ(s.get().size(), 0u);
}

TEST(RevocationSet, CutoffRevokesEarlierAndMissingIat) {
  Set s(100);
  RevocationSet set = s.get();
  ASSERT_TRUE(set.add_cutoff("Alice@Example.com", kT * 1000000 + 500000));  // T + 0.5 s
  EXPECT_EQ(set.check("alice@example.com", kT - 10, ""), RevocationMatch::identity_cutoff);
  EXPECT_EQ(set.check("ALICE@example.com", kT, ""), RevocationMatch::identity_cutoff)
      << "a token of the cutoff's own second may be older than the cutoff";
  EXPECT_EQ(set.check("alice@example.com", kT + 1, ""), RevocationMatch::none) << "a fresh token works";
  EXPECT_EQ(set.check("alice@example.com", std::nullopt, ""), RevocationMatch::identity_cutoff)
      << "a token without iat counts as revoked";
  EXPECT_EQ(set.check("bob@example.com", kT - 10, ""), RevocationMatch::none);
  // the latest cutoff wins, an earlier one never shortens it
  ASSERT_TRUE(set.add_cutoff("alice@example.com", (kT - 100) * 1000000));
  EXPECT_EQ(set.check("alice@example.com", kT - 10, ""), RevocationMatch::identity_cutoff);
  EXPECT_EQ(set.size(), 1u);
  // exact second boundary
  ASSERT_TRUE(set.add_cutoff("carol@example.com", kT * 1000000));
  EXPECT_EQ(set.check("carol@example.com", kT, ""), RevocationMatch::none);
  EXPECT_EQ(set.check("carol@example.com", kT - 1, ""), RevocationMatch::identity_cutoff);
}

TEST(RevocationSet, BlockBySourceAndUnblock) {
  Set s(100);
  RevocationSet set = s.get();
  ASSERT_TRUE(set.add_block("alice@example.com", kRevocationByAdmin));
  ASSERT_TRUE(set.add_block("alice@example.com", kRevocationByGroupSync));
  EXPECT_EQ(set.check("alice@example.com", kT + 1000, ""), RevocationMatch::identity_blocked);
  EXPECT_TRUE(set.remove_block("alice@example.com", kRevocationByGroupSync));
  EXPECT_EQ(set.check("alice@example.com", kT, ""), RevocationMatch::identity_blocked)
      << "the administrator's block stays when the group sync lifts its own";
  EXPECT_FALSE(set.remove_block("alice@example.com", kRevocationByGroupSync));
  EXPECT_TRUE(set.remove_block("alice@example.com", kRevocationByAdmin | kRevocationByGroupSync));
  EXPECT_EQ(set.check("alice@example.com", kT, ""), RevocationMatch::none);
  EXPECT_EQ(set.size(), 0u);
  // a block on an identity with a cutoff keeps the cutoff when lifted
  ASSERT_TRUE(set.add_cutoff("bob@example.com", kT * 1000000));
  ASSERT_TRUE(set.add_block("bob@example.com", kRevocationByAdmin));
  EXPECT_TRUE(set.remove_block("bob@example.com", kRevocationByAdmin));
  EXPECT_EQ(set.check("bob@example.com", kT - 1, ""), RevocationMatch::identity_cutoff);
  EXPECT_EQ(set.check("bob@example.com", kT + 1, ""), RevocationMatch::none);
}

TEST(RevocationSet, TokenKeysAndPurge) {
  Set s(100);
  RevocationSet set = s.get();
  ASSERT_TRUE(set.add_token("jti:abc", kT + 3600));
  ASSERT_TRUE(set.add_token("sha256:00ff", kT + 60));
  EXPECT_EQ(set.check("alice@example.com", kT, "jti:abc"), RevocationMatch::token);
  EXPECT_EQ(set.check("alice@example.com", kT, "jti:ABC"), RevocationMatch::none) << "token keys are exact";
  EXPECT_EQ(set.check("alice@example.com", kT, "sha256:00ff"), RevocationMatch::token);
  EXPECT_EQ(set.check("jti:abc", kT, ""), RevocationMatch::none) << "identities and token keys never mix";
  EXPECT_EQ(set.purge_tokens(kT + 61), 1u);
  EXPECT_EQ(set.check("alice@example.com", kT, "sha256:00ff"), RevocationMatch::none);
  EXPECT_EQ(set.check("alice@example.com", kT, "jti:abc"), RevocationMatch::token);
}

TEST(RevocationSet, TokenKeyForm) {
  EXPECT_EQ(revocation_token_key("abc-123", "ff00"), "jti:abc-123");
  EXPECT_EQ(revocation_token_key("", "ff00"), "sha256:ff00");
  const std::string long_jti(500, 'x');
  const std::string key = revocation_token_key(long_jti, "ff00");
  EXPECT_EQ(key.rfind("jti-sha256:", 0), 0u);
  EXPECT_LE(key.size(), 200u);
  EXPECT_EQ(revocation_token_key(std::string("a\nb"), "ff").rfind("jti-sha256:", 0), 0u);
}

TEST(RevocationSet, FullSetRefusesAndSaysSo) {
  Set s(1000);
  RevocationSet set = s.get();
  for (int i = 0; i < 1000; i++) ASSERT_TRUE(set.add_token("jti:" + std::to_string(i), kT));
  EXPECT_FALSE(set.overflowed());
  EXPECT_TRUE(set.add_token("jti:5", kT + 1)) << "an existing key needs no room";
  EXPECT_FALSE(set.add_cutoff("alice@example.com", kT));
  EXPECT_TRUE(set.overflowed());
  for (int i = 0; i < 1000; i++) ASSERT_EQ(set.check("x", kT, "jti:" + std::to_string(i)), RevocationMatch::token);
  set.clear();
  EXPECT_FALSE(set.overflowed());
  EXPECT_EQ(set.size(), 0u);
}

// Many inserts and deletes: every survivor stays findable (backward shift
// must never cut a probe chain), including across the table's wrap-around.
TEST(RevocationSet, ChurnKeepsEveryEntryFindable) {
  Set s(5000);
  RevocationSet set = s.get();
  for (int i = 0; i < 5000; i++) ASSERT_TRUE(set.add_token("jti:" + std::to_string(i), kT + (i % 2 ? 10 : 1000)));
  EXPECT_EQ(set.purge_tokens(kT + 100), 2500u);
  EXPECT_EQ(set.size(), 2500u);
  for (int i = 0; i < 5000; i++)
    ASSERT_EQ(set.check("x", kT, "jti:" + std::to_string(i)),
              i % 2 ? RevocationMatch::none : RevocationMatch::token) << i;
  for (int i = 0; i < 5000; i += 4) {
    ASSERT_TRUE(set.add_block("u" + std::to_string(i), kRevocationByAdmin));
    ASSERT_TRUE(set.remove_block("u" + std::to_string(i), kRevocationByAdmin));
  }
  EXPECT_EQ(set.size(), 2500u);
  for (int i = 0; i < 5000; i += 2) ASSERT_EQ(set.check("x", kT, "jti:" + std::to_string(i)), RevocationMatch::token);
}

TEST(RevocationSet, SourceNames) {
  EXPECT_EQ(parse_revocation_source("admin"), kRevocationByAdmin);
  EXPECT_EQ(parse_revocation_source("group_sync"), kRevocationByGroupSync);
  EXPECT_FALSE(parse_revocation_source("other"));
  EXPECT_STREQ(revocation_match_name(RevocationMatch::identity_blocked), "identity_blocked");
}
