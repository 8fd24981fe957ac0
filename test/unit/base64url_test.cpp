// Strict base64url: one spelling per byte string (src/core/base64url.h).
#include "core/base64url.h"

#include <gtest/gtest.h>

#include <string>

using dbx_oauth::core::base64url_decode;
using dbx_oauth::core::base64url_encode;

TEST(Base64url, RoundTripsAllLengthsAndBytes) {
  std::string bytes;
  for (int i = 0; i < 300; ++i) {
    const std::string encoded = base64url_encode(bytes);
    EXPECT_EQ(encoded.find('='), std::string::npos);
    const auto decoded = base64url_decode(encoded);
    ASSERT_TRUE(decoded.has_value()) << "length " << i;
    EXPECT_EQ(*decoded, bytes);
    bytes.push_back(static_cast<char>((i * 37 + 11) & 0xff));
  }
}

TEST(Base64url, KnownVectors) {
  // RFC 4648 §10 vectors, unpadded, plus bytes that use '-' and '_'.
  EXPECT_EQ(base64url_encode(""), "");
  EXPECT_EQ(base64url_encode("f"), "Zg");
  EXPECT_EQ(base64url_encode("fo"), "Zm8");
  EXPECT_EQ(base64url_encode("foo"), "Zm9v");
  EXPECT_EQ(base64url_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64url_encode(std::string("\xfb\xff\xbf", 3)), "-_-_");
  EXPECT_EQ(base64url_decode("-_-_"), std::string("\xfb\xff\xbf", 3));
  EXPECT_EQ(base64url_decode("eyJhbGciOiJSUzI1NiJ9"), std::string(R"({"alg":"RS256"})"));
}

TEST(Base64url, RejectsPadding) {
  EXPECT_FALSE(base64url_decode("Zg=="));
  EXPECT_FALSE(base64url_decode("Zm8="));
  EXPECT_FALSE(base64url_decode("Zm9v===="));
}

TEST(Base64url, RejectsWhitespaceAnywhere) {
  EXPECT_FALSE(base64url_decode(" Zm9v"));
  EXPECT_FALSE(base64url_decode("Zm9v "));
  EXPECT_FALSE(base64url_decode("Zm\n9v"));
  EXPECT_FALSE(base64url_decode("Zm9v\r\n"));
  EXPECT_FALSE(base64url_decode("Zm\t9v"));
}

TEST(Base64url, RejectsStandardAlphabetCharacters) {
  EXPECT_FALSE(base64url_decode("-_+/"));
  EXPECT_FALSE(base64url_decode("++++"));
  EXPECT_FALSE(base64url_decode("////"));
  EXPECT_FALSE(base64url_decode("Zm9v."));
  EXPECT_FALSE(base64url_decode(std::string("Zm\0v", 4)));
  EXPECT_FALSE(base64url_decode("Zm9\xc3\xa9"));
}

TEST(Base64url, RejectsLengthOneModFour) {
  EXPECT_FALSE(base64url_decode("A"));
  EXPECT_FALSE(base64url_decode("Zm9vA"));
  EXPECT_TRUE(base64url_decode("Zm9vZg"));
  EXPECT_TRUE(base64url_decode("Zm9vZm8"));
}

TEST(Base64url, RejectsNonCanonicalTrailingBits) {
  // "Zg" is 'f'; "Zh".."Zv" carry the same byte with non-zero unused bits.
  EXPECT_TRUE(base64url_decode("Zg"));
  for (const char* spelling : {"Zh", "Zi", "Zj", "Zk", "Zl", "Zv", "Z_"}) {
    EXPECT_FALSE(base64url_decode(spelling)) << spelling;
  }
  // Three chars: two unused bits.
  EXPECT_TRUE(base64url_decode("Zm8"));
  EXPECT_FALSE(base64url_decode("Zm9"));
  EXPECT_FALSE(base64url_decode("Zm-"));
}

TEST(Base64url, EmptyInputIsEmptyOutput) {
  const auto decoded = base64url_decode("");
  ASSERT_TRUE(decoded.has_value());
  EXPECT_TRUE(decoded->empty());
}
