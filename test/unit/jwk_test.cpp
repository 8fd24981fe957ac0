// JWKS parsing: usable keys kept, unusable ones skipped (src/core/jwk.h).
#include "core/jwk.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

#include "core/base64url.h"
#include "test_keys.h"

using namespace dbx_oauth::core;
using dbx_oauth::test::public_jwk;
using nlohmann::json;

namespace {

JwksParseResult parse_keys(const json& keys) { return parse_jwks(json{{"keys", keys}}.dump()); }

// Parses a single key and returns why it was skipped ("" when accepted).
std::string skip_reason(const json& key) {
  const JwksParseResult result = parse_keys(json::array({key}));
  EXPECT_TRUE(result.ok) << result.error;
  if (!result.jwks.skipped.empty()) return result.jwks.skipped[0].why;
  EXPECT_EQ(result.jwks.keys.size(), 1u);
  return "";
}

std::string b64(const std::string& bytes) { return base64url_encode(bytes); }

}  // namespace

TEST(Jwk, AcceptsEachSupportedKeyType) {
  using namespace dbx_oauth::test;
  const JwksParseResult result =
      parse_keys(json::array({public_jwk(rsa2048(), "rsa"), public_jwk(ec_p256(), "ec256", "ES256"),
                              public_jwk(ec_p384(), "ec384"), public_jwk(ed25519(), "ed")}));
  ASSERT_TRUE(result.ok) << result.error;
  ASSERT_EQ(result.jwks.keys.size(), 4u);
  EXPECT_TRUE(result.jwks.skipped.empty());
  const auto& keys = result.jwks.keys;
  EXPECT_EQ(keys[0].kid, "rsa");
  EXPECT_EQ(keys[0].kty, KeyType::rsa);
  EXPECT_EQ(keys[0].bits, 2048);
  EXPECT_EQ(keys[1].crv, "P-256");
  EXPECT_EQ(keys[1].alg, "ES256");
  EXPECT_EQ(keys[2].crv, "P-384");
  EXPECT_EQ(keys[2].bits, 384);
  EXPECT_EQ(keys[3].kty, KeyType::okp);
  EXPECT_EQ(keys[3].crv, "Ed25519");
  for (const auto& key : keys) EXPECT_NE(key.pkey, nullptr);
}

TEST(Jwk, FitsAlg) {
  using namespace dbx_oauth::test;
  const auto result = parse_keys(json::array({public_jwk(rsa2048(), "rsa"), public_jwk(rsa2048(), "rs", "RS256"),
                                              public_jwk(ec_p256(), "ec"), public_jwk(ed25519(), "ed")}));
  ASSERT_EQ(result.jwks.keys.size(), 4u);
  const Jwk& rsa = result.jwks.keys[0];
  const Jwk& rs256_only = result.jwks.keys[1];
  const Jwk& ec = result.jwks.keys[2];
  const Jwk& ed = result.jwks.keys[3];
  for (const char* alg : {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}) EXPECT_TRUE(rsa.fits_alg(alg));
  EXPECT_FALSE(rsa.fits_alg("ES256"));
  EXPECT_FALSE(rsa.fits_alg("HS256"));
  EXPECT_FALSE(rsa.fits_alg("none"));
  EXPECT_FALSE(rsa.fits_alg("rs256"));
  EXPECT_TRUE(rs256_only.fits_alg("RS256"));
  EXPECT_FALSE(rs256_only.fits_alg("PS256"));
  EXPECT_TRUE(ec.fits_alg("ES256"));
  EXPECT_FALSE(ec.fits_alg("ES384"));
  EXPECT_TRUE(ed.fits_alg("EdDSA"));
  EXPECT_FALSE(ed.fits_alg("ES256"));
}

TEST(Jwk, SkippedWeakKeyKeepsTheRest) {
  using namespace dbx_oauth::test;
  const auto result = parse_keys(json::array({public_jwk(rsa1024(), "weak"), public_jwk(rsa2048(), "strong")}));
  ASSERT_TRUE(result.ok);
  ASSERT_EQ(result.jwks.keys.size(), 1u);
  EXPECT_EQ(result.jwks.keys[0].kid, "strong");
  ASSERT_EQ(result.jwks.skipped.size(), 1u);
  EXPECT_EQ(result.jwks.skipped[0].kid, "weak");
  EXPECT_NE(result.jwks.skipped[0].why.find("2048"), std::string::npos) << result.jwks.skipped[0].why;
}

TEST(Jwk, SkipsSymmetricAndPrivateKeys) {
  EXPECT_NE(skip_reason({{"kty", "oct"}, {"k", "c2VjcmV0"}, {"kid", "hmac"}}), "");
  json with_d = public_jwk(dbx_oauth::test::ec_p256(), "ec");
  with_d["d"] = "AAAA";
  EXPECT_NE(skip_reason(with_d), "");
  json with_p = public_jwk(dbx_oauth::test::rsa2048(), "rsa");
  with_p["p"] = "AAAA";
  EXPECT_NE(skip_reason(with_p), "");
}

TEST(Jwk, UseAndKeyOpsMustAllowSignatures) {
  json key = public_jwk(dbx_oauth::test::rsa2048(), "rsa");
  EXPECT_EQ(skip_reason(key), "");
  key["use"] = "sig";
  EXPECT_EQ(skip_reason(key), "");
  key["use"] = "enc";
  EXPECT_NE(skip_reason(key), "");
  key.erase("use");
  key["key_ops"] = json::array({"encrypt"});
  EXPECT_NE(skip_reason(key), "");
  key["key_ops"] = json::array({"verify"});
  EXPECT_EQ(skip_reason(key), "");
}

TEST(Jwk, KeyAlgMustBeAllowedAndFitType) {
  json key = public_jwk(dbx_oauth::test::rsa2048(), "rsa");
  for (const char* bad : {"HS256", "none", "ES256", "RSA-OAEP", "rs256"}) {
    key["alg"] = bad;
    EXPECT_NE(skip_reason(key), "") << bad;
  }
  json ec = public_jwk(dbx_oauth::test::ec_p256(), "ec", "ES384");  // alg for the other curve
  EXPECT_NE(skip_reason(ec), "");
  json ed = public_jwk(dbx_oauth::test::ed25519(), "ed", "ES256");
  EXPECT_NE(skip_reason(ed), "");
}

TEST(Jwk, RejectsMalformedMembers) {
  json key = public_jwk(dbx_oauth::test::rsa2048(), "rsa");
  json missing_n = key;
  missing_n.erase("n");
  EXPECT_NE(skip_reason(missing_n), "");
  json padded = key;
  padded["e"] = "AQAB==";
  EXPECT_NE(skip_reason(padded), "");
  json even_e = key;
  even_e["e"] = b64(std::string("\x01\x00\x00", 3));
  EXPECT_NE(skip_reason(even_e), "");
  json e_one = key;
  e_one["e"] = b64("\x01");
  EXPECT_NE(skip_reason(e_one), "");
  json numeric_kid = key;
  numeric_kid["kid"] = 7;
  EXPECT_NE(skip_reason(numeric_kid), "");
  json no_kty = key;
  no_kty.erase("kty");
  EXPECT_NE(skip_reason(no_kty), "");
  EXPECT_NE(skip_reason(json::array({1})), "");
  EXPECT_NE(skip_reason("key"), "");
}

TEST(Jwk, RsaModulusWithLeadingZeroIsAccepted) {
  json key = public_jwk(dbx_oauth::test::rsa2048(), "rsa");
  key["n"] = b64(std::string(1, '\0') + *base64url_decode(key["n"].get<std::string>()));
  EXPECT_EQ(skip_reason(key), "");
}

TEST(Jwk, RsaModulusFailingOpenSslPublicCheckIsSkipped) {
  // An even modulus cannot be a product of two odd primes; OpenSSL builds
  // the key but its public-key check refuses it.
  json key = public_jwk(dbx_oauth::test::rsa2048(), "rsa");
  std::string n = *base64url_decode(key["n"].get<std::string>());
  n.back() = static_cast<char>(n.back() & ~1);
  key["n"] = b64(n);
  EXPECT_NE(skip_reason(key), "");
}

TEST(Jwk, EcCoordinatesMustHaveExactLength) {
  json key = public_jwk(dbx_oauth::test::ec_p256(), "ec");
  const std::string x = *base64url_decode(key["x"].get<std::string>());
  json short_x = key;
  short_x["x"] = b64(x.substr(1));
  EXPECT_NE(skip_reason(short_x), "");
  json long_x = key;
  long_x["x"] = b64(std::string(1, '\0') + x);
  EXPECT_NE(skip_reason(long_x), "");
}

TEST(Jwk, EcPointMustBeOnCurve) {
  json key = public_jwk(dbx_oauth::test::ec_p256(), "ec");
  std::string y = *base64url_decode(key["y"].get<std::string>());
  y[31] = static_cast<char>(y[31] ^ 1);
  key["y"] = b64(y);
  EXPECT_NE(skip_reason(key), "");
  json p384 = public_jwk(dbx_oauth::test::ec_p384(), "ec");
  p384["x"] = b64(std::string(48, '\0'));
  p384["y"] = b64(std::string(48, '\0'));
  EXPECT_NE(skip_reason(p384), "");
}

TEST(Jwk, UnsupportedCurvesAreSkipped) {
  json key = public_jwk(dbx_oauth::test::ec_p256(), "ec");
  key["crv"] = "P-521";
  EXPECT_NE(skip_reason(key), "");
  key["crv"] = "secp256k1";
  EXPECT_NE(skip_reason(key), "");
  json okp = public_jwk(dbx_oauth::test::ed25519(), "ed");
  okp["crv"] = "X25519";
  EXPECT_NE(skip_reason(okp), "");
  okp["crv"] = "Ed448";
  EXPECT_NE(skip_reason(okp), "");
  okp["crv"] = "Ed25519";
  okp["x"] = b64(std::string(31, 'a'));
  EXPECT_NE(skip_reason(okp), "");
}

TEST(Jwk, Ed25519SmallOrderAndNonCanonicalPointsAreSkipped) {
  const auto hex_bytes = [](const char* hex) {
    std::string out;
    for (size_t i = 0; hex[i] && hex[i + 1]; i += 2) out.push_back(static_cast<char>(std::stoi(std::string(hex + i, 2), nullptr, 16)));
    return out;
  };
  for (const char* hex : {
           "0000000000000000000000000000000000000000000000000000000000000000",  // all zero
           "0100000000000000000000000000000000000000000000000000000000000000",  // identity
           "0000000000000000000000000000000000000000000000000000000000000080",  // zero, sign set
           "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  // y = p - 1
           "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  // order 8
           "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
           "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
           "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
           "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  // y = p (non-canonical 0)
           "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  // y = p + 1
       }) {
    const json key = {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", b64(hex_bytes(hex))}, {"kid", "bad"}};
    EXPECT_NE(skip_reason(key), "") << hex;
  }
  // The RFC 8037 key is fine.
  EXPECT_EQ(skip_reason({{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}}), "");
}

TEST(Jwk, DocumentLevelErrors) {
  EXPECT_FALSE(parse_jwks("not json").ok);
  EXPECT_FALSE(parse_jwks("[]").ok);
  EXPECT_FALSE(parse_jwks("{}").ok);
  EXPECT_FALSE(parse_jwks(R"({"keys":{}})").ok);
  EXPECT_FALSE(parse_jwks(R"({"keys":[],"keys":[]})").ok);
  json many = json::array();
  for (size_t i = 0; i <= kMaxJwksKeys; ++i) many.push_back({{"kty", "oct"}});
  EXPECT_FALSE(parse_keys(many).ok);
  EXPECT_FALSE(parse_jwks(R"({"keys":[],"pad":")" + std::string(kMaxJwksBytes, 'a') + "\"}").ok);
  const auto empty = parse_jwks(R"({"keys":[]})");
  EXPECT_TRUE(empty.ok);
  EXPECT_TRUE(empty.jwks.keys.empty());
}

TEST(Jwk, SkippedKidIsSanitized) {
  const auto result = parse_keys(json::array({{{"kty", "oct"}, {"kid", "bad\"kid\n" + std::string(200, 'x')}}}));
  ASSERT_EQ(result.jwks.skipped.size(), 1u);
  const std::string& kid = result.jwks.skipped[0].kid;
  EXPECT_EQ(kid.find('"'), std::string::npos);
  EXPECT_EQ(kid.find('\n'), std::string::npos);
  EXPECT_LE(kid.size(), 83u);
}

TEST(Jwk, AlgorithmTable) {
  EXPECT_EQ(find_algorithm("none"), nullptr);
  EXPECT_EQ(find_algorithm("HS256"), nullptr);
  EXPECT_EQ(find_algorithm("ES512"), nullptr);
  EXPECT_EQ(find_algorithm("rs256"), nullptr);
  ASSERT_NE(find_algorithm("PS384"), nullptr);
  EXPECT_EQ(find_algorithm("PS384")->scheme, SignatureScheme::rsa_pss);
  const std::vector<std::string> expected = {"RS256", "RS384", "RS512", "PS256", "PS384",
                                             "PS512", "ES256", "ES384", "EdDSA"};
  EXPECT_EQ(default_allowed_algorithms(), expected);
  EXPECT_STREQ(key_type_name(KeyType::okp), "OKP");
}
