// Validation outcomes of the core, one enumerator per reason.
//
// The core never reports; it returns a Reason.  The PostgreSQL glue maps
// each Reason to SQLSTATE and log text in one table, so the names here are
// part of the public contract (SQL output, server logs): never rename.
#pragma once
#include "core/no_postgres.h"

#include <cstddef>
#include <string>
#include <string_view>

namespace dbx_oauth::core {

enum class Reason {
  ok,
  malformed,
  token_too_large,
  bad_base64,
  bad_json,
  duplicate_key,
  nesting_too_deep,
  unsupported_alg,  // alg not allowed, "none", HS*, or unknown
  crit_header,
  bad_typ,
  unknown_kid,
  ambiguous_kid,
  key_alg_mismatch,
  bad_signature,
  untrusted_issuer,
  audience_mismatch,
  missing_exp,
  bad_claim_type,
  expired,
  not_yet_valid,
  issued_in_future,
  lifetime_too_long,
  missing_scope,
  missing_identity,
  no_keys,
};

// Number of enumerators; keep in step with the enum (checked by a test).
inline constexpr int kReasonCount = static_cast<int>(Reason::no_keys) + 1;

// Stable snake_case name, e.g. "bad_signature".  Never nullptr.
const char* reason_name(Reason reason);

// Short human text in PostgreSQL message style (lower case, no period),
// e.g. "token has expired".  Never nullptr.
const char* reason_message(Reason reason);

// Makes an untrusted value (kid, iss, ...) safe to put in a detail string:
// bytes outside printable ASCII and the characters '"' and '\\' become '?',
// and the result is cut to max_chars with "..." appended when truncated.
std::string sanitize_for_detail(std::string_view value, std::size_t max_chars = 80);

}  // namespace dbx_oauth::core
