// Token validation pipeline (see validator.h).
//
// The order matters: everything that can be judged from the token alone is
// checked before keys are looked up, and no claim beyond "iss" is trusted
// (or reported) before the signature has been verified.
#include "core/validator.h"

#include <algorithm>

#include "core/claims.h"
#include "core/json_limits.h"
#include "core/json_reader.h"
#include "core/jws.h"
#include "core/revocation_set.h"
#include "core/sha256.h"
#include "core/signature.h"

namespace dbx_oauth::core {

namespace {

std::string quoted(const char* what, std::string_view value) {
  return std::string(what) + " \"" + sanitize_for_detail(value) + "\"";
}

// sub, falling back to client_id (docs/security-model.md).  A present but non-string
// claim is refused rather than skipped, so a malformed sub can never make
// the validator silently pick another identity.
Reason read_identity(const JsonObjectScan& claims, std::string& identity, IdentityType& type,
                     std::string& detail) {
  identity.clear();
  for (const char* name : {"sub", "client_id"}) {
    const JsonValueView* value = claims.find(name);
    if (value == nullptr) continue;
    if (value->kind != JsonKind::string) {
      detail = std::string("\"") + name + "\" is not a string";
      return Reason::bad_claim_type;
    }
    if (!value->string.empty()) {
      identity.assign(value->string);
      break;
    }
  }
  if (identity.empty()) {
    detail = "token has neither \"sub\" nor \"client_id\"";
    return Reason::missing_identity;
  }
  const auto classified = classify_token_identity(identity);
  if (!classified) {
    detail = quoted("identity", identity) + " is neither an email nor an application id";
    return Reason::missing_identity;
  }
  type = *classified;
  return Reason::ok;
}

// token_sha256 may be null: then the token is hashed here, and only once it
// has passed every check (of a refused token at most the signing input is
// hashed, which the signature check needs anyway).
Reason run_checks(std::string_view token, const ValidationSettings& settings, const KeyLookup& lookup,
                  int64_t now, const TokenDigest* token_sha256, VerifiedToken& out, std::string& detail) {
  // Reused per thread like the scans below: warm, the split allocates nothing.
  thread_local CompactJws jws;
  if (Reason r = split_compact_jws(token, jws, detail); r != Reason::ok) return r;

  JoseHeader header;
  if (Reason r = parse_jose_header(jws.header_text, settings.allowed_algorithms, header, detail);
      r != Reason::ok) {
    return r;
  }

  // Scanned, not built: only top-level claims are read, and the scan
  // applies every rule of the strict parse (json_reader.h).  Its views
  // point into jws.payload_text, which is moved out only at the end.  One
  // scan per thread, reused (nothing calls back into the validator while
  // it is in use): warm, it allocates nothing.
  thread_local JsonObjectScan claims;
  if (scan_json_strict(jws.payload_text, claims) != Reason::ok) {
    detail = "payload: " + claims.detail;
    return claims.reason;
  }
  if (!claims.is_object) {
    detail = "payload is not a JSON object";
    return Reason::malformed;
  }

  const JsonValueView* iss = claims.find("iss");
  if (iss == nullptr || iss->kind != JsonKind::string) {
    detail = "token has no string \"iss\"";
    return Reason::untrusted_issuer;
  }
  std::string issuer(iss->string);
  if (std::find(settings.issuers.begin(), settings.issuers.end(), issuer) == settings.issuers.end()) {
    detail = quoted("iss", issuer);
    return Reason::untrusted_issuer;
  }

  const Jwks* jwks = lookup ? lookup(issuer) : nullptr;
  if (!jwks || jwks->keys.empty()) {
    detail = quoted("iss", issuer);
    return Reason::no_keys;
  }
  const Jwk* key = nullptr;
  if (Reason r = select_key(*jwks, header.alg, header.kid, &key); r != Reason::ok) {
    detail = header.kid ? quoted("kid", *header.kid) : std::string("token has no kid");
    detail += ", alg " + header.alg;
    return r;
  }
  // The signing input is the token's first ~60%: for the SHA-256
  // algorithms its hash state is kept and the token's own digest (the
  // fingerprint) is finished from it once the token has passed.
  thread_local Sha256Prefix hashing;
  const bool share_prefix = token_sha256 == nullptr && signs_sha256_digest(header.alg);
  if (Reason r = share_prefix ? verify_signature_sha256(header.alg, *key, hashing.begin(jws.signing_input),
                                                        jws.signature)
                              : verify_signature(header.alg, *key, jws.signing_input, jws.signature);
      r != Reason::ok) {
    detail = quoted("kid", key->kid) + ", alg " + header.alg;
    return r;
  }

  // Signature verified: the claims below are the issuer's word.
  TimeClaims times;
  if (Reason r = read_time_claims(claims, times, detail); r != Reason::ok) return r;
  if (Reason r = check_time_claims(times, settings.clock_skew_seconds, settings.max_token_lifetime_seconds,
                                   now, detail);
      r != Reason::ok) {
    return r;
  }
  if (Reason r = check_audience(claims, settings.audiences, detail); r != Reason::ok) return r;
  std::vector<std::string> scopes;
  if (Reason r = read_scopes(claims, scopes, detail); r != Reason::ok) return r;
  if (!has_accepted_scope(scopes, settings.accepted_scopes)) {
    detail = std::to_string(scopes.size()) + " scopes, none accepted";
    return Reason::missing_scope;
  }
  IdentityType type = IdentityType::user;
  std::string identity;
  if (Reason r = read_identity(claims, identity, type, detail); r != Reason::ok) return r;

  out.identity = std::move(identity);
  out.identity_type = type;
  out.issuer = std::move(issuer);
  out.kid = key->kid;
  out.alg = header.alg;
  const TokenDigest digest = token_sha256  ? *token_sha256
                             : share_prefix ? hashing.finish(token.substr(jws.signing_input.size()))
                                            : sha256(token);
  out.fingerprint = digest_hex(digest, 8);  // token_fingerprint(): 16 hex digits
  const JsonValueView* jti = claims.find("jti");
  if (jti != nullptr && jti->kind == JsonKind::string && !jti->string.empty()) {
    out.revocation_key = revocation_token_key(std::string(jti->string), std::string_view());
  } else {
    out.revocation_key = revocation_token_key(std::string(), digest_hex(digest));
  }
  out.expires_at = times.expires_at;
  out.issued_at = times.issued_at;
  out.not_before = times.not_before;
  out.scopes = std::move(scopes);
  // The decoded payload as sent: it passed the strict parse above, so it is
  // one valid JSON object (no BOM), and re-serialising it would only cost.
  out.claims_json = jws.payload_text;
  return Reason::ok;
}

}  // namespace

Reason select_key(const Jwks& jwks, std::string_view alg, const std::optional<std::string>& kid,
                  const Jwk** selected) {
  *selected = nullptr;
  const Jwk* found = nullptr;
  int fitting = 0;
  bool kid_seen = false;
  for (const Jwk& key : jwks.keys) {
    if (kid) {
      if (key.kid != *kid) continue;  // exact and case-sensitive
      kid_seen = true;
    }
    if (!key.fits_alg(alg)) continue;
    ++fitting;
    found = &key;
  }
  if (kid && !kid_seen) return Reason::unknown_kid;
  if (kid && fitting == 0) return Reason::key_alg_mismatch;
  if (fitting == 0) return Reason::unknown_kid;
  // Several keys sharing a kid, or no kid and several candidates: refuse
  // rather than try each, so one token always maps to one key.
  if (fitting > 1) return Reason::ambiguous_kid;
  *selected = found;
  return Reason::ok;
}

namespace {

ValidationResult validate(std::string_view token, const ValidationSettings& settings, const KeyLookup& lookup,
                          int64_t now_unix, const TokenDigest* token_sha256) {
  ValidationResult result;
  try {
    result.reason = run_checks(token, settings, lookup, now_unix, token_sha256, result.token, result.detail);
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception&) {
    // Defensive: the steps above report through Reason; a library exception
    // here means unexpected input, which must fail closed.
    result.reason = Reason::malformed;
    result.detail = "token could not be processed";
  }
  if (!result.ok()) result.token = VerifiedToken{};
  return result;
}

}  // namespace

ValidationResult validate_token(std::string_view token, const ValidationSettings& settings,
                                const KeyLookup& lookup, int64_t now_unix) {
  return validate(token, settings, lookup, now_unix, nullptr);
}

ValidationResult validate_token(std::string_view token, const ValidationSettings& settings,
                                const KeyLookup& lookup, int64_t now_unix, const TokenDigest& token_sha256) {
  return validate(token, settings, lookup, now_unix, &token_sha256);
}

Reason recheck_time(const VerifiedToken& token, const ValidationSettings& settings, int64_t now_unix) {
  return check_validity_window(token.expires_at, token.not_before, settings.clock_skew_seconds, now_unix);
}

}  // namespace dbx_oauth::core
