// Flat encoding of validation results for the shared cache (src/core/token_record.h).
#include "core/token_record.h"

#include <gtest/gtest.h>

#include <string>

using namespace dbx_oauth::core;

namespace {

VerifiedToken sample() {
  VerifiedToken t;
  t.identity = "alice@example.com";
  t.identity_type = IdentityType::service_principal;
  t.issuer = "https://adb-1.azuredatabricks.net/oidc";
  t.kid = "k1";
  t.alg = "RS256";
  t.fingerprint = "0123456789abcdef";
  t.expires_at = 1700003600;
  t.issued_at = 1700000000;
  t.scopes = {"all-apis", "", "sql offline"};
  t.claims_json = R"({"sub":"alice@example.com","x":"\u0000"})";
  t.revocation_key = "jti:abc";
  return t;
}

void expect_same(const VerifiedToken& a, const VerifiedToken& b) {
  EXPECT_EQ(a.identity, b.identity);
  EXPECT_EQ(a.identity_type, b.identity_type);
  EXPECT_EQ(a.issuer, b.issuer);
  EXPECT_EQ(a.kid, b.kid);
  EXPECT_EQ(a.alg, b.alg);
  EXPECT_EQ(a.fingerprint, b.fingerprint);
  EXPECT_EQ(a.expires_at, b.expires_at);
  EXPECT_EQ(a.issued_at, b.issued_at);
  EXPECT_EQ(a.not_before, b.not_before);
  EXPECT_EQ(a.scopes, b.scopes);
  EXPECT_EQ(a.claims_json, b.claims_json);
  EXPECT_EQ(a.revocation_key, b.revocation_key);
}

}  // namespace

TEST(TokenRecord, RoundTripsEveryField) {
  const VerifiedToken in = sample();
  VerifiedToken out;
  ASSERT_TRUE(decode_verified_token(encode_verified_token(in), out));
  expect_same(in, out);
  EXPECT_FALSE(out.not_before.has_value());
}

TEST(TokenRecord, RoundTripsOptionalTimesAndEmptyValues) {
  VerifiedToken in;
  in.not_before = -5;
  in.expires_at = -1;
  in.claims_json = std::string("{\"a\":1}\0x", 9);  // embedded NUL survives
  VerifiedToken out;
  ASSERT_TRUE(decode_verified_token(encode_verified_token(in), out));
  expect_same(in, out);
  EXPECT_FALSE(out.issued_at.has_value());
}

TEST(TokenRecord, RefusesEveryTruncation) {
  const std::string bytes = encode_verified_token(sample());
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    VerifiedToken out = sample();
    out.identity = "untouched";
    EXPECT_FALSE(decode_verified_token(std::string_view(bytes).substr(0, n), out)) << n;
    EXPECT_EQ(out.identity, "untouched") << "a refused record must not be partly applied";
  }
}

TEST(TokenRecord, RefusesTrailingBytesBadMagicTypeAndFlags) {
  const std::string bytes = encode_verified_token(sample());
  VerifiedToken out;
  EXPECT_FALSE(decode_verified_token(bytes + "x", out));
  std::string bad = bytes;
  bad[0] = 'X';
  EXPECT_FALSE(decode_verified_token(bad, out));
  bad = bytes;
  bad[3] = 3;  // identity type beyond GROUP
  EXPECT_FALSE(decode_verified_token(bad, out));
  bad = bytes;
  bad[4] = 4;  // unknown flag
  EXPECT_FALSE(decode_verified_token(bad, out));
  bad = bytes;
  bad[4] = 0;  // iat present in the bytes but flagged absent
  EXPECT_FALSE(decode_verified_token(bad, out));
}

TEST(TokenRecord, RefusesHostileLengths) {
  std::string bytes = encode_verified_token(VerifiedToken{});
  VerifiedToken out;
  ASSERT_TRUE(decode_verified_token(bytes, out));
  // The first string length (identity) sits after magic, type, flags and
  // three 8-byte times; claim 4 GiB.
  std::string huge = bytes;
  for (int i = 0; i < 4; ++i) huge[3 + 2 + 24 + i] = '\xff';
  EXPECT_FALSE(decode_verified_token(huge, out));
  // A scope count far beyond what the remaining bytes can hold.
  std::string many = bytes;
  for (int i = 1; i <= 4; ++i) many[many.size() - i] = '\x7f';
  EXPECT_FALSE(decode_verified_token(many, out));
}

TEST(TokenRecord, ArbitraryBytesNeverCrash) {
  std::string noise;
  unsigned x = 12345;
  for (int round = 0; round < 2000; ++round) {
    noise.clear();
    const std::size_t n = (x = x * 1103515245u + 12345u) % 200;
    if (round % 2 == 0) noise = "VT1";
    for (std::size_t i = 0; i < n; ++i) noise.push_back(static_cast<char>((x = x * 1103515245u + 12345u) >> 16));
    VerifiedToken out;
    (void)decode_verified_token(noise, out);
  }
  SUCCEED();
}
