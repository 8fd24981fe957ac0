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

void append_unique(std::vector<std::string>& scopes, std::string_view scope) {
  if (!scope.empty() && std::find(scopes.begin(), scopes.end(), scope) == scopes.end()) {
    scopes.emplace_back(scope);
  }
}

void split_scope_string(std::string_view text, std::vector<std::string>& scopes) {
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find(' ', start), text.size());
    append_unique(scopes, text.substr(start, end - start));
    start = end + 1;
  }
}

// The two claims representations behind one set of accessors, so each rule
// below is written once (claims.h).  member() is nullptr when absent.
const json* member(const json& claims, const char* name) {
  const auto it = claims.find(name);
  return it == claims.end() ? nullptr : &*it;
}
const JsonValueView* member(const JsonObjectScan& claims, const char* name) { return claims.find(name); }

const std::string_view* as_string(const json& value, std::string_view& storage) {
  if (!value.is_string()) return nullptr;
  storage = value.get_ref<const std::string&>();
  return &storage;
}
const std::string_view* as_string(const JsonValueView& value, std::string_view& storage) {
  if (value.kind != JsonKind::string) return nullptr;
  storage = value.string;
  return &storage;
}

// nlohmann stores JSON integers as number_integer or number_unsigned and
// everything with a fraction or exponent as number_float; the scan keeps
// the same three kinds.
struct IntegerValue {
  bool is_unsigned = false, is_signed = false;
  uint64_t unsigned_value = 0;
  int64_t signed_value = 0;
};
IntegerValue as_integer(const json& value) {
  IntegerValue v;
  if (value.is_number_unsigned()) {
    v.is_unsigned = true;
    v.unsigned_value = value.get<uint64_t>();
  } else if (value.is_number_integer()) {
    v.is_signed = true;
    v.signed_value = value.get<int64_t>();
  }
  return v;
}
IntegerValue as_integer(const JsonValueView& value) {
  IntegerValue v;
  if (value.kind == JsonKind::unsigned_integer) {
    v.is_unsigned = true;
    v.unsigned_value = value.unsigned_integer;
  } else if (value.kind == JsonKind::integer) {
    v.is_signed = true;
    v.signed_value = value.integer;
  }
  return v;
}

bool is_array(const json& value) { return value.is_array(); }
bool is_array(const JsonValueView& value) { return value.kind == JsonKind::array; }

// Calls f on each element of an array value; stops at the first false.
template <class F>
bool each_element(const json& /*claims*/, const json& array, F f) {
  for (const json& item : array)
    if (!f(item)) return false;
  return true;
}
template <class F>
bool each_element(const JsonObjectScan& claims, const JsonValueView& array, F f) {
  for (std::uint32_t i = 0; i < array.count; ++i)
    if (!f(claims.elements[array.first + i])) return false;
  return true;
}

template <class Claims>
Reason numeric_date(const Claims& claims, const char* name, std::optional<int64_t>& out) {
  out.reset();
  const auto* value = member(claims, name);
  if (value == nullptr) return Reason::ok;
  const IntegerValue v = as_integer(*value);
  if (v.is_unsigned) {
    if (v.unsigned_value > static_cast<uint64_t>(kMaxNumericDate)) return Reason::bad_claim_type;
    out = static_cast<int64_t>(v.unsigned_value);
    return Reason::ok;
  }
  if (v.is_signed) {
    if (v.signed_value < 0 || v.signed_value > kMaxNumericDate) return Reason::bad_claim_type;
    out = v.signed_value;
    return Reason::ok;
  }
  return Reason::bad_claim_type;
}

template <class Claims>
Reason time_claims(const Claims& claims, TimeClaims& out, std::string& detail) {
  std::optional<int64_t> exp;
  const struct {
    const char* name;
    std::optional<int64_t>* slot;
  } fields[] = {{"exp", &exp}, {"nbf", &out.not_before}, {"iat", &out.issued_at}};
  for (const auto& field : fields) {
    if (numeric_date(claims, field.name, *field.slot) != Reason::ok) {
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

template <class Claims>
Reason audience(const Claims& claims, const std::vector<std::string>& accepted, std::string& detail) {
  if (accepted.empty()) return Reason::ok;
  const auto* aud = member(claims, "aud");
  if (aud == nullptr) {
    detail = "token has no \"aud\"";
    return Reason::audience_mismatch;
  }
  std::string_view storage;
  std::size_t count = 0;
  std::string_view first;
  bool matched = false;
  const auto consider = [&](std::string_view value) {
    if (count++ == 0) first = value;
    matched = matched || std::find(accepted.begin(), accepted.end(), value) != accepted.end();
  };
  if (const std::string_view* value = as_string(*aud, storage)) {
    consider(*value);
  } else if (is_array(*aud)) {
    const bool all_strings = each_element(claims, *aud, [&](const auto& item) {
      std::string_view item_storage;
      const std::string_view* text = as_string(item, item_storage);
      if (text == nullptr) return false;
      consider(*text);
      return true;
    });
    if (!all_strings) {
      detail = "\"aud\" array holds a non-string";
      return Reason::bad_claim_type;
    }
  } else {
    detail = "\"aud\" is neither a string nor an array";
    return Reason::bad_claim_type;
  }
  if (matched) return Reason::ok;
  detail = count == 1 ? "aud \"" + sanitize_for_detail(first) + "\""
                      : std::to_string(count) + " audiences, none accepted";
  return Reason::audience_mismatch;
}

template <class Claims>
Reason scopes_of(const Claims& claims, std::vector<std::string>& scopes, std::string& detail) {
  scopes.clear();
  std::string_view storage;
  if (const auto* scope = member(claims, "scope")) {
    const std::string_view* text = as_string(*scope, storage);
    if (text == nullptr) {
      detail = "\"scope\" is not a string";
      return Reason::bad_claim_type;
    }
    split_scope_string(*text, scopes);
  }
  if (const auto* scp = member(claims, "scp")) {
    if (const std::string_view* text = as_string(*scp, storage)) {
      split_scope_string(*text, scopes);
    } else if (is_array(*scp)) {
      Reason reason = Reason::ok;
      each_element(claims, *scp, [&](const auto& item) {
        std::string_view item_storage;
        const std::string_view* scope = as_string(item, item_storage);
        if (scope == nullptr) {
          detail = "\"scp\" array holds a non-string";
          reason = Reason::bad_claim_type;
          return false;
        }
        // Each element is one scope-token (RFC 6749 §3.3); one holding a
        // space would let "postgres x" match nothing and "x postgres" be
        // ambiguous between one scope and two, so it is malformed.
        if (scope->find(' ') != std::string_view::npos) {
          detail = "\"scp\" array element holds a space";
          reason = Reason::bad_claim_type;
          return false;
        }
        append_unique(scopes, *scope);
        return true;
      });
      if (reason != Reason::ok) return reason;
    } else {
      detail = "\"scp\" is neither a string nor an array";
      return Reason::bad_claim_type;
    }
  }
  return Reason::ok;
}

}  // namespace

Reason read_numeric_date(const json& claims, const char* name, std::optional<int64_t>& out) {
  return numeric_date(claims, name, out);
}
Reason read_numeric_date(const JsonObjectScan& claims, const char* name, std::optional<int64_t>& out) {
  return numeric_date(claims, name, out);
}
Reason read_time_claims(const json& claims, TimeClaims& out, std::string& detail) {
  return time_claims(claims, out, detail);
}
Reason read_time_claims(const JsonObjectScan& claims, TimeClaims& out, std::string& detail) {
  return time_claims(claims, out, detail);
}
Reason check_audience(const json& claims, const std::vector<std::string>& accepted, std::string& detail) {
  return audience(claims, accepted, detail);
}
Reason check_audience(const JsonObjectScan& claims, const std::vector<std::string>& accepted,
                      std::string& detail) {
  return audience(claims, accepted, detail);
}
Reason read_scopes(const json& claims, std::vector<std::string>& scopes, std::string& detail) {
  return scopes_of(claims, scopes, detail);
}
Reason read_scopes(const JsonObjectScan& claims, std::vector<std::string>& scopes, std::string& detail) {
  return scopes_of(claims, scopes, detail);
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

bool has_accepted_scope(const std::vector<std::string>& scopes, const std::vector<std::string>& accepted) {
  if (accepted.empty()) return true;
  return std::any_of(scopes.begin(), scopes.end(), [&](const std::string& scope) {
    return std::find(accepted.begin(), accepted.end(), scope) != accepted.end();
  });
}

}  // namespace dbx_oauth::core
