// One issuer's signing keys, fetched and checked: discovery document ->
// jwks_uri -> JWKS -> every key parsed and checked by parse_jwks.
//
// The worker publishes a result only when ok, so a failed fetch (network,
// TLS, HTTP status, garbage, no usable keys) leaves the last good keys in
// place.  The JWKS is re-serialised compactly: what reaches shared memory
// and the persisted file is exactly what this code parsed.
//
// Each fetch also samples the issuer's clock: the Date header of its last
// 200 response against the local time at receipt (the doctor's clock check).
#pragma once
#include "core/no_postgres.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/discovery.h"
#include "core/http_client.h"
#include "core/jwk.h"

namespace dbx_oauth::core {

struct JwksCheck {
  bool ok = false;
  std::string compact_json;         // the document re-serialised, when ok
  int key_count = 0;                // usable keys
  std::vector<SkippedKey> skipped;  // unusable keys (logged, not fatal)
  std::string error;                // set when !ok; safe to log
};

// Checks a JWKS document from any source (issuer, jwks_file, persisted
// file): it must parse, hold at least one usable key, and its compact form
// must fit max_bytes (the shared-memory slot size).
JwksCheck check_jwks_document(std::string_view json, size_t max_bytes);

// Seconds since the Unix epoch of an HTTP-date (RFC 7231 section 7.1.1.1):
// IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") and, as recipients must,
// the obsolete RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT"; two-digit years
// 70-99 are 19xx, 00-69 20xx) and asctime ("Sun Nov  6 08:49:37 1994")
// forms.  Names are case-sensitive, the weekday is not checked against the
// date, surrounding blanks are ignored; nullopt for anything else.
std::optional<int64_t> parse_http_date(std::string_view value);

// Differences up to this many seconds are reported as 0 (see below).
inline constexpr int64_t kClockNoiseSeconds = 1;

// The issuer's clock minus ours, in whole seconds, from a Date header value
// and the local time at receipt in Unix seconds (truncated, like the header):
// positive when our clock is behind.  The header has 1 s resolution and is
// written before the response travels, so synchronised clocks differ by 0 or
// -1 (more under load): |difference| <= kClockNoiseSeconds counts as 0.
// nullopt when the value is not an HTTP-date (absent headers are empty).
std::optional<int64_t> clock_offset_seconds(std::string_view date_header, int64_t received_unix_s);

struct KeyFetchResult {
  bool ok = false;
  JwksCheck jwks;
  std::string jwks_uri;  // from the discovery document, when it was read
  std::string error;     // set when !ok; safe to log
  // Clock sample from the last 200 response (the JWKS, else discovery), also
  // when the fetch failed later: clock_sampled tells whether a 200 response
  // arrived at all, clock_offset_s is nullopt when it had no usable Date.
  bool clock_sampled = false;
  std::optional<int64_t> clock_offset_s;
};

// The issuer's discovery document: the RFC 8414 URL, then the OpenID one
// when the first answers with another status or an unusable document.  A
// transport failure (TLS, timeout, refused) stops at once: the fallback is
// on the same host and would only double the wait.  get fetches one URL
// (the key worker samples the issuer's clock on the way).  The one
// discovery loop of every worker: keys and the identity sync's token
// endpoint.
DiscoveryResult fetch_discovery(const std::string& issuer, bool allow_insecure_http,
                                const std::function<HttpResponse(const std::string&)>& get);

// Discovery (fetch_discovery), issuer check, JWKS fetch and check.  Never throws
// for remote problems; may throw std::bad_alloc.
KeyFetchResult fetch_issuer_keys(const std::string& issuer, const HttpOptions& http,
                                 size_t max_jwks_bytes);

}  // namespace dbx_oauth::core
