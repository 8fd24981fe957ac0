// libFuzzer target: strict JSON (duplicates, depth, UTF-8) and the claim
// checks run after a signature is verified: NumericDate types and ranges,
// the validity window, audience, scopes and identity classification.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/claims.h"
#include "core/identity.h"
#include "core/json_limits.h"
#include "core/json_reader.h"
#include "core/status.h"
#include "fuzz_common.h"

using namespace dbx_oauth::core;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const JsonParseResult parsed = parse_json_strict(text);

  // Differential: the token's one-pass reader decides exactly as the
  // reference parse and builds the same value (same number kinds), except
  // that it also refuses a NUL after the value, which nlohmann takes for
  // the end of input (src/core/json_reader.h).
  const JsonParseResult fast = read_json_strict(text);
  if (fast.reason != parsed.reason) {
    DBX_FUZZ_CHECK(parsed.reason == Reason::ok && fast.reason == Reason::bad_json &&
                   text.find('\0') != std::string_view::npos);
  } else if (fast.reason == Reason::ok) {
    DBX_FUZZ_CHECK(fast.value == parsed.value);
    DBX_FUZZ_CHECK(fast.value.dump() == parsed.value.dump());
  }
  // Differential: the validator's scanner decides as the reference (with
  // the same NUL exception) and sees an object exactly when it is one.
  JsonObjectScan scan;
  const Reason scanned = scan_json_strict(text, scan);
  if (scanned != parsed.reason) {
    DBX_FUZZ_CHECK(parsed.reason == Reason::ok && scanned == Reason::bad_json &&
                   text.find('\0') != std::string_view::npos);
  } else if (scanned == Reason::ok) {
    DBX_FUZZ_CHECK(scan.is_object == parsed.value.is_object());
    if (scan.is_object) DBX_FUZZ_CHECK(scan.members.size() == parsed.value.size());
  }
  if (parsed.reason != Reason::ok) return 0;
  const nlohmann::json& claims = parsed.value;

  // The validator re-serializes claims (claims_json): must never throw, and
  // must parse back to the same value under the same limits.
  const std::string dumped = claims.dump();
  const JsonParseResult again = parse_json_strict(dumped);
  DBX_FUZZ_CHECK(again.reason == Reason::ok);
  DBX_FUZZ_CHECK(again.value == claims);
  if (!claims.is_object()) return 0;

  TimeClaims times;
  std::string detail;
  const Reason r = read_time_claims(claims, times, detail);
  const bool scanned_too = scanned == Reason::ok && scan.is_object;
  if (scanned_too) {
    // The claim rules give the same answers on both representations.
    TimeClaims scan_times;
    std::string scan_detail;
    DBX_FUZZ_CHECK(read_time_claims(scan, scan_times, scan_detail) == r);
    if (r == Reason::ok) {
      DBX_FUZZ_CHECK(scan_times.expires_at == times.expires_at);
      DBX_FUZZ_CHECK(scan_times.issued_at == times.issued_at);
      DBX_FUZZ_CHECK(scan_times.not_before == times.not_before);
    }
    for (const std::vector<std::string>& accepted :
         {std::vector<std::string>{"1234567890123456"}, std::vector<std::string>{}}) {
      std::string d1, d2;
      DBX_FUZZ_CHECK(check_audience(scan, accepted, d1) == check_audience(claims, accepted, d2));
      DBX_FUZZ_CHECK(d1 == d2);
    }
    std::vector<std::string> s1, s2;
    std::string d1, d2;
    DBX_FUZZ_CHECK(read_scopes(scan, s1, d1) == read_scopes(claims, s2, d2));
    DBX_FUZZ_CHECK(s1 == s2);
    for (const char* name : {"sub", "client_id", "iss", "jti"}) {
      const JsonValueView* v = scan.find(name);
      const auto it = claims.find(name);
      DBX_FUZZ_CHECK((v != nullptr) == (it != claims.end()));
      if (v != nullptr && v->kind == JsonKind::string) DBX_FUZZ_CHECK(*it == std::string(v->string));
      if (v != nullptr) DBX_FUZZ_CHECK((v->kind == JsonKind::string) == it->is_string());
    }
  }
  if (r == Reason::ok) {
    DBX_FUZZ_CHECK(times.expires_at >= 0 && times.expires_at <= kMaxNumericDate);
    if (times.issued_at) DBX_FUZZ_CHECK(*times.issued_at >= 0 && *times.issued_at <= kMaxNumericDate);
    if (times.not_before) DBX_FUZZ_CHECK(*times.not_before >= 0 && *times.not_before <= kMaxNumericDate);
    const int64_t nows[] = {0, 1700000100, kMaxNumericDate, INT64_MAX / 2};
    const int64_t skews[] = {0, 60, kMaxClockSkewSeconds};
    for (int64_t now : nows) {
      for (int64_t skew : skews) {
        const Reason t = check_time_claims(times, skew, 86400, now, detail);
        if (t == Reason::ok) {
          DBX_FUZZ_CHECK(times.expires_at > now - skew);
          if (times.not_before) DBX_FUZZ_CHECK(*times.not_before <= now + skew);
          if (times.issued_at) DBX_FUZZ_CHECK(*times.issued_at <= now + skew);
        }
      }
    }
  } else {
    DBX_FUZZ_CHECK(r == Reason::missing_exp || r == Reason::bad_claim_type);
  }

  const Reason a = check_audience(claims, {"1234567890123456"}, detail);
  DBX_FUZZ_CHECK(a == Reason::ok || a == Reason::audience_mismatch || a == Reason::bad_claim_type);
  DBX_FUZZ_CHECK(check_audience(claims, {}, detail) == Reason::ok);

  std::vector<std::string> scopes;
  if (read_scopes(claims, scopes, detail) == Reason::ok) {
    for (const std::string& s : scopes) {
      DBX_FUZZ_CHECK(!s.empty());
      DBX_FUZZ_CHECK(s.find(' ') == std::string::npos);
    }
    const bool accepted = has_accepted_scope(scopes, {"postgres", "all-apis"});
    bool expected = false;
    for (const std::string& s : scopes) expected = expected || s == "postgres" || s == "all-apis";
    DBX_FUZZ_CHECK(accepted == expected);
  }

  for (const char* name : {"sub", "client_id"}) {
    const auto it = claims.find(name);
    if (it == claims.end() || !it->is_string()) continue;
    const std::string& id = it->get_ref<const std::string&>();
    const auto type = classify_token_identity(id);
    if (type) {
      DBX_FUZZ_CHECK(id.size() <= kMaxIdentityBytes);
      const std::string folded = fold_identity(id, *type);
      DBX_FUZZ_CHECK(identity_matches_role(id, *type, folded) || *type == IdentityType::group);
    }
  }
  return 0;
}
