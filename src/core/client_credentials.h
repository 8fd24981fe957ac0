// OAuth 2.0 client-credentials grant (RFC 6749 §4.4) for the identity-sync
// worker: the service principal named by dbx_oauth.client_id obtains an
// access token from the workspace's token endpoint (read from discovery),
// keeps it in worker memory only and refreshes it before it expires.
//
// Pure logic, no network: the secret file check, the request's form body
// and Basic credentials, the response parser and the refresh schedule.
// Secrets never appear in any error text produced here; a token response
// body is never echoed (it may hold a token), only its "error" code.
#pragma once
#include "core/no_postgres.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dbx_oauth::core {

// Scope asked for: what Databricks M2M tokens for the workspace APIs use.
inline constexpr const char* kClientCredentialsScope = "all-apis";
// Refresh this long before expiry (the 2-minute buffer docs/identity-sync.md promises).
inline constexpr int64_t kTokenRefreshBufferMs = 120000;
// Never refresh sooner than this after obtaining a token (unless it lives
// less than twice as long: then at half-life).
inline constexpr int64_t kMinTokenRefreshDelayMs = 5000;
// Lifetime assumed when the response has no expires_in (RFC 6749 §5.1
// makes it optional; Databricks always sends it).
inline constexpr int64_t kDefaultTokenLifetimeS = 3600;
// Longest lifetime believed; a larger expires_in is capped (not an error).
inline constexpr int64_t kMaxTokenLifetimeS = 86400;
// Secret files larger than this are refused.
inline constexpr size_t kMaxSecretFileBytes = 4096;

struct SecretFileResult {
  bool ok = false;
  std::string secret;  // trailing CR/LF/space/tab removed; when ok
  std::string error;   // names the path and the reason, never the content
};

// Reads dbx_oauth.client_secret_file.  Refused: not a regular file (after
// following symlinks), readable by "others" (mode & S_IROTH), empty after
// trimming, larger than kMaxSecretFileBytes, or holding control characters
// or NUL inside the secret.  The file is opened first and checked with
// fstat, so the check and the read see the same file.
SecretFileResult read_client_secret_file(const std::string& path);

// application/x-www-form-urlencoded (RFC 6749 Appendix B): unreserved
// characters kept, space as '+', everything else %XX.
std::string form_urlencode(std::string_view text);

// "grant_type=client_credentials&scope=<scope>".
std::string client_credentials_form_body(std::string_view scope = kClientCredentialsScope);

// "Basic base64(urlencode(id) ":" urlencode(secret))" (RFC 6749 §2.3.1):
// the value of an Authorization header.  Holds the secret: wipe it after use.
std::string basic_authorization(std::string_view client_id, std::string_view client_secret);

// Standard base64 with padding (RFC 4648 §4).
std::string base64_encode(std::string_view bytes);

struct TokenGrant {
  bool ok = false;
  std::string access_token;  // when ok; never logged
  int64_t obtained_at_ms = 0;
  int64_t expires_at_ms = 0;  // obtained_at + expires_in (capped)
  std::string error;          // when !ok; safe to log
};

// Parses the token endpoint's answer.  Success needs HTTP 200, a JSON
// object, a non-empty string access_token without control characters,
// token_type "Bearer" (any case) when present, and expires_in a positive
// integer (or absent: kDefaultTokenLifetimeS).  Errors name the HTTP
// status and, for RFC 6749 §5.2 error bodies, the sanitised "error" code;
// nothing else of the body is ever copied into an error.
TokenGrant parse_token_response(long http_status, std::string_view body, int64_t now_ms);

// When to refresh a token obtained at obtained_at_ms that expires at
// expires_at_ms: kTokenRefreshBufferMs before expiry, but never sooner than
// kMinTokenRefreshDelayMs after it was obtained (half-life for tokens that
// live less than twice that); at once when it has no lifetime left.
int64_t token_refresh_due_ms(int64_t obtained_at_ms, int64_t expires_at_ms);

// A token is usable for requests until this long before its expiry.
inline constexpr int64_t kTokenUseMarginMs = 10000;
bool token_usable(const TokenGrant& token, int64_t now_ms);

// "scheme://host[:port]" lower-cased, or nullopt when the URL has no
// scheme or host.  Used to keep the secret on the issuer's origin.
std::optional<std::string> url_origin(std::string_view url);

// The token endpoint must be on the issuer's origin (same scheme, host and
// port): a discovery document cannot send the client secret elsewhere.
// Returns why not, or nullopt.  The URL policy (https, loopback http) is
// checked separately by the HTTP layer.
std::optional<std::string> check_token_endpoint(std::string_view token_endpoint, std::string_view issuer);

// Overwrites a string's bytes before it is released (best effort).
void wipe(std::string& secret) noexcept;

}  // namespace dbx_oauth::core
