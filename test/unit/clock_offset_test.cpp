// The issuer-clock sample of the key-refresh worker: HTTP-date parsing
// (RFC 7231 section 7.1.1.1) and the offset with its 1 s noise rule.
// Pure: fixed dates and fixed "receipt" times, no clock is read.
#include "core/key_fetch.h"

#include <gtest/gtest.h>

namespace dbx_oauth::core {
namespace {

// Sun, 06 Nov 1994 08:49:37 GMT, the RFC's example.
constexpr int64_t kRfcExample = 784111777;

TEST(HttpDate, ImfFixdate) {
  EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), kRfcExample);
  EXPECT_EQ(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
  EXPECT_EQ(parse_http_date("Tue, 29 Feb 2000 23:59:59 GMT"), 951868799);
  EXPECT_EQ(parse_http_date("Tue, 19 Jan 2038 03:14:08 GMT"), 2147483648);  // past 32-bit time_t
  EXPECT_EQ(parse_http_date("Fri, 31 Dec 9999 23:59:59 GMT"), 253402300799);
  EXPECT_EQ(parse_http_date("Wed, 31 Dec 1969 23:59:59 GMT"), -1);
}

TEST(HttpDate, ObsoleteFormsAreAccepted) {
  EXPECT_EQ(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), kRfcExample);
  EXPECT_EQ(parse_http_date("Sun Nov  6 08:49:37 1994"), kRfcExample);
  EXPECT_EQ(parse_http_date("Sun Nov 16 08:49:37 1994"), kRfcExample + 10 * 86400);
  // RFC 850 two-digit years: 70-99 are 19xx, 00-69 are 20xx.
  EXPECT_EQ(parse_http_date("Thursday, 01-Jan-70 00:00:00 GMT"), 0);
  EXPECT_EQ(parse_http_date("Tuesday, 29-Feb-00 23:59:59 GMT"), 951868799);
}

TEST(HttpDate, LeapSecondAndSurroundingBlanks) {
  // 23:59:60 counts as the next day's 00:00:00.
  EXPECT_EQ(parse_http_date("Tue, 30 Jun 2015 23:59:60 GMT"), 1435708799 + 1);
  EXPECT_EQ(parse_http_date("  Sun, 06 Nov 1994 08:49:37 GMT\t"), kRfcExample);
}

TEST(HttpDate, RejectsEverythingElse) {
  for (const char* bad : {
           "",
           "GMT",
           "Sun, 06 Nov 1994 08:49:37",        // no zone
           "Sun, 06 Nov 1994 08:49:37 UTC",    // only GMT
           "Sun, 06 Nov 1994 08:49:37 +0000",  // RFC 5322 zones are not HTTP-dates
           "Sun, 06 Nov 1994 08:49:37 GMT x",  // trailing garbage
           "sun, 06 Nov 1994 08:49:37 GMT",    // names are case-sensitive
           "Sun, 06 nov 1994 08:49:37 GMT",
           "Xyz, 06 Nov 1994 08:49:37 GMT",
           "Sun, 6 Nov 1994 08:49:37 GMT",  // two-digit day
           "Sun, 06 Nov 94 08:49:37 GMT",   // four-digit year
           "Sun,06 Nov 1994 08:49:37 GMT",
           "Sun, 06 Nov 1994 8:49:37 GMT",
           "Sun, 06 Nov 1994 08:49 GMT",
           "Sun, 32 Jan 1994 08:49:37 GMT",  // day out of range
           "Sun, 00 Jan 1994 08:49:37 GMT",
           "Mon, 29 Feb 1900 00:00:00 GMT",  // not a leap year
           "Mon, 29 Feb 2100 00:00:00 GMT",
           "Sun, 31 Apr 1994 00:00:00 GMT",
           "Sun, 06 Nov 1994 24:00:00 GMT",  // time out of range
           "Sun, 06 Nov 1994 08:60:00 GMT",
           "Sun, 06 Nov 1994 08:49:61 GMT",
           "Sun, 06 Nov 1994 08:49:-1 GMT",
           "Sun, 06 Nov 1994 08:49:37 GMT\r\n",  // the header callback strips CRLF
           "Sunday, 06-Nov-1994 08:49:37 GMT",   // RFC 850 has two-digit years
           "Sun, 06-Nov-94 08:49:37 GMT",        // ... and long day names
           "Sun Nov 6 08:49:37 1994",            // asctime pads the day with a space
           "Sun Nov  6 08:49:37 1994 GMT",
           "784111777",
       }) {
    EXPECT_EQ(parse_http_date(bad), std::nullopt) << '"' << bad << '"';
  }
  // A NUL is not a terminator: the whole view is parsed.
  EXPECT_EQ(parse_http_date(std::string_view("Sun, 06 Nov 1994 08:49:37 GMT\0", 30)), std::nullopt);
}

TEST(ClockOffset, IssuerMinusLocalTime) {
  const char* date = "Sun, 06 Nov 1994 08:49:37 GMT";
  // Our clock behind the issuer: positive.
  EXPECT_EQ(clock_offset_seconds(date, kRfcExample - 600), 600);
  EXPECT_EQ(clock_offset_seconds(date, kRfcExample - 2), 2);
  // Our clock ahead: negative.
  EXPECT_EQ(clock_offset_seconds(date, kRfcExample + 30), -30);
  EXPECT_EQ(clock_offset_seconds(date, kRfcExample + 2), -2);
}

TEST(ClockOffset, OneSecondIsNoise) {
  const char* date = "Sun, 06 Nov 1994 08:49:37 GMT";
  EXPECT_EQ(kClockNoiseSeconds, 1);
  EXPECT_EQ(clock_offset_seconds(date, kRfcExample), 0);
  EXPECT_EQ(clock_offset_seconds(date, kRfcExample + 1), 0);  // truncation + latency
  EXPECT_EQ(clock_offset_seconds(date, kRfcExample - 1), 0);
}

TEST(ClockOffset, NoUsableDateHeader) {
  EXPECT_EQ(clock_offset_seconds("", kRfcExample), std::nullopt);
  EXPECT_EQ(clock_offset_seconds("yesterday", kRfcExample), std::nullopt);
}

}  // namespace
}  // namespace dbx_oauth::core
