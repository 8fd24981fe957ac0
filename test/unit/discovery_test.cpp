// Discovery documents, backoff delays, JWKS checks and the persisted-keys
// file format: the pure parts of the key-refresh worker.
#include "core/backoff.h"
#include "core/discovery.h"
#include "core/key_fetch.h"
#include "core/persisted_keys.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>

#include "test_keys.h"

namespace dbx_oauth::core {
namespace {

const std::string kIssuer = "https://adb-1.2.azuredatabricks.net/oidc";

std::string doc(const nlohmann::json& j) { return j.dump(); }

TEST(DiscoveryUrls, AppendedBelowTheIssuerPath) {
  auto urls = discovery_urls(kIssuer);
  ASSERT_EQ(urls.size(), 2u);
  EXPECT_EQ(urls[0], kIssuer + "/.well-known/oauth-authorization-server");
  EXPECT_EQ(urls[1], kIssuer + "/.well-known/openid-configuration");
  EXPECT_EQ(discovery_urls(kIssuer + "/")[0], kIssuer + "/.well-known/oauth-authorization-server");
}

TEST(Discovery, AcceptsAMatchingDocument) {
  auto r = parse_discovery(doc({{"issuer", kIssuer},
                                {"jwks_uri", kIssuer + "/v1/keys"},
                                {"token_endpoint", kIssuer + "/v1/token"},
                                {"scopes_supported", {"all-apis"}}}),
                           kIssuer, false);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.document.jwks_uri, kIssuer + "/v1/keys");
  EXPECT_EQ(r.document.token_endpoint, kIssuer + "/v1/token");
}

TEST(Discovery, IssuerMustMatchExactly) {
  for (const std::string& other : {kIssuer + "/", std::string("https://ADB-1.2.azuredatabricks.net/oidc"),
                                   std::string("https://evil.example.com/oidc"), std::string("")}) {
    auto r = parse_discovery(doc({{"issuer", other}, {"jwks_uri", kIssuer + "/v1/keys"}}), kIssuer, false);
    EXPECT_FALSE(r.ok) << other;
    EXPECT_NE(r.error.find("expected"), std::string::npos);
  }
}

TEST(Discovery, RejectsMalformedDocuments) {
  EXPECT_FALSE(parse_discovery("", kIssuer, false).ok);
  EXPECT_FALSE(parse_discovery("<html>", kIssuer, false).ok);
  EXPECT_FALSE(parse_discovery("[1,2]", kIssuer, false).ok);
  EXPECT_FALSE(parse_discovery(doc({{"jwks_uri", kIssuer + "/k"}}), kIssuer, false).ok);
  EXPECT_FALSE(parse_discovery(doc({{"issuer", 5}, {"jwks_uri", kIssuer + "/k"}}), kIssuer, false).ok);
  EXPECT_FALSE(parse_discovery(doc({{"issuer", kIssuer}}), kIssuer, false).ok);
  EXPECT_FALSE(parse_discovery(doc({{"issuer", kIssuer}, {"jwks_uri", 1}}), kIssuer, false).ok);
  EXPECT_FALSE(parse_discovery(doc({{"issuer", kIssuer}, {"jwks_uri", kIssuer + "/k"}, {"token_endpoint", 3}}),
                               kIssuer, false).ok);
}

TEST(Discovery, DuplicateIssuerMemberRejected) {
  // Parsers disagree on which duplicate wins: refuse the document.
  std::string body = "{\"issuer\":\"https://evil.example.com\",\"issuer\":\"" + kIssuer +
                     "\",\"jwks_uri\":\"" + kIssuer + "/k\"}";
  EXPECT_FALSE(parse_discovery(body, kIssuer, false).ok);
}

TEST(Discovery, DeepNestingRejected) {
  std::string body = "{\"issuer\":\"" + kIssuer + "\",\"jwks_uri\":\"" + kIssuer + "/k\",\"x\":";
  body += std::string(50, '[') + std::string(50, ']') + "}";
  EXPECT_FALSE(parse_discovery(body, kIssuer, false).ok);
}

TEST(Discovery, JwksUriFollowsTheUrlPolicy) {
  auto plain = doc({{"issuer", kIssuer}, {"jwks_uri", "http://127.0.0.1/keys"}});
  EXPECT_FALSE(parse_discovery(plain, kIssuer, false).ok);
  EXPECT_TRUE(parse_discovery(plain, kIssuer, true).ok);
  auto remote_plain = doc({{"issuer", kIssuer}, {"jwks_uri", "http://example.com/keys"}});
  EXPECT_FALSE(parse_discovery(remote_plain, kIssuer, true).ok);
  auto file = doc({{"issuer", kIssuer}, {"jwks_uri", "file:///etc/passwd"}});
  EXPECT_FALSE(parse_discovery(file, kIssuer, true).ok);
}

TEST(Discovery, ErrorNeverEchoesLongValues) {
  std::string huge(10000, 'a');
  auto r = parse_discovery(doc({{"issuer", huge}, {"jwks_uri", kIssuer + "/k"}}), kIssuer, false);
  EXPECT_FALSE(r.ok);
  EXPECT_LT(r.error.size(), 1000u);
}

TEST(Backoff, DoublesWithEqualJitterUpToTheCap) {
  BackoffPolicy p{1000, 60000};
  EXPECT_EQ(backoff_delay_ms(p, 1, 0.0), 500);
  EXPECT_EQ(backoff_delay_ms(p, 1, 0.999999), 999);
  EXPECT_EQ(backoff_delay_ms(p, 2, 0.0), 1000);
  EXPECT_EQ(backoff_delay_ms(p, 3, 0.0), 2000);
  EXPECT_EQ(backoff_delay_ms(p, 7, 0.0), 30000);
  EXPECT_EQ(backoff_delay_ms(p, 8, 0.0), 30000);  // 64 s capped at 60 s
  EXPECT_EQ(backoff_delay_ms(p, 1000000, 0.5), 45000);
}

TEST(Backoff, NeverZeroNorAboveTheCapWhateverTheInput) {
  BackoffPolicy p{1000, 60000};
  for (int f : {0, 1, 5, 62, 63, 64, 1 << 30}) {
    for (double r : {-1.0, 0.0, 0.5, 1.0, 7.0}) {
      int64_t d = backoff_delay_ms(p, f, r);
      EXPECT_GE(d, 1);
      EXPECT_LE(d, 60000);
    }
  }
  EXPECT_GE(backoff_delay_ms(BackoffPolicy{0, 0}, 3, 0.5), 1);
}

std::string jwks_with(const std::vector<nlohmann::json>& keys) {
  return nlohmann::json{{"keys", keys}}.dump(2);  // pretty: compaction is checked
}

TEST(JwksCheck, CompactsAndCountsUsableKeys) {
  std::string text = jwks_with({test::public_jwk(test::rsa2048(), "k1", "RS256"),
                                test::public_jwk(test::rsa1024(), "weak", "RS256")});
  JwksCheck c = check_jwks_document(text, 65536);
  ASSERT_TRUE(c.ok) << c.error;
  EXPECT_EQ(c.key_count, 1);
  EXPECT_EQ(c.skipped.size(), 1u);
  EXPECT_LT(c.compact_json.size(), text.size());
  EXPECT_EQ(c.compact_json.find('\n'), std::string::npos);
}

TEST(JwksCheck, RejectsNoUsableKeysGarbageAndOversize) {
  EXPECT_FALSE(check_jwks_document(jwks_with({}), 65536).ok);
  EXPECT_FALSE(check_jwks_document(jwks_with({test::public_jwk(test::rsa1024(), "weak")}), 65536).ok);
  EXPECT_FALSE(check_jwks_document("<html>", 65536).ok);
  std::string text = jwks_with({test::public_jwk(test::rsa2048(), "k1")});
  JwksCheck c = check_jwks_document(text, 100);
  EXPECT_FALSE(c.ok);
  EXPECT_NE(c.error.find("limit"), std::string::npos);
}

TEST(PersistedKeys, RoundTrip) {
  JwksCheck c = check_jwks_document(jwks_with({test::public_jwk(test::ec_p256(), "e1", "ES256")}), 65536);
  ASSERT_TRUE(c.ok) << c.error;
  std::string file = encode_persisted_keys(kIssuer, c.compact_json, 1700000000);
  PersistedKeys p = decode_persisted_keys(file, kIssuer, 65536);
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.fetched_at_unix, 1700000000);
  EXPECT_EQ(p.jwks.key_count, 1);
  EXPECT_EQ(p.jwks.compact_json, c.compact_json);
}

TEST(PersistedKeys, FileNameIsAHashOfTheIssuer) {
  std::string name = persisted_keys_file_name(kIssuer);
  EXPECT_EQ(name.size(), 64u + 5u);
  EXPECT_EQ(name.substr(64), ".json");
  EXPECT_NE(name, persisted_keys_file_name(kIssuer + "/"));
}

TEST(PersistedKeys, CorruptOrForeignFilesRejected) {
  JwksCheck c = check_jwks_document(jwks_with({test::public_jwk(test::rsa2048(), "k1")}), 65536);
  ASSERT_TRUE(c.ok);
  std::string file = encode_persisted_keys(kIssuer, c.compact_json, 1);
  EXPECT_FALSE(decode_persisted_keys(file, "https://other.example.com/oidc", 65536).ok);
  EXPECT_FALSE(decode_persisted_keys(file.substr(0, file.size() / 2), kIssuer, 65536).ok);
  EXPECT_FALSE(decode_persisted_keys("", kIssuer, 65536).ok);
  EXPECT_FALSE(decode_persisted_keys("{\"format\":2}", kIssuer, 65536).ok);
  nlohmann::json j = nlohmann::json::parse(file);
  j["jwks"] = {{"keys", nlohmann::json::array()}};
  EXPECT_FALSE(decode_persisted_keys(j.dump(), kIssuer, 65536).ok);
  j = nlohmann::json::parse(file);
  j["fetched_at"] = "yesterday";
  EXPECT_FALSE(decode_persisted_keys(j.dump(), kIssuer, 65536).ok);
}

}  // namespace
}  // namespace dbx_oauth::core

namespace dbx_oauth::core {
namespace {

// fetch_discovery: the one discovery loop of both workers, driven by a
// getter that answers from a table instead of the network.
struct FakeGet {
  std::map<std::string, HttpResponse> answers;
  std::vector<std::string> asked;
  HttpResponse operator()(const std::string& url) {
    asked.push_back(url);
    auto it = answers.find(url);
    if (it != answers.end()) return it->second;
    HttpResponse r;
    r.ok = true;
    r.status = 404;
    return r;
  }
};

HttpResponse answer(long status, const std::string& body) {
  HttpResponse r;
  r.ok = true;
  r.status = status;
  r.body = body;
  return r;
}

const std::string kDoc = nlohmann::json{{"issuer", "https://adb-1.2.azuredatabricks.net/oidc"},
                                        {"jwks_uri", "https://adb-1.2.azuredatabricks.net/oidc/v1/keys"},
                                        {"token_endpoint", "https://adb-1.2.azuredatabricks.net/oidc/v1/token"}}
                             .dump();
const std::string kIss = "https://adb-1.2.azuredatabricks.net/oidc";

TEST(FetchDiscovery, FallsBackToTheOpenIdUrlOnAStatusOrBadDocument) {
  FakeGet get;
  get.answers[kIss + "/.well-known/openid-configuration"] = answer(200, kDoc);
  DiscoveryResult d = fetch_discovery(kIss, false, std::ref(get));
  ASSERT_TRUE(d.ok) << d.error;
  EXPECT_EQ(d.document.token_endpoint, kIss + "/v1/token");
  EXPECT_EQ(get.asked.size(), 2u);

  FakeGet garbage;
  garbage.answers[kIss + "/.well-known/oauth-authorization-server"] = answer(200, "<html>");
  garbage.answers[kIss + "/.well-known/openid-configuration"] = answer(200, kDoc);
  EXPECT_TRUE(fetch_discovery(kIss, false, std::ref(garbage)).ok);
}

TEST(FetchDiscovery, StopsAtATransportFailure) {
  FakeGet get;
  HttpResponse down;
  down.ok = false;
  down.error = "connection refused";
  get.answers[kIss + "/.well-known/oauth-authorization-server"] = down;
  get.answers[kIss + "/.well-known/openid-configuration"] = answer(200, kDoc);
  DiscoveryResult d = fetch_discovery(kIss, false, std::ref(get));
  EXPECT_FALSE(d.ok);
  EXPECT_EQ(get.asked.size(), 1u);
  EXPECT_NE(d.error.find("discovery failed: connection refused"), std::string::npos);
}

TEST(FetchDiscovery, ReportsEveryUrlTriedWithoutTheBody) {
  FakeGet get;
  get.answers[kIss + "/.well-known/oauth-authorization-server"] = answer(503, "secret-body");
  get.answers[kIss + "/.well-known/openid-configuration"] = answer(200, "{\"issuer\":\"https://evil\"}");
  DiscoveryResult d = fetch_discovery(kIss, false, std::ref(get));
  EXPECT_FALSE(d.ok);
  EXPECT_NE(d.error.find("HTTP status 503"), std::string::npos);
  EXPECT_NE(d.error.find("openid-configuration"), std::string::npos);
  EXPECT_EQ(d.error.find("secret-body"), std::string::npos);
}

}  // namespace
}  // namespace dbx_oauth::core
