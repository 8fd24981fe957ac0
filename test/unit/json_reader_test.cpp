// The token's JSON reader against the reference strict parse
// (src/core/json_reader.h): same accept/reject decision, same reason and
// the same value for every input, hostile ones first.
#include "core/json_reader.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using dbx_oauth::core::JsonKind;
using dbx_oauth::core::JsonObjectScan;
using dbx_oauth::core::parse_json_strict;
using dbx_oauth::core::scan_json_strict;
using dbx_oauth::core::read_json_strict;
using dbx_oauth::core::Reason;

namespace {

using namespace std::string_literals;

void expect_same(const std::string& text, int depth = dbx_oauth::core::kDefaultMaxJsonDepth) {
  const auto reference = parse_json_strict(text, depth);
  const auto ours = read_json_strict(text, depth);
  EXPECT_EQ(ours.reason, reference.reason) << "input bytes: " << text.size() << " [" << text << "]";
  EXPECT_EQ(ours.value, reference.value) << "[" << text << "]";
  // Same number representation, not only equal values.
  EXPECT_EQ(ours.value.dump(), reference.value.dump()) << "[" << text << "]";

  // The scanner (what the validator uses) decides alike and keeps the
  // top-level members with the same values.
  JsonObjectScan scan;
  EXPECT_EQ(scan_json_strict(text, scan, depth), reference.reason) << "[" << text << "]";
  EXPECT_EQ(scan.is_object, reference.reason == Reason::ok && reference.value.is_object()) << "[" << text << "]";
  if (!scan.is_object) return;
  ASSERT_EQ(scan.members.size(), reference.value.size()) << "[" << text << "]";
  for (const auto& member : scan.members) {
    const auto it = reference.value.find(std::string(member.name));
    ASSERT_NE(it, reference.value.end()) << "[" << text << "]";
    const auto& v = member.value;
    switch (v.kind) {
      case JsonKind::string: EXPECT_EQ(*it, std::string(v.string)); break;
      case JsonKind::integer: EXPECT_TRUE(it->is_number_integer() && !it->is_number_unsigned()); EXPECT_EQ(*it, v.integer); break;
      case JsonKind::unsigned_integer: EXPECT_TRUE(it->is_number_unsigned()); EXPECT_EQ(*it, v.unsigned_integer); break;
      case JsonKind::floating: EXPECT_TRUE(it->is_number_float()); EXPECT_EQ(*it, v.floating); break;
      case JsonKind::boolean: EXPECT_EQ(*it, v.boolean); break;
      case JsonKind::null: EXPECT_TRUE(it->is_null()); break;
      case JsonKind::object: EXPECT_TRUE(it->is_object()); break;
      case JsonKind::array: {
        ASSERT_TRUE(it->is_array());
        ASSERT_EQ(v.count, it->size());
        for (std::uint32_t i = 0; i < v.count; ++i) {
          const auto& e = scan.elements[v.first + i];
          if (e.kind == JsonKind::string) {
            EXPECT_EQ((*it)[i], std::string(e.string));
          }
        }
        break;
      }
    }
  }
}

}  // namespace

TEST(JsonReader, OrdinaryDocumentsMatchTheReference) {
  for (const std::string text : {
           R"({"iss":"https://x/oidc","aud":["a","b"],"exp":1796461247,"iat":1796457647,"scope":"a b"})",
           R"({"a":1,"b":[1,2,{"c":"d"}],"e":{"a":1}})", R"([])", R"({})", R"( { } )", R"("x")", "0", "-0",
           "1.5", "-1.5e3", "1E+2", "1e-999", "true", "false", "null", " \t\r\n[ 1 , 2 ]\n",
           R"({"a":null,"b":true,"c":false})", R"(["\"\\\/\b\f\n\r\t"])", R"(["\u00e9\u20ac\ud83d\ude00"])",
           R"(["\u0000"])", "[\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"]", "18446744073709551615",
           "18446744073709551616", "-9223372036854775808", "-9223372036854775809",
           "123456789012345678901234567890", R"({"exp":1.0})", R"({"exp":-1})"}) {
    expect_same(text);
    EXPECT_EQ(read_json_strict(text).reason, Reason::ok) << text;
  }
}

TEST(JsonReader, ScannerKeepsTopLevelMembersAndDecodesEscapes) {
  for (const std::string text : {
           R"({"iss":"https://x/oidc","aud":["a","b\u0041"],"exp":1796461247,"n":-0,"f":1.5,"o":{"k":[1]}})",
           R"({"\u0061":"\ud83d\ude00","b":"plain","c":"\"q\"","d":[],"e":{},"f":null,"g":true})",
           "{\"\xc3\xa9\":\"\xe2\x82\xac\"}", R"({"a":[[1,"x"],{"b":"c"},"d"]})"}) {
    expect_same(text);
  }
  // Many members: duplicates are found past the linear-scan threshold too.
  std::string many = "{";
  for (int i = 0; i < 40; ++i) many += "\"m" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  expect_same(many + "\"m39\":1}");
  expect_same(many + "\"m\\u0033\":1}");
  expect_same(many + "\"z\":{\"a\":1,\"a\":2}}");
  expect_same(many + "\"z\":1}");
  // A scan reused for a second document forgets the first.
  JsonObjectScan scan;
  ASSERT_EQ(scan_json_strict(R"({"a":"\u0041","b":[1]})", scan), Reason::ok);
  ASSERT_EQ(scan_json_strict(R"({"c":"x"})", scan), Reason::ok);
  ASSERT_EQ(scan.members.size(), 1u);
  EXPECT_EQ(scan.find("a"), nullptr);
  ASSERT_NE(scan.find("c"), nullptr);
  EXPECT_EQ(scan.find("c")->string, "x");
  EXPECT_EQ(scan_json_strict(R"({"c":"x","c":"y"})", scan), Reason::duplicate_key);
  EXPECT_TRUE(scan.members.empty());
}

TEST(JsonReader, HostileDocumentsAreRefusedLikeTheReference) {
  const std::vector<std::string> hostile = {
      // duplicates at every level, including after escape decoding
      R"({"alg":"RS256","alg":"none"})", R"({"a":{"b":{"c":1,"c":2}}})", R"([1,[{"x":1,"y":2,"x":3}]])",
      R"({"a":1,"\u0061":2})", R"({"a":1,"a":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]})",
      // bad escapes and lone or mismatched surrogates
      R"(["\x"])", R"(["\u12"])", R"(["\u12g4"])", R"(["\ud800"])", R"(["\udc00"])", R"(["\ud800\u0041"])",
      R"(["\ud800x"])", R"(["\ud800\"])", R"(["\'"])", "[\"\\",
      // invalid UTF-8: overlong, surrogates in UTF-8, above U+10FFFF, truncated, stray continuation
      "[\"\xc0\xaf\"]", "[\"\xc1\xbf\"]", "[\"\xe0\x80\xaf\"]", "[\"\xf0\x80\x80\xaf\"]", "[\"\xed\xa0\x80\"]",
      "[\"\xf4\x90\x80\x80\"]", "[\"\xf5\x80\x80\x80\"]", "[\"\xff\"]", "[\"\x80\"]", "[\"\xe2\x82\"]",
      "[\"\xc3\"]",
      // control characters and NUL, raw
      "[\"a\nb\"]", "[\"a\tb\"]", "[\"a\x00"s "b\"]", "\x00"s,
      // numbers
      "01", "-", "-01", "1.", ".5", "1e", "1e+", "+1", "1e999", "-1e999", "0x10", "NaN", "Infinity", "1.5.5",
      // structure, trailing garbage, BOM, comments
      "", " ", "[", "]", "{", R"({"a"})", R"({"a":})", R"({"a":1,})", R"([1,])", R"([1 2])", R"({a:1})",
      R"({"a":1}{"b":2})", R"({"a":1} x)", "\xEF\xBB\xBF{}", "/*c*/{}", "{}//", "tru", "nul", "truex",
      R"({"a":1 "b":2})", R"([1,,2])", "'a'"};
  for (const std::string& text : hostile) {
    expect_same(text);
    EXPECT_NE(read_json_strict(text).reason, Reason::ok) << "[" << text << "]";
  }
}

// The one deliberate difference: nlohmann's lexer takes a NUL byte for the
// end of input, so the reference accepts a document followed by a NUL and
// anything after it.  RFC 8259 allows only whitespace after the value, and
// a NUL could not reach PostgreSQL's json type inside claims() anyway.
TEST(JsonReader, RefusesTrailingNulUnlikeTheReference) {
  for (const std::string& text : {"[1]\x00"s, "{}\x00garbage"s, "1\x00"s}) {
    EXPECT_EQ(parse_json_strict(text).reason, Reason::ok);  // the quirk this reader does not share
    EXPECT_EQ(read_json_strict(text).reason, Reason::bad_json);
  }
}

TEST(JsonReader, NestingBoundMatchesTheReference) {
  for (int depth : {1, 15, 16, 17, 100, 5000}) {
    expect_same(std::string(depth, '[') + std::string(depth, ']'));
    std::string objects;
    for (int i = 0; i < depth; ++i) objects += "{\"a\":";
    objects += "1" + std::string(depth, '}');
    expect_same(objects);
  }
  EXPECT_EQ(read_json_strict(std::string(17, '[') + std::string(17, ']')).reason, Reason::nesting_too_deep);
  EXPECT_EQ(read_json_strict(std::string(16, '[') + std::string(16, ']')).reason, Reason::ok);
  expect_same("[[1]]", 1);
  expect_same("1", 0);
}

TEST(JsonReader, DetailNeverEchoesTheInput) {
  for (const std::string text : {R"({"secret-token-text":1,"secret-token-text":2})", R"({"secret-token-text":})",
                                 R"(["secret-token-text\q"])"}) {
    const auto r = read_json_strict(text);
    EXPECT_NE(r.reason, Reason::ok);
    EXPECT_EQ(r.detail.find("secret"), std::string::npos) << r.detail;
  }
}
