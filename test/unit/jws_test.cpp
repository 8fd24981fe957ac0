// Compact serialization and JOSE header rules (src/core/jws.h).
#include "core/jws.h"

#include <gtest/gtest.h>

#include <string>

#include "core/base64url.h"
#include "core/jwk.h"

using namespace dbx_oauth::core;

namespace {

Reason split(const std::string& token) {
  CompactJws jws;
  std::string detail;
  return split_compact_jws(token, jws, detail);
}

Reason header(const std::string& text, JoseHeader* out = nullptr) {
  JoseHeader local;
  std::string detail;
  return parse_jose_header(text, default_allowed_algorithms(), out ? *out : local, detail);
}

}  // namespace

TEST(Jws, SplitsThreeSegments) {
  CompactJws jws;
  std::string detail;
  const std::string token = "eyJhIjoxfQ.eyJiIjoyfQ.c2ln";
  ASSERT_EQ(split_compact_jws(token, jws, detail), Reason::ok) << detail;
  EXPECT_EQ(jws.header_text, R"({"a":1})");
  EXPECT_EQ(jws.payload_text, R"({"b":2})");
  EXPECT_EQ(jws.signature, "sig");
  EXPECT_EQ(jws.signing_input, "eyJhIjoxfQ.eyJiIjoyfQ");
}

TEST(Jws, SegmentCountAndEmptiness) {
  EXPECT_EQ(split("eyJhIjoxfQ.eyJiIjoyfQ"), Reason::malformed);
  EXPECT_EQ(split("eyJhIjoxfQ.eyJiIjoyfQ.c2ln.c2ln"), Reason::malformed);
  EXPECT_EQ(split("eyJhIjoxfQ.eyJiIjoyfQ.c2ln."), Reason::malformed);
  EXPECT_EQ(split(".eyJiIjoyfQ.c2ln"), Reason::malformed);
  EXPECT_EQ(split("eyJhIjoxfQ..c2ln"), Reason::malformed);
  EXPECT_EQ(split(""), Reason::malformed);
  EXPECT_EQ(split("no-dots-at-all"), Reason::malformed);
  // An empty signature segment is structurally fine (alg "none" tokens);
  // the signature check refuses it later.
  EXPECT_EQ(split("eyJhIjoxfQ.eyJiIjoyfQ."), Reason::ok);
}

TEST(Jws, StrictBase64InEverySegment) {
  EXPECT_EQ(split("eyJhIjoxfQ=.eyJiIjoyfQ.c2ln"), Reason::bad_base64);
  EXPECT_EQ(split("eyJhIjoxfQ.eyJiIjoyfQ.c2ln "), Reason::bad_base64);
  EXPECT_EQ(split(" eyJhIjoxfQ.eyJiIjoyfQ.c2ln"), Reason::bad_base64);
  EXPECT_EQ(split("eyJhIjoxfQ.eyJiIjoy\nfQ.c2ln"), Reason::bad_base64);
  EXPECT_EQ(split("eyJhIjoxfQ.eyJiIjoyfQ.c2l+"), Reason::bad_base64);
  EXPECT_EQ(split("eyJhIjoxfQ.eyJiIjoyfR.c2ln"), Reason::bad_base64);  // non-canonical bits
}

TEST(Jws, SizeLimitIs16KiB) {
  const std::string body(kMaxTokenBytes - 5, 'A');
  EXPECT_NE(split("AA." + body + ".A"), Reason::token_too_large);  // exactly 16384 bytes
  EXPECT_EQ(split("AA." + body + ".AA"), Reason::token_too_large);
  EXPECT_EQ(split(std::string(kMaxTokenBytes + 1, '.')), Reason::token_too_large);
}

TEST(Jws, HeaderRequiresObjectWithStringAlg) {
  EXPECT_EQ(header(R"({"alg":"RS256"})"), Reason::ok);
  EXPECT_EQ(header(R"(["RS256"])"), Reason::malformed);
  EXPECT_EQ(header(R"({"typ":"JWT"})"), Reason::malformed);
  EXPECT_EQ(header(R"({"alg":256})"), Reason::malformed);
  EXPECT_EQ(header(R"({"alg":null})"), Reason::malformed);
  EXPECT_EQ(header(R"({"alg":"RS256")"), Reason::bad_json);
  EXPECT_EQ(header(R"({"alg":"RS256","alg":"RS256"})"), Reason::duplicate_key);
  EXPECT_EQ(header(R"({"alg":"RS256","x":)" + std::string(20, '[') + std::string(20, ']') + "}"),
            Reason::nesting_too_deep);
}

TEST(Jws, AlgNoneInAnyCaseIsUnsupported) {
  for (const char* alg : {"none", "None", "NONE", "nOnE"}) {
    EXPECT_EQ(header(std::string(R"({"alg":")") + alg + "\"}"), Reason::unsupported_alg) << alg;
  }
}

TEST(Jws, AlgorithmsOutsideTheAllowListAreUnsupported) {
  for (const char* alg : {"HS256", "HS384", "HS512", "RS1", "ES512", "rs256", "", "RSA-OAEP"}) {
    EXPECT_EQ(header(std::string(R"({"alg":")") + alg + "\"}"), Reason::unsupported_alg) << alg;
  }
  JoseHeader out;
  std::string detail;
  EXPECT_EQ(parse_jose_header(R"({"alg":"ES256"})", {"RS256"}, out, detail), Reason::unsupported_alg);
  EXPECT_EQ(parse_jose_header(R"({"alg":"HS256"})", {"HS256", "none"}, out, detail), Reason::unsupported_alg);
  EXPECT_EQ(parse_jose_header(R"({"alg":"none"})", {"HS256", "none"}, out, detail), Reason::unsupported_alg);
  EXPECT_FALSE(algorithm_allowed("HS256", {"HS256"}));
  EXPECT_TRUE(algorithm_allowed("PS256", {"PS256"}));
}

TEST(Jws, CritIsRejected) {
  EXPECT_EQ(header(R"({"alg":"RS256","crit":["exp"],"exp":1})"), Reason::crit_header);
  EXPECT_EQ(header(R"({"alg":"RS256","crit":[]})"), Reason::crit_header);
}

TEST(Jws, TypRules) {
  for (const char* typ : {"JWT", "jwt", "at+jwt", "AT+JWT", "application/at+jwt", "Application/JWT"}) {
    EXPECT_EQ(header(std::string(R"({"alg":"RS256","typ":")") + typ + "\"}"), Reason::ok) << typ;
  }
  for (const char* typ : {"JOSE", "dpop+jwt", "", "application/", "jwt ", "secevent+jwt"}) {
    EXPECT_EQ(header(std::string(R"({"alg":"RS256","typ":")") + typ + "\"}"), Reason::bad_typ) << typ;
  }
  EXPECT_EQ(header(R"({"alg":"RS256","typ":1})"), Reason::bad_typ);
}

TEST(Jws, KidMustBeAString) {
  JoseHeader out;
  EXPECT_EQ(header(R"({"alg":"RS256","kid":"Key-1"})", &out), Reason::ok);
  ASSERT_TRUE(out.kid.has_value());
  EXPECT_EQ(*out.kid, "Key-1");
  EXPECT_EQ(header(R"({"alg":"RS256"})", &out), Reason::ok);
  EXPECT_FALSE(out.kid.has_value());
  EXPECT_EQ(header(R"({"alg":"RS256","kid":1})"), Reason::malformed);
  EXPECT_EQ(header(R"({"alg":"RS256","kid":["a"]})"), Reason::malformed);
}

TEST(Jws, KeyCarryingHeadersAreIgnored) {
  // Parsed fine and not interpreted: key selection never looks at them.
  EXPECT_EQ(header(R"({"alg":"RS256","jku":"https://evil.example/jwks","x5u":"https://evil.example/c",
                      "jwk":{"kty":"oct","k":"AAAA"},"x5c":["AAAA"]})"),
            Reason::ok);
}
