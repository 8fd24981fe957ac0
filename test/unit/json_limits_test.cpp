// Strict JSON: duplicates at any depth, depth bound (src/core/json_limits.h).
#include "core/json_limits.h"

#include <gtest/gtest.h>

#include <string>

using dbx_oauth::core::parse_json_strict;
using dbx_oauth::core::Reason;

namespace {

std::string nested_arrays(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

std::string nested_objects(int depth) {
  std::string text;
  for (int i = 0; i < depth; ++i) text += "{\"a\":";
  text += "1";
  text += std::string(depth, '}');
  return text;
}

}  // namespace

TEST(JsonLimits, ParsesOrdinaryDocuments) {
  const auto result = parse_json_strict(R"({"a":1,"b":[1,2,{"c":"d"}],"e":{"a":1}})");
  ASSERT_EQ(result.reason, Reason::ok) << result.detail;
  EXPECT_EQ(result.value["b"][2]["c"], "d");
  // The same name in different objects is not a duplicate.
  EXPECT_EQ(result.value["e"]["a"], 1);
}

TEST(JsonLimits, RejectsDuplicateAtTopLevel) {
  const auto result = parse_json_strict(R"({"alg":"RS256","alg":"none"})");
  EXPECT_EQ(result.reason, Reason::duplicate_key);
  EXPECT_EQ(result.detail.find("alg"), std::string::npos) << "detail must not echo input";
}

TEST(JsonLimits, RejectsDuplicateAtDepth) {
  EXPECT_EQ(parse_json_strict(R"({"a":{"b":{"c":1,"c":2}}})").reason, Reason::duplicate_key);
  EXPECT_EQ(parse_json_strict(R"([1,[{"x":1,"y":2,"x":3}]])").reason, Reason::duplicate_key);
  EXPECT_EQ(parse_json_strict(R"({"a":[{"k":1},{"k":2}],"a":0})").reason, Reason::duplicate_key);
}

TEST(JsonLimits, RejectsDuplicateWrittenWithEscapes) {
  // "\u0061" is "a": a duplicate after unescaping.
  EXPECT_EQ(parse_json_strict(R"({"a":1,"\u0061":2})").reason, Reason::duplicate_key);
}

TEST(JsonLimits, DepthBoundIsInclusive) {
  EXPECT_EQ(parse_json_strict(nested_arrays(16)).reason, Reason::ok);
  EXPECT_EQ(parse_json_strict(nested_arrays(17)).reason, Reason::nesting_too_deep);
  EXPECT_EQ(parse_json_strict(nested_objects(16)).reason, Reason::ok);
  EXPECT_EQ(parse_json_strict(nested_objects(17)).reason, Reason::nesting_too_deep);
  EXPECT_EQ(parse_json_strict(nested_arrays(3), 2).reason, Reason::nesting_too_deep);
  EXPECT_EQ(parse_json_strict(nested_arrays(2), 2).reason, Reason::ok);
}

TEST(JsonLimits, HugeNestingFailsFastWithoutCrash) {
  EXPECT_EQ(parse_json_strict(nested_arrays(100000)).reason, Reason::nesting_too_deep);
}

TEST(JsonLimits, RejectsInvalidJson) {
  for (const char* text : {"", "{", "{\"a\":}", "{'a':1}", "{\"a\":1,}", "[1,2", "nul", "{\"a\":1} x",
                           "{\"a\":1}{}", "/*c*/{}", "{\"a\":01}", "{\"a\":NaN}", "{\"a\":1e999}"}) {
    const auto result = parse_json_strict(text);
    EXPECT_EQ(result.reason, Reason::bad_json) << text;
  }
}

TEST(JsonLimits, RejectsInvalidUtf8) {
  EXPECT_EQ(parse_json_strict("{\"a\":\"\xc3\x28\"}").reason, Reason::bad_json);
  EXPECT_EQ(parse_json_strict("{\"a\":\"\xed\xa0\x80\"}").reason, Reason::bad_json);
}

TEST(JsonLimits, BadJsonDetailDoesNotEchoInput) {
  const auto result = parse_json_strict(R"({"secret-token-text": x})");
  EXPECT_EQ(result.reason, Reason::bad_json);
  EXPECT_EQ(result.detail.find("secret"), std::string::npos) << result.detail;
}

TEST(JsonLimits, RejectsByteOrderMark) {
  // nlohmann alone would skip it; PostgreSQL's jsonb would not (claims()).
  const auto result = parse_json_strict("\xEF\xBB\xBF{\"a\":1}");
  EXPECT_EQ(result.reason, Reason::bad_json);
  EXPECT_EQ(result.detail, "JSON text starts with a byte order mark");
}

TEST(JsonLimits, BuildsTheSameValueAsAPlainParse) {
  const std::string text =
      R"({"a":[1,-2,3.5,"x",true,false,null,{"b":[[],{}]},[[1],[2,[3]]]],"c":{"d":{"e":"f"}},)"
      R"("u":18446744073709551615,"i":-9223372036854775808,"s":"\u00e9\ud83d\ude00"})";
  const auto result = parse_json_strict(text);
  ASSERT_EQ(result.reason, Reason::ok) << result.detail;
  EXPECT_EQ(result.value, nlohmann::json::parse(text));
  for (const char* scalar : {"1", "\"s\"", "null", "[]", "{}"})
    EXPECT_EQ(parse_json_strict(scalar).value, nlohmann::json::parse(scalar)) << scalar;
}
