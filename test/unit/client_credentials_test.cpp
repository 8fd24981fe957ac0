// Client-credentials grant: secret file checks, request encoding, response
// parsing (no secret or token in errors) and the refresh schedule.
#include "core/client_credentials.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

namespace dbx_oauth::core {
namespace {

class SecretFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dbx_oauth_secret_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::string cmd = "rm -rf '" + dir_ + "'";
    ASSERT_EQ(system(cmd.c_str()), 0);
  }
  std::string write(const std::string& name, const std::string& content, mode_t mode) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << content;
    chmod(path.c_str(), mode);
    return path;
  }
  std::string dir_;
};

TEST_F(SecretFile, ReadsAndTrimsTrailingNewline) {
  auto r = read_client_secret_file(write("s", "dose-s3cret\r\n", 0600));
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.secret, "dose-s3cret");
  r = read_client_secret_file(write("g", "abc\n", 0640));  // group-readable is allowed
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.secret, "abc");
}

TEST_F(SecretFile, RefusesWorldReadableWithoutLeakingTheSecret) {
  auto r = read_client_secret_file(write("w", "top-secret-value\n", 0644));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("readable by other users"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("0644"), std::string::npos) << r.error;
  EXPECT_EQ(r.error.find("top-secret-value"), std::string::npos);
  EXPECT_TRUE(r.secret.empty());
  EXPECT_FALSE(read_client_secret_file(write("w2", "x", 0604)).ok);
}

TEST_F(SecretFile, RefusesDirectoriesEmptyMissingHugeAndControlCharacters) {
  EXPECT_FALSE(read_client_secret_file(dir_).ok);  // mkdtemp: 0700 directory
  EXPECT_FALSE(read_client_secret_file(dir_ + "/missing").ok);
  EXPECT_FALSE(read_client_secret_file(write("e", "\n\n", 0600)).ok);
  EXPECT_FALSE(read_client_secret_file(write("h", std::string(kMaxSecretFileBytes + 1, 'a'), 0600)).ok);
  auto r = read_client_secret_file(write("c", std::string("SEC\0RETPART", 11), 0600));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error.find("RETPART"), std::string::npos);  // the secret's text never appears
  EXPECT_FALSE(read_client_secret_file(write("n", "line1\nline2\n", 0600)).ok);
}

TEST(ClientCredentials, FormBodyAndBasicAuthorization) {
  EXPECT_EQ(client_credentials_form_body(), "grant_type=client_credentials&scope=all-apis");
  EXPECT_EQ(client_credentials_form_body("a b&c"), "grant_type=client_credentials&scope=a+b%26c");
  EXPECT_EQ(form_urlencode("x:y/z~-._"), "x%3Ay%2Fz~-._");
  // RFC 7617 example pair; no reserved characters, so no URL-encoding.
  EXPECT_EQ(basic_authorization("Aladdin", "opensesame"), "Basic QWxhZGRpbjpvcGVuc2VzYW1l");
  // ':' in the secret is encoded first (RFC 6749 §2.3.1), so it cannot split.
  EXPECT_EQ(basic_authorization("id", "a:b"), "Basic " + base64_encode("id:a%3Ab"));
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
}

TEST(ClientCredentials, ParsesASuccessfulAnswer) {
  auto g = parse_token_response(200, R"({"access_token":"eyJ.a.b","token_type":"Bearer","expires_in":3600,"scope":"all-apis"})",
                                1000000);
  ASSERT_TRUE(g.ok) << g.error;
  EXPECT_EQ(g.access_token, "eyJ.a.b");
  EXPECT_EQ(g.obtained_at_ms, 1000000);
  EXPECT_EQ(g.expires_at_ms, 1000000 + 3600 * 1000);
  g = parse_token_response(200, R"({"access_token":"t","token_type":"bearer"})", 0);
  ASSERT_TRUE(g.ok);
  EXPECT_EQ(g.expires_at_ms, kDefaultTokenLifetimeS * 1000);
  g = parse_token_response(200, R"({"access_token":"t","expires_in":99999999999})", 0);
  ASSERT_TRUE(g.ok);
  EXPECT_EQ(g.expires_at_ms, kMaxTokenLifetimeS * 1000);
}

TEST(ClientCredentials, ErrorsNeverEchoTheBody) {
  const std::string secretish = "SECRET-IN-DESCRIPTION";
  auto g = parse_token_response(401, R"({"error":"invalid_client","error_description":")" + secretish + "\"}", 0);
  EXPECT_FALSE(g.ok);
  EXPECT_EQ(g.error, "token endpoint answered HTTP 401 (invalid_client)");
  g = parse_token_response(400, R"({"error":"bad\"code <script>"})", 0);
  EXPECT_EQ(g.error, "token endpoint answered HTTP 400 (badcodescript)");
  g = parse_token_response(500, "<html>eyJhbGciOi</html>", 0);
  EXPECT_EQ(g.error, "token endpoint answered HTTP 500");
  // A 200 answer that holds a token but is otherwise wrong: the token is not in the error.
  for (const char* body : {R"({"access_token":"eyJSECRET","token_type":"mac"})",
                           R"({"access_token":"eyJSECRET","expires_in":"3600"})",
                           R"({"access_token":"eyJSECRET","expires_in":0})",
                           R"({"access_token":"eyJ SECRET"})", R"({"access_token":""})", R"({"token":"x"})",
                           R"(["eyJSECRET"])", "eyJSECRET"}) {
    g = parse_token_response(200, body, 0);
    EXPECT_FALSE(g.ok) << body;
    EXPECT_EQ(g.error.find("SECRET"), std::string::npos) << g.error;
    EXPECT_TRUE(g.access_token.empty());
  }
}

TEST(ClientCredentials, RefreshTwoMinutesBeforeExpiry) {
  const int64_t t0 = 1'000'000;
  EXPECT_EQ(token_refresh_due_ms(t0, t0 + 3600'000), t0 + 3600'000 - 120'000);
  EXPECT_EQ(token_refresh_due_ms(t0, t0 + 130'000), t0 + 10'000);
  // Shorter than the buffer: never within kMinTokenRefreshDelayMs (no loop) ...
  EXPECT_EQ(token_refresh_due_ms(t0, t0 + 60'000), t0 + 5'000);
  // ... unless the token lives less than twice that: half-life.
  EXPECT_EQ(token_refresh_due_ms(t0, t0 + 6'000), t0 + 3'000);
  EXPECT_EQ(token_refresh_due_ms(t0, t0 + 2'000), t0 + 1'000);
  EXPECT_EQ(token_refresh_due_ms(t0, t0 - 1), t0);
  TokenGrant g;
  g.ok = true;
  g.access_token = "t";
  g.obtained_at_ms = t0;
  g.expires_at_ms = t0 + 60'000;
  EXPECT_TRUE(token_usable(g, t0));
  EXPECT_FALSE(token_usable(g, t0 + 60'000 - kTokenUseMarginMs));
  EXPECT_FALSE(token_usable(TokenGrant{}, t0));
}

TEST(ClientCredentials, TokenEndpointMustStayOnTheIssuerOrigin) {
  const std::string issuer = "https://adb-1.2.azuredatabricks.net/oidc";
  EXPECT_EQ(check_token_endpoint("https://adb-1.2.azuredatabricks.net/oidc/v1/token", issuer), std::nullopt);
  EXPECT_EQ(check_token_endpoint("https://ADB-1.2.azuredatabricks.net:443/oidc/v1/token", issuer), std::nullopt);
  EXPECT_NE(check_token_endpoint("https://evil.example.com/oidc/v1/token", issuer), std::nullopt);
  EXPECT_NE(check_token_endpoint("http://adb-1.2.azuredatabricks.net/oidc/v1/token", issuer), std::nullopt);
  EXPECT_NE(check_token_endpoint("https://adb-1.2.azuredatabricks.net:8443/oidc/v1/token", issuer), std::nullopt);
  EXPECT_NE(check_token_endpoint("https://adb-1.2.azuredatabricks.net@evil.example.com/t", issuer), std::nullopt);
  EXPECT_NE(check_token_endpoint("/oidc/v1/token", issuer), std::nullopt);
  EXPECT_EQ(url_origin("https://127.0.0.1:8443/oidc"), "https://127.0.0.1:8443");
}

TEST(ClientCredentials, WipeClears) {
  std::string s = "secret";
  wipe(s);
  EXPECT_TRUE(s.empty());
}

}  // namespace
}  // namespace dbx_oauth::core
