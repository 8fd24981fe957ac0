// SHA-256 helpers (src/core/sha256.h).
#include "core/sha256.h"

#include <gtest/gtest.h>

using namespace dbx_oauth::core;

TEST(Sha256, KnownAnswers) {
  // FIPS 180-2 examples.
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const auto raw = sha256("abc");
  EXPECT_EQ(raw[0], 0xba);
  EXPECT_EQ(raw[31], 0xad);
}

TEST(Sha256, FingerprintIsPrefixOfDigest) {
  const std::string token = "header.payload.signature";
  const std::string fingerprint = token_fingerprint(token);
  EXPECT_EQ(fingerprint.size(), 16u);
  EXPECT_EQ(fingerprint, sha256_hex(token).substr(0, 16));
  EXPECT_NE(fingerprint, token_fingerprint("header.payload.signaturf"));
}

TEST(Sha256, PrefixDigestsEqualTheOneShotDigests) {
  // Every split around the 64-byte block boundaries, reused across texts.
  Sha256Prefix hashing;
  std::string text;
  for (int i = 0; i < 200; ++i) text.push_back(static_cast<char>('a' + i % 26));
  for (std::size_t length : {0u, 1u, 63u, 64u, 65u, 127u, 128u, 200u}) {
    const std::string_view whole(text.data(), length);
    for (std::size_t prefix = 0; prefix <= length; ++prefix) {
      EXPECT_EQ(hashing.begin(whole.substr(0, prefix)), sha256(whole.substr(0, prefix))) << prefix;
      EXPECT_EQ(hashing.finish(whole.substr(prefix)), sha256(whole)) << length << " " << prefix;
    }
  }
  EXPECT_EQ(hashing.begin("ab"), sha256("ab"));
  EXPECT_EQ(hashing.finish("c"), sha256("abc"));
  EXPECT_EQ(digest_hex(sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256, ConstantTimeEquals) {
  EXPECT_TRUE(constant_time_equals("", ""));
  EXPECT_TRUE(constant_time_equals("secret", "secret"));
  EXPECT_FALSE(constant_time_equals("secret", "secreT"));
  EXPECT_FALSE(constant_time_equals("secret", "secret2"));
  EXPECT_FALSE(constant_time_equals("", "a"));
  EXPECT_TRUE(constant_time_equals(std::string_view("a\0b", 3), std::string_view("a\0b", 3)));
  EXPECT_FALSE(constant_time_equals(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
}
