// Registered-claim checks (RFC 7519 §4.1) for access tokens: times,
// audience and scopes.  The issuer is checked by the validator because it
// selects the keys; identity lives in identity.h.
#pragma once
#include "core/no_postgres.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/json_reader.h"
#include "core/status.h"

namespace dbx_oauth::core {

// NumericDate values must be JSON integers in [0, 2^53 - 1]: the range every
// JSON implementation represents exactly, far beyond any real date, and
// small enough that adding a clock skew can never overflow int64.
inline constexpr int64_t kMaxNumericDate = (int64_t{1} << 53) - 1;

// Bounds applied to settings before arithmetic, for the same reason.
inline constexpr int64_t kMaxClockSkewSeconds = int64_t{1} << 32;

struct TimeClaims {
  int64_t expires_at = 0;  // exp
  std::optional<int64_t> issued_at;   // iat
  std::optional<int64_t> not_before;  // nbf
};

// Reads one optional NumericDate; absent leaves out empty and returns ok.
// A float, string, bool, negative or too large value is bad_claim_type.
// Each reader below takes the claims either as an nlohmann::json object or
// as a scan of one (json_reader.h, what the validator uses); both apply
// the same rules, written once.
Reason read_numeric_date(const nlohmann::json& claims, const char* name, std::optional<int64_t>& out);
Reason read_numeric_date(const JsonObjectScan& claims, const char* name, std::optional<int64_t>& out);

// exp (required: missing_exp), nbf and iat (optional): types only.
Reason read_time_claims(const nlohmann::json& claims, TimeClaims& out, std::string& detail);
Reason read_time_claims(const JsonObjectScan& claims, TimeClaims& out, std::string& detail);

// expired (exp <= now - skew), not_yet_valid (nbf > now + skew).
Reason check_validity_window(int64_t expires_at, const std::optional<int64_t>& not_before,
                             int64_t clock_skew, int64_t now);

// check_validity_window, then issued_in_future (iat > now + skew) and
// lifetime_too_long (exp - iat, or exp - now without iat, > max_lifetime).
Reason check_time_claims(const TimeClaims& times, int64_t clock_skew, int64_t max_lifetime,
                         int64_t now, std::string& detail);

// accepted empty: ok.  Otherwise "aud" (a string or an array of strings)
// must contain one of them exactly; missing or no match is
// audience_mismatch, any other type bad_claim_type.
Reason check_audience(const nlohmann::json& claims, const std::vector<std::string>& accepted,
                      std::string& detail);
Reason check_audience(const JsonObjectScan& claims, const std::vector<std::string>& accepted,
                      std::string& detail);

// Collects scopes from "scope" (space-separated string, RFC 8693 §4.2) and
// "scp" (array of strings or a space-separated string), de-duplicated in
// order of appearance.  Other types are bad_claim_type.
Reason read_scopes(const nlohmann::json& claims, std::vector<std::string>& scopes, std::string& detail);
Reason read_scopes(const JsonObjectScan& claims, std::vector<std::string>& scopes, std::string& detail);

// accepted empty: true.  Otherwise at least one scope is in accepted.
bool has_accepted_scope(const std::vector<std::string>& scopes, const std::vector<std::string>& accepted);

}  // namespace dbx_oauth::core
