// Registered-claim checks (see claims.h).
#include "core/claims.h"

#include <algorithm>
#include <limits>

namespace dbx_oauth::core {

namespace {

using nlohmann::json;

int64_t clamp_setting(int64_t value, int64_t max) { return std::clamp<int64_t>(value, 0, max); }

// now comes from the caller's clock; saturate rather than overflow.
int64_t saturating_add(int64_t a, int64_t b) {
  int64_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum)) {
    return b > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
  }
  return sum;
}

int64_t saturating_sub(int64_t a, int64_t b) {
  int64_t difference = 0;
  if (__builtin_sub_overflow(a, b, &difference)) {
    return b < 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
  }
  return difference;
}

void append_unique(std::vector<std::string>& scopes, std::string scope) {
  if (!scope.empty() && std::find(scopes.begin(), scopes.end(), scope) == scopes.end()) {
    scopes.push_back(std::move(scope));
  }
}

void split_scope_string(const std::string& text, std::vector<std::string>& scopes) {
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find(' ', start), text.size());
    append_unique(scopes, text.substr(start, end - start));
    start = end + 1;
  }
}

}  // namespace

Reason read_numeric_date(const json& claims, const char* name, std::optional<int64_t>& out) {
  out.reset();
  const auto it = claims.find(name);
  if (it == claims.end()) return Reason::ok;
  // nlohmann stores JSON integers as number_integer or number_unsigned and
  // everything with a fraction or exponent as number_float.
  if (it->is_number_unsigned()) {
    const uint64_t value = it->get<uint64_t>();
    if (value > static_cast<uint64_t>(kMaxNumericDate)) return Reason::bad_claim_type;
    out = static_cast<int64_t>(value);
    return Reason::ok;
  }
  if (it->is_number_integer()) {
    const int64_t value = it->get<int64_t>();
    if (value < 0 || value > kMaxNumericDate) return Reason::bad_claim_type;
    out = value;
    return Reason::ok;
  }
  return Reason::bad_claim_type;
}

Reason read_time_claims(const json& claims, TimeClaims& out, std::string& detail) {
  std::optional<int64_t> exp;
  const struct {
    const char* name;
    std::optional<int64_t>* slot;
  } fields[] = {{"exp", &exp}, {"nbf", &out.not_before}, {"iat", &out.issued_at}};
  for (const auto& field : fields) {
    if (read_numeric_date(claims, field.name, *field.slot) != Reason::ok) {
      detail = std::string("\"") + field.name + "\" is not an integer NumericDate";
      return Reason::bad_claim_type;
    }
    if (field.slot == &exp && !exp) {
      detail = "token has no \"exp\"";
      return Reason::missing_exp;
    }
  }
  out.expires_at = *exp;
  return Reason::ok;
}

Reason check_validity_window(int64_t expires_at, const std::optional<int64_t>& not_before,
                             int64_t clock_skew, int64_t now) {
  const int64_t skew = clamp_setting(clock_skew, kMaxClockSkewSeconds);
  if (saturating_add(expires_at, skew) <= now) return Reason::expired;
  if (not_before && *not_before > saturating_add(now, skew)) return Reason::not_yet_valid;
  return Reason::ok;
}

Reason check_time_claims(const TimeClaims& times, int64_t clock_skew, int64_t max_lifetime,
                         int64_t now, std::string& detail) {
  const Reason window = check_validity_window(times.expires_at, times.not_before, clock_skew, now);
  if (window == Reason::expired) {
    detail = "expired at " + std::to_string(times.expires_at);
    return window;
  }
  if (window == Reason::not_yet_valid) {
    detail = "not valid before " + std::to_string(*times.not_before);
    return window;
  }
  const int64_t skew = clamp_setting(clock_skew, kMaxClockSkewSeconds);
  if (times.issued_at && *times.issued_at > saturating_add(now, skew)) {
    detail = "issued at " + std::to_string(*times.issued_at);
    return Reason::issued_in_future;
  }
  // A token valid for days is a stolen-credential risk even when signed:
  // bound the lifetime, measured from iat when present, else from now.
  const int64_t lifetime = times.issued_at ? times.expires_at - *times.issued_at
                                           : saturating_sub(times.expires_at, now);
  if (lifetime > clamp_setting(max_lifetime, kMaxNumericDate)) {
    detail = "lifetime " + std::to_string(lifetime) + " s exceeds " + std::to_string(max_lifetime) + " s";
    return Reason::lifetime_too_long;
  }
  return Reason::ok;
}

Reason check_audience(const json& claims, const std::vector<std::string>& accepted, std::string& detail) {
  if (accepted.empty()) return Reason::ok;
  const auto aud = claims.find("aud");
  if (aud == claims.end()) {
    detail = "token has no \"aud\"";
    return Reason::audience_mismatch;
  }
  std::vector<std::string> values;
  if (aud->is_string()) {
    values.push_back(aud->get<std::string>());
  } else if (aud->is_array()) {
    for (const auto& item : *aud) {
      if (!item.is_string()) {
        detail = "\"aud\" array holds a non-string";
        return Reason::bad_claim_type;
      }
      values.push_back(item.get<std::string>());
    }
  } else {
    detail = "\"aud\" is neither a string nor an array";
    return Reason::bad_claim_type;
  }
  for (const auto& value : values) {
    if (std::find(accepted.begin(), accepted.end(), value) != accepted.end()) return Reason::ok;
  }
  detail = values.size() == 1 ? "aud \"" + sanitize_for_detail(values[0]) + "\""
                              : std::to_string(values.size()) + " audiences, none accepted";
  return Reason::audience_mismatch;
}

Reason read_scopes(const json& claims, std::vector<std::string>& scopes, std::string& detail) {
  scopes.clear();
  if (const auto scope = claims.find("scope"); scope != claims.end()) {
    if (!scope->is_string()) {
      detail = "\"scope\" is not a string";
      return Reason::bad_claim_type;
    }
    split_scope_string(scope->get_ref<const std::string&>(), scopes);
  }
  if (const auto scp = claims.find("scp"); scp != claims.end()) {
    if (scp->is_string()) {
      split_scope_string(scp->get_ref<const std::string&>(), scopes);
    } else if (scp->is_array()) {
      for (const auto& item : *scp) {
        if (!item.is_string()) {
          detail = "\"scp\" array holds a non-string";
          return Reason::bad_claim_type;
        }
        // Each element is one scope-token (RFC 6749 §3.3); one holding a
        // space would let "postgres x" match nothing and "x postgres" be
        // ambiguous between one scope and two, so it is malformed.
        const std::string& scope = item.get_ref<const std::string&>();
        if (scope.find(' ') != std::string::npos) {
          detail = "\"scp\" array element holds a space";
          return Reason::bad_claim_type;
        }
        append_unique(scopes, scope);
      }
    } else {
      detail = "\"scp\" is neither a string nor an array";
      return Reason::bad_claim_type;
    }
  }
  return Reason::ok;
}

bool has_accepted_scope(const std::vector<std::string>& scopes, const std::vector<std::string>& accepted) {
  if (accepted.empty()) return true;
  return std::any_of(scopes.begin(), scopes.end(), [&](const std::string& scope) {
    return std::find(accepted.begin(), accepted.end(), scope) != accepted.end();
  });
}

}  // namespace dbx_oauth::core
