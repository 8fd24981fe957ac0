// Time, audience and scope claims (src/core/claims.h).
#include "core/claims.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/json_limits.h"

#include <limits>

using namespace dbx_oauth::core;
using nlohmann::json;

namespace {

constexpr int64_t kNow = 1700000000;

json parse(const std::string& text) { return parse_json_strict(text).value; }

Reason times(const json& claims, int64_t skew = 60, int64_t max_lifetime = 86400) {
  TimeClaims t;
  std::string detail;
  if (Reason r = read_time_claims(claims, t, detail); r != Reason::ok) return r;
  return check_time_claims(t, skew, max_lifetime, kNow, detail);
}

}  // namespace

TEST(Claims, NumericDateTypes) {
  std::optional<int64_t> out;
  EXPECT_EQ(read_numeric_date(parse(R"({"exp":1700000000})"), "exp", out), Reason::ok);
  EXPECT_EQ(out, 1700000000);
  EXPECT_EQ(read_numeric_date(parse(R"({})"), "exp", out), Reason::ok);
  EXPECT_FALSE(out.has_value());
  EXPECT_EQ(read_numeric_date(parse(R"({"exp":9007199254740991})"), "exp", out), Reason::ok);
  for (const char* text : {R"({"exp":1700000000.0})", R"({"exp":1.7e9})", R"({"exp":"1700000000"})",
                           R"({"exp":true})", R"({"exp":null})", R"({"exp":[1]})", R"({"exp":-1})",
                           R"({"exp":9007199254740992})", R"({"exp":18446744073709551615})",
                           R"({"exp":18446744073709551616})", R"({"exp":-9223372036854775808})"}) {
    EXPECT_EQ(read_numeric_date(parse(text), "exp", out), Reason::bad_claim_type) << text;
  }
}

TEST(Claims, ExpIsRequired) {
  EXPECT_EQ(times(json::object()), Reason::missing_exp);
  EXPECT_EQ(times({{"iat", kNow}}), Reason::missing_exp);
  EXPECT_EQ(times({{"exp", kNow + 100}}), Reason::ok);
  EXPECT_EQ(times({{"exp", kNow + 100}, {"nbf", "x"}}), Reason::bad_claim_type);
  EXPECT_EQ(times({{"exp", kNow + 100}, {"iat", 1.5}}), Reason::bad_claim_type);
}

TEST(Claims, ExpiryHonoursSkewAtTheBoundary) {
  EXPECT_EQ(times({{"exp", kNow - 60}}), Reason::expired);
  EXPECT_EQ(times({{"exp", kNow - 59}}), Reason::ok);
  EXPECT_EQ(times({{"exp", kNow}}, 0), Reason::expired);
  EXPECT_EQ(times({{"exp", kNow + 1}}, 0), Reason::ok);
  EXPECT_EQ(times({{"exp", 0}}), Reason::expired);
}

TEST(Claims, NotBeforeAndIssuedAt) {
  EXPECT_EQ(times({{"exp", kNow + 100}, {"nbf", kNow + 60}}), Reason::ok);
  EXPECT_EQ(times({{"exp", kNow + 100}, {"nbf", kNow + 61}}), Reason::not_yet_valid);
  EXPECT_EQ(times({{"exp", kNow + 100}, {"iat", kNow + 60}}), Reason::ok);
  EXPECT_EQ(times({{"exp", kNow + 100}, {"iat", kNow + 61}}), Reason::issued_in_future);
}

TEST(Claims, LifetimeBound) {
  EXPECT_EQ(times({{"iat", kNow}, {"exp", kNow + 86400}}), Reason::ok);
  EXPECT_EQ(times({{"iat", kNow}, {"exp", kNow + 86401}}), Reason::lifetime_too_long);
  EXPECT_EQ(times({{"exp", kNow + 86400}}), Reason::ok);
  EXPECT_EQ(times({{"exp", kNow + 86401}}), Reason::lifetime_too_long);
  EXPECT_EQ(times({{"iat", kNow - 3000}, {"exp", kNow + 600}}, 60, 3600), Reason::ok);
  EXPECT_EQ(times({{"iat", kNow - 3001}, {"exp", kNow + 600}}, 60, 3600), Reason::lifetime_too_long);
}

TEST(Claims, ExtremeSettingsDoNotOverflow) {
  const int64_t huge = std::numeric_limits<int64_t>::max();
  EXPECT_EQ(times({{"exp", 9007199254740991}}, huge, huge), Reason::ok);
  EXPECT_EQ(times({{"exp", kNow - 1}}, -huge), Reason::expired);
  EXPECT_EQ(check_validity_window(9007199254740991, std::nullopt, huge, std::numeric_limits<int64_t>::min()),
            Reason::ok);
  EXPECT_EQ(check_validity_window(0, std::nullopt, huge, std::numeric_limits<int64_t>::max()), Reason::expired);
}

TEST(Claims, Audience) {
  std::string detail;
  const std::vector<std::string> accepted = {"1234567890", "other"};
  EXPECT_EQ(check_audience(json::object(), {}, detail), Reason::ok);
  EXPECT_EQ(check_audience({{"aud", "1234567890"}}, accepted, detail), Reason::ok);
  EXPECT_EQ(check_audience({{"aud", json::array({"x", "other"})}}, accepted, detail), Reason::ok);
  EXPECT_EQ(check_audience({{"aud", "12345678901"}}, accepted, detail), Reason::audience_mismatch);
  EXPECT_EQ(check_audience({{"aud", json::array()}}, accepted, detail), Reason::audience_mismatch);
  EXPECT_EQ(check_audience(json::object(), accepted, detail), Reason::audience_mismatch);
  EXPECT_EQ(check_audience({{"aud", 1234567890}}, accepted, detail), Reason::bad_claim_type);
  EXPECT_EQ(check_audience({{"aud", json::array({"other", 1})}}, accepted, detail), Reason::bad_claim_type);
}

TEST(Claims, Scopes) {
  std::vector<std::string> scopes;
  std::string detail;
  ASSERT_EQ(read_scopes({{"scope", "offline_access  all-apis offline_access"}}, scopes, detail), Reason::ok);
  EXPECT_EQ(scopes, (std::vector<std::string>{"offline_access", "all-apis"}));
  ASSERT_EQ(read_scopes({{"scope", "sql"}, {"scp", json::array({"postgres", "sql"})}}, scopes, detail), Reason::ok);
  EXPECT_EQ(scopes, (std::vector<std::string>{"sql", "postgres"}));
  ASSERT_EQ(read_scopes({{"scp", "a b"}}, scopes, detail), Reason::ok);
  EXPECT_EQ(scopes, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(read_scopes({{"scope", json::array({"a"})}}, scopes, detail), Reason::bad_claim_type);
  EXPECT_EQ(read_scopes({{"scp", json::array({1})}}, scopes, detail), Reason::bad_claim_type);
  EXPECT_EQ(read_scopes({{"scp", json::array({"pcess postgres"})}}, scopes, detail), Reason::bad_claim_type);
  EXPECT_EQ(read_scopes({{"scp", 1}}, scopes, detail), Reason::bad_claim_type);

  EXPECT_TRUE(has_accepted_scope({"offline_access", "all-apis"}, {"postgres", "all-apis"}));
  EXPECT_FALSE(has_accepted_scope({"offline_access", "sql"}, {"postgres", "all-apis"}));
  EXPECT_FALSE(has_accepted_scope({}, {"postgres"}));
  EXPECT_TRUE(has_accepted_scope({}, {}));
  // Scope comparison is exact: no prefix or case folding.
  EXPECT_FALSE(has_accepted_scope({"all-apis:read", "Postgres"}, {"postgres", "all-apis"}));
}
