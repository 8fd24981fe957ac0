// Token validation: composes JWS parsing, key selection, signature
// verification and claim checks into one decision (docs/security-model.md).
//
// The validator is pure: keys come from a caller-supplied lookup (shared
// memory in the backend, a fixture in tests) and the clock is a parameter,
// so every rule is testable with fixed inputs.
#pragma once
#include "core/no_postgres.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/identity.h"
#include "core/jwk.h"
#include "core/sha256.h"
#include "core/status.h"

namespace dbx_oauth::core {

struct ValidationSettings {
  std::vector<std::string> issuers;    // exact string match on iss
  std::vector<std::string> audiences;  // empty = not checked; aud may be string or array
  // Token needs >= 1 of these in "scope" (space separated) or "scp"; empty = not checked.
  std::vector<std::string> accepted_scopes = {"postgres", "all-apis"};
  // none/HS* can never be enabled: they are unknown to the algorithm table.
  std::vector<std::string> allowed_algorithms = default_allowed_algorithms();
  int64_t clock_skew_seconds = 60;
  int64_t max_token_lifetime_seconds = 86400;  // exp - iat (or exp - now without iat)
};

struct VerifiedToken {
  std::string identity;  // sub, falling back to client_id
  IdentityType identity_type = IdentityType::user;  // USER or SERVICE_PRINCIPAL
  std::string issuer, kid, alg, fingerprint;
  int64_t expires_at = 0;  // exp
  std::optional<int64_t> issued_at, not_before;
  std::vector<std::string> scopes;
  std::string claims_json;  // the decoded payload, a strictly valid JSON object
  // What a revocation of this one token is keyed on: "jti:<jti>", else
  // "sha256:<digest of the token>" (see core/revocation_set.h).
  std::string revocation_key;
};

struct ValidationResult {
  Reason reason = Reason::malformed;
  VerifiedToken token;  // filled only when ok()
  std::string detail;   // safe to log: sanitized kid/iss/alg, never token text
  bool ok() const { return reason == Reason::ok; }
};

// Keys of an issuer already known to be trusted; nullptr = none (no_keys).
using KeyLookup = std::function<const Jwks*(const std::string& issuer)>;

// Never throws for any input except std::bad_alloc.
ValidationResult validate_token(std::string_view token, const ValidationSettings& settings,
                                const KeyLookup& lookup, int64_t now_unix);

// The same, for a caller that already hashed the token for a cache lookup:
// token_sha256 must be sha256(token); it is used for the fingerprint and
// the revocation key instead of hashing the token again.
ValidationResult validate_token(std::string_view token, const ValidationSettings& settings,
                                const KeyLookup& lookup, int64_t now_unix, const TokenDigest& token_sha256);

// Re-checks only the time-dependent rules for a cached token: expired
// (exp with skew) and not_yet_valid (nbf with skew).
Reason recheck_time(const VerifiedToken& token, const ValidationSettings& settings, int64_t now_unix);

// Key selection alone (exposed for tests and diagnostics): exact,
// case-sensitive kid among keys that fit alg; without kid exactly one key
// must fit.  Sets *selected on ok; reasons unknown_kid, key_alg_mismatch,
// ambiguous_kid.
Reason select_key(const Jwks& jwks, std::string_view alg, const std::optional<std::string>& kid,
                  const Jwk** selected);

}  // namespace dbx_oauth::core
