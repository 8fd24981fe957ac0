// URL policy, loopback detection and redaction of the worker's HTTP client.
// Pure: no request leaves the process (http_get is exercised only where the
// policy refuses before any connection).
#include "core/http_client.h"

#include <gtest/gtest.h>

namespace dbx_oauth::core {
namespace {

TEST(HttpClientLoopback, RecognisesLoopbackNamesAndAddresses) {
  EXPECT_TRUE(is_loopback_host("localhost"));
  EXPECT_TRUE(is_loopback_host("LocalHost"));
  EXPECT_TRUE(is_loopback_host("127.0.0.1"));
  EXPECT_TRUE(is_loopback_host("127.255.3.4"));
  EXPECT_TRUE(is_loopback_host("[::1]"));
  EXPECT_TRUE(is_loopback_host("::1"));
}

TEST(HttpClientLoopback, RejectsEverythingElse) {
  EXPECT_FALSE(is_loopback_host("example.com"));
  EXPECT_FALSE(is_loopback_host("localhost.example.com"));
  EXPECT_FALSE(is_loopback_host("foo.localhost"));
  EXPECT_FALSE(is_loopback_host("128.0.0.1"));
  EXPECT_FALSE(is_loopback_host("10.0.0.1"));
  EXPECT_FALSE(is_loopback_host("0.0.0.0"));
  EXPECT_FALSE(is_loopback_host("[::2]"));
  EXPECT_FALSE(is_loopback_host("[::ffff:8.8.8.8]"));
  EXPECT_FALSE(is_loopback_host("127.0.0.1.nip.io"));
  EXPECT_FALSE(is_loopback_host(""));
}

TEST(HttpClientPolicy, HttpsAlwaysAllowed) {
  EXPECT_FALSE(check_url_policy("https://adb-1.2.azuredatabricks.net/oidc", false));
  EXPECT_FALSE(check_url_policy("https://127.0.0.1:8443/oidc/jwks", false));
  EXPECT_FALSE(check_url_policy("HTTPS://example.com/", true));
}

TEST(HttpClientPolicy, PlainHttpRefusedByDefault) {
  auto r = check_url_policy("http://127.0.0.1:8080/oidc", false);
  ASSERT_TRUE(r);
  EXPECT_NE(r->find("plain http is not allowed"), std::string::npos);
}

TEST(HttpClientPolicy, PlainHttpOnlyToLoopbackWhenAllowed) {
  EXPECT_FALSE(check_url_policy("http://127.0.0.1:8080/oidc", true));
  EXPECT_FALSE(check_url_policy("http://localhost/oidc", true));
  EXPECT_FALSE(check_url_policy("http://[::1]:99/x", true));
  auto r = check_url_policy("http://example.com/oidc", true);
  ASSERT_TRUE(r);
  EXPECT_NE(r->find("only to loopback"), std::string::npos);
  EXPECT_TRUE(check_url_policy("http://10.1.2.3/oidc", true));
}

TEST(HttpClientPolicy, OtherSchemesRefused) {
  EXPECT_TRUE(check_url_policy("ftp://example.com/jwks", true));
  EXPECT_TRUE(check_url_policy("file:///etc/passwd", true));
  EXPECT_TRUE(check_url_policy("gopher://127.0.0.1/", true));
  EXPECT_TRUE(check_url_policy("ldap://127.0.0.1/", true));
}

TEST(HttpClientPolicy, CredentialsAndGarbageRefused) {
  auto r = check_url_policy("https://user:secret@example.com/oidc", false);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->find("secret"), std::string::npos) << "refusal must not echo the credential";
  EXPECT_TRUE(check_url_policy("https://user@example.com/oidc", false));
  EXPECT_TRUE(check_url_policy("not a url", false));
  EXPECT_TRUE(check_url_policy("", false));
  EXPECT_TRUE(check_url_policy("https://", false));
}

TEST(HttpClientRedact, DropsUserInfoQueryAndFragment) {
  EXPECT_EQ(redact_url("https://u:p@example.com/oidc/jwks?token=abc#frag"), "https://example.com/oidc/jwks");
  EXPECT_EQ(redact_url("https://example.com/a/b"), "https://example.com/a/b");
  EXPECT_EQ(redact_url("::garbage::"), "(invalid URL)");
}

TEST(HttpClientGet, RefusedUrlNeverConnects) {
  HttpOptions o;
  HttpResponse r = http_get("http://user:secret@example.com/oidc?x=token", o);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("refusing"), std::string::npos);
  EXPECT_EQ(r.error.find("secret"), std::string::npos);
  EXPECT_EQ(r.error.find("token"), std::string::npos);
}

TEST(HttpClientGet, ConnectionRefusedIsAnErrorNotAThrow) {
  http_global_init();
  HttpOptions o;
  o.allow_insecure_http = true;
  o.timeout_ms = 2000;
  // Port 1 on loopback: nothing listens there in a test environment.
  HttpResponse r = http_get("http://127.0.0.1:1/x", o);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("http://127.0.0.1:1/x"), std::string::npos);
}

TEST(HttpClientGet, AbortCallbackCancels) {
  http_global_init();
  HttpOptions o;
  o.allow_insecure_http = true;
  o.timeout_ms = 2000;
  o.should_abort = [] { return true; };
  HttpResponse r = http_get("http://127.0.0.1:1/x", o);
  EXPECT_FALSE(r.ok);
}

}  // namespace
}  // namespace dbx_oauth::core
