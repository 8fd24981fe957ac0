// One issuer's signing keys, fetched and checked: discovery document ->
// jwks_uri -> JWKS -> every key parsed and checked by parse_jwks.
//
// The worker publishes a result only when ok, so a failed fetch (network,
// TLS, HTTP status, garbage, no usable keys) leaves the last good keys in
// place.  The JWKS is re-serialised compactly: what reaches shared memory
// and the persisted file is exactly what this code parsed.
#pragma once
#include "core/no_postgres.h"

#include <string>
#include <string_view>
#include <vector>

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

struct KeyFetchResult {
  bool ok = false;
  JwksCheck jwks;
  std::string jwks_uri;  // from the discovery document, when it was read
  std::string error;     // set when !ok; safe to log
};

// Discovery (RFC 8414 URL, then the OpenID one when the first answers with
// an unusable document), issuer check, JWKS fetch and check.  Never throws
// for remote problems; may throw std::bad_alloc.
KeyFetchResult fetch_issuer_keys(const std::string& issuer, const HttpOptions& http,
                                 size_t max_jwks_bytes);

}  // namespace dbx_oauth::core
