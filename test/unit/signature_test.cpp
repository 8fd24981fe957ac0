// Signature verification: RFC known answers and every algorithm
// (src/core/signature.h).
#include "core/signature.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <tuple>

#include "core/base64url.h"
#include "core/sha256.h"
#include "test_keys.h"

using namespace dbx_oauth::core;
using nlohmann::json;

namespace {

// RFC 7515 Appendix A.2 (RS256) and A.3 (ES256) share this signing input.
constexpr const char* kRfc7515Input =
    "eyJhbGciOiJSUzI1NiJ9."
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
constexpr const char* kRfc7515A2Signature =
    "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujG"
    "bds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0G"
    "arZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgG"
    "Y9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";
constexpr const char* kRfc7515A2Jwks = R"({"keys":[{"kty":"RSA",
  "n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ",
  "e":"AQAB"}]})";

constexpr const char* kRfc7515A3Input =
    "eyJhbGciOiJFUzI1NiJ9."
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
constexpr const char* kRfc7515A3Signature =
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
constexpr const char* kRfc7515A3Jwks = R"({"keys":[{"kty":"EC","crv":"P-256",
  "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
  "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]})";

// RFC 8037 Appendix A.4: Ed25519 signature of "Example of Ed25519 signing".
constexpr const char* kRfc8037Input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
constexpr const char* kRfc8037Signature =
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
constexpr const char* kRfc8037Jwks =
    R"({"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]})";

Jwk single_key(const char* jwks) {
  const JwksParseResult result = parse_jwks(jwks);
  EXPECT_TRUE(result.ok) << result.error;
  EXPECT_EQ(result.jwks.keys.size(), 1u);
  return result.jwks.keys.empty() ? Jwk{} : result.jwks.keys[0];
}

Jwk key_for(const dbx_oauth::test::TestKey& key) {
  return single_key(json{{"keys", json::array({dbx_oauth::test::public_jwk(key, "k")})}}.dump().c_str());
}

std::string decoded(const char* b64) { return *base64url_decode(b64); }

std::string flip_bit(std::string bytes, size_t index) {
  bytes[index] = static_cast<char>(bytes[index] ^ 0x01);
  return bytes;
}

// Group order of a curve as big-endian bytes, straight from OpenSSL.
std::string curve_order(int nid, int size) {
  std::unique_ptr<EC_GROUP, decltype(&EC_GROUP_free)> group(EC_GROUP_new_by_curve_name(nid), EC_GROUP_free);
  std::string out(static_cast<size_t>(size), '\0');
  BN_bn2binpad(EC_GROUP_get0_order(group.get()), reinterpret_cast<unsigned char*>(out.data()), size);
  return out;
}

// Big-endian decrement (value > 0).
std::string minus_one(std::string value) {
  for (size_t i = value.size(); i-- > 0;) {
    if (value[i] != '\0') {
      value[i] = static_cast<char>(value[i] - 1);
      break;
    }
    value[i] = static_cast<char>(0xff);
  }
  return value;
}

}  // namespace

TEST(Signature, Rfc7515A2Rs256KnownAnswer) {
  const Jwk key = single_key(kRfc7515A2Jwks);
  EXPECT_EQ(key.bits, 2048);
  const std::string sig = decoded(kRfc7515A2Signature);
  EXPECT_EQ(verify_signature("RS256", key, kRfc7515Input, sig), Reason::ok);
  EXPECT_EQ(verify_signature("RS256", key, kRfc7515Input, flip_bit(sig, 100)), Reason::bad_signature);
  EXPECT_EQ(verify_signature("RS256", key, std::string(kRfc7515Input) + "x", sig), Reason::bad_signature);
  EXPECT_EQ(verify_signature("RS384", key, kRfc7515Input, sig), Reason::bad_signature);
  EXPECT_EQ(verify_signature("PS256", key, kRfc7515Input, sig), Reason::bad_signature);
  EXPECT_EQ(verify_signature("RS256", key, kRfc7515Input, sig.substr(1)), Reason::bad_signature);
}

TEST(Signature, Rfc7515A3Es256KnownAnswer) {
  const Jwk key = single_key(kRfc7515A3Jwks);
  const std::string sig = decoded(kRfc7515A3Signature);
  ASSERT_EQ(sig.size(), 64u);
  EXPECT_EQ(verify_signature("ES256", key, kRfc7515A3Input, sig), Reason::ok);
  EXPECT_EQ(verify_signature("ES256", key, kRfc7515A3Input, flip_bit(sig, 5)), Reason::bad_signature);
  EXPECT_EQ(verify_signature("ES256", key, kRfc7515A3Input, flip_bit(sig, 40)), Reason::bad_signature);
  EXPECT_EQ(verify_signature("ES384", key, kRfc7515A3Input, sig), Reason::key_alg_mismatch);
}

TEST(Signature, Rfc8037A4Ed25519KnownAnswer) {
  const Jwk key = single_key(kRfc8037Jwks);
  const std::string sig = decoded(kRfc8037Signature);
  EXPECT_EQ(decoded("RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"), "Example of Ed25519 signing");
  EXPECT_EQ(verify_signature("EdDSA", key, kRfc8037Input, sig), Reason::ok);
  EXPECT_EQ(verify_signature("EdDSA", key, kRfc8037Input, flip_bit(sig, 0)), Reason::bad_signature);
  EXPECT_EQ(verify_signature("EdDSA", key, kRfc8037Input, flip_bit(sig, 63)), Reason::bad_signature);
  EXPECT_EQ(verify_signature("EdDSA", key, "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmb", sig),
            Reason::bad_signature);
}

TEST(Signature, EveryAlgorithmRoundTrips) {
  using namespace dbx_oauth::test;
  const struct {
    const char* alg;
    const TestKey& key;
  } cases[] = {{"RS256", rsa2048()}, {"RS384", rsa2048()}, {"RS512", rsa2048()}, {"PS256", rsa2048()},
               {"PS384", rsa2048()}, {"PS512", rsa2048()}, {"ES256", ec_p256()}, {"ES384", ec_p384()},
               {"EdDSA", ed25519()}};
  const std::string input = "aGVhZGVy.cGF5bG9hZA";
  for (const auto& c : cases) {
    const Jwk key = key_for(c.key);
    const std::string sig = sign(c.key, c.alg, input);
    EXPECT_EQ(verify_signature(c.alg, key, input, sig), Reason::ok) << c.alg;
    EXPECT_EQ(verify_signature(c.alg, key, input + "x", sig), Reason::bad_signature) << c.alg;
    EXPECT_EQ(verify_signature(c.alg, key, input, flip_bit(sig, sig.size() / 2)), Reason::bad_signature) << c.alg;
    EXPECT_EQ(verify_signature(c.alg, key, input, ""), Reason::bad_signature) << c.alg;
  }
}

TEST(Signature, PrecomputedSha256DigestGivesTheSameAnswers) {
  // verify_signature_sha256 is what the validator calls with the digest of
  // a signing input it hashed once: same answers as verify_signature, for
  // the SHA-256 algorithms only.
  using namespace dbx_oauth::test;
  const std::string input = "aGVhZGVy.cGF5bG9hZA";
  const TokenDigest digest = sha256(input);
  for (const auto& [alg, test_key] : {std::pair<const char*, const TestKey&>{"RS256", rsa2048()},
                                      {"PS256", rsa2048()}, {"ES256", ec_p256()}}) {
    const Jwk key = key_for(test_key);
    const std::string sig = sign(test_key, alg, input);
    EXPECT_TRUE(signs_sha256_digest(alg)) << alg;
    EXPECT_EQ(verify_signature_sha256(alg, key, digest, sig), Reason::ok) << alg;
    EXPECT_EQ(verify_signature_sha256(alg, key, sha256(input + "x"), sig), Reason::bad_signature) << alg;
    EXPECT_EQ(verify_signature_sha256(alg, key, digest, flip_bit(sig, sig.size() / 2)), Reason::bad_signature)
        << alg;
    EXPECT_EQ(verify_signature_sha256(alg, key, digest, ""), Reason::bad_signature) << alg;
  }
  // The key must still fit the algorithm.
  EXPECT_EQ(verify_signature_sha256("ES256", key_for(rsa2048()), digest, sign(rsa2048(), "RS256", input)),
            Reason::key_alg_mismatch);
  EXPECT_EQ(verify_signature_sha256("RS256", key_for(rsa2048()), digest, sign(rsa2048(), "PS256", input)),
            Reason::bad_signature);
  // Any other digest, EdDSA (no prehash) and unknown algorithms: refused,
  // never verified against a SHA-256 digest.
  for (const auto& [alg, test_key] : {std::pair<const char*, const TestKey&>{"RS384", rsa2048()},
                                      {"RS512", rsa2048()}, {"PS384", rsa2048()}, {"ES384", ec_p384()},
                                      {"EdDSA", ed25519()}, {"HS256", rsa2048()}, {"none", rsa2048()}}) {
    EXPECT_FALSE(signs_sha256_digest(alg)) << alg;
    EXPECT_EQ(verify_signature_sha256(alg, key_for(test_key), digest, "x"), Reason::unsupported_alg) << alg;
  }
}

TEST(Signature, PssAndPkcs1AreNotInterchangeable) {
  using namespace dbx_oauth::test;
  const Jwk key = key_for(rsa2048());
  const std::string input = "a.b";
  EXPECT_EQ(verify_signature("RS256", key, input, sign(rsa2048(), "PS256", input)), Reason::bad_signature);
  EXPECT_EQ(verify_signature("PS256", key, input, sign(rsa2048(), "RS256", input)), Reason::bad_signature);
  EXPECT_EQ(verify_signature("PS384", key, input, sign(rsa2048(), "PS256", input)), Reason::bad_signature);
}

TEST(Signature, PreparedContextsStayCorrectAcrossReuse) {
  // A key keeps one prepared context per algorithm: interleaving algorithms
  // and failures on the same key (and its copies) must not change answers.
  using namespace dbx_oauth::test;
  const Jwk key = key_for(rsa2048());
  const Jwk copy = key;
  const std::string input = "a.b";
  const std::string rs = sign(rsa2048(), "RS256", input);
  const std::string ps = sign(rsa2048(), "PS256", input);
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(verify_signature("RS256", key, input, flip_bit(rs, 7)), Reason::bad_signature);
    EXPECT_EQ(verify_signature("RS256", key, input, rs), Reason::ok);
    EXPECT_EQ(verify_signature("PS256", copy, input, rs), Reason::bad_signature);
    EXPECT_EQ(verify_signature("PS256", copy, input, ps), Reason::ok);
    EXPECT_EQ(verify_signature("RS256", copy, input, ps), Reason::bad_signature);
    EXPECT_EQ(verify_signature("RS512", key, input, rs), Reason::bad_signature);
  }
}

TEST(Signature, PssSaltMustEqualHashLength) {
  using namespace dbx_oauth::test;
  const Jwk key = key_for(rsa2048());
  const std::string input = "a.b";
  EXPECT_EQ(verify_signature("PS256", key, input, sign_pss_with_salt(rsa2048(), "PS256", input, 32)), Reason::ok);
  for (int salt : {0, 20, 31, 33, 64}) {
    EXPECT_EQ(verify_signature("PS256", key, input, sign_pss_with_salt(rsa2048(), "PS256", input, salt)),
              Reason::bad_signature)
        << salt;
  }
  EXPECT_EQ(verify_signature("PS512", key, input, sign_pss_with_salt(rsa2048(), "PS512", input, 32)),
            Reason::bad_signature);
}

TEST(Signature, WrongKeyFails) {
  using namespace dbx_oauth::test;
  const std::string input = "a.b";
  EXPECT_EQ(verify_signature("RS256", key_for(rsa2048_other()), input, sign(rsa2048(), "RS256", input)),
            Reason::bad_signature);
}

TEST(Signature, UnsupportedAndMismatchedAlgorithms) {
  using namespace dbx_oauth::test;
  const Jwk rsa = key_for(rsa2048());
  const Jwk ec = key_for(ec_p256());
  const Jwk ed = key_for(ed25519());
  for (const char* alg : {"none", "HS256", "HS384", "HS512", "ES512", "ES256K", "Ed25519", "", "rs256"}) {
    EXPECT_EQ(verify_signature(alg, rsa, "a.b", "sig"), Reason::unsupported_alg) << alg;
  }
  EXPECT_EQ(verify_signature("ES256", rsa, "a.b", sign(ec_p256(), "ES256", "a.b")), Reason::key_alg_mismatch);
  EXPECT_EQ(verify_signature("RS256", ec, "a.b", sign(rsa2048(), "RS256", "a.b")), Reason::key_alg_mismatch);
  EXPECT_EQ(verify_signature("ES384", ec, "a.b", "x"), Reason::key_alg_mismatch);
  EXPECT_EQ(verify_signature("EdDSA", rsa, "a.b", "x"), Reason::key_alg_mismatch);
  EXPECT_EQ(verify_signature("RS256", ed, "a.b", "x"), Reason::key_alg_mismatch);
}

TEST(Signature, HmacWithRsaPublicKeyAsSecretIsRejected) {
  using namespace dbx_oauth::test;
  const Jwk rsa = key_for(rsa2048());
  const std::string input = "eyJhbGciOiJIUzI1NiJ9.e30";
  const std::string mac = hmac_sha256(public_key_der(rsa2048()), input);
  EXPECT_EQ(verify_signature("HS256", rsa, input, mac), Reason::unsupported_alg);
  // Even under an RSA alg name the MAC is just a wrong signature.
  EXPECT_EQ(verify_signature("RS256", rsa, input, mac), Reason::bad_signature);
}

TEST(Signature, EcdsaDerSignatureIsRejected) {
  using namespace dbx_oauth::test;
  const std::string input = "a.b";
  const std::string der256 = sign_ecdsa_der(ec_p256(), "ES256", input);
  const std::string der384 = sign_ecdsa_der(ec_p384(), "ES384", input);
  EXPECT_EQ(der256[0], 0x30);
  EXPECT_EQ(verify_signature("ES256", key_for(ec_p256()), input, der256), Reason::bad_signature);
  EXPECT_EQ(verify_signature("ES384", key_for(ec_p384()), input, der384), Reason::bad_signature);
}

TEST(Signature, EcdsaRawLengthMustBeExact) {
  using namespace dbx_oauth::test;
  const Jwk key = key_for(ec_p256());
  const std::string sig = sign(ec_p256(), "ES256", "a.b");
  ASSERT_EQ(sig.size(), 64u);
  EXPECT_EQ(verify_signature("ES256", key, "a.b", sig), Reason::ok);
  EXPECT_EQ(verify_signature("ES256", key, "a.b", sig + std::string(1, '\0')), Reason::bad_signature);
  EXPECT_EQ(verify_signature("ES256", key, "a.b", std::string(1, '\0') + sig), Reason::bad_signature);
  EXPECT_EQ(verify_signature("ES256", key, "a.b", sig.substr(0, 63)), Reason::bad_signature);
}

TEST(Signature, EcdsaZeroScalarsAreRejected) {
  using namespace dbx_oauth::test;
  const Jwk key = key_for(ec_p256());
  const std::string sig = sign(ec_p256(), "ES256", "a.b");
  const std::string zero(32, '\0');
  EXPECT_EQ(verify_signature("ES256", key, "a.b", zero + sig.substr(32)), Reason::bad_signature);
  EXPECT_EQ(verify_signature("ES256", key, "a.b", sig.substr(0, 32) + zero), Reason::bad_signature);
  EXPECT_EQ(verify_signature("ES256", key, "a.b", zero + zero), Reason::bad_signature);
  EXPECT_TRUE(ecdsa_raw_to_der(zero + sig.substr(32), 32).empty());
}

TEST(Signature, EcdsaScalarsAtOrAboveOrderAreRejected) {
  using namespace dbx_oauth::test;
  for (const auto& [nid, coord, alg] : {std::tuple<int, int, const char*>{NID_X9_62_prime256v1, 32, "ES256"},
                                        std::tuple<int, int, const char*>{NID_secp384r1, 48, "ES384"}}) {
    const std::string n = curve_order(nid, coord);
    const std::string one = std::string(static_cast<size_t>(coord - 1), '\0') + '\x01';
    const std::string ones(static_cast<size_t>(coord), '\xff');
    // The boundary: n - 1 converts, n and above do not.
    EXPECT_FALSE(ecdsa_raw_to_der(minus_one(n) + one, static_cast<size_t>(coord)).empty()) << alg;
    EXPECT_FALSE(ecdsa_raw_to_der(one + minus_one(n), static_cast<size_t>(coord)).empty()) << alg;
    EXPECT_TRUE(ecdsa_raw_to_der(n + one, static_cast<size_t>(coord)).empty()) << alg;
    EXPECT_TRUE(ecdsa_raw_to_der(one + n, static_cast<size_t>(coord)).empty()) << alg;
    EXPECT_TRUE(ecdsa_raw_to_der(ones + one, static_cast<size_t>(coord)).empty()) << alg;
    EXPECT_TRUE(ecdsa_raw_to_der(one + ones, static_cast<size_t>(coord)).empty()) << alg;
    // s' = s + n style malleability: an r or s of n itself never verifies.
    const TestKey& test_key = coord == 32 ? ec_p256() : ec_p384();
    const Jwk key = key_for(test_key);
    const std::string sig = sign(test_key, alg, "a.b");
    const size_t c = static_cast<size_t>(coord);
    EXPECT_EQ(verify_signature(alg, key, "a.b", n + sig.substr(c)), Reason::bad_signature) << alg;
    EXPECT_EQ(verify_signature(alg, key, "a.b", sig.substr(0, c) + n), Reason::bad_signature) << alg;
  }
}

TEST(Signature, EcdsaRawToDerProducesDer) {
  const std::string der = ecdsa_raw_to_der(std::string(31, '\0') + '\x05' + std::string(31, '\0') + '\x07', 32);
  EXPECT_EQ(der, std::string("\x30\x06\x02\x01\x05\x02\x01\x07", 8));
  EXPECT_TRUE(ecdsa_raw_to_der(std::string(64, '\x01'), 33).empty());
}
