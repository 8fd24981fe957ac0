// End-to-end validation rules, one test per rule of docs/security-model.md and per
// Reason (src/core/validator.h).  Every negative token differs from a valid
// one in exactly one respect.
#include "core/validator.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

#include "core/base64url.h"
#include "core/json_limits.h"
#include "core/jws.h"
#include "core/sha256.h"
#include "test_keys.h"

using namespace dbx_oauth::core;
using namespace dbx_oauth::test;
using nlohmann::json;

namespace {

constexpr int64_t kNow = 1700000000;
const std::string kIssuer = "https://adb-1234567890123456.7.azuredatabricks.net/oidc";
const std::string kAudience = "1234567890123456";
const std::string kAppId = "6f8a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b";

Jwks jwks_of(const json& keys) {
  const JwksParseResult result = parse_jwks(json{{"keys", keys}}.dump());
  EXPECT_TRUE(result.ok) << result.error;
  return result.jwks;
}

struct AlgKey {
  const TestKey& key;
  std::string kid;
};

AlgKey key_for_alg(const std::string& alg) {
  if (alg == "ES256") return {ec_p256(), "ec-256"};
  if (alg == "ES384") return {ec_p384(), "ec-384"};
  if (alg == "EdDSA") return {ed25519(), "ed-1"};
  return {rsa2048(), "rsa-main"};
}

class ValidatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    settings_.issuers = {kIssuer};
    settings_.audiences = {kAudience};
    jwks_ = jwks_of(json::array({public_jwk(rsa2048(), "rsa-main"), public_jwk(ec_p256(), "ec-256"),
                                 public_jwk(ec_p384(), "ec-384"), public_jwk(ed25519(), "ed-1"),
                                 public_jwk(rsa1024(), "weak")}));
  }

  // Databricks-shaped U2M token (docs/security-model.md).
  static json payload() {
    return {{"iss", kIssuer},        {"aud", kAudience},       {"sub", "alice@example.com"},
            {"client_id", "databricks-cli"}, {"scope", "offline_access all-apis"},
            {"iat", kNow - 60},      {"exp", kNow - 60 + 3600}, {"jti", "a1b2c3"}};
  }

  static json header(const std::string& alg = "RS256") {
    return {{"kid", key_for_alg(alg).kid}, {"typ", "at+jwt"}, {"alg", alg}};
  }

  static std::string token(const json& h, const json& p) {
    const std::string alg = h.value("alg", "RS256");
    return mint(key_for_alg(alg).key, alg, h, p);
  }
  static std::string good(const std::string& alg = "RS256") { return token(header(alg), payload()); }
  static std::string with_payload(const json& p) { return token(header(), p); }
  static std::string with_header(const json& h) { return token(h, payload()); }

  KeyLookup lookup() {
    return [this](const std::string& issuer) -> const Jwks* { return issuer == kIssuer ? &jwks_ : nullptr; };
  }

  ValidationResult validate(const std::string& tok, int64_t now = kNow) {
    ValidationResult result = validate_token(tok, settings_, lookup(), now);
    // No error detail may carry token text (docs/security-model.md).
    for (int i = 0; i < 3; ++i) {
      const std::string part = tok.find('.') == std::string::npos ? tok : segment(tok, i);
      if (part.size() >= 12) {
        EXPECT_EQ(result.detail.find(part.substr(0, 12)), std::string::npos) << result.detail;
      }
    }
    if (!result.ok()) {
      EXPECT_TRUE(result.token.identity.empty());
    }
    return result;
  }

  Reason reason(const std::string& tok) { return validate(tok).reason; }

  ValidationSettings settings_;
  Jwks jwks_;
};

}  // namespace

// ---------------------------------------------------------------- positive

TEST_F(ValidatorTest, AcceptsEveryAlgorithm) {
  for (const char* alg : {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"}) {
    const std::string tok = good(alg);  // ECDSA signatures differ per signing
    const ValidationResult result = validate(tok);
    EXPECT_EQ(result.reason, Reason::ok) << alg << ": " << result.detail;
    EXPECT_EQ(result.token.alg, alg);
    // The SHA-256 algorithms finish the token's digest from the signing
    // input's hash state; every algorithm must give the same fingerprint.
    EXPECT_EQ(result.token.fingerprint, token_fingerprint(tok)) << alg;
    EXPECT_EQ(result.token.kid, key_for_alg(alg).kid);
  }
}

TEST_F(ValidatorTest, FillsVerifiedToken) {
  const std::string tok = good();
  const ValidationResult result = validate(tok);
  ASSERT_TRUE(result.ok()) << result.detail;
  const VerifiedToken& t = result.token;
  EXPECT_EQ(t.identity, "alice@example.com");
  EXPECT_EQ(t.identity_type, IdentityType::user);
  EXPECT_EQ(t.issuer, kIssuer);
  EXPECT_EQ(t.kid, "rsa-main");
  EXPECT_EQ(t.alg, "RS256");
  EXPECT_EQ(t.fingerprint, token_fingerprint(tok));
  EXPECT_EQ(t.expires_at, kNow - 60 + 3600);
  EXPECT_EQ(t.issued_at, kNow - 60);
  EXPECT_FALSE(t.not_before.has_value());
  EXPECT_EQ(t.scopes, (std::vector<std::string>{"offline_access", "all-apis"}));
  EXPECT_EQ(parse_json_strict(t.claims_json).value, payload());
  EXPECT_EQ(t.claims_json, payload().dump());  // compact re-serialization
}

// A caller that hashed the token for its cache passes the digest down; the
// result is the same as hashing inside, with or without a jti.
TEST_F(ValidatorTest, PrecomputedDigestGivesTheSameResult) {
  json without_jti = payload();
  without_jti.erase("jti");
  for (const std::string& tok : {good(), with_payload(without_jti)}) {
    const ValidationResult inside = validate(tok);
    const ValidationResult passed = validate_token(tok, settings_, lookup(), kNow, sha256(tok));
    ASSERT_TRUE(inside.ok()) << inside.detail;
    ASSERT_TRUE(passed.ok()) << passed.detail;
    EXPECT_EQ(passed.token.fingerprint, token_fingerprint(tok));
    EXPECT_EQ(passed.token.revocation_key, inside.token.revocation_key);
    EXPECT_EQ(passed.token.claims_json, inside.token.claims_json);
  }
  EXPECT_EQ(validate(with_payload(without_jti)).token.revocation_key,
            "sha256:" + sha256_hex(with_payload(without_jti)));
}

TEST_F(ValidatorTest, ServicePrincipalFromClientIdFallback) {
  json p = payload();
  p.erase("sub");
  p["client_id"] = kAppId;
  p["scope"] = "all-apis";
  const ValidationResult result = validate(with_payload(p));
  ASSERT_TRUE(result.ok()) << result.detail;
  EXPECT_EQ(result.token.identity, kAppId);
  EXPECT_EQ(result.token.identity_type, IdentityType::service_principal);
}

TEST_F(ValidatorTest, ServicePrincipalAsSub) {
  json p = payload();
  p["sub"] = kAppId;
  EXPECT_EQ(validate(with_payload(p)).token.identity_type, IdentityType::service_principal);
}

TEST_F(ValidatorTest, EmptySubFallsBackToClientId) {
  json p = payload();
  p["sub"] = "";
  p["client_id"] = kAppId;
  EXPECT_EQ(validate(with_payload(p)).token.identity, kAppId);
}

TEST_F(ValidatorTest, AcceptsOptionalVariants) {
  json h = header();
  h.erase("typ");
  EXPECT_EQ(reason(with_header(h)), Reason::ok);
  h["typ"] = "JWT";
  EXPECT_EQ(reason(with_header(h)), Reason::ok);
  json p = payload();
  p["aud"] = json::array({"other", kAudience});
  p.erase("scope");
  p["scp"] = json::array({"postgres"});
  p["nbf"] = kNow - 60;
  EXPECT_EQ(reason(with_payload(p)), Reason::ok);
  p.erase("iat");
  EXPECT_EQ(reason(with_payload(p)), Reason::ok);
}

TEST_F(ValidatorTest, UncheckedAudienceAndScopesWhenListsEmpty) {
  settings_.audiences.clear();
  settings_.accepted_scopes.clear();
  json p = payload();
  p.erase("aud");
  p.erase("scope");
  EXPECT_EQ(reason(with_payload(p)), Reason::ok);
}

TEST_F(ValidatorTest, NoKidSelectsTheOnlyFittingKey) {
  for (const char* alg : {"RS256", "ES256", "ES384", "EdDSA"}) {
    json h = header(alg);
    h.erase("kid");
    const ValidationResult result = validate(token(h, payload()));
    EXPECT_EQ(result.reason, Reason::ok) << alg << ": " << result.detail;
    EXPECT_EQ(result.token.kid, key_for_alg(alg).kid);
  }
}

TEST_F(ValidatorTest, RecheckTime) {
  const ValidationResult result = validate(good());
  ASSERT_TRUE(result.ok());
  const int64_t exp = result.token.expires_at;
  EXPECT_EQ(recheck_time(result.token, settings_, kNow), Reason::ok);
  EXPECT_EQ(recheck_time(result.token, settings_, exp + 59), Reason::ok);
  EXPECT_EQ(recheck_time(result.token, settings_, exp + 60), Reason::expired);
  VerifiedToken future = result.token;
  future.not_before = kNow + 120;
  EXPECT_EQ(recheck_time(future, settings_, kNow), Reason::not_yet_valid);
  EXPECT_EQ(recheck_time(future, settings_, kNow + 60), Reason::ok);
}

// ------------------------------------------------------ structure & encoding

TEST_F(ValidatorTest, TokenTooLarge) {
  json p = payload();
  p["pad"] = std::string(kMaxTokenBytes, 'x');
  EXPECT_EQ(reason(with_payload(p)), Reason::token_too_large);
  EXPECT_EQ(reason(std::string(kMaxTokenBytes + 1, 'a')), Reason::token_too_large);
}

TEST_F(ValidatorTest, Malformed) {
  const std::string tok = good();
  EXPECT_EQ(reason(tok.substr(0, tok.rfind('.'))), Reason::malformed);
  EXPECT_EQ(reason(tok + ".e30"), Reason::malformed);
  EXPECT_EQ(reason(replace_segment(tok, 1, "")), Reason::malformed);
  EXPECT_EQ(reason(""), Reason::malformed);
  EXPECT_EQ(reason(with_payload(json::array({"iss", kIssuer}))), Reason::malformed);
  EXPECT_EQ(reason(mint(rsa2048(), "RS256", json::array({header()}), payload())), Reason::malformed);
}

TEST_F(ValidatorTest, BadBase64) {
  const std::string tok = good();
  EXPECT_EQ(reason(tok + "\n"), Reason::bad_base64);
  EXPECT_EQ(reason(" " + tok), Reason::bad_base64);
  EXPECT_EQ(reason(tok + "="), Reason::bad_base64);
  std::string plus = tok;
  plus[plus.size() - 5] = '+';
  EXPECT_EQ(reason(plus), Reason::bad_base64);
  std::string inner_space = tok;
  inner_space.insert(tok.find('.') + 5, " ");
  EXPECT_EQ(reason(inner_space), Reason::bad_base64);
}

TEST_F(ValidatorTest, NonCanonicalBase64SignatureIsRejected) {
  // RSA-2048 signatures are 256 bytes: 342 chars with 4 unused bits, so a
  // second spelling of the same bytes exists.  It must not validate.
  const std::string tok = good();
  std::string sig = segment(tok, 2);
  ASSERT_EQ(sig.size() % 4, 2u);
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  sig.back() = alphabet[alphabet.find(sig.back()) | 1];
  EXPECT_EQ(reason(replace_segment(tok, 2, sig)), Reason::bad_base64);
}

TEST_F(ValidatorTest, BadJson) {
  EXPECT_EQ(reason(mint_text(rsa2048(), "RS256", R"({"alg":"RS256",})", payload().dump())), Reason::bad_json);
  EXPECT_EQ(reason(mint_text(rsa2048(), "RS256", header().dump(), R"({"iss":)")), Reason::bad_json);
  EXPECT_EQ(reason(mint_text(rsa2048(), "RS256", header().dump(), payload().dump() + " x")), Reason::bad_json);
}

TEST_F(ValidatorTest, DuplicateHeaderKey) {
  const std::string h = R"({"kid":"rsa-main","typ":"at+jwt","alg":"RS256","alg":"RS256"})";
  EXPECT_EQ(reason(mint_text(rsa2048(), "RS256", h, payload().dump())), Reason::duplicate_key);
  const std::string h2 = R"({"kid":"rsa-main","kid":"ec-256","alg":"RS256"})";
  EXPECT_EQ(reason(mint_text(rsa2048(), "RS256", h2, payload().dump())), Reason::duplicate_key);
}

TEST_F(ValidatorTest, DuplicatePayloadKeyAtAnyDepth) {
  std::string p = payload().dump();
  const std::string top = p.substr(0, p.size() - 1) + R"(,"sub":"mallory@example.com"})";
  EXPECT_EQ(reason(mint_text(rsa2048(), "RS256", header().dump(), top)), Reason::duplicate_key);
  const std::string nested = p.substr(0, p.size() - 1) + R"(,"ext":{"a":[{"b":1,"b":2}]}})";
  EXPECT_EQ(reason(mint_text(rsa2048(), "RS256", header().dump(), nested)), Reason::duplicate_key);
}

TEST_F(ValidatorTest, NestingTooDeep) {
  json p = payload();
  json deep = 1;
  for (int i = 0; i < 16; ++i) deep = json::array({deep});
  p["deep"] = deep;  // 16 arrays inside the payload object = depth 17
  EXPECT_EQ(reason(with_payload(p)), Reason::nesting_too_deep);
  json h = header();
  h["x"] = deep;
  EXPECT_EQ(reason(with_header(h)), Reason::nesting_too_deep);
}

// ------------------------------------------------------------------ header

TEST_F(ValidatorTest, AlgNoneInAnyCase) {
  for (const char* alg : {"none", "None", "NONE", "nOnE"}) {
    json h = header();
    h["alg"] = alg;
    const std::string unsigned_token =
        base64url_encode(h.dump()) + "." + base64url_encode(payload().dump()) + ".";
    EXPECT_EQ(reason(unsigned_token), Reason::unsupported_alg) << alg;
    // ... also with a valid RS256 signature stapled on.
    EXPECT_EQ(reason(replace_segment(unsigned_token, 2, segment(good(), 2))), Reason::unsupported_alg) << alg;
  }
  settings_.allowed_algorithms.push_back("none");
  json h = header();
  h["alg"] = "none";
  EXPECT_EQ(reason(base64url_encode(h.dump()) + "." + base64url_encode(payload().dump()) + "."),
            Reason::unsupported_alg);
}

TEST_F(ValidatorTest, Hs256WithRsaPublicKeyAsSecret) {
  json h = header();
  h["alg"] = "HS256";
  const std::string input = base64url_encode(h.dump()) + "." + base64url_encode(payload().dump());
  const std::string forged = input + "." + base64url_encode(hmac_sha256(public_key_der(rsa2048()), input));
  EXPECT_EQ(reason(forged), Reason::unsupported_alg);
  settings_.allowed_algorithms.push_back("HS256");  // cannot be enabled
  EXPECT_EQ(reason(forged), Reason::unsupported_alg);
}

TEST_F(ValidatorTest, AlgNotInAllowedList) {
  settings_.allowed_algorithms = {"RS256"};
  EXPECT_EQ(reason(good("RS256")), Reason::ok);
  EXPECT_EQ(reason(good("PS256")), Reason::unsupported_alg);
  EXPECT_EQ(reason(good("ES256")), Reason::unsupported_alg);
  EXPECT_EQ(reason(good("EdDSA")), Reason::unsupported_alg);
}

TEST_F(ValidatorTest, UnknownAlg) {
  for (const char* alg : {"RS1", "ES512", "ES256K", "Ed25519", "rs256", ""}) {
    json h = header();
    h["alg"] = alg;
    EXPECT_EQ(reason(replace_segment(good(), 0, base64url_encode(h.dump()))), Reason::unsupported_alg) << alg;
  }
}

TEST_F(ValidatorTest, CritHeader) {
  json h = header();
  h["crit"] = json::array({"exp"});
  h["exp"] = kNow + 10;
  EXPECT_EQ(reason(with_header(h)), Reason::crit_header);
}

TEST_F(ValidatorTest, BadTyp) {
  json h = header();
  h["typ"] = "dpop+jwt";
  EXPECT_EQ(reason(with_header(h)), Reason::bad_typ);
  h["typ"] = 7;
  EXPECT_EQ(reason(with_header(h)), Reason::bad_typ);
}

TEST_F(ValidatorTest, EmbeddedKeyHeadersAreNeverUsed) {
  // An attacker signs with their own key and points at it every way JOSE
  // allows.  None of it selects a key: with the real kid the signature is
  // wrong, with their kid the kid is unknown, without kid the one trusted
  // RSA key is tried and fails.
  json h = header();
  h["jwk"] = public_jwk(rsa2048_other(), "attacker");
  h["jku"] = "https://attacker.example/jwks.json";
  h["x5u"] = "https://attacker.example/cert.pem";
  h["x5c"] = json::array({base64url_encode(public_key_der(rsa2048_other()))});
  EXPECT_EQ(reason(mint(rsa2048_other(), "RS256", h, payload())), Reason::bad_signature);
  h["kid"] = "attacker";
  EXPECT_EQ(reason(mint(rsa2048_other(), "RS256", h, payload())), Reason::unknown_kid);
  h.erase("kid");
  EXPECT_EQ(reason(mint(rsa2048_other(), "RS256", h, payload())), Reason::bad_signature);
}

// ------------------------------------------------------------ key selection

TEST_F(ValidatorTest, UnknownKid) {
  json h = header();
  h["kid"] = "no-such-key";
  const ValidationResult result = validate(with_header(h));
  EXPECT_EQ(result.reason, Reason::unknown_kid);
  EXPECT_NE(result.detail.find("no-such-key"), std::string::npos) << result.detail;
}

TEST_F(ValidatorTest, KidIsCaseSensitive) {
  for (const char* kid : {"RSA-MAIN", "Rsa-main", "rsa-main ", " rsa-main", "rsa-mai"}) {
    json h = header();
    h["kid"] = kid;
    EXPECT_EQ(reason(with_header(h)), Reason::unknown_kid) << kid;
  }
}

TEST_F(ValidatorTest, KidMustBeString) {
  json h = header();
  h["kid"] = 1;
  EXPECT_EQ(reason(with_header(h)), Reason::malformed);
}

TEST_F(ValidatorTest, SkippedWeakKeyIsNotUsable) {
  json h = header();
  h["kid"] = "weak";
  EXPECT_EQ(reason(mint(rsa1024(), "RS256", h, payload())), Reason::unknown_kid);
  EXPECT_EQ(reason(good()), Reason::ok);  // the rest of the set still works
}

TEST_F(ValidatorTest, AmbiguousKid) {
  jwks_ = jwks_of(json::array({public_jwk(rsa2048(), ""), public_jwk(rsa2048_other(), "")}));
  json h = header();
  h.erase("kid");
  EXPECT_EQ(reason(with_header(h)), Reason::ambiguous_kid);
  // Two keys sharing one kid are just as ambiguous.
  jwks_ = jwks_of(json::array({public_jwk(rsa2048(), "dup"), public_jwk(rsa2048_other(), "dup")}));
  h["kid"] = "dup";
  EXPECT_EQ(reason(with_header(h)), Reason::ambiguous_kid);
}

TEST_F(ValidatorTest, NoKidAndNoFittingKeyIsUnknownKid) {
  jwks_ = jwks_of(json::array({public_jwk(ec_p256(), "ec-256")}));
  json h = header();
  h.erase("kid");
  EXPECT_EQ(reason(with_header(h)), Reason::unknown_kid);
}

TEST_F(ValidatorTest, KeyAlgMismatch) {
  json h = header("ES256");
  h["kid"] = "rsa-main";  // EC alg, RSA key
  EXPECT_EQ(reason(token(h, payload())), Reason::key_alg_mismatch);
  json h384 = header("ES384");
  h384["kid"] = "ec-256";  // P-384 alg, P-256 key
  EXPECT_EQ(reason(token(h384, payload())), Reason::key_alg_mismatch);
  json ed = header("EdDSA");
  ed["kid"] = "ec-256";
  EXPECT_EQ(reason(token(ed, payload())), Reason::key_alg_mismatch);
  // A key restricted to RS256 by its own "alg" refuses PS256.
  jwks_ = jwks_of(json::array({public_jwk(rsa2048(), "rsa-main", "RS256")}));
  EXPECT_EQ(reason(good("RS256")), Reason::ok);
  EXPECT_EQ(reason(good("PS256")), Reason::key_alg_mismatch);
}

TEST_F(ValidatorTest, NoKeys) {
  Jwks empty;
  const ValidationResult none =
      validate_token(good(), settings_, [](const std::string&) -> const Jwks* { return nullptr; }, kNow);
  EXPECT_EQ(none.reason, Reason::no_keys);
  EXPECT_EQ(validate_token(good(), settings_, [&](const std::string&) { return &empty; }, kNow).reason,
            Reason::no_keys);
  EXPECT_EQ(validate_token(good(), settings_, KeyLookup(), kNow).reason, Reason::no_keys);
}

// --------------------------------------------------------------- signature

TEST_F(ValidatorTest, BadSignatureTamperedPayload) {
  const std::string tok = good();
  json p = payload();
  p["sub"] = "mallory@example.com";
  EXPECT_EQ(reason(replace_segment(tok, 1, base64url_encode(p.dump()))), Reason::bad_signature);
}

TEST_F(ValidatorTest, BadSignatureTamperedHeader) {
  json h = header();
  h["typ"] = "JWT";
  EXPECT_EQ(reason(replace_segment(good(), 0, base64url_encode(h.dump()))), Reason::bad_signature);
}

TEST_F(ValidatorTest, BadSignatureOtherKeyOrTruncatedOrEmpty) {
  EXPECT_EQ(reason(mint(rsa2048_other(), "RS256", header(), payload())), Reason::bad_signature);
  const std::string tok = good();
  const std::string sig = *base64url_decode(segment(tok, 2));
  EXPECT_EQ(reason(replace_segment(tok, 2, base64url_encode(sig.substr(0, 255)))), Reason::bad_signature);
  EXPECT_EQ(reason(replace_segment(tok, 2, "")), Reason::bad_signature);
  EXPECT_EQ(reason(replace_segment(good("EdDSA"), 2, "")), Reason::bad_signature);
}

TEST_F(ValidatorTest, EcdsaDerSignatureRejected) {
  for (const char* alg : {"ES256", "ES384"}) {
    const std::string tok = good(alg);
    const std::string input = tok.substr(0, tok.rfind('.'));
    const std::string der = sign_ecdsa_der(key_for_alg(alg).key, alg, input);
    EXPECT_EQ(reason(replace_segment(tok, 2, base64url_encode(der))), Reason::bad_signature) << alg;
  }
}

TEST_F(ValidatorTest, EcdsaZeroScalarsRejected) {
  const std::string tok = good("ES256");
  const std::string sig = *base64url_decode(segment(tok, 2));
  const std::string zero(32, '\0');
  EXPECT_EQ(reason(replace_segment(tok, 2, base64url_encode(zero + sig.substr(32)))), Reason::bad_signature);
  EXPECT_EQ(reason(replace_segment(tok, 2, base64url_encode(sig.substr(0, 32) + zero))), Reason::bad_signature);
}

// ------------------------------------------------------------------ issuer

TEST_F(ValidatorTest, UntrustedIssuer) {
  for (const json& iss : {json("https://evil.example/oidc"), json(kIssuer + "/"), json("HTTPS://ADB-1234567890123456.7.AZUREDATABRICKS.NET/oidc"),
                          json(1), json(nullptr), json::array({kIssuer})}) {
    json p = payload();
    p["iss"] = iss;
    EXPECT_EQ(reason(with_payload(p)), Reason::untrusted_issuer) << iss.dump();
  }
  json p = payload();
  p.erase("iss");
  EXPECT_EQ(reason(with_payload(p)), Reason::untrusted_issuer);
}

TEST_F(ValidatorTest, UntrustedIssuerDetailIsSanitized) {
  json p = payload();
  p["iss"] = "https://evil.example/\"\n" + std::string(200, 'x');
  const ValidationResult result = validate(with_payload(p));
  EXPECT_EQ(result.reason, Reason::untrusted_issuer);
  EXPECT_EQ(result.detail.find('\n'), std::string::npos);
  EXPECT_LT(result.detail.size(), 100u);
}

// ------------------------------------------------------------------ claims

TEST_F(ValidatorTest, MissingExp) {
  json p = payload();
  p.erase("exp");
  EXPECT_EQ(reason(with_payload(p)), Reason::missing_exp);
}

TEST_F(ValidatorTest, BadClaimTypeForTimes) {
  for (const char* claim : {"exp", "nbf", "iat"}) {
    for (const json& value : {json(1700000000.5), json(1.7e9), json("1700003600"), json(true), json(nullptr),
                              json(-1), json(9007199254740992ULL), json(18446744073709551615ULL)}) {
      json p = payload();
      p[claim] = value;
      EXPECT_EQ(reason(with_payload(p)), Reason::bad_claim_type) << claim << "=" << value.dump();
    }
  }
}

TEST_F(ValidatorTest, OverflowingExpIsBadClaimTypeOrBadJson) {
  // 2^64 does not fit any integer type: nlohmann reads it as a float.
  std::string p = payload().dump();
  const auto at = p.find("\"exp\":") + 6;
  p.replace(at, p.find(',', at) - at, "18446744073709551616");
  EXPECT_EQ(reason(mint_text(rsa2048(), "RS256", header().dump(), p)), Reason::bad_claim_type);
  p = payload().dump();
  p.replace(at, p.find(',', at) - at, "1e999");
  EXPECT_EQ(reason(mint_text(rsa2048(), "RS256", header().dump(), p)), Reason::bad_json);
}

TEST_F(ValidatorTest, BadClaimTypeForOtherClaims) {
  json p = payload();
  p["aud"] = 1234567890123456;
  EXPECT_EQ(reason(with_payload(p)), Reason::bad_claim_type);
  p = payload();
  p["scope"] = json::array({"all-apis"});
  EXPECT_EQ(reason(with_payload(p)), Reason::bad_claim_type);
  p = payload();
  p["sub"] = 42;
  EXPECT_EQ(reason(with_payload(p)), Reason::bad_claim_type);
}

TEST_F(ValidatorTest, Expired) {
  json p = payload();
  p["iat"] = kNow - 3700;
  p["exp"] = kNow - 100;
  EXPECT_EQ(reason(with_payload(p)), Reason::expired);
  p["exp"] = kNow - 60;  // boundary: exp <= now - skew
  EXPECT_EQ(reason(with_payload(p)), Reason::expired);
  p["exp"] = kNow - 59;
  EXPECT_EQ(reason(with_payload(p)), Reason::ok);
}

TEST_F(ValidatorTest, ExpiredEvenWithValidSignatureAtLaterTime) {
  const std::string tok = good();
  EXPECT_EQ(validate(tok, kNow).reason, Reason::ok);
  EXPECT_EQ(validate(tok, kNow + 3600).reason, Reason::expired);
}

TEST_F(ValidatorTest, NotYetValid) {
  json p = payload();
  p["nbf"] = kNow + 61;
  EXPECT_EQ(reason(with_payload(p)), Reason::not_yet_valid);
  p["nbf"] = kNow + 60;
  EXPECT_EQ(reason(with_payload(p)), Reason::ok);
}

TEST_F(ValidatorTest, IssuedInFuture) {
  json p = payload();
  p["iat"] = kNow + 61;
  EXPECT_EQ(reason(with_payload(p)), Reason::issued_in_future);
}

TEST_F(ValidatorTest, LifetimeTooLong) {
  json p = payload();
  p["iat"] = kNow;
  p["exp"] = kNow + 86401;
  EXPECT_EQ(reason(with_payload(p)), Reason::lifetime_too_long);
  p.erase("iat");
  EXPECT_EQ(reason(with_payload(p)), Reason::lifetime_too_long);
  settings_.max_token_lifetime_seconds = 3600;
  p = payload();  // iat + 3600
  EXPECT_EQ(reason(with_payload(p)), Reason::ok);
  p["exp"] = p["iat"].get<int64_t>() + 3601;
  EXPECT_EQ(reason(with_payload(p)), Reason::lifetime_too_long);
}

TEST_F(ValidatorTest, AudienceMismatch) {
  json p = payload();
  p["aud"] = "9999999999";
  EXPECT_EQ(reason(with_payload(p)), Reason::audience_mismatch);
  p["aud"] = json::array({"a", "b"});
  EXPECT_EQ(reason(with_payload(p)), Reason::audience_mismatch);
  p.erase("aud");
  EXPECT_EQ(reason(with_payload(p)), Reason::audience_mismatch);
}

TEST_F(ValidatorTest, MissingScope) {
  json p = payload();
  p["scope"] = "offline_access sql";
  EXPECT_EQ(reason(with_payload(p)), Reason::missing_scope);
  p.erase("scope");
  EXPECT_EQ(reason(with_payload(p)), Reason::missing_scope);
  p["scope"] = "postgres";
  EXPECT_EQ(reason(with_payload(p)), Reason::ok);
}

TEST_F(ValidatorTest, MissingIdentity) {
  json p = payload();
  p.erase("sub");
  p.erase("client_id");
  EXPECT_EQ(reason(with_payload(p)), Reason::missing_identity);
  p["sub"] = "alice";  // neither email nor UUID
  EXPECT_EQ(reason(with_payload(p)), Reason::missing_identity);
  p["sub"] = "";
  EXPECT_EQ(reason(with_payload(p)), Reason::missing_identity);
  p["sub"] = "alice@example.com\n";
  EXPECT_EQ(reason(with_payload(p)), Reason::missing_identity);
}

// ------------------------------------------------------ RFC 7515 end to end

TEST(ValidatorKnownAnswer, Rfc7515A2PassesSignatureThenStopsAtClaims) {
  const std::string token =
      "eyJhbGciOiJSUzI1NiJ9."
      "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
      "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujG"
      "bds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0G"
      "arZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgG"
      "Y9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";
  const JwksParseResult keys = parse_jwks(
      R"({"keys":[{"kty":"RSA","e":"AQAB","n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"}]})");
  ASSERT_TRUE(keys.ok);
  ValidationSettings settings;
  settings.issuers = {"joe"};
  settings.accepted_scopes.clear();
  const KeyLookup lookup = [&](const std::string&) { return &keys.jwks; };
  const int64_t exp = 1300819380;
  // Before exp every check through the claims passes; the RFC token names
  // no subject, so it stops at the identity.
  EXPECT_EQ(validate_token(token, settings, lookup, exp - 3600).reason, Reason::missing_identity);
  EXPECT_EQ(validate_token(token, settings, lookup, exp + 60).reason, Reason::expired);
  settings.issuers = {"Joe"};
  EXPECT_EQ(validate_token(token, settings, lookup, exp - 3600).reason, Reason::untrusted_issuer);
}
