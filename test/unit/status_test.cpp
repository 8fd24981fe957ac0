// Reason names and messages are a public contract (src/core/status.h).
#include "core/status.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

using namespace dbx_oauth::core;

TEST(Status, NamesAreUniqueSnakeCase) {
  std::set<std::string> names;
  for (int i = 0; i < kReasonCount; ++i) {
    const std::string name = reason_name(static_cast<Reason>(i));
    EXPECT_TRUE(names.insert(name).second) << name;
    for (char c : name) EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') << name;
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(kReasonCount));
}

TEST(Status, StableNamesForKeyReasons) {
  EXPECT_STREQ(reason_name(Reason::ok), "ok");
  EXPECT_STREQ(reason_name(Reason::expired), "expired");
  EXPECT_STREQ(reason_name(Reason::bad_signature), "bad_signature");
  EXPECT_STREQ(reason_name(Reason::unknown_kid), "unknown_kid");
  EXPECT_STREQ(reason_name(Reason::untrusted_issuer), "untrusted_issuer");
  EXPECT_STREQ(reason_name(Reason::no_keys), "no_keys");
  EXPECT_STREQ(reason_message(Reason::expired), "token has expired");
}

TEST(Status, MessagesFollowPostgresStyle) {
  for (int i = 0; i < kReasonCount; ++i) {
    const std::string message = reason_message(static_cast<Reason>(i));
    ASSERT_FALSE(message.empty());
    EXPECT_FALSE(message[0] >= 'A' && message[0] <= 'Z') << message;
    EXPECT_NE(message.back(), '.') << message;
  }
}

TEST(Status, OutOfRangeValuesStillGiveText) {
  EXPECT_STREQ(reason_name(static_cast<Reason>(999)), "unknown");
  EXPECT_NE(reason_message(static_cast<Reason>(-1)), nullptr);
}

TEST(Status, SanitizeForDetail) {
  EXPECT_EQ(sanitize_for_detail("abc"), "abc");
  EXPECT_EQ(sanitize_for_detail("a\"b\\c\n\x01\xff"), "a?b?c???");
  EXPECT_EQ(sanitize_for_detail(std::string(100, 'k')), std::string(80, 'k') + "...");
  EXPECT_EQ(sanitize_for_detail("abcdef", 3), "abc...");
}
