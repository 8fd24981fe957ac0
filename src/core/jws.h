// JWS compact serialization (RFC 7515 §7.1) and JOSE header rules.
//
// Only what a verifier of access tokens needs: split the three segments,
// decode them strictly, and check the protected header.  Header parameters
// that point at keys (jku, x5u, jwk, x5c) are never read: key selection uses
// only "kid" against keys the operator trusts.
#pragma once
#include "core/no_postgres.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace dbx_oauth::core {

// Tokens above this size are refused before any decoding (docs/security-model.md).
inline constexpr std::size_t kMaxTokenBytes = 16 * 1024;

struct CompactJws {
  std::string_view signing_input;  // "<header>.<payload>", a view into the token
  std::string header_text;         // decoded header bytes
  std::string payload_text;        // decoded payload bytes
  std::string signature;           // decoded signature bytes (may be empty)
};

// Size limit, exactly three segments with non-empty header and payload,
// strict base64url for all three.  Reasons: ok, token_too_large,
// malformed, bad_base64.  out.signing_input points into token.
Reason split_compact_jws(std::string_view token, CompactJws& out, std::string& detail);

struct JoseHeader {
  std::string alg;
  std::optional<std::string> kid;
};

// True when alg is a supported asymmetric algorithm (jwk.h) that appears in
// allowed.  "none" and HS* are never allowed, whatever the list says.
bool algorithm_allowed(std::string_view alg, const std::vector<std::string>& allowed);

// Strict JSON object with a string "alg" that is allowed (unsupported_alg
// otherwise, including "none" in any letter case), no "crit" (crit_header),
// "typ" absent or JWT / at+jwt with optional "application/" prefix, any
// letter case (bad_typ), "kid" absent or a string (malformed).
Reason parse_jose_header(std::string_view header_text, const std::vector<std::string>& allowed,
                         JoseHeader& out, std::string& detail);

}  // namespace dbx_oauth::core
